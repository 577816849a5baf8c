//! The `gatehouse` command line: `serve` and the admin commands, which open the same store as
//! the server (the embedded file may be shared with a running server).

mod client;
mod device;
mod doctor;
mod initial_token;
mod keys;
mod parse;
mod scope;
mod session;
mod transfer;
mod user;

use crate::config::{Config, SETTINGS};
use crate::store;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Gatehouse: an OAuth 2.1 authorization server and OpenID Connect provider.
#[derive(Parser)]
#[command(name = "gatehouse", version, about, after_help = settings_help())]
struct Cli {
    /// A TOML file with settings (keys are the setting names without GATEHOUSE_, lowercase); the
    /// environment wins over it.
    #[arg(long, global = true, env = "GATEHOUSE_CONFIG", value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (configured by GATEHOUSE_* environment variables, listed below).
    Serve,
    /// Register and manage clients (applications).
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Device authorizations (RFC 8628) waiting for their user.
    #[command(subcommand)]
    Device(device::DeviceCommand),
    /// Manage end users.
    #[command(subcommand)]
    User(user::UserCommand),
    /// List and end browser sessions; show the back-channel logout outbox.
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// Manage the scope registry.
    #[command(subcommand)]
    Scope(scope::ScopeCommand),
    /// Tokens that let clients register themselves (GATEHOUSE_REGISTRATION=token).
    #[command(subcommand)]
    InitialAccessToken(initial_token::InitialTokenCommand),
    /// Apply pending schema migrations (or list them with --status).
    Migrate {
        /// List applied and pending migrations without applying anything.
        #[arg(long)]
        status: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write clients, users, scopes, consents, signing keys and live refresh tokens as JSON lines
    /// to stdout. The output holds private keys and password hashes: protect it.
    Export,
    /// Read an export from stdin into an empty store (of either kind).
    Import,
    /// List and rotate signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check this deployment (configuration, store, keys, clients, the public URL) and say what to
    /// fix; exit code 0 all ok, 1 warnings, 2 failures.
    Doctor(doctor::DoctorArgs),
    /// Measures one Argon2id password verification on this machine (for scripts/bench).
    #[command(hide = true)]
    BenchPasswordHash,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print every setting with its effective value and source
    /// (secrets redacted). Exits non-zero naming the first invalid setting.
    Check {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn settings_help() -> String {
    let mut s = String::from("Settings (environment):\n");
    for setting in SETTINGS {
        let (name, what, default) = (setting.name, setting.doc, setting.shown_default());
        s.push_str(&format!("  {name:<30} {what} [default: {default}]\n"));
    }
    s
}

/// Parses the arguments and runs the command. Errors print one line naming what to fix.
#[must_use]
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command, cli.config.as_deref())) {
        Ok(()) => ExitCode::SUCCESS,
        // Doctor printed its findings; the code is its verdict.
        Err(e) if e.downcast_ref::<doctor::Verdict>().is_some() => {
            ExitCode::from(e.downcast_ref::<doctor::Verdict>().map_or(1, |v| v.0))
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, config_file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let (config, sources) = match (Config::load(config_file), &command) {
        (Ok(loaded), _) => loaded,
        // The doctor reports a setting that does not parse as a failed check, like any other.
        (Err(e), Command::Doctor(a)) => return doctor::unparsable(a, &e),
        (Err(e), _) => return Err(e.into()),
    };
    // Held until the command ends: dropping it writes out every line still queued.
    let _log_writer = crate::logging::init(&config);
    // Validated by the config loader; installed once for every command of this process.
    crate::seal::install(
        config
            .secret_key
            .as_ref()
            .map(|k| crate::seal::Kek::parse(k.expose()))
            .transpose()
            .map_err(anyhow::Error::msg)?,
    );
    match command {
        Command::Config(ConfigCommand::Check { json }) => {
            let rows = crate::doctor::report::settings(&sources);
            let warnings: Vec<String> = crate::seal::kek()
                .is_none()
                .then(|| "private signing keys and server secrets are stored unencrypted; set GATEHOUSE_SECRET_KEY (openssl rand -base64 32) to encrypt them at rest".to_owned())
                .into_iter()
                .collect();
            let encryption = serde_json::json!({
                "encrypted": crate::seal::kek().is_some(),
                "key_id": crate::seal::kek().map(crate::seal::Kek::id_hex),
            });
            let report = serde_json::json!({
                "valid": true,
                "settings": rows,
                "encryption_at_rest": encryption,
                "warnings": warnings,
            });
            print(json, &report, || {
                let mut out = String::from("configuration is valid\n");
                for w in &warnings {
                    out.push_str(&format!("warning: {w}\n"));
                }
                for r in &rows {
                    out.push_str(&format!(
                        "{:<42} {:<40} ({})\n",
                        r["setting"].as_str().unwrap_or(""),
                        r["value"].as_str().unwrap_or(""),
                        r["source"].as_str().unwrap_or("")
                    ));
                }
                out
            });
            Ok(())
        }
        Command::Serve => {
            for (unknown, nearest) in Config::unknown_settings(std::env::vars().map(|(k, _)| k)) {
                tracing::warn!("unknown setting {unknown} is ignored; did you mean {nearest}?");
            }
            let store = store::open_for_serving(&config).await?;
            crate::app::serve(config, store).await
        }
        Command::Client(c) => client::run(c, store::open(&config).await?).await,
        Command::User(c) => user::run(c, store::open(&config).await?).await,
        Command::Scope(c) => scope::run(c, store::open(&config).await?).await,
        Command::InitialAccessToken(c) => initial_token::run(c, store::open(&config).await?, &config).await,
        Command::Session(c) => session::run(c, store::open(&config).await?).await,
        Command::Device(c) => device::run(c, store::open(&config).await?).await,
        Command::Migrate { status: true, json } => {
            let (applied, pending) = store::migration_status(&config).await?;
            print(
                json,
                &serde_json::json!({ "applied": applied, "pending": pending }),
                || {
                    let mut out: Vec<String> = applied.iter().map(|m| format!("applied  {m}")).collect();
                    out.extend(pending.iter().map(|m| format!("pending  {m}")));
                    out.join("\n")
                },
            );
            Ok(())
        }
        Command::Migrate { status: false, json } => {
            let applied = store::migrate(&config).await?;
            print(json, &serde_json::json!({ "applied": applied }), || {
                if applied.is_empty() {
                    "no pending migrations".into()
                } else {
                    format!("applied {}", applied.join(", "))
                }
            });
            Ok(())
        }
        Command::BenchPasswordHash => {
            let hash = crate::passwords::hash("bench-password-123").map_err(anyhow::Error::msg)?;
            let rounds = 20;
            let started = std::time::Instant::now();
            for _ in 0..rounds {
                let _ = crate::passwords::verify("bench-password-123".into(), hash.clone()).await;
            }
            let ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds);
            println!("{}", serde_json::json!({ "ms_per_verify": ms }));
            Ok(())
        }
        Command::Keys(c) => keys::run(c, store::open(&config).await?, &config).await,
        Command::Doctor(a) => doctor::run(a, &config, &sources).await,
        Command::Export => transfer::export(store::open(&config).await?).await,
        Command::Import => transfer::import(store::open(&config).await?).await,
    }
}

/// Prints `value` as JSON, or `human` otherwise.
fn print(json: bool, value: &serde_json::Value, human: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", human());
    }
}

/// Prints a list: `rows` as a JSON array, or one line per item (`line`), or `empty` when there
/// are none.
fn print_list<T>(
    json: bool,
    rows: &[T],
    to_json: impl Fn(&T) -> serde_json::Value,
    empty: &str,
    line: impl Fn(&T) -> String,
) {
    let value = serde_json::Value::Array(rows.iter().map(to_json).collect());
    print(json, &value, || {
        if rows.is_empty() {
            return empty.to_owned();
        }
        rows.iter().map(line).collect::<Vec<_>>().join("\n")
    });
}

fn now() -> gatehouse_protocol::types::UnixTime {
    crate::clock::system_now()
}

fn audit(event: &str, detail: &str) {
    tracing::info!(target: "gatehouse::audit", event, detail, actor = "cli");
}
