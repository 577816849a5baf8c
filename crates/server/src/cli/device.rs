//! `gatehouse device ...`: device authorizations (RFC 8628) waiting for their user.

use super::{now, print_list};
use clap::Subcommand;
use gatehouse_storage::{DeviceRecord, Store};
use serde_json::json;
use std::sync::Arc;

#[derive(Subcommand)]
pub(super) enum DeviceCommand {
    /// List live device authorizations nobody has approved or denied yet.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(cmd: DeviceCommand, store: Arc<dyn Store>) -> anyhow::Result<()> {
    match cmd {
        DeviceCommand::List { json } => {
            let t = now();
            let pending = store.list_pending_devices(t).await?;
            let to_json = |d: &DeviceRecord| {
                json!({
                    "client_id": d.client_id,
                    "user_code": d.user_code.display(),
                    "scope": d.scope.to_param(),
                    "age_seconds": t.0 - d.created_at.0,
                    "expires_in": d.expires_at.0 - t.0,
                    "requested_from": d.requested_from,
                })
            };
            print_list(json, &pending, to_json, "no device authorizations are waiting", |d| {
                format!(
                    "{:<24} {}  asked {}s ago from {}",
                    d.client_id,
                    d.user_code.display(),
                    t.0 - d.created_at.0,
                    d.requested_from.as_deref().unwrap_or("-")
                )
            });
            Ok(())
        }
    }
}
