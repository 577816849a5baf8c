//! The device authorization grant (RFC 8628) end to end: the real binary, the device's requests
//! as raw HTTP, the user's side through the `/device` pages in a browser with cookies, and ID
//! tokens verified against the JWKS.

use crate::support::*;
use serde_json::Value;
use std::time::Duration;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const ALPHABET: &str = "BCDFGHJKLMNPQRSTVWXZ";

/// A server whose devices may poll every second.
fn server(extra: &[(&str, &str)]) -> Gatehouse {
    let mut env = vec![("GATEHOUSE_DEVICE_POLL_INTERVAL", "1s")];
    env.extend_from_slice(extra);
    Gatehouse::start_env(&env)
}

/// A public device client with only the device and refresh grants, and no redirect URI.
fn tv(g: &Gatehouse) -> TestClient {
    TestClient::created(&g.cli(&[
        "client",
        "create",
        "--name",
        "Living Room TV",
        "--public",
        "--grant-type",
        DEVICE_GRANT,
        "--grant-type",
        "refresh_token",
        "--scope",
        "openid offline_access",
    ]))
}

/// Asks for codes; returns the response.
async fn start(g: &Gatehouse, client: &TestClient, scope: &str) -> Value {
    let (status, body) = post_authenticated(g, "/oauth/device_authorization", client, &[("scope", scope)]).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn poll(g: &Gatehouse, client: &TestClient, device_code: &str) -> (u16, Value) {
    token(g, client, &[("grant_type", DEVICE_GRANT), ("device_code", device_code)]).await
}

/// The user's side: opens `/device`, types `typed`, signs in as alice if asked, and answers the
/// confirmation with `decision`; returns the confirmation page and the final page.
async fn approve(g: &Gatehouse, browser: &Browser, typed: &str, decision: &str) -> (String, String) {
    let (status, page) = browser.page(&format!("{}/device", g.issuer)).await;
    assert_eq!(status, 200, "{page}");
    let endpoint = format!("{}/device", g.issuer);
    let csrf = hidden(&page, "csrf_token");
    let res = browser
        .post(&endpoint, &[("csrf_token", &csrf), ("user_code", typed)])
        .await;
    assert_eq!(res.status(), 200);
    let mut page = res.text().await.unwrap();
    if page.contains("name=\"password\"") {
        let code = hidden(&page, "user_code");
        let form = [
            ("csrf_token", csrf.as_str()),
            ("user_code", code.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ];
        let res = browser.post(&endpoint, &form).await;
        assert_eq!(res.status(), 200);
        page = res.text().await.unwrap();
    }
    assert!(page.contains("Allow Living Room TV on your device?"), "{page}");
    let code = hidden(&page, "user_code");
    let done = browser
        .post(
            &endpoint,
            &[("csrf_token", &csrf), ("user_code", &code), ("decision", decision)],
        )
        .await;
    assert_eq!(done.status(), 200);
    (page, done.text().await.unwrap())
}

#[tokio::test]
async fn a_device_is_approved_through_the_pages_and_gets_verified_tokens_once() {
    let g = server(&[]);
    g.user("alice");
    let client = tv(&g);
    let discovery: Value = get_json(&format!("{}/.well-known/openid-configuration", g.issuer)).await;
    assert_eq!(
        discovery["device_authorization_endpoint"],
        format!("{}/oauth/device_authorization", g.issuer)
    );
    assert!(discovery["grant_types_supported"].to_string().contains(DEVICE_GRANT));
    let codes = start(&g, &client, "openid offline_access").await;
    let user_code = s(&codes["user_code"]);
    assert_eq!(user_code.len(), 9, "{codes}");
    assert_eq!(&user_code[4..5], "-");
    assert!(
        user_code.replace('-', "").chars().all(|c| ALPHABET.contains(c)),
        "{user_code}"
    );
    assert!(s(&codes["device_code"]).len() >= 43, "256 bits");
    assert_eq!(codes["verification_uri"], format!("{}/device", g.issuer));
    assert_eq!(
        codes["verification_uri_complete"],
        format!("{}/device?user_code={user_code}", g.issuer)
    );
    assert_eq!(
        (codes["expires_in"].as_u64(), codes["interval"].as_u64()),
        (Some(600), Some(1))
    );
    let device_code = s(&codes["device_code"]);
    let (status, body) = poll(&g, &client, &device_code).await;
    assert_error(status, &body, 400, "authorization_pending");
    let pending = g.cli(&["device", "list"]);
    assert_eq!(pending[0]["user_code"], user_code.as_str(), "{pending}");

    // Typed in lower case without the dash.
    let typed = user_code.replace('-', "").to_lowercase();
    let (confirm, done) = approve(&g, &Browser::new(), &typed, "allow").await;
    assert!(
        confirm.contains("from the address 127.0.0.1") && confirm.contains(&user_code),
        "{confirm}"
    );
    assert!(done.contains("You can return to your device"), "{done}");
    let (status, tokens) = poll(&g, &client, &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["refresh_token"].is_string(), "offline_access: {tokens}");
    let id_token = s(&tokens["id_token"]);
    let header = jsonwebtoken::decode_header(&id_token).unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = get_json(&format!("{}/.well-known/jwks.json", g.issuer)).await;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[&client.id]);
    v.set_issuer(&[&g.issuer]);
    let claims = jsonwebtoken::decode::<Value>(&id_token, &key, &v).unwrap().claims;
    assert!(
        claims.get("nonce").is_none() && claims["auth_time"].is_i64(),
        "{claims}"
    );
    assert_eq!(userinfo(&g, &s(&tokens["access_token"])).await["sub"], claims["sub"]);
    // Redeemed once.
    let (status, body) = poll(&g, &client, &device_code).await;
    assert_error(status, &body, 400, "invalid_grant");
    assert_eq!(g.cli(&["device", "list"]), serde_json::json!([]));
}

#[tokio::test]
async fn polling_too_fast_slows_the_device_down_for_good() {
    let g = server(&[]);
    let client = tv(&g);
    let device_code = s(&start(&g, &client, "openid").await["device_code"]);
    let (status, body) = poll(&g, &client, &device_code).await;
    assert_error(status, &body, 400, "authorization_pending");
    let (status, body) = poll(&g, &client, &device_code).await;
    assert_error(status, &body, 400, "slow_down");
    // Past the old interval (1 s) but not the new one (6 s): still too fast.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = poll(&g, &client, &device_code).await;
    assert_error(status, &body, 400, "slow_down");
    assert!(s(&body["error_description"]).contains("11 seconds"), "{body}");
}

#[tokio::test]
async fn denial_expiry_other_clients_and_unauthenticated_clients_are_refused() {
    let g = server(&[("GATEHOUSE_DEVICE_CODE_TTL", "2s")]);
    g.user("alice");
    let client = tv(&g);
    let other = tv(&g);
    let denied = start(&g, &client, "openid").await;
    approve(&g, &Browser::new(), &s(&denied["user_code"]), "deny").await;
    let (status, body) = poll(&g, &client, &s(&denied["device_code"])).await;
    assert_error(status, &body, 400, "access_denied");
    let mine = s(&start(&g, &client, "openid").await["device_code"]);
    let (status, body) = poll(&g, &other, &mine).await;
    assert_error(status, &body, 400, "invalid_grant");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (status, body) = poll(&g, &client, &mine).await;
    assert_error(status, &body, 400, "expired_token");
    // A confidential device client must authenticate, as at the token endpoint.
    let secret = TestClient::created(&g.cli(&["client", "create", "--name", "Kiosk", "--grant-type", DEVICE_GRANT]));
    let unauthenticated = TestClient {
        id: secret.id.clone(),
        secret: None,
    };
    let (status, body) = post_authenticated(&g, "/oauth/device_authorization", &unauthenticated, &[]).await;
    assert_error(status, &body, 401, "invalid_client");
    let (status, body) = post_authenticated(&g, "/oauth/device_authorization", &secret, &[]).await;
    assert_eq!(status, 200, "{body}");
    // A client not allowed the grant.
    let web = g.confidential_client("RS256", "client_secret_basic");
    let (status, body) = post_authenticated(&g, "/oauth/device_authorization", &web, &[]).await;
    assert_error(status, &body, 400, "unauthorized_client");
}

#[tokio::test]
async fn a_user_locked_after_approving_gets_no_tokens() {
    let g = server(&[]);
    g.user("alice");
    let client = tv(&g);
    let codes = start(&g, &client, "openid").await;
    approve(&g, &Browser::new(), &s(&codes["user_code"]), "allow").await;
    let (ok, _, err) = cli_raw(&g.store, &["user", "lock", "alice"], None);
    assert!(ok, "{err}");
    let (status, body) = poll(&g, &client, &s(&codes["device_code"])).await;
    assert_error(status, &body, 400, "access_denied");
}

#[tokio::test]
async fn wrong_codes_from_one_address_are_limited() {
    let g = server(&[]);
    let browser = Browser::new();
    let (_, page) = browser.page(&format!("{}/device", g.issuer)).await;
    let csrf = hidden(&page, "csrf_token");
    let endpoint = format!("{}/device", g.issuer);
    let mut limited = None;
    for i in 0..50 {
        let res = browser
            .post(&endpoint, &[("csrf_token", &csrf), ("user_code", "BCDF-GHJK")])
            .await;
        if res.status() == 429 {
            limited = Some((i, res.headers().get("retry-after").cloned()));
            break;
        }
        assert_eq!(res.status(), 400);
        assert!(res.text().await.unwrap().contains("not valid"));
    }
    let (after, retry_after) = limited.expect("50 wrong codes from one address get a 429");
    assert_eq!(after, 19, "the 20th wrong code locks the address");
    assert!(retry_after.is_some());
    // Without the form's token nothing is looked up at all.
    let res = browser.post(&endpoint, &[("user_code", "BCDF-GHJK")]).await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn approved_on_one_instance_and_polled_on_another() {
    // An interval no loaded machine outlasts between two polls: the second must be too fast.
    let first = server(&[("GATEHOUSE_DEVICE_POLL_INTERVAL", "30s")]);
    first.user("alice");
    let client = tv(&first);
    let second = Gatehouse::start_with(&first.store, &[("GATEHOUSE_DEVICE_POLL_INTERVAL", "1s")]);
    let codes = start(&first, &client, "openid").await;
    let device_code = s(&codes["device_code"]);
    let (status, body) = poll(&second, &client, &device_code).await;
    assert_error(status, &body, 400, "authorization_pending");
    let (status, body) = poll(&first, &client, &device_code).await;
    assert_error(status, &body, 400, "slow_down");
    approve(&first, &Browser::new(), &s(&codes["user_code"]), "allow").await;
    let (status, tokens) = poll(&second, &client, &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    let (status, body) = poll(&first, &client, &device_code).await;
    assert_error(status, &body, 400, "invalid_grant");
}
