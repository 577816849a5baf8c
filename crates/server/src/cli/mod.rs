//! The `gatehouse` command line: `serve` and the admin commands, which open the same store as
//! the server (the embedded file may be shared with a running server).

mod client;
mod scope;
mod user;

use crate::config::{Config, SETTINGS};
use clap::{Parser, Subcommand};
use gatehouse_storage::Store;
use gatehouse_storage::sqlite::SqliteStore;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Gatehouse: an OAuth 2.1 authorization server and OpenID Connect provider.
#[derive(Parser)]
#[command(name = "gatehouse", version, about, after_help = settings_help())]
struct Cli {
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
    /// Manage end users.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage the scope registry.
    #[command(subcommand)]
    Scope(scope::ScopeCommand),
}

fn settings_help() -> String {
    let mut s = String::from("Settings (environment):\n");
    for (name, default, what) in SETTINGS {
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
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let config = Config::from_env()?;
            init_logging();
            for (unknown, nearest) in Config::unknown_settings(std::env::vars().map(|(k, _)| k)) {
                tracing::warn!("unknown setting {unknown} is ignored; did you mean {nearest}?");
            }
            let store = open_store(&config.data_dir)?;
            crate::app::serve(config, store).await
        }
        Command::Client(c) => client::run(c, open_store(&data_dir())?).await,
        Command::User(c) => user::run(c, open_store(&data_dir())?).await,
        Command::Scope(c) => scope::run(c, open_store(&data_dir())?).await,
    }
}

fn data_dir() -> PathBuf {
    std::env::var_os("GATEHOUSE_DATA_DIR").map_or_else(|| PathBuf::from("./gatehouse-data"), PathBuf::from)
}

fn open_store(dir: &std::path::Path) -> anyhow::Result<Arc<dyn Store>> {
    let store = SqliteStore::open(dir).map_err(|e| anyhow::anyhow!("GATEHOUSE_DATA_DIR: {e}"))?;
    Ok(Arc::new(store))
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("GATEHOUSE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let format = std::env::var("GATEHOUSE_LOG_FORMAT").unwrap_or_else(|_| "auto".into());
    let json = match format.as_str() {
        "json" => true,
        "text" => false,
        _ => !std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
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

fn now() -> gatehouse_protocol::types::UnixTime {
    crate::state::now()
}

fn audit(event: &str, detail: &str) {
    // The CLI has no subscriber; admin changes are reported on stderr for the operator's record.
    eprintln!("audit: {event} {detail}");
}
