//! State survives a restart: clients, users, keys (same `kid`s), and a full flow still works.

use crate::support::*;
use serde_json::Value;

async fn kids(issuer: &str) -> Vec<String> {
    let jwks: Value = get_json(&format!("{issuer}/.well-known/jwks.json")).await;
    let mut kids: Vec<String> = jwks["keys"].as_array().unwrap().iter().map(|k| s(&k["kid"])).collect();
    kids.sort();
    kids
}

#[tokio::test]
async fn restart_keeps_clients_users_sessions_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreEnv::fresh(dir.path());
    let g = Gatehouse::start_with(&store, &[]);
    let client = g.alice_and_client("EdDSA");
    let before = kids(&g.issuer).await;
    assert_eq!(before.len(), 3);
    let browser = Browser::new();
    let issuer_before = g.issuer.clone();
    authorized_code(&g, &browser, &client, "openid", &[]).await;
    g.stop();

    let g = Gatehouse::start_with(&store, &[]);
    assert_eq!(kids(&g.issuer).await, before, "a restart keeps the same keys");
    // The browser session persisted too; the issuer's port changed, so point the cookie jar's
    // host (127.0.0.1) at the new port: cookies are per host, not per port.
    assert_ne!(issuer_before, g.issuer);
    let (verifier, challenge) = pkce();
    let direct = browser
        .follow(&auth_url(&g.issuer, &client.id, "openid", &challenge, &[]))
        .await;
    let back = url::Url::parse(&direct).unwrap();
    let code = query(&back, "code").expect("single sign-on survives the restart");
    let (status, body) = exchange_code(&g, &client, &code, &verifier).await;
    assert_eq!(status, 200);
    assert!(body["id_token"].is_string());
}
