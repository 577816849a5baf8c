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

async fn fresh() -> Option<Arc<dyn Store>> {
    let url = fresh_schema(&pg_url()?).await;
    let store = PgStore::connect(&PgSettings::new(url)).unwrap();
    store.migrate().await.unwrap();
    // Every contract runs with the client cache on, as the server does.
    store.start_client_cache();
    Some(Arc::new(store))
}

gatehouse_storage::all_contracts!(fresh());

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
    let cli = PgStore::connect(&PgSettings::new(url.clone())).unwrap();
    cli.migrate().await.unwrap();
    let server = PgStore::connect(&PgSettings::new(url)).unwrap();
    server.start_client_cache();
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
        created_at: gatehouse_protocol::types::UnixTime(1),
    };
    cli.create_client(&record).await.unwrap();
    // Wait until the listener is up, then load the record into the cache.
    // (A concurrent test terminates listeners; from then on this one reads afresh, still correct.)
    let mut live = false;
    for _ in 0..200 {
        live = server.client_cache_live();
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
    let url = fresh_schema(&url).await;
    let server = PgStore::connect(&PgSettings::new(url.clone())).unwrap();
    server.migrate().await.unwrap();
    server.start_client_cache();
    let until = |want: bool| {
        let s = server.clone();
        async move {
            for _ in 0..500 {
                if s.client_cache_live() == want {
                    return true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            false
        }
    };
    assert!(until(true).await, "the LISTEN connection never came up");
    let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let killed = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE query = 'LISTEN gatehouse_clients' AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert!(killed >= 1, "no listening backend found");
    assert!(until(false).await, "the cache stayed on without its listener");
    assert!(until(true).await, "the listener did not reconnect");
}
