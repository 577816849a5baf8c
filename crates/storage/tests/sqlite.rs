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

/// A server caches "this JWT access token is not revoked" (issue 20); a revocation made through
/// another handle on the same file (the CLI locking a user, a second server) is seen by its very
/// next check, and while nothing that revokes happens the answer comes from the cache.
#[tokio::test]
async fn revocations_by_another_process_reach_the_cache() {
    use gatehouse_protocol::types::{TokenHash, UnixTime};
    use gatehouse_storage::{Logouts, SessionEnd, Tokens, Users};
    let dir = tempfile::tempdir().unwrap();
    let server = SqliteStore::open(&dir.path().join("data")).unwrap();
    let cli = SqliteStore::open(&dir.path().join("data")).unwrap();
    gatehouse_storage::conformance::seed(&cli).await;
    let token = gatehouse_storage::conformance::jwt_access;
    let revoked = |jti: &'static str| {
        let server = server.clone();
        async move { server.jwt_access_revoked(&token(jti), 1_000).await.unwrap() }
    };
    for _ in 0..2 {
        assert!(!revoked("a").await);
        assert!(!revoked("b").await);
        assert!(!revoked("c").await);
    }
    cli.revoke_jwt_access_token(&TokenHash::of("a"), UnixTime(i64::MAX / 2))
        .await
        .unwrap();
    assert!(
        revoked("a").await,
        "a jti revoked by another process was still served as live"
    );
    assert!(!revoked("b").await);
    cli.revoke_grant("grant-b", UnixTime(2)).await.unwrap();
    assert!(revoked("b").await, "a grant revoked by another process");

    // While the count of changes stands still the answer is the cached one: a revocation written
    // underneath with the count put back is not seen (this is what makes a check cheap).
    assert!(!revoked("c").await);
    let raw = rusqlite::Connection::open(dir.path().join("data").join(gatehouse_storage::sqlite::DB_FILE)).unwrap();
    raw.execute_batch(&format!(
        "BEGIN; INSERT INTO revoked_access (hash, expires_at) VALUES (x'{}', 9);
         UPDATE revocation_changes SET n = n - 1; COMMIT;",
        TokenHash::of("c")
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
    .unwrap();
    assert!(!revoked("c").await, "the check did not come from the cache");
    raw.execute("DELETE FROM revoked_access WHERE expires_at = 9", [])
        .unwrap();

    cli.end_sessions(SessionEnd::User("u1"), "locked", UnixTime(2), UnixTime(2))
        .await
        .unwrap();
    assert!(revoked("c").await, "a user locked by another process");
    assert!(cli.delete_user("u1").await.unwrap());
    assert!(
        server.jwt_access_revoked(&token("d"), i64::MAX / 4).await.unwrap(),
        "a deleted user"
    );
}
