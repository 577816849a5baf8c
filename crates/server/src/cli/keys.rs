//! `gatehouse keys list|rotate`.

use super::{audit, print};
use crate::config::Config;
use crate::keys::KeyRing;
use clap::Subcommand;
use gatehouse_protocol::types::SigningAlg;
use gatehouse_storage::Store;
use serde_json::json;
use std::sync::Arc;

#[derive(Subcommand)]
pub(super) enum KeysCommand {
    /// Every key with its state (pending, active, published, retired) and dates.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a new key (for one algorithm, or all): published now, signing after
    /// GATEHOUSE_KEY_PUBLISH_DELAY; the keys it replaces stay published until their tokens expire.
    /// Running servers pick it up within GATEHOUSE_KEY_POLL_INTERVAL.
    Rotate {
        /// RS256, ES256 or EdDSA [default: all three].
        #[arg(long)]
        alg: Option<SigningAlg>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(cmd: KeysCommand, store: Arc<dyn Store>, config: &Config) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::List { json } => {
            let records = store.list_keys().await?;
            let now = crate::state::now();
            let ring = KeyRing::from_records(&records, now).map_err(anyhow::Error::msg)?;
            let rows: Vec<serde_json::Value> = records
                .iter()
                .map(|r| {
                    json!({
                        "kid": r.kid,
                        "alg": r.alg,
                        "state": crate::app::key_state(r, &ring, now),
                        "created_at": r.created_at.0,
                        "activates_at": r.activates_at.0,
                        "retires_at": r.retires_at.map(|t| t.0),
                    })
                })
                .collect();
            print(json, &json!(rows), || {
                rows.iter()
                    .map(|r| {
                        format!(
                            "{:<44} {:<6} {:<9} created {} activates {} retires {}",
                            r["kid"].as_str().unwrap_or(""),
                            r["alg"].as_str().unwrap_or(""),
                            r["state"].as_str().unwrap_or(""),
                            r["created_at"],
                            r["activates_at"],
                            r["retires_at"]
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        KeysCommand::Rotate { alg, json } => {
            let algs: Vec<SigningAlg> = alg.map_or_else(|| SigningAlg::ALL.to_vec(), |a| vec![a]);
            let mut created = Vec::new();
            for alg in algs {
                if let Some(kid) = crate::app::rotate(store.as_ref(), config, alg, None).await? {
                    audit("key.rotated", &format!("alg={alg} kid={kid}"));
                    created.push(json!({ "alg": alg, "kid": kid }));
                }
            }
            let delay = config.key_publish_delay.as_secs();
            print(
                json,
                &json!({ "created": created, "signs_after_seconds": delay }),
                || format!("created {} key(s); published now, signing in {delay}s", created.len()),
            );
            Ok(())
        }
    }
}
