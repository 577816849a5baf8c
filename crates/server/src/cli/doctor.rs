//! `gatehouse doctor [--flow] [report]`.

use crate::config::{Config, Sources};
use crate::doctor::{self, Options, flow};
use clap::{Args, Subcommand};

#[derive(Args)]
pub(super) struct DoctorArgs {
    #[command(subcommand)]
    what: Option<DoctorWhat>,
    /// Print an array of {id, status, summary, detail, fix}.
    #[arg(long)]
    json: bool,
    /// Also run a whole sign-in through the public issuer URL with a temporary probe client.
    #[arg(long)]
    flow: bool,
    /// With --flow: sign in as this user (its password on stdin with --password-stdin) instead of
    /// a temporary probe user.
    #[arg(long, requires = "flow")]
    user: Option<String>,
    /// Read the --user's password from the first line of stdin.
    #[arg(long, requires = "user")]
    password_stdin: bool,
    /// With --flow: run as this registered public client (its first redirect URI) instead of a
    /// temporary probe client.
    #[arg(long, requires = "flow", value_name = "CLIENT_ID")]
    client: Option<String>,
    /// How many instances share the database (for PostgreSQL's connection budget).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    instances: u32,
    /// PEM file of certificate authorities to trust for the public URL (a private CA).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum DoctorWhat {
    /// A diagnostics bundle (JSON) for a support request: version, settings with secrets
    /// redacted, the findings, /health/detailed and key metrics of the local instance.
    Report,
}

/// Doctor's verdict as the process exit code: 0 all ok, 1 warnings, 2 failures.
#[derive(Debug)]
pub(crate) struct Verdict(pub(crate) u8);

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "doctor found problems (exit code {})", self.0)
    }
}

impl std::error::Error for Verdict {}

/// `config.parse` failed: the one finding there can be, printed like every other.
pub(super) fn unparsable(a: &DoctorArgs, e: &crate::config::ConfigError) -> anyhow::Result<()> {
    let findings = [doctor::Finding::fail(
        "config.parse",
        format!("{}: {}", e.setting, e.message),
        "gatehouse serve refuses to start with this setting, and nothing else can be checked until it parses",
        format!(
            "correct {} (gatehouse serve --help lists every setting and its form)",
            e.setting
        ),
    )];
    if a.json {
        println!("{}", serde_json::to_string(&findings)?);
    } else {
        println!("{}", doctor::render(&findings));
    }
    Err(Verdict(2).into())
}

pub(super) async fn run(a: DoctorArgs, config: &Config, sources: &Sources) -> anyhow::Result<()> {
    let options = Options {
        instances: a.instances,
        ca_file: a.ca_file.clone(),
    };
    // The store as the checks opened it: never migrated, never created.
    let (mut findings, store) = doctor::diagnose(config, &options).await;
    if matches!(a.what, Some(DoctorWhat::Report)) {
        println!("{}", doctor::report::build(config, sources, &findings).await);
        return Ok(());
    }
    if a.flow && store.is_none() {
        findings.push(doctor::Finding::fail(
            "flow.setup",
            "the flow was not run: the store cannot be used (see store.reachable and store.migrations)",
            "the probe client and user live in the store",
            "fix the store findings above, then run gatehouse doctor --flow again",
        ));
    } else if let (true, Some(store)) = (a.flow, store) {
        let password = if a.password_stdin {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            Some(line.trim_end_matches(['\r', '\n']).to_owned())
        } else {
            None
        };
        if a.user.is_some() && password.as_deref().is_none_or(str::is_empty) {
            anyhow::bail!("--user needs --password-stdin and the password on the first line of stdin");
        }
        let who = flow::Who {
            username: a.user.clone(),
            password,
            client: a.client.clone(),
        };
        findings.extend(flow::run(config, &options, store, who).await);
    }
    if a.json {
        println!("{}", serde_json::to_string(&findings)?);
    } else {
        println!("{}", doctor::render(&findings));
    }
    match doctor::exit_code(&findings) {
        0 => Ok(()),
        code => Err(Verdict(code).into()),
    }
}
