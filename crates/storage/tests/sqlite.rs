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
