//! `gatehouse doctor`: each check is driven by building the broken situation for real (a stopped
//! database, a pending migration, a world-readable data directory, a pool budget PostgreSQL cannot
//! hold, an issuer string that differs from the one served, an instance serving another store's
//! keys) and asserting the finding and its fix; `--flow` signs in through the public URL; the
//! report holds no secret.

use crate::support::*;
use serde_json::Value;
use std::process::{Command, Stdio};

/// Runs `gatehouse doctor ARGS --json` with the store's settings plus `env`; (exit code, findings).
pub(crate) fn doctor(store: &StoreEnv, env: &[(&str, &str)], args: &[&str], stdin: &str) -> (i32, Vec<Value>) {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    store.apply(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .arg("doctor")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let findings: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "doctor printed no JSON ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let findings = match findings {
        Value::Array(a) => a,
        other => vec![other],
    };
    (out.status.code().unwrap_or(-1), findings)
}

pub(crate) fn finding<'a>(findings: &'a [Value], id: &str) -> &'a Value {
    findings
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no finding {id}: {findings:?}"))
}

fn pg_url() -> Option<String> {
    match std::env::var("GATEHOUSE_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!("GATEHOUSE_TEST_PG_URL must be set in CI (./scripts/test)"),
        _ => None,
    }
}

/// A store on PostgreSQL whatever the backend under test (these checks are PostgreSQL's).
fn pg_store(url: &str) -> StoreEnv {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut store = StoreEnv::fresh(&dir);
    store.database_url = Some(fresh_schema(url));
    store
}

async fn sql(url: &str, statement: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client.batch_execute(statement).await.unwrap();
}

#[tokio::test]
async fn a_fresh_server_is_told_what_to_do_next() {
    let g = Gatehouse::start();
    let (code, findings) = doctor(&g.store, &[("GATEHOUSE_ISSUER", &g.issuer)], &["--json"], "");
    assert_eq!(code, 1, "warnings only: {findings:?}");
    let clients = finding(&findings, "clients.registered");
    assert_eq!(clients["status"], "warn");
    assert!(
        clients["fix"].as_str().unwrap().starts_with("gatehouse client create"),
        "{clients}"
    );
    assert_eq!(finding(&findings, "users.registered")["status"], "warn");
    for ok in [
        "store.migrations",
        "keys.active",
        "public.issuer",
        "public.endpoints",
        "public.jwks",
    ] {
        assert_eq!(finding(&findings, ok)["status"], "ok", "{ok}: {findings:?}");
    }
    // Every finding has the four fields, and every problem says why and how to fix it.
    for f in &findings {
        for field in ["id", "status", "summary", "detail", "fix"] {
            assert!(f.get(field).is_some(), "{field} missing in {f}");
        }
        if f["status"] != "ok" {
            assert!(!f["fix"].as_str().unwrap().is_empty(), "no fix: {f}");
        }
    }
}

#[tokio::test]
async fn a_world_readable_data_directory_and_a_localhost_redirect_uri_are_named() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = StoreEnv {
        database_url: None,
        ..StoreEnv::fresh(dir.path())
    };
    let g = Gatehouse::start_with(&store, &[]);
    cli_json(
        &store,
        &[
            "client",
            "create",
            "--name",
            "Local",
            "--public",
            "--redirect-uri",
            "http://localhost:3000/cb",
        ],
    );
    let (code, findings) = doctor(&store, &[("GATEHOUSE_ISSUER", &g.issuer)], &["--json"], "");
    assert_eq!(code, 1, "{findings:?}");
    let uris = finding(&findings, "clients.redirect_uris");
    assert_eq!(uris["status"], "warn");
    assert!(uris["detail"].as_str().unwrap().contains("RFC 8252"), "{uris}");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, findings) = doctor(&store, &[("GATEHOUSE_ISSUER", &g.issuer)], &["--json"], "");
    assert_eq!(code, 2);
    let modes = finding(&findings, "store.data_dir");
    assert_eq!(modes["status"], "fail");
    assert!(modes["summary"].as_str().unwrap().contains("mode 755"), "{modes}");
    assert!(modes["fix"].as_str().unwrap().starts_with("chmod 700"), "{modes}");
}

#[tokio::test]
async fn the_issuer_served_and_the_keys_served_must_be_this_deployments() {
    let g = Gatehouse::start();
    let other = Gatehouse::start();
    // The same server under another name: the document names 127.0.0.1, not localhost.
    let localhost = g.issuer.replace("127.0.0.1", "localhost");
    let (code, findings) = doctor(&g.store, &[("GATEHOUSE_ISSUER", &localhost)], &["--json"], "");
    assert_eq!(code, 2);
    let issuer = finding(&findings, "public.issuer");
    assert_eq!(issuer["status"], "fail");
    assert!(issuer["fix"].as_str().unwrap().contains("GATEHOUSE_ISSUER"), "{issuer}");
    // The public URL is served by an instance on another store: other keys.
    let (code, findings) = doctor(&g.store, &[("GATEHOUSE_ISSUER", &other.issuer)], &["--json"], "");
    assert_eq!(code, 2);
    let jwks = finding(&findings, "public.jwks");
    assert_eq!(jwks["status"], "fail", "{jwks}");
    assert!(jwks["summary"].as_str().unwrap().contains("other keys"), "{jwks}");
}

#[tokio::test]
async fn a_stopped_database_a_pending_migration_and_a_pool_budget_are_named() {
    let Some(url) = pg_url() else { return };
    // Stopped: nothing listens.
    let mut down = pg_store(&url);
    down.database_url = Some("postgres://postgres@127.0.0.1:1/postgres".into());
    let (code, findings) = doctor(&down, &[], &["--json"], "");
    assert_eq!(code, 2);
    let reachable = finding(&findings, "store.reachable");
    assert_eq!(reachable["status"], "fail");
    assert!(
        reachable["fix"].as_str().unwrap().contains("start PostgreSQL"),
        "{reachable}"
    );

    let store = pg_store(&url);
    let g = Gatehouse::start_with(&store, &[]);
    let db = store.database_url.clone().unwrap();
    // More connections than PostgreSQL allows.
    let (code, findings) = doctor(
        &store,
        &[("GATEHOUSE_ISSUER", &g.issuer), ("GATEHOUSE_DB_POOL_MAX", "400")],
        &["--json", "--instances", "3"],
        "",
    );
    assert_eq!(code, 2);
    let budget = finding(&findings, "store.connections");
    assert_eq!(budget["status"], "fail", "{budget}");
    assert!(
        budget["fix"].as_str().unwrap().contains("GATEHOUSE_DB_POOL_MAX"),
        "{budget}"
    );
    assert_eq!(finding(&findings, "store.clock")["status"], "ok");
    // A redirect URI that cannot work, written behind the CLI's back (as an old import might).
    let c = TestClient::created(&cli_json(
        &store,
        &[
            "client",
            "create",
            "--name",
            "Old",
            "--redirect-uri",
            "https://app.example/cb",
        ],
    ));
    sql(
        &db,
        &format!(
            "UPDATE clients SET redirect_uris = '[\"http://app.example/cb\"]' WHERE id = '{}'",
            c.id
        ),
    )
    .await;
    let (_, findings) = doctor(&store, &[("GATEHOUSE_ISSUER", &g.issuer)], &["--json"], "");
    let uris = finding(&findings, "clients.redirect_uris");
    assert_eq!(uris["status"], "fail", "{uris}");
    assert!(
        uris["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("gatehouse client update {}", c.id)),
        "{uris}"
    );
    // A migration the store lacks.
    sql(&db, "DELETE FROM gatehouse_migrations WHERE version = 13").await;
    let (code, findings) = doctor(&store, &[("GATEHOUSE_ISSUER", &g.issuer)], &["--json"], "");
    assert_eq!(code, 2);
    let migrations = finding(&findings, "store.migrations");
    assert_eq!(migrations["status"], "fail");
    assert!(
        migrations["summary"].as_str().unwrap().contains("0013_registration"),
        "{migrations}"
    );
    assert_eq!(migrations["fix"], "gatehouse migrate");
}

#[tokio::test]
async fn the_flow_signs_in_through_the_public_url_and_names_the_step_that_fails() {
    let g = Gatehouse::start();
    g.user("alice");
    let env = [("GATEHOUSE_ISSUER", g.issuer.as_str())];
    let (_, findings) = doctor(&g.store, &env, &["--json", "--flow"], "");
    for step in [
        "flow.discovery",
        "flow.authorize",
        "flow.login",
        "flow.consent",
        "flow.callback",
        "flow.token",
        "flow.id_token",
        "flow.userinfo",
        "flow.refresh",
        "flow.revoke",
    ] {
        assert_eq!(finding(&findings, step)["status"], "ok", "{step}: {findings:?}");
    }
    assert!(
        finding(&findings, "flow.id_token")["summary"]
            .as_str()
            .unwrap()
            .contains("public JWKS")
    );
    let (_, findings) = doctor(
        &g.store,
        &env,
        &["--json", "--flow", "--user", "alice", "--password-stdin"],
        PASSWORD,
    );
    assert_eq!(
        finding(&findings, "flow.login")["summary"]
            .as_str()
            .map(|s| s.contains("alice")),
        Some(true)
    );
    let (code, findings) = doctor(
        &g.store,
        &env,
        &["--json", "--flow", "--user", "alice", "--password-stdin"],
        "wrong password\n",
    );
    assert_eq!(code, 2);
    let login = finding(&findings, "flow.login");
    assert_eq!(login["status"], "fail");
    assert!(login["detail"].as_str().unwrap().contains("wrong password"), "{login}");
    assert!(
        findings.iter().all(|f| f["id"] != "flow.token"),
        "the flow stops at the failed step"
    );
    // The probe client and user are gone.
    let clients = g.cli(&["client", "list"]);
    assert!(clients.as_array().unwrap().is_empty(), "{clients}");
    let users = g.cli(&["user", "list"]);
    assert_eq!(users.as_array().unwrap().len(), 1, "{users}");
}

#[tokio::test]
async fn the_report_holds_no_secret() {
    let key = "c2VjcmV0LWtleS1mb3ItdGhlLXJlcG9ydC10ZXN0MTI=";
    let dir = tempfile::tempdir().unwrap();
    let store = StoreEnv::fresh(dir.path());
    let g = Gatehouse::start_with(&store, &[("GATEHOUSE_SECRET_KEY", key)]);
    let client = g.alice_and_client("RS256");
    let tokens = user_tokens(&g, &client, "openid offline_access", &[]).await;
    let env = [("GATEHOUSE_ISSUER", g.issuer.as_str()), ("GATEHOUSE_SECRET_KEY", key)];
    let bind = g.addr();
    let env_bind = [env[0], env[1], ("GATEHOUSE_BIND", bind.as_str())];
    let (_, report) = doctor(&store, &env_bind, &["report"], "");
    let text = report[0].to_string();
    assert!(report[0]["health_detailed"]["status"].is_string(), "{text}");
    assert!(report[0]["metrics"].as_array().is_some_and(|m| !m.is_empty()), "{text}");
    for secret in [
        key,
        PASSWORD,
        client.secret.as_deref().unwrap(),
        tokens["access_token"].as_str().unwrap(),
        tokens["refresh_token"].as_str().unwrap(),
        "alice@example.com",
    ] {
        assert!(!text.contains(secret), "the report holds a secret");
    }
}

/// A TLS listener on 127.0.0.1 whose certificate, from a CA of its own (written to the returned
/// file), is for `host` and valid until `not_after`; it completes handshakes and closes.
async fn tls_listener(host: &str, not_after: (i32, u8, u8)) -> (u16, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let acceptor = test_tls(host, not_after, &dir.path().join("ca.pem"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    (port, dir)
}

// Multi-threaded: the doctor process is waited for on this thread while the listener answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_or_wrong_host_certificate_on_the_public_url_fails() {
    let g = Gatehouse::start();
    for (host, not_after, says) in [
        ("other.example", (2099, 1, 1), "not valid for name"),
        ("127.0.0.1", (2021, 1, 1), "expired"),
    ] {
        let (port, ca) = tls_listener(host, not_after).await;
        let issuer = format!("https://127.0.0.1:{port}");
        let ca_file = ca.path().join("ca.pem");
        let (code, findings) = doctor(
            &g.store,
            &[("GATEHOUSE_ISSUER", &issuer)],
            &["--json", "--ca-file", ca_file.to_str().unwrap()],
            "",
        );
        assert_eq!(code, 2);
        let tls = finding(&findings, "public.tls");
        assert_eq!(tls["status"], "fail", "{tls}");
        assert!(
            tls["summary"].as_str().unwrap().to_lowercase().contains(says),
            "{host}: {tls}"
        );
    }
}

/// libfaketime, installed by `./scripts/test`.
fn libfaketime() -> Option<std::path::PathBuf> {
    let found = ["x86_64", "aarch64"]
        .iter()
        .map(|arch| std::path::PathBuf::from(format!("/usr/lib/{arch}-linux-gnu/faketime/libfaketime.so.1")))
        .find(|p| p.exists());
    assert!(
        found.is_some() || std::env::var_os("CI").is_none(),
        "libfaketime must be installed in CI (./scripts/test)"
    );
    found
}

/// A PostgreSQL whose clock runs two hours ahead (libfaketime preloaded into the server), stopped
/// on drop.
struct SkewedPostgres {
    dir: std::path::PathBuf,
    _parent: tempfile::TempDir,
}

impl Drop for SkewedPostgres {
    fn drop(&mut self) {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg");
        let _ = Command::new(script).args(["stop", self.dir.to_str().unwrap()]).output();
    }
}

#[tokio::test]
async fn a_database_clock_that_is_off_makes_tokens_look_expired() {
    use std::os::unix::fs::PermissionsExt;
    if pg_url().is_none() {
        return;
    }
    let Some(lib) = libfaketime() else { return };
    let parent = tempfile::tempdir().unwrap();
    std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = parent.path().join("pg");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg");
    let out = Command::new(script)
        .args(["start", dir.to_str().unwrap()])
        .env("LD_PRELOAD", &lib)
        .env("FAKETIME", "+2h")
        .env("FAKETIME_DONT_RESET", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _pg = SkewedPostgres { dir, _parent: parent };
    let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let store = StoreEnv {
        database_url: Some(url),
        ..StoreEnv::fresh(tempfile::tempdir().unwrap().keep().as_path())
    };
    let (code, findings) = doctor(&store, &[], &["--json"], "");
    assert_eq!(code, 2);
    let clock = finding(&findings, "store.clock");
    assert_eq!(clock["status"], "fail", "{clock}");
    assert!(clock["summary"].as_str().unwrap().contains("ahead of"), "{clock}");
    assert!(clock["detail"].as_str().unwrap().contains("expired"), "{clock}");
}

/// Each cause of the classic errors is a label value of its own, so a dashboard tells a wrong
/// secret from a replayed code or a PKCE mismatch.
#[tokio::test]
async fn error_causes_are_bounded_metric_labels() {
    let g = Gatehouse::start();
    let client = g.alice_and_client("RS256");
    let wrong = TestClient {
        id: client.id.clone(),
        secret: Some("not-the-secret".into()),
    };
    assert_eq!(token(&g, &wrong, &[("grant_type", "client_credentials")]).await.0, 401);
    let (code, verifier) = authorized_code(&g, &Browser::new(), &client, "openid", &[]).await;
    assert_eq!(exchange_code(&g, &client, &code, "x".repeat(43).as_str()).await.0, 400);
    // A wrong verifier leaves the code usable; once used, a replay is refused.
    assert_eq!(exchange_code(&g, &client, &code, &verifier).await.0, 200);
    assert_eq!(exchange_code(&g, &client, &code, &verifier).await.0, 400);
    let metrics = get(&format!("{}/metrics", g.issuer)).await.text().await.unwrap();
    for (error, cause) in [
        ("invalid_client", "wrong_secret"),
        ("invalid_grant", "pkce_mismatch"),
        ("invalid_grant", "code_replayed"),
    ] {
        let line =
            format!("gatehouse_oauth_error_causes_total{{cause=\"{cause}\",endpoint=\"token\",error=\"{error}\"}} 1");
        assert!(metrics.contains(&line), "{line} missing:\n{metrics}");
    }
}

#[tokio::test]
async fn the_flow_runs_as_a_named_public_client_and_a_bad_setting_is_a_failed_check() {
    let g = Gatehouse::start();
    g.user("alice");
    let public = g.public_client("RS256");
    let env = [("GATEHOUSE_ISSUER", g.issuer.as_str())];
    let args = [
        "--json",
        "--flow",
        "--client",
        public.id.as_str(),
        "--user",
        "alice",
        "--password-stdin",
    ];
    let (_, findings) = doctor(&g.store, &env, &args, PASSWORD);
    for step in ["flow.token", "flow.id_token", "flow.refresh", "flow.revoke"] {
        assert_eq!(finding(&findings, step)["status"], "ok", "{step}: {findings:?}");
    }
    assert_eq!(
        g.cli(&["client", "list"]).as_array().unwrap().len(),
        1,
        "the named client stays"
    );
    let confidential = g.confidential_client("RS256", "client_secret_basic");
    let args = ["--json", "--flow", "--client", confidential.id.as_str()];
    let (code, findings) = doctor(&g.store, &env, &args, "");
    assert_eq!(code, 2);
    assert!(s(&finding(&findings, "flow.setup")["summary"]).contains("confidential"));
    // A setting that does not parse is the one failed check, named with its fix.
    let (code, findings) = doctor(&g.store, &[("GATEHOUSE_ACCESS_TOKEN_TTL", "forever")], &["--json"], "");
    assert_eq!(code, 2);
    let parse = finding(&findings, "config.parse");
    assert_eq!(parse["status"], "fail");
    assert!(
        s(&parse["summary"]).starts_with("GATEHOUSE_ACCESS_TOKEN_TTL"),
        "{parse}"
    );
}

/// With an https issuer, what a trusted proxy forwarded without `X-Forwarded-Proto: https` is
/// refused; what did not pass a proxy, and the last value of a chain, are judged right.
#[tokio::test]
async fn forwarded_plain_http_is_refused_and_direct_calls_are_not() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let _g = Gatehouse::start_env(&[
        ("GATEHOUSE_ISSUER", "https://login.example.test"),
        ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"),
        ("GATEHOUSE_BIND", bind.as_str()),
    ]);
    let url = format!("http://{bind}/.well-known/openid-configuration");
    let send = |headers: &'static [(&'static str, &'static str)]| {
        let mut req = http().get(&url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        async move { req.send().await.unwrap() }
    };
    let refused = send(&[("x-forwarded-for", "203.0.113.9")]).await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert!(s(&body["error_description"]).contains("X-Forwarded-Proto"), "{body}");
    assert_eq!(
        send(&[("x-forwarded-for", "203.0.113.9"), ("x-forwarded-proto", "http")])
            .await
            .status(),
        400
    );
    assert_eq!(
        send(&[("x-forwarded-for", "203.0.113.9"), ("x-forwarded-proto", "HTTPS")])
            .await
            .status(),
        200
    );
    assert_eq!(
        send(&[("x-forwarded-for", "203.0.113.9"), ("x-forwarded-proto", "http, https")])
            .await
            .status(),
        200
    );
    // A service on the proxy's host calling the instance directly.
    assert_eq!(send(&[]).await.status(), 200);
    let health = http()
        .get(format!("http://{bind}/ready"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "health probes pass");
}

/// No store yet: doctor says so, runs no flow, and creates nothing.
#[tokio::test]
async fn a_missing_store_is_named_and_nothing_is_created() {
    let parent = tempfile::tempdir().unwrap();
    let store = StoreEnv {
        data_dir: parent.path().join("data"),
        database_url: None,
    };
    let (code, findings) = doctor(&store, &[], &["--json", "--flow"], "");
    assert_eq!(code, 2);
    assert_eq!(finding(&findings, "store.reachable")["status"], "warn");
    assert_eq!(finding(&findings, "flow.setup")["status"], "fail");
    assert!(!store.data_dir.exists(), "doctor created the data directory");
}
