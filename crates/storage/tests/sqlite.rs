//! The conformance suite against the embedded SQLite store, each contract in a fresh temp dir.

use gatehouse_storage::sqlite::SqliteStore;
use gatehouse_storage::{Scopes, Store};
use std::sync::Arc;

async fn fresh() -> Option<Arc<dyn Store>> {
    // The directory is kept on purpose: it must outlive the store, and the OS cleans /tmp.
    // The store creates its own (private) directory inside it.
    let dir = tempfile::tempdir().unwrap().keep().join("data");
    Some(Arc::new(SqliteStore::open(&dir).unwrap()))
}

gatehouse_storage::all_contracts!(fresh());

#[test]
fn reopening_keeps_data_and_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = SqliteStore::open(&dir.path().join("data")).unwrap();
        s.create_scope(&gatehouse_storage::ScopeRecord {
            name: "x".into(),
            description: "d".into(),
            builtin: false,
        })
        .await
        .unwrap();
    });
    rt.block_on(async {
        let s = SqliteStore::open(&dir.path().join("data")).unwrap();
        assert!(s.list_scopes().await.unwrap().iter().any(|r| r.name == "x"));
    });
}

/// A server keeps client records in memory; a change made through another handle on the same file
/// (the CLI, a second server) is seen by its very next lookup, so a rotated secret or a deleted
/// client stops working at once.
#[tokio::test]
async fn client_changes_by_another_process_reach_the_cache() {
    use gatehouse_protocol::types::TokenHash;
    use gatehouse_storage::Clients;
    let dir = tempfile::tempdir().unwrap();
    let server = SqliteStore::open(&dir.path().join("data")).unwrap();
    let cli = SqliteStore::open(&dir.path().join("data")).unwrap();
    let mut record = gatehouse_storage::conformance::client("cached");
    cli.create_client(&record).await.unwrap();
    let secret = |c: Option<gatehouse_storage::ClientRecord>| c.and_then(|c| c.secret_hash);
    for _ in 0..2 {
        assert_eq!(
            secret(server.find_client(&record.id).await.unwrap()),
            record.secret_hash
        );
    }
    record.secret_hash = Some(TokenHash::of("rotated"));
    assert!(cli.update_client(&record).await.unwrap());
    assert_eq!(
        secret(server.find_client(&record.id).await.unwrap()),
        Some(TokenHash::of("rotated")),
        "the rotated secret did not reach the cache"
    );
    // Without its count of changes (deleted by hand) the server caches nothing, so changes are
    // still seen at once; with the count back, caching resumes.
    let raw = rusqlite::Connection::open(dir.path().join("data").join(gatehouse_storage::sqlite::DB_FILE)).unwrap();
    raw.execute("DELETE FROM client_changes", []).unwrap();
    assert!(server.find_client(&record.id).await.unwrap().is_some());
    raw.execute(
        "UPDATE clients SET secret_hash = ?1 WHERE id = 'cached'",
        [TokenHash::of("uncounted").as_bytes().to_vec()],
    )
    .unwrap();
    assert_eq!(
        secret(server.find_client(&record.id).await.unwrap()),
        Some(TokenHash::of("uncounted")),
        "a change made while the count is missing was not seen"
    );
    raw.execute("INSERT INTO client_changes (n) VALUES (0)", []).unwrap();
    assert!(cli.delete_client(&record.id).await.unwrap());
    assert!(
        server.find_client(&record.id).await.unwrap().is_none(),
        "the deleted client is still served from the cache"
    );
}
