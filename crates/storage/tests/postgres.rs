//! The conformance suite against PostgreSQL: each contract in a fresh schema of the cluster named by
//! `GATEHOUSE_TEST_PG_URL` (`./scripts/test` starts a throwaway one). Without it the suite is
//! skipped, except in CI, where a skipped PostgreSQL run is a failure.

use gatehouse_storage::Store;
use gatehouse_storage::postgres::{MIGRATIONS, PgSettings, PgStore};
use std::sync::Arc;

fn pg_url() -> Option<String> {
    match std::env::var("GATEHOUSE_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("GATEHOUSE_TEST_PG_URL is not set; in CI the PostgreSQL suite must run (use ./scripts/test)")
        }
        _ => {
            eprintln!("skipped: set GATEHOUSE_TEST_PG_URL or run ./scripts/test to test PostgreSQL");
            None
        }
    }
}

/// A URL whose connections use a new, empty schema.
async fn fresh_schema(url: &str) -> String {
    let mut bytes = [0u8; 8];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut bytes).unwrap();
    let schema = format!("t_{}", u64::from_le_bytes(bytes));
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// `url` with an application name of its own, which tells this test's connections (its cache
/// listener's: the name followed by " listener") from the other tests'.
fn named(url: &str) -> (String, String) {
    let mut bytes = [0u8; 8];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut bytes).unwrap();
    let app = format!("t{}", u64::from_le_bytes(bytes));
    (format!("{url}&application_name={app}"), app)
}

/// A store on `url`, its schema migrated.
async fn migrated(url: &str) -> PgStore {
    let store = PgStore::connect(&PgSettings::new(url)).unwrap();
    store.migrate().await.unwrap();
    store
}

async fn fresh() -> Option<Arc<dyn Store>> {
    let store = migrated(&fresh_schema(&pg_url()?).await).await;
    // Every contract runs with the caches on, as the server does (unless a concurrent test has
    // just cut their connection: they are then bypassed, which is correct too).
    store.start_caches();
    for _ in 0..500 {
        if store.caches_live() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Some(Arc::new(store))
}

gatehouse_storage::all_contracts!(fresh());

/// Two stores on `url`: one as the CLI is (migrated and seeded), one as a server is (its caches
/// started).
async fn cli_and_server(url: &str) -> (PgStore, PgStore) {
    let cli = migrated(url).await;
    let server = PgStore::connect(&PgSettings::new(url)).unwrap();
    server.start_caches();
    gatehouse_storage::conformance::seed(&cli).await;
    (cli, server)
}

/// Whether `server` answers that the suite's JWT access token `jti` is revoked.
async fn revoked_at(server: &PgStore, jti: &str) -> bool {
    use gatehouse_storage::Tokens;
    let token = gatehouse_storage::conformance::jwt_access(jti);
    server.jwt_access_revoked(&token, 1_000).await.unwrap()
}

/// Waits up to 10 s for the store's caches to be live, or not; whether they became so.
async fn caches_become(store: &PgStore, live: bool) -> bool {
    for _ in 0..1000 {
        if store.caches_live() == live {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn migrations_apply_once_under_concurrent_starts() {
    let Some(url) = pg_url() else { return };
    let url = fresh_schema(&url).await;
    let store = PgStore::connect(&PgSettings::new(url.clone())).unwrap();
    let status = store.migration_status().await.unwrap();
    assert_eq!(status.applied.len(), 0);
    assert_eq!(status.pending.len(), MIGRATIONS.len());
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let s = PgStore::connect(&PgSettings::new(url.clone())).unwrap();
            tokio::spawn(async move { s.migrate().await.unwrap().len() })
        })
        .collect();
    let mut applied = 0;
    for t in tasks {
        applied += t.await.unwrap();
    }
    assert_eq!(applied, MIGRATIONS.len(), "each migration applied exactly once");
    let status = store.migration_status().await.unwrap();
    assert!(status.pending.is_empty());
}

#[tokio::test]
async fn unreachable_database_is_unavailable_promptly() {
    let mut settings = PgSettings::new("postgres://postgres@127.0.0.1:1/postgres");
    settings.pool_timeout = std::time::Duration::from_millis(500);
    let store = PgStore::connect(&settings).unwrap();
    let started = std::time::Instant::now();
    let err = store.ping().await.unwrap_err();
    assert!(matches!(err, gatehouse_storage::StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// A server caches client records; a change made by another process (the CLI, another instance)
/// reaches it through NOTIFY, so a rotated secret or a deleted client stops working at once.
#[tokio::test]
async fn client_changes_by_another_process_reach_the_cache() {
    use gatehouse_protocol::types::{ClientId, TokenHash};
    use gatehouse_storage::Clients;
    let Some(url) = pg_url() else { return };
    let url = fresh_schema(&url).await;
    let cli = migrated(&url).await;
    let server = PgStore::connect(&PgSettings::new(url)).unwrap();
    server.start_caches();
    let id = ClientId::parse("cached").unwrap();
    let mut record = gatehouse_storage::ClientRecord {
        id: id.clone(),
        name: "cached app".into(),
        secret_hash: Some(TokenHash::of("old")),
        auth_method: gatehouse_protocol::types::TokenEndpointAuthMethod::ClientSecretBasic,
        redirect_uris: vec![],
        grant_types: vec![gatehouse_protocol::types::GrantType::ClientCredentials],
        scopes: gatehouse_protocol::types::ScopeSet::default(),
        id_token_alg: gatehouse_protocol::types::SigningAlg::Rs256,
        access_token_format: gatehouse_protocol::types::AccessTokenFormat::Opaque,
        resources: vec![],
        introspect: false,
        post_logout_redirect_uris: vec![],
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        jwks: None,
        token_endpoint_auth_signing_alg: None,
        strict_assertion_audience: false,
        jwks_uri: None,
        request_object_signing_alg: None,
        require_pushed_authorization_requests: false,
        require_signed_request_object: false,
        dpop_bound_access_tokens: false,
        origin: gatehouse_storage::ClientOrigin::Operator,
        registration_token_hash: None,
        registration_policy: None,
        about: Default::default(),
        userinfo_alg: None,
        default_max_age: None,
        require_auth_time: false,
        created_at: gatehouse_protocol::types::UnixTime(1),
        secret_set_at: None,
        last_used_at: None,
    };
    cli.create_client(&record).await.unwrap();
    // Wait until the listener is up, then load the record into the cache.
    // (A concurrent test terminates listeners; from then on this one reads afresh, still correct.)
    let mut live = false;
    for _ in 0..200 {
        live = server.caches_live();
        if live {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(live, "the LISTEN connection never came up");
    let secret = |c: Option<gatehouse_storage::ClientRecord>| c.and_then(|c| c.secret_hash);
    assert_eq!(
        secret(server.find_client(&id).await.unwrap()),
        Some(TokenHash::of("old"))
    );
    record.secret_hash = Some(TokenHash::of("new"));
    assert!(cli.update_client(&record).await.unwrap());
    let mut seen = None;
    for _ in 0..100 {
        seen = secret(server.find_client(&id).await.unwrap());
        if seen == Some(TokenHash::of("new")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        seen,
        Some(TokenHash::of("new")),
        "the rotated secret never reached the cache"
    );
    assert!(cli.delete_client(&id).await.unwrap());
    let mut gone = false;
    for _ in 0..100 {
        if server.find_client(&id).await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(gone, "the deleted client is still served from the cache");
}

/// When the LISTEN connection dies, the cache turns off (nothing stale can be served while
/// notifications cannot arrive) and comes back once the listener has reconnected.
#[tokio::test]
async fn client_cache_turns_off_while_its_listener_is_down() {
    let Some(url) = pg_url() else { return };
    let (url, app) = named(&fresh_schema(&url).await);
    let server = migrated(&url).await;
    server.start_caches();
    let until = |want: bool| caches_become(&server, want);
    assert!(until(true).await, "the LISTEN connection never came up");
    let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let killed = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            &[&format!("{app} listener")],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert!(killed >= 1, "no listening backend found");
    assert!(until(false).await, "the cache stayed on without its listener");
    assert!(until(true).await, "the listener did not reconnect");
}

/// TLS to PostgreSQL (review L12): a server whose certificate comes from a private CA is verified
/// against `GATEHOUSE_DB_CA_FILE` (or `sslrootcert`), `verify-full` is understood, and a
/// certificate that does not verify is refused with a message naming the fix.
#[tokio::test]
async fn tls_to_a_private_ca_is_verified() {
    use std::process::Command;
    let Some(url) = pg_url() else { return };
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let data_dir: String = client.query_one("SHOW data_directory", &[]).await.unwrap().get(0);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(w)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-days",
        "2",
        "-subj",
        "/CN=gatehouse test db CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    openssl(&ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend(["-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"]);
    openssl(&csr);
    std::fs::write(
        w.join("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext",
        "-out",
        "server.crt",
    ]);
    // The server reads its certificate from its data directory, owned by its user, key mode 600.
    let tag = std::process::id();
    let (cert, key) = (
        format!("{data_dir}/gh-test-{tag}.crt"),
        format!("{data_dir}/gh-test-{tag}.key"),
    );
    if std::fs::copy(w.join("server.crt"), &cert).is_err() {
        eprintln!("skipped: the test database's data directory is not on this machine");
        return;
    }
    std::fs::copy(w.join("server.key"), &key).unwrap();
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let owner = std::fs::metadata(&data_dir).unwrap();
        for f in [&cert, &key] {
            let _ = std::os::unix::fs::chown(f, Some(owner.uid()), Some(owner.gid()));
        }
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // ALTER SYSTEM refuses to run in a transaction: one statement at a time.
    for sql in [
        format!("ALTER SYSTEM SET ssl_cert_file = '{cert}'"),
        format!("ALTER SYSTEM SET ssl_key_file = '{key}'"),
        "ALTER SYSTEM SET ssl = on".to_owned(),
        "SELECT pg_reload_conf()".to_owned(),
    ] {
        client.simple_query(&sql).await.unwrap();
    }
    for _ in 0..50 {
        let on: String = client.query_one("SHOW ssl", &[]).await.unwrap().get(0);
        if on == "on" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let ca_file = w.join("ca.crt");
    let ping = |url: String, ca: Option<std::path::PathBuf>| async move {
        let mut settings = PgSettings::new(url);
        settings.ca_file = ca;
        settings.pool_timeout = std::time::Duration::from_secs(3);
        PgStore::connect(&settings).unwrap().ping().await
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let full = format!("{url}{sep}sslmode=verify-full");
    let trusted = ping(full.clone(), Some(ca_file.clone())).await;
    let untrusted = ping(full.clone(), None).await;
    let by_url = ping(format!("{full}&sslrootcert={}", ca_file.display()), None).await;
    let wrong_name = ping(full.replace("127.0.0.1", "localhost"), Some(ca_file.clone())).await;
    for sql in [
        "ALTER SYSTEM RESET ssl",
        "ALTER SYSTEM RESET ssl_cert_file",
        "ALTER SYSTEM RESET ssl_key_file",
        "SELECT pg_reload_conf()",
    ] {
        client.simple_query(sql).await.unwrap();
    }
    let _ = std::fs::remove_file(&cert);
    let _ = std::fs::remove_file(&key);
    trusted.expect("verify-full with the private CA connects");
    by_url.expect("sslrootcert in the URL works too");
    let e = untrusted
        .expect_err("a private CA is not trusted by default")
        .to_string();
    assert!(e.contains("GATEHOUSE_DB_CA_FILE"), "{e}");
    assert!(wrong_name.is_err(), "the host name is verified");
}

/// A server caches "this JWT access token is not revoked" (issue 20); a revocation made by another
/// process (the CLI, another instance) reaches it through NOTIFY, and while nothing is announced
/// the answer comes from the cache.
#[tokio::test]
async fn revocations_by_another_process_reach_the_cache() {
    use gatehouse_protocol::types::{TokenHash, UnixTime};
    use gatehouse_storage::{Logouts, SessionEnd, Tokens};
    let Some(url) = pg_url() else { return };
    let url = fresh_schema(&url).await;
    let (cli, server) = cli_and_server(&url).await;
    let token = gatehouse_storage::conformance::jwt_access;
    let revoked = |jti: &'static str| revoked_at(&server, jti);
    // Polls until the server's answer is `want`, for up to 5 s (a notification takes milliseconds).
    let until = |jti: &'static str, want: bool| async move {
        for _ in 0..500 {
            if revoked(jti).await == want {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        false
    };
    for _ in 0..500 {
        if server.caches_live() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(server.caches_live(), "the LISTEN connection never came up");
    for jti in ["a", "b", "c"] {
        assert!(!revoked(jti).await);
    }

    // While nothing is announced the answer is the cached one: a revocation written with triggers
    // off is not seen (this is what makes a check cheap). A concurrent test may cut the listener,
    // and the server then reads afresh; the claim holds only while the cache stayed live.
    let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    admin
        .batch_execute(&format!(
            "SET session_replication_role = replica;
             INSERT INTO revoked_access (hash, expires_at) VALUES ('\\x{}', 9);
             SET session_replication_role = DEFAULT;",
            TokenHash::of("c")
                .as_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ))
        .await
        .unwrap();
    let answer = revoked("c").await;
    if server.caches_live() {
        assert!(!answer, "the check did not come from the cache");
    }
    admin
        .batch_execute("DELETE FROM revoked_access WHERE expires_at = 9")
        .await
        .unwrap();

    cli.revoke_jwt_access_token(&TokenHash::of("a"), UnixTime(i64::MAX / 2))
        .await
        .unwrap();
    assert!(until("a", true).await, "a jti revoked by another process stayed live");
    assert!(!revoked("b").await);
    cli.revoke_grant("grant-b", UnixTime(2)).await.unwrap();
    assert!(until("b", true).await, "a grant revoked by another process stayed live");
    assert!(!revoked("c").await);
    cli.end_sessions(SessionEnd::User("u1"), "locked", UnixTime(2), UnixTime(2))
        .await
        .unwrap();
    assert!(until("c", true).await, "a user locked by another process stayed live");

    // A revocation made through the server itself is seen at once, without waiting for NOTIFY.
    assert!(!server.jwt_access_revoked(&token("d"), i64::MAX / 4).await.unwrap());
    server
        .revoke_jwt_access_token(&TokenHash::of("d"), UnixTime(i64::MAX / 2))
        .await
        .unwrap();
    assert!(server.jwt_access_revoked(&token("d"), i64::MAX / 4).await.unwrap());
}

/// Opaque access-token inserts that arrive together are written with one statement (issue 20);
/// a token that cannot be written (its client is unknown) fails alone, its batch written one by
/// one, and every other token is stored. Lookups that arrive together share one query.
#[tokio::test]
async fn access_tokens_inserted_together_share_a_statement_and_fail_alone() {
    use gatehouse_protocol::types::UnixTime;
    use gatehouse_storage::Tokens;
    let Some(url) = pg_url() else { return };
    let schema_url = fresh_schema(&url).await;
    let store = migrated(&schema_url).await;
    gatehouse_storage::conformance::seed(&store).await;
    let token = |i: usize| {
        let client = if i == 150 { "no-such-client" } else { "app" };
        gatehouse_storage::conformance::access(&format!("t{i}"), client, None, UnixTime(i64::MAX / 2))
    };
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let (store, t) = (store.clone(), token(i));
            tokio::spawn(async move { store.put_access_token(&t).await.is_ok() })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap(), i != 150, "token {i}");
    }
    for i in [0, 149, 151, 299] {
        let t = token(i);
        assert!(
            store.find_access_token(&t.hash, UnixTime(1)).await.unwrap().is_some(),
            "token {i}"
        );
    }
    let b = store.access_token_batches();
    assert!(
        b.insert_statements >= 1 && b.inserted > b.insert_statements,
        "no batch: {b:?}"
    );
    // The unknown client's token failed in a batch (split) or on its own.
    assert!(b.split <= 1, "{b:?}");

    // Lookups that arrive together share a query too, each with its own answer.
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let (store, t) = (store.clone(), token(i));
            tokio::spawn(async move { store.find_access_token(&t.hash, UnixTime(1)).await.unwrap() })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let found = task.await.unwrap();
        assert_eq!(found.map(|t| t.hash), (i != 150).then(|| token(i).hash), "token {i}");
    }
    let b = store.access_token_batches();
    assert!(
        b.lookup_statements >= 1 && b.looked_up > b.lookup_statements,
        "no batch: {b:?}"
    );
    let expired = store
        .find_access_token(&token(0).hash, UnixTime(i64::MAX / 2))
        .await
        .unwrap();
    assert!(expired.is_none(), "an expired token is not found");

    // A row that cannot be read fails its own lookup alone, not the others of its batch.
    let (admin, conn) = tokio_postgres::connect(&schema_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let corrupt = token(10).hash.as_bytes().to_vec();
    admin
        .execute(
            "UPDATE access_tokens SET claims = 'not json' WHERE hash = $1",
            &[&corrupt],
        )
        .await
        .unwrap();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let (store, t) = (store.clone(), token(i));
            tokio::spawn(async move { store.find_access_token(&t.hash, UnixTime(1)).await.is_ok() })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap(), i != 10, "token {i}");
    }
}

/// Stops a process (SIGSTOP) until dropped (SIGCONT), so a failing test leaves nothing frozen.
struct Frozen(i32);

impl Frozen {
    fn new(pid: i32) -> Self {
        let ok = std::process::Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "cannot stop backend {pid} (the test needs the cluster on this machine, as ./scripts/test runs it)"
        );
        Self(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

/// A listener whose connection stays open but hears nothing (a connection black-holed by the
/// network, or PgBouncer in transaction mode, where LISTEN is accepted and notifications never
/// arrive) would keep serving a "not revoked" answer after the token was revoked elsewhere. The
/// listener proves it hears by a heartbeat NOTIFY sent through the pool; when one does not come
/// back the caches turn off, and they come back once it hears again.
#[tokio::test]
async fn caches_turn_off_while_their_listener_hears_nothing() {
    use gatehouse_protocol::types::{TokenHash, UnixTime};
    use gatehouse_storage::Tokens;
    let Some(url) = pg_url() else { return };
    let (url, app) = named(&fresh_schema(&url).await);
    let (cli, server) = cli_and_server(&url).await;
    let revoked = |jti: &'static str| revoked_at(&server, jti);
    let until = |want: bool| caches_become(&server, want);
    assert!(until(true).await, "the caches never came up");
    let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let listener = format!("{app} listener");
    let pid: i32 = admin
        .query_one(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
            &[&listener],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!revoked("a").await);
    // The backend must be a process of this machine (as with ./scripts/test's cluster).
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if !comm.starts_with("postgres") {
        eprintln!("skipped: the PostgreSQL backend {pid} is not a process of this machine");
        return;
    }
    let frozen = Frozen::new(pid);
    cli.revoke_jwt_access_token(&TokenHash::of("a"), UnixTime(i64::MAX / 2))
        .await
        .unwrap();
    let mut seen = false;
    for _ in 0..1000 {
        if revoked("a").await {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        seen,
        "a revocation made while the listener heard nothing was never seen"
    );
    assert!(
        !server.caches_live(),
        "the caches stayed on while their listener heard nothing"
    );
    drop(frozen);
    assert!(
        until(true).await,
        "the caches did not come back once the listener heard again"
    );
    assert!(revoked("a").await);
}

/// The heartbeat does not queue behind requests: with every pooled connection busy (two
/// rotations waiting on a row lock), the caches stay on. Beats sent through the pool timed out
/// there and turned the caches off for as long as the load lasted.
#[tokio::test]
async fn caches_stay_on_while_every_pooled_connection_is_busy() {
    use gatehouse_protocol::types::TokenHash;
    use gatehouse_storage::Tokens;
    let Some(url) = pg_url() else { return };
    let url = fresh_schema(&url).await;
    let cli = migrated(&url).await;
    let mut settings = PgSettings::new(url.clone());
    settings.pool_max = 2;
    settings.pool_timeout = std::time::Duration::from_millis(300);
    settings.statement_timeout = std::time::Duration::from_secs(10);
    let server = PgStore::connect(&settings).unwrap();
    server.start_caches();
    assert!(caches_become(&server, true).await, "the caches never came up");
    gatehouse_storage::conformance::seed(&cli).await;
    let token = gatehouse_storage::conformance::refresh_record("busy", "g-busy");
    cli.put_refresh_token(&token).await.unwrap();
    // Hold the token's row, so rotations of it wait, each on a pooled connection.
    let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    admin.batch_execute("BEGIN").await.unwrap();
    let hash = token.hash.as_bytes().to_vec();
    admin
        .execute("SELECT 1 FROM refresh_tokens WHERE hash = $1 FOR UPDATE", &[&hash])
        .await
        .unwrap();
    let waiting: Vec<_> = (0..2)
        .map(|i| {
            let server = server.clone();
            let next = gatehouse_storage::Successor {
                hash: TokenHash::of(&format!("next{i}")),
                expires_at: token.expires_at,
                bind_to: None,
                access_token: None,
            };
            let hash = token.hash;
            tokio::spawn(async move { server.rotate_refresh_token(&hash, next, token.issued_at, 0).await })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(server.pool_status().in_use, 2, "every pooled connection is busy");
    for _ in 0..35 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(server.caches_live(), "the caches turned off under load");
    }
    admin.batch_execute("ROLLBACK").await.unwrap();
    for w in waiting {
        w.await.unwrap().unwrap();
    }
}
