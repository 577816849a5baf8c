//! PostgreSQL-only behaviour: an outage answers 503 and the same server recovers; the move from the
//! embedded store keeps refresh tokens and key ids; migrations are applied or refused as configured.
//! Skipped without `GATEHOUSE_TEST_PG_URL`, except in CI.

use crate::support::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn pg_url() -> Option<String> {
    match std::env::var("GATEHOUSE_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!("GATEHOUSE_TEST_PG_URL must be set in CI (./scripts/test)"),
        _ => None,
    }
}

fn scripts_pg(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg");
    let out = Command::new(script).args(args).output().expect("run scripts/pg");
    assert!(
        out.status.success(),
        "scripts/pg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A PostgreSQL cluster of this test's own, stopped on drop.
struct Cluster {
    dir: std::path::PathBuf,
    _parent: tempfile::TempDir,
}

impl Cluster {
    fn start() -> (Self, String) {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        // The cluster runs as the postgres user when the tests run as root: let it in.
        std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let dir = parent.path().join("pg");
        let url = scripts_pg(&["start", dir.to_str().unwrap()]);
        (Self { dir, _parent: parent }, url)
    }

    fn stop(&self) {
        scripts_pg(&["stop", self.dir.to_str().unwrap()]);
    }

    fn restart(&self) {
        scripts_pg(&["start", self.dir.to_str().unwrap()]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn client_credentials(g: &Gatehouse, id: &str, secret: &str) -> (u16, Value, Duration) {
    let started = Instant::now();
    let res = http()
        .post(format!("{}/oauth/token", g.issuer))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null), started.elapsed())
}

#[tokio::test]
async fn outage_answers_503_promptly_and_the_same_server_recovers() {
    if pg_url().is_none() {
        return;
    }
    let (cluster, url) = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let store = StoreEnv {
        data_dir: dir.path().to_path_buf(),
        database_url: Some(url),
    };
    let g = Gatehouse::start_with(&store, &[("GATEHOUSE_DB_POOL_TIMEOUT_MS", "1000")]);
    let c = service_client(&g, &["--grant-type", "authorization_code", "--redirect-uri", REDIRECT]);
    let (id, secret) = (c.id.clone(), c.secret.clone().unwrap());
    assert_eq!(client_credentials(&g, &id, &secret).await.0, 200);
    let ready = |g: &Gatehouse| http().get(format!("{}/ready", g.issuer)).send();
    assert_eq!(ready(&g).await.unwrap().status(), 200);

    cluster.stop();
    let res = ready(&g).await.unwrap();
    assert_eq!(res.status(), 503, "/ready tells the truth while PostgreSQL is down");
    let body: Value = res.json().await.unwrap();
    assert!(body["reason"].as_str().unwrap().contains("store"), "{body}");
    let res = get(&format!("{}/health/detailed", g.issuer)).await;
    assert_eq!(res.status(), 503);
    let detail: Value = res.json().await.unwrap();
    assert_eq!(detail["status"], "unhealthy", "{detail}");
    assert_eq!(detail["store"]["reachable"], false);
    // The check that made it unhealthy, named and fixed as gatehouse doctor names and fixes it.
    assert_eq!(detail["checks"][0]["id"], "store.reachable", "{detail}");
    assert!(
        detail["checks"][0]["fix"]
            .as_str()
            .unwrap()
            .starts_with("start PostgreSQL"),
        "{detail}"
    );
    assert!(
        !detail.to_string().contains("postgres://"),
        "no connection string in health output"
    );
    let (status, body, took) = client_credentials(&g, &id, &secret).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        took < Duration::from_secs(10),
        "the outage is reported promptly, not after a hang ({took:?})"
    );
    let (_, challenge) = pkce();
    let page = http()
        .get(auth_url(&g.issuer, &id, "openid", &challenge, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.headers().get("location").is_none());
    assert_eq!(get_status(&format!("{}/health", g.issuer)).await, 200, "still alive");
    // The CLI fails cleanly too, and writes nothing.
    let (ok, _, err) = cli_raw(
        &store,
        &[
            "client",
            "create",
            "--name",
            "during-outage",
            "--redirect-uri",
            REDIRECT,
        ],
        None,
    );
    assert!(!ok && err.contains("DATABASE_URL"), "{err}");

    cluster.restart();
    let mut recovered = false;
    for _ in 0..40 {
        if client_credentials(&g, &id, &secret).await.0 == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "the running server recovers once PostgreSQL is back");
    assert_eq!(ready(&g).await.unwrap().status(), 200);
    let mut detail: Value = get_json(&format!("{}/health/detailed", g.issuer)).await;
    assert_eq!(detail["store"]["kind"], "postgres");
    assert!(detail["store"]["pool"]["max"].is_number(), "{detail}");
    // The caches come back once the listener has reconnected and hears its heartbeat again; the
    // report and the metrics say whether they are used.
    for _ in 0..40 {
        if detail["store"]["pool"]["caches_live"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        detail = get_json(&format!("{}/health/detailed", g.issuer)).await;
    }
    assert_eq!(detail["store"]["pool"]["caches_live"], true, "{detail}");
    let notices = detail["notices"].to_string();
    assert!(!notices.contains("cache listener"), "{notices}");
    let metrics = get(&format!("{}/metrics", g.issuer)).await.text().await.unwrap();
    assert!(metrics.contains("\ngatehouse_db_caches_live 1\n"), "{metrics}");
    assert!(
        detail["clock"]["skew_ms"].is_number(),
        "the database clock is compared: {detail}"
    );
    let clients = g.cli(&["client", "list"]);
    assert_eq!(clients.as_array().unwrap().len(), 1, "nothing half-written: {clients}");
}

fn kid_of(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt).unwrap().kid.expect("a kid")
}

async fn verify_with_jwks(issuer: &str, jwt: &str, client_id: &str) {
    verify_with_jwks_of(issuer, issuer, jwt, client_id).await;
}

async fn verify_with_jwks_of(server: &str, issuer: &str, jwt: &str, client_id: &str) {
    let jwks: jsonwebtoken::jwk::JwkSet = get_json(&format!("{server}/.well-known/jwks.json")).await;
    let jwk = jwks.find(&kid_of(jwt)).expect("the kid is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(jwt, &key, &validation).expect("the ID token verifies");
}

#[tokio::test]
async fn move_from_sqlite_to_postgres_keeps_refresh_tokens_and_kids() {
    let Some(url) = pg_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = StoreEnv {
        data_dir: dir.path().join("sqlite"),
        database_url: None,
    };
    let g = Gatehouse::start_with(&sqlite, &[]);
    let client = g.alice_and_client("RS256");
    let (code, verifier) = authorized_code(&g, &Browser::new(), &client, "openid offline_access", &[]).await;
    let (_, tokens) = exchange_code(&g, &client, &code, &verifier).await;
    let (old_id_token, refresh) = (s(&tokens["id_token"]), s(&tokens["refresh_token"]));
    let old_issuer = g.issuer.clone();
    g.stop();

    let (ok, export, err) = cli_raw(&sqlite, &["export"], None);
    assert!(ok, "{err}");
    assert!(!export.contains(&refresh), "exports hold hashes, never token values");
    let pg = StoreEnv {
        data_dir: dir.path().join("pg"),
        database_url: Some(fresh_schema(&url)),
    };
    let (ok, _, err) = cli_raw(&pg, &["import"], Some(&export));
    assert!(ok, "{err}");
    // A second import is refused: the store is no longer empty.
    let (ok, _, err) = cli_raw(&pg, &["import"], Some(&export));
    assert!(!ok && err.contains("not empty"), "{err}");

    let g = Gatehouse::start_with(&pg, &[]);
    let (status, refreshed) = crate::support::refresh(&g, &client, &refresh).await;
    assert_eq!(status, 200, "the refresh token issued on SQLite works on PostgreSQL");
    let new_id_token = s(&refreshed["id_token"]);
    assert_eq!(
        kid_of(&new_id_token),
        kid_of(&old_id_token),
        "same signing key, same kid"
    );
    verify_with_jwks(&g.issuer, &new_id_token, &client.id).await;
    // The ID token issued before the move verifies against the new server's JWKS (its `iss` is
    // the old address, since each test server listens on a new port).
    verify_with_jwks_of(&g.issuer, &old_issuer, &old_id_token, &client.id).await;
}

#[tokio::test]
async fn auto_migrate_false_refuses_pending_migrations_until_migrate_runs() {
    let Some(url) = pg_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = StoreEnv {
        data_dir: dir.path().to_path_buf(),
        database_url: Some(fresh_schema(&url)),
    };
    let status = cli_json(&store, &["migrate", "--status"]);
    assert_eq!(status["applied"], serde_json::json!([]));
    let pending = status["pending"].clone();
    assert_eq!(pending[0], "0001_init", "{status}");

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.arg("serve")
        .env("GATEHOUSE_BIND", "127.0.0.1:0")
        .env("GATEHOUSE_AUTO_MIGRATE", "false");
    cmd.env("GATEHOUSE_DATA_DIR", &store.data_dir)
        .env("DATABASE_URL", store.database_url.as_ref().unwrap());
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("0001_init") && err.contains("gatehouse migrate"), "{err}");

    assert_eq!(cli_json(&store, &["migrate"])["applied"], pending);
    // Later commands find the schema in place and say nothing about it: PostgreSQL's notice that
    // the migrations table exists is not logged on every command.
    let (ok, _, err) = cli_raw(&store, &["client", "list"], None);
    assert!(ok && err.is_empty(), "{err}");
    assert_eq!(
        cli_json(&store, &["migrate", "--status"])["pending"],
        serde_json::json!([])
    );
    let g = Gatehouse::start_with(&store, &[("GATEHOUSE_AUTO_MIGRATE", "false")]);
    assert_eq!(get_status(&format!("{}/health", g.issuer)).await, 200);
}
