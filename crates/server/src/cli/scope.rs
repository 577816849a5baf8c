//! `gatehouse scope ...`.

use super::{audit, print, print_list};
use anyhow::bail;
use clap::Subcommand;
use gatehouse_protocol::types::Scope;
use gatehouse_storage::{ScopeRecord, Store, StoreError};
use serde_json::json;
use std::sync::Arc;

#[derive(Subcommand)]
pub(super) enum ScopeCommand {
    /// Register a scope. Restart the server to advertise it in discovery.
    Create {
        /// The scope token (printable ASCII, no spaces, quotes or backslashes).
        #[arg(long)]
        name: String,
        /// Shown to users on the consent page.
        #[arg(long)]
        description: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List scopes.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a scope (built-in scopes cannot be deleted).
    Delete {
        /// The scope token.
        name: String,
    },
}

pub(super) async fn run(cmd: ScopeCommand, store: Arc<dyn Store>) -> anyhow::Result<()> {
    match cmd {
        ScopeCommand::Create {
            name,
            description,
            json,
        } => {
            Scope::parse(&name).map_err(|e| anyhow::anyhow!("--name: {}", e.description()))?;
            let record = ScopeRecord {
                description: description.unwrap_or_else(|| name.clone()),
                name,
                builtin: false,
            };
            store.create_scope(&record).await.map_err(|e| match e {
                StoreError::Conflict(_) => {
                    anyhow::anyhow!("--name: scope {} already exists", record.name)
                }
                other => other.into(),
            })?;
            audit("scope.created", &format!("scope={}", record.name));
            print(json, &json!(record), || format!("created scope {}", record.name));
            Ok(())
        }
        ScopeCommand::List { json } => {
            let scopes = store.list_scopes().await?;
            print_list(
                json,
                &scopes,
                |s| json!(s),
                "no scopes",
                |s| {
                    let builtin = if s.builtin { " (built in)" } else { "" };
                    format!("{:<24} {}{builtin}", s.name, s.description)
                },
            );
            Ok(())
        }
        ScopeCommand::Delete { name } => {
            let scopes = store.list_scopes().await?;
            match scopes.iter().find(|s| s.name == name) {
                None => bail!("no scope named {name}; see gatehouse scope list"),
                Some(s) if s.builtin => bail!("scope {name} is built in and cannot be deleted"),
                Some(_) => {}
            }
            store.delete_scope(&name).await?;
            audit("scope.deleted", &format!("scope={name}"));
            println!("deleted scope {name}");
            Ok(())
        }
    }
}
