//! `gatehouse user ...`.

use super::{audit, now, print, print_list};
use crate::logout::Initiator;
use crate::passwords;
use crate::random::random_b64;
use anyhow::bail;
use clap::{Args, Subcommand};
use gatehouse_storage::{Store, UserRecord};
use serde_json::json;
use std::io::Read;
use std::sync::Arc;

#[derive(Subcommand)]
pub(super) enum UserCommand {
    /// Create a user.
    Create(CreateArgs),
    /// List users.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one user (by username).
    Show {
        /// The username.
        username: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set a user's password; their sessions end and their tokens are revoked.
    SetPassword {
        /// The username.
        username: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Lock an account: no logins; its sessions end and its tokens are revoked.
    Lock {
        /// The username.
        username: String,
    },
    /// Unlock an account (ends a temporary lockout too; revoked tokens stay revoked).
    Unlock {
        /// The username.
        username: String,
    },
    /// End every browser session of a user and revoke all their access and refresh tokens.
    RevokeSessions {
        /// The username.
        username: String,
    },
    /// Delete a user with their sessions, consents and tokens.
    Delete {
        /// The username.
        username: String,
    },
}

#[derive(Args)]
#[group(required = true, multiple = false)]
pub(super) struct PasswordArgs {
    /// Read the password from standard input (first line). Preferred: it stays out of the shell history.
    #[arg(long = "password-stdin")]
    stdin: bool,
    /// The password (visible in the process list and shell history; prefer --password-stdin).
    #[arg(long)]
    password: Option<String>,
}

#[derive(Args)]
pub(super) struct CreateArgs {
    /// Login name (1 to 64 characters, no spaces).
    #[arg(long)]
    username: String,
    /// Email address.
    #[arg(long)]
    email: Option<String>,
    /// Mark the email address as verified.
    #[arg(long)]
    email_verified: bool,
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    password: PasswordArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(super) async fn run(cmd: UserCommand, store: Arc<dyn Store>) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create(a) => {
            check_username(&a.username)?;
            if let Some(e) = a
                .email
                .as_ref()
                .filter(|e| !e.contains('@') || e.contains(char::is_whitespace))
            {
                bail!("--email: {e:?} is not an email address");
            }
            let password = read_password(&a.password)?;
            let now = now();
            let user = UserRecord {
                id: random_b64(16),
                username: a.username,
                email: a.email,
                email_verified: a.email_verified,
                name: a.name,
                password_hash: hash(password).await?,
                locked: false,
                created_at: now,
                updated_at: now,
            };
            store.create_user(&user).await.map_err(|e| match e {
                gatehouse_storage::StoreError::Conflict(_) => {
                    anyhow::anyhow!("--username: {} is taken", user.username)
                }
                other => other.into(),
            })?;
            audit("user.created", &format!("sub={}", user.id));
            print(a.json, &to_json(&user), || {
                format!("created user {} (sub {})", user.username, user.id)
            });
            Ok(())
        }
        UserCommand::List { json } => {
            let users = store.list_users().await?;
            print_list(
                json,
                &users,
                to_json,
                "no users; create one with gatehouse user create",
                |u| {
                    format!(
                        "{:<24} {:<24} {}",
                        u.username,
                        u.id,
                        if u.locked { "locked" } else { "" }
                    )
                },
            );
            Ok(())
        }
        UserCommand::Show { username, json } => {
            let u = find(&store, &username).await?;
            let value = to_json(&u);
            print(json, &value, || {
                serde_json::to_string_pretty(&value).unwrap_or_default()
            });
            Ok(())
        }
        UserCommand::SetPassword { username, password } => {
            let mut u = find(&store, &username).await?;
            u.password_hash = hash(read_password(&password)?).await?;
            u.updated_at = now();
            store.update_user(&u).await?;
            let ended = super::session::end_user(&store, &u.id, Initiator::PasswordChanged).await?;
            let revoked = ended.tokens_revoked;
            audit("user.password_set", &format!("sub={} revoked_tokens={revoked}", u.id));
            println!(
                "password changed for {username}; sessions ended, {}{}",
                super::session::user_tokens_ended(&ended, &username),
                super::session::queued(&ended)
            );
            Ok(())
        }
        UserCommand::RevokeSessions { username } => {
            let u = find(&store, &username).await?;
            let ended = super::session::end_user(&store, &u.id, Initiator::SessionsRevoked).await?;
            let revoked = ended.tokens_revoked;
            audit(
                "user.sessions_revoked",
                &format!("sub={} revoked_tokens={revoked}", u.id),
            );
            println!(
                "sessions of {username} ended, {}{}",
                super::session::user_tokens_ended(&ended, &username),
                super::session::queued(&ended)
            );
            Ok(())
        }
        UserCommand::Lock { username } => set_locked(&store, &username, true).await,
        UserCommand::Unlock { username } => set_locked(&store, &username, false).await,
        UserCommand::Delete { username } => {
            let u = find(&store, &username).await?;
            // Its clients hear that its sessions ended before the user is gone.
            super::session::end_user(&store, &u.id, Initiator::UserDeleted).await?;
            store.delete_user(&u.id).await?;
            audit("user.deleted", &format!("sub={}", u.id));
            println!("deleted user {username}");
            Ok(())
        }
    }
}

async fn set_locked(store: &Arc<dyn Store>, username: &str, locked: bool) -> anyhow::Result<()> {
    let mut u = find(store, username).await?;
    u.locked = locked;
    store.update_user(&u).await?;
    if locked {
        // An attacker's session and refresh family must not outlive the lock (and come back with
        // unlock): they end now.
        super::session::end_user(store, &u.id, Initiator::UserLocked).await?;
    } else {
        // Also ends a temporary lockout after failed logins.
        store.clear_login_failures(username).await?;
    }
    audit(
        if locked { "user.locked" } else { "user.unlocked" },
        &format!("sub={}", u.id),
    );
    println!("{} {username}", if locked { "locked" } else { "unlocked" });
    Ok(())
}

fn check_username(u: &str) -> anyhow::Result<()> {
    if u.is_empty() || u.chars().count() > 64 || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!("--username: must be 1 to 64 characters without spaces");
    }
    Ok(())
}

fn read_password(args: &PasswordArgs) -> anyhow::Result<String> {
    let password = match (&args.password, args.stdin) {
        (Some(p), _) => p.clone(),
        (None, true) => {
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input)?;
            input.lines().next().unwrap_or("").to_owned()
        }
        (None, false) => bail!("give --password-stdin or --password"),
    };
    if password.chars().count() < 8 {
        bail!("the password must be at least 8 characters");
    }
    if password.len() > 1024 {
        bail!("the password must be at most 1024 bytes");
    }
    Ok(password)
}

async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || passwords::hash(&password))
        .await?
        .map_err(anyhow::Error::msg)
}

async fn find(store: &Arc<dyn Store>, username: &str) -> anyhow::Result<UserRecord> {
    store
        .find_user_by_username(username)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user named {username}; see gatehouse user list"))
}

fn to_json(u: &UserRecord) -> serde_json::Value {
    json!({
        "sub": u.id,
        "username": u.username,
        "email": u.email,
        "email_verified": u.email_verified,
        "name": u.name,
        "locked": u.locked,
        "created_at": u.created_at.0,
        "updated_at": u.updated_at.0,
    })
}
