//! `gatehouse keys list|rotate|retire`.

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
    /// Re-encrypt every private signing key and server secret at rest for the current
    /// GATEHOUSE_SECRET_KEY (or decrypt them, when it is unset): rotates the key-encryption key.
    /// Restart the servers with the new key afterwards. Safe to repeat after an interruption.
    Rewrap {
        /// A file (mode 600) holding the previous key-encryption key; omit when the store is
        /// still unencrypted.
        #[arg(long, value_name = "FILE")]
        old_secret_key_file: Option<std::path::PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Withdraw a key at once (it leaked): it leaves the JWKS and stops signing, and a new key of
    /// its algorithm signs from now on. Tokens it signed stop verifying. Running servers pick the
    /// change up within GATEHOUSE_KEY_POLL_INTERVAL.
    Retire {
        /// The key id (see gatehouse keys list). A kid is an RFC 7638 thumbprint and may start with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
        /// Required: retirement takes effect immediately, with no overlap.
        #[arg(long, required = true)]
        now: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(cmd: KeysCommand, store: Arc<dyn Store>, config: &Config) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::List { json } => {
            let records = store.list_keys().await?;
            let now = crate::clock::system_now();
            let ring = KeyRing::from_records(&records, now).map_err(anyhow::Error::msg)?;
            let rows: Vec<serde_json::Value> = records
                .iter()
                .map(|r| {
                    json!({
                        "kid": r.kid,
                        "alg": r.alg,
                        "state": crate::keys::key_state(r, &ring, now),
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
                if let Some(kid) = crate::keys::rotate(store.as_ref(), config, alg, None).await? {
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
        KeysCommand::Rewrap {
            old_secret_key_file,
            json,
        } => {
            let old = old_secret_key_file
                .map(|path| -> anyhow::Result<crate::seal::Kek> {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| anyhow::anyhow!("--old-secret-key-file: cannot read {}: {e}", path.display()))?;
                    crate::seal::Kek::parse(&text).map_err(|e| anyhow::anyhow!("--old-secret-key-file: {e}"))
                })
                .transpose()?;
            let n = crate::seal::reseal(store.as_ref(), old.as_ref()).await?;
            let key_id = crate::seal::kek().map(crate::seal::Kek::id_hex);
            audit(
                "keys.rewrapped",
                &format!("values={n} key_id={}", key_id.as_deref().unwrap_or("none")),
            );
            print(
                json,
                &json!({ "rewritten": n, "encrypted": key_id.is_some(), "key_id": key_id }),
                || match &key_id {
                    Some(id) => format!("{n} value(s) re-encrypted for key {id}; restart the servers with it"),
                    None => format!("{n} value(s) decrypted: keys are stored unencrypted now"),
                },
            );
            Ok(())
        }
        KeysCommand::Retire { kid, now: _, json } => {
            let now = crate::clock::system_now();
            let Some(record) = store.list_keys().await?.into_iter().find(|k| k.kid == kid) else {
                anyhow::bail!("no key with kid {kid}; see gatehouse keys list");
            };
            // The replacement signs at once (no publish delay: the old key must stop now); the
            // algorithm's other keys retire on the usual schedule.
            let replacement = crate::keys::rotate_now(store.as_ref(), config, record.alg).await?;
            store.retire_key(&kid, now).await?;
            audit(
                "key.retired",
                &format!("kid={kid} alg={} replacement={replacement}", record.alg),
            );
            print(
                json,
                &json!({ "retired": kid, "alg": record.alg, "replacement": replacement }),
                || {
                    format!(
                        "retired {kid} now; {replacement} signs {} tokens from now on",
                        record.alg
                    )
                },
            );
            Ok(())
        }
    }
}
