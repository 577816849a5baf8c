//! `gatehouse initial-access-token ...`: tokens that let a client register itself at
//! `/oauth/register` when `GATEHOUSE_REGISTRATION=token` (RFC 7591 §3).

use super::{audit, now, print};
use crate::config::{Config, parse_duration};
use crate::random::random_token;
use anyhow::bail;
use clap::Subcommand;
use gatehouse_protocol::types::TokenHash;
use gatehouse_storage::{InitialAccessToken, Store};
use serde_json::json;
use std::sync::Arc;

#[derive(Subcommand)]
pub(super) enum InitialTokenCommand {
    /// Create a token. It is printed once and stored hashed.
    Create {
        /// The registration policy its clients get (GATEHOUSE_REGISTRATION_POLICIES).
        #[arg(long, default_value = "default")]
        policy: String,
        /// How long it works, e.g. 1h, 7d.
        #[arg(long, default_value = "7d", value_parser = parse_lifetime)]
        expires: std::time::Duration,
        /// How many clients it may register [default: no limit until it expires].
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        uses: Option<u64>,
        /// Print JSON: {"initial_access_token": "..."}.
        #[arg(long)]
        json: bool,
    },
}

fn parse_lifetime(s: &str) -> Result<std::time::Duration, String> {
    parse_duration(s)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{s:?} is not a duration; use a number with s, m, h or d, e.g. 7d"))
}

pub(super) async fn run(cmd: InitialTokenCommand, store: Arc<dyn Store>, config: &Config) -> anyhow::Result<()> {
    let InitialTokenCommand::Create {
        policy,
        expires,
        uses,
        json,
    } = cmd;
    if config.registration.policy(&policy).is_none() {
        let known: Vec<&str> = config.registration.policies.iter().map(|p| p.name.as_str()).collect();
        bail!(
            "--policy {policy}: no such policy in GATEHOUSE_REGISTRATION_POLICIES (defined: {})",
            known.join(", ")
        );
    }
    let token = random_token();
    let created_at = now();
    let expires_at = created_at.plus(expires.as_secs());
    store
        .put_initial_access_token(&InitialAccessToken {
            hash: TokenHash::of(&token),
            policy: policy.clone(),
            expires_at,
            uses_left: uses,
            created_at,
        })
        .await?;
    audit("initial_access_token.created", &format!("policy={policy}"));
    let value = json!({
        "initial_access_token": token,
        "policy": policy,
        "expires_at": expires_at.0,
        "uses": uses,
    });
    print(json, &value, || {
        let mut out = format!(
            "initial_access_token: {token}\n(shown once: give it to the client's developer)\npolicy: {policy}, expires at {}",
            expires_at.0
        );
        if let Some(n) = uses {
            out.push_str(&format!(", {n} registration(s)"));
        }
        if config.registration.mode == crate::config::RegistrationMode::Off {
            out.push_str("\nnote: GATEHOUSE_REGISTRATION is off; set it to token for /oauth/register to accept this");
        }
        out
    });
    Ok(())
}
