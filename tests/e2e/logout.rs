//! Logout (OpenID Connect RP-Initiated Logout 1.0 and Back-Channel Logout 1.0) end to end: the
//! real binary, a browser with cookies, a loopback HTTP listener as the client's
//! `backchannel_logout_uri`, and logout tokens verified independently (`jsonwebtoken` against the
//! published JWKS).

use crate::support::*;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BYE: &str = "http://127.0.0.1:9/bye";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A client's back-channel logout endpoint: answers each POST with the next status of its script
/// (the last one repeats) and keeps every body it received.
struct Listener {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Listener {
    async fn start(statuses: &[u16]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/backchannel-logout", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (seen, script) = (Arc::clone(&bodies), statuses.to_vec());
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((mut stream, _)) = listener.accept().await {
                let body = read_request(&mut stream).await;
                let status = script[n.min(script.len() - 1)];
                n += 1;
                seen.lock().unwrap().push(body);
                let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
        Self { url, bodies }
    }

    /// The logout tokens received so far.
    fn tokens(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| {
                url::form_urlencoded::parse(b.as_bytes())
                    .find(|(k, _)| k == "logout_token")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_else(|| panic!("no logout_token in {b}"))
            })
            .collect()
    }

    /// Waits (up to 20 s) until `n` tokens have arrived.
    async fn wait_for(&self, n: usize) -> Vec<String> {
        for _ in 0..200 {
            if self.tokens().len() >= n {
                return self.tokens();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("expected {n} back-channel logout posts, got {}", self.tokens().len());
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned();
            }
        }
    }
    String::new()
}

/// A server that may call loopback listeners and retries after one second.
fn server() -> Gatehouse {
    Gatehouse::start_env(&[
        ("GATEHOUSE_OUTBOUND_ALLOW", "127.0.0.1"),
        ("GATEHOUSE_BACKCHANNEL_RETRY", "1s"),
    ])
}

/// Alice and a client that registered [`BYE`] and `backchannel` (if any).
fn alice_and_logout_client(g: &Gatehouse, backchannel: Option<&str>) -> TestClient {
    g.user("alice");
    let mut args = vec![
        "client",
        "create",
        "--name",
        "Logout App",
        "--redirect-uri",
        REDIRECT,
        "--post-logout-redirect-uri",
        BYE,
    ];
    if let Some(uri) = backchannel {
        args.extend(["--backchannel-logout-uri", uri, "--backchannel-logout-session-required"]);
    }
    TestClient::created(&g.cli(&args))
}

/// A listener answering 200, a [`server`] and a client that registered the listener.
async fn notified_setup() -> (Listener, Gatehouse, TestClient) {
    let listener = Listener::start(&[200]).await;
    let g = server();
    let client = alice_and_logout_client(&g, Some(&listener.url));
    (listener, g, client)
}

/// Signs alice in with `browser` and returns the token response for `scope`.
async fn signed_in(g: &Gatehouse, browser: &Browser, client: &TestClient, scope: &str) -> Value {
    let (code, verifier) = authorized_code(g, browser, client, scope, &[]).await;
    let (status, body) = exchange_code(g, client, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// `GET /oauth/logout` with `params` in `browser`.
async fn logout(g: &Gatehouse, browser: &Browser, params: &[(&str, &str)]) -> reqwest::Response {
    browser.http.get(logout_url(g, params)).send().await.unwrap()
}

fn logout_url(g: &Gatehouse, params: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(&format!("{}/oauth/logout", g.issuer)).unwrap();
    u.query_pairs_mut().extend_pairs(params);
    u.to_string()
}

/// Whether `browser` still has single sign-on: a `prompt=none` authorization gets a code.
async fn has_session(g: &Gatehouse, browser: &Browser, client: &TestClient) -> bool {
    let (_, challenge) = pkce();
    let back = browser
        .follow(&auth_url(
            &g.issuer,
            &client.id,
            "openid",
            &challenge,
            &[("prompt", "none")],
        ))
        .await;
    let back = url::Url::parse(&back).unwrap();
    match query(&back, "error").as_deref() {
        None => query(&back, "code").is_some(),
        Some("login_required") => false,
        Some(other) => panic!("unexpected error {other}: {back}"),
    }
}

/// Verifies a logout token against the JWKS with `jsonwebtoken` and returns its header type and
/// claims.
async fn verify_logout_token(g: &Gatehouse, token: &str, client_id: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"), "explicit typing");
    let jwks: jsonwebtoken::jwk::JwkSet = get_json(&format!("{}/.well-known/jwks.json", g.issuer)).await;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[&g.issuer]);
    validation.set_required_spec_claims(&["iss", "aud", "exp", "iat", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("the logout token verifies against the JWKS")
        .claims;
    assert_eq!(claims["events"], serde_json::json!({ EVENT: {} }), "{claims}");
    assert!(
        claims.get("nonce").is_none(),
        "a logout token never has a nonce: {claims}"
    );
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16), "{claims}");
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!((1..=300).contains(&lifetime), "short-lived: {claims}");
    claims
}

#[tokio::test]
async fn a_verified_logout_ends_sso_notifies_the_client_before_the_redirect_and_keeps_offline_tokens() {
    let (listener, g, client) = notified_setup().await;
    let discovery: Value = get_json(&format!("{}/.well-known/openid-configuration", g.issuer)).await;
    assert_eq!(discovery["end_session_endpoint"], format!("{}/oauth/logout", g.issuer));
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert_eq!(discovery["backchannel_logout_session_supported"], true);

    let browser = Browser::new();
    let online = signed_in(&g, &browser, &client, "openid").await;
    let offline = signed_in(&g, &browser, &client, "openid offline_access").await;
    let id_token = s(&online["id_token"]);
    let id_claims = jwt_claims(&id_token);
    assert!(
        id_claims["sid"].as_str().is_some(),
        "every ID token carries sid: {id_claims}"
    );
    assert_eq!(
        id_claims["sid"],
        jwt_claims(s(&offline["id_token"]).as_str())["sid"],
        "one session"
    );

    let res = logout(
        &g,
        &browser,
        &[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", BYE),
            ("state", "st&te 1"),
        ],
    )
    .await;
    // The notification is in before the browser is sent anywhere (RP-Initiated Logout 1.0 §3).
    let arrived_before_redirect = listener.tokens();
    assert_eq!(res.status(), 303, "no prompt: {}", res.text().await.unwrap_or_default());
    assert_eq!(location(&res), format!("{BYE}?state=st%26te+1"));
    let cleared = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("gatehouse_session=;"));
    assert!(cleared, "the session cookie is cleared");
    assert_eq!(arrived_before_redirect.len(), 1);
    let claims = verify_logout_token(&g, &arrived_before_redirect[0], &client.id).await;
    assert_eq!(claims["sid"], id_claims["sid"]);
    assert_eq!(claims["sub"], id_claims["sub"]);
    println!("logout token claims as received: {claims}");

    assert!(
        !has_session(&g, &browser, &client).await,
        "prompt=none gets login_required"
    );
    let (status, body) = refresh(&g, &client, &s(&online["refresh_token"])).await;
    assert_error(status, &body, 400, "invalid_grant");
    let (status, body) = refresh(&g, &client, &s(&offline["refresh_token"])).await;
    assert_eq!(status, 200, "offline_access outlives the logout: {body}");
    assert_eq!(listener.tokens().len(), 1, "one notification per session and client");
    let outbox = g.cli(&["session", "outbox"]);
    assert_eq!(outbox, serde_json::json!([]), "delivered, so nothing waits");
}

#[tokio::test]
async fn an_expired_hint_still_signs_out_without_a_prompt() {
    let g = Gatehouse::start_env(&[("GATEHOUSE_ID_TOKEN_TTL", "1s")]);
    let client = alice_and_logout_client(&g, None);
    let browser = Browser::new();
    let tokens = signed_in(&g, &browser, &client, "openid").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let hint = s(&tokens["id_token"]);
    let exp = jwt_claims(&hint)["exp"].as_i64().unwrap();
    assert!(exp < unix_now(), "the hint has expired");
    let res = logout(
        &g,
        &browser,
        &[("id_token_hint", &hint), ("post_logout_redirect_uri", BYE)],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), BYE);
    assert!(!has_session(&g, &browser, &client).await);
}

/// An unsigned copy of `jwt` (`alg: none`).
fn unsigned(jwt: &str) -> String {
    let payload = jwt.split('.').nth(1).unwrap();
    format!("{}.{payload}.", base64_url(br#"{"alg":"none","typ":"JWT"}"#))
}

#[tokio::test]
async fn every_refusal_is_a_page_that_says_why_and_never_a_redirect() {
    let g = server();
    let client = alice_and_logout_client(&g, None);
    let other = TestClient::created(&g.cli(&[
        "client",
        "create",
        "--name",
        "Other",
        "--redirect-uri",
        REDIRECT,
        "--post-logout-redirect-uri",
        BYE,
    ]));
    let browser = Browser::new();
    let hint = s(&signed_in(&g, &browser, &client, "openid").await["id_token"]);
    // An ID token of another Gatehouse, with its own keys: a foreign key.
    let elsewhere = Gatehouse::start();
    let foreign_client = elsewhere.alice_and_client("RS256");
    let foreign = s(&user_tokens(&elsewhere, &foreign_client, "openid", &[]).await["id_token"]);
    // Our kid with HS256, keyed by anything: algorithm confusion.
    let kid = jsonwebtoken::decode_header(&hint).unwrap().kid.unwrap();
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = Some(kid);
    let confused = jsonwebtoken::encode(
        &hs,
        &jwt_claims(&hint),
        &jsonwebtoken::EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    let appended = format!("{BYE}?x=1");
    let none = unsigned(&hint);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("id_token_hint", &hint),
                ("post_logout_redirect_uri", "https://evil.example/bye"),
            ],
            "gatehouse client update",
        ),
        (
            vec![("id_token_hint", &hint), ("post_logout_redirect_uri", &appended)],
            "exactly",
        ),
        (
            vec![("id_token_hint", &none), ("post_logout_redirect_uri", BYE)],
            "id_token_hint",
        ),
        (
            vec![("id_token_hint", &foreign), ("post_logout_redirect_uri", BYE)],
            "id_token_hint",
        ),
        (
            vec![("id_token_hint", &confused), ("post_logout_redirect_uri", BYE)],
            "id_token_hint",
        ),
        (
            vec![
                ("id_token_hint", &hint),
                ("client_id", &other.id),
                ("post_logout_redirect_uri", BYE),
            ],
            "does not match",
        ),
        (
            vec![("post_logout_redirect_uri", BYE)],
            "without id_token_hint or client_id",
        ),
        (
            vec![("client_id", "nobody"), ("post_logout_redirect_uri", BYE)],
            "No client",
        ),
        (vec![("state", "a"), ("state", "b")], "more than once"),
    ];
    for (params, says) in cases {
        let res = logout(&g, &browser, &params).await;
        assert!(res.headers().get("location").is_none(), "{params:?} redirected");
        assert_eq!(res.status(), 400, "{params:?}");
        let page = res.text().await.unwrap();
        assert!(page.contains(says), "{params:?} should say {says:?}: {page}");
    }
    let post = browser
        .post(
            &format!("{}/oauth/logout", g.issuer),
            &[("id_token_hint", &unsigned(&hint)), ("post_logout_redirect_uri", BYE)],
        )
        .await;
    assert_eq!(post.status(), 400, "POST is checked the same way");
    assert!(has_session(&g, &browser, &client).await, "nobody was signed out");
}

#[tokio::test]
async fn the_confirmation_form_is_csrf_protected_and_ends_at_the_signed_out_page() {
    let g = server();
    let client = alice_and_logout_client(&g, None);
    let browser = Browser::new();
    signed_in(&g, &browser, &client, "openid").await;
    // No parameters at all: the user is asked.
    let (status, page) = browser.page(&logout_url(&g, &[])).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Sign out?") && page.contains("Signed in as alice"),
        "{page}"
    );
    let csrf = hidden(&page, "csrf_token");
    let endpoint = format!("{}/oauth/logout", g.issuer);
    for bad in [None, Some("forged")] {
        let mut form = vec![("confirm", "yes")];
        form.extend(bad.map(|t| ("csrf_token", t)));
        let res = browser.post(&endpoint, &form).await;
        assert_eq!(res.status(), 403, "{bad:?}");
    }
    // Another browser cannot use this one's token either: it has no session to end.
    assert!(has_session(&g, &browser, &client).await, "still signed in");
    let res = browser
        .post(&endpoint, &[("confirm", "yes"), ("csrf_token", &csrf)])
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("You are signed out"));
    assert!(!has_session(&g, &browser, &client).await);
    // With no session, nothing to confirm: straight to the registered URI.
    let back = browser
        .follow(&logout_url(
            &g,
            &[
                ("client_id", &client.id),
                ("post_logout_redirect_uri", BYE),
                ("state", "s"),
            ],
        ))
        .await;
    assert_eq!(back, format!("{BYE}?state=s"));
}

#[tokio::test]
async fn a_hint_from_another_session_asks_first_and_carries_the_request_through_the_form() {
    let (listener, g, client) = notified_setup().await;
    let old_browser = Browser::new();
    let old_hint = s(&signed_in(&g, &old_browser, &client, "openid").await["id_token"]);
    let browser = Browser::new();
    signed_in(&g, &browser, &client, "openid").await;
    let (status, page) = browser
        .page(&logout_url(
            &g,
            &[
                ("id_token_hint", &old_hint),
                ("post_logout_redirect_uri", BYE),
                ("state", "x"),
            ],
        ))
        .await;
    assert_eq!(status, 200, "another session's hint: the user confirms");
    assert!(page.contains("Logout App asks to sign you out"), "{page}");
    let form: Vec<(String, String)> = ["id_token_hint", "post_logout_redirect_uri", "state", "csrf_token"]
        .iter()
        .map(|n| ((*n).to_owned(), hidden(&page, n)))
        .chain([("confirm".to_owned(), "yes".to_owned())])
        .collect();
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let res = browser.post(&format!("{}/oauth/logout", g.issuer), &form).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{BYE}?state=x"));
    let tokens = listener.wait_for(1).await;
    let claims = verify_logout_token(&g, &tokens[0], &client.id).await;
    assert_ne!(
        claims["sid"],
        jwt_claims(&old_hint)["sid"],
        "this browser's session ended"
    );
    assert!(
        has_session(&g, &old_browser, &client).await,
        "the other session lives on"
    );
}

#[tokio::test]
async fn a_failed_delivery_is_retried_from_the_outbox_by_another_instance() {
    let listener = Listener::start(&[500, 200]).await;
    let env = [
        ("GATEHOUSE_OUTBOUND_ALLOW", "127.0.0.1"),
        ("GATEHOUSE_BACKCHANNEL_RETRY", "1s"),
    ];
    let first = server();
    let client = alice_and_logout_client(&first, Some(&listener.url));
    let second = Gatehouse::start_with(&first.store, &env);
    let browser = Browser::new();
    let hint = s(&signed_in(&first, &browser, &client, "openid").await["id_token"]);
    let res = logout(
        &first,
        &browser,
        &[("id_token_hint", &hint), ("post_logout_redirect_uri", BYE)],
    )
    .await;
    assert_eq!(res.status(), 303, "a failed delivery does not hold up the logout");
    assert_eq!(listener.tokens().len(), 1, "tried once, answered 500");
    let store = first.stop();
    let tokens = listener.wait_for(2).await;
    let claims = verify_logout_token(&second, &tokens[1], &client.id).await;
    assert_eq!(claims["sid"], jwt_claims(&hint)["sid"]);
    assert_ne!(
        claims["jti"],
        jwt_claims(&tokens[0])["jti"],
        "each attempt is a fresh token"
    );
    let metrics = reqwest::get(format!("{}/metrics", second.issuer))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("gatehouse_backchannel_logout_total{result=\"delivered\"} 1"),
        "the other instance delivered it: {metrics}"
    );
    for _ in 0..50 {
        if cli_json(&store, &["session", "outbox"]) == serde_json::json!([]) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the outbox still holds the delivered notification");
}

#[tokio::test]
async fn locking_a_user_sends_back_channel_logout_for_each_session() {
    let (listener, g, client) = notified_setup().await;
    let browser = Browser::new();
    let tokens = signed_in(&g, &browser, &client, "openid offline_access").await;
    let sessions = g.cli(&["session", "list", "--user", "alice"]);
    assert_eq!(sessions[0]["clients"][0]["client_id"], client.id.as_str(), "{sessions}");
    let (ok, out, err) = cli_raw(&g.store, &["user", "lock", "alice"], None);
    assert!(ok, "{err}");
    assert!(out.contains("locked alice"), "{out}");
    let received = listener.wait_for(1).await;
    let claims = verify_logout_token(&g, &received[0], &client.id).await;
    assert_eq!(claims["sid"], jwt_claims(&s(&tokens["id_token"]))["sid"]);
    let (status, body) = refresh(&g, &client, &s(&tokens["refresh_token"])).await;
    assert_error(status, &body, 400, "invalid_grant");
    assert_eq!(g.cli(&["session", "list"]), serde_json::json!([]));
}

#[tokio::test]
async fn session_revoke_by_sid_ends_that_session_only() {
    let (listener, g, client) = notified_setup().await;
    let (one, two) = (Browser::new(), Browser::new());
    let sid = jwt_claims(&s(&signed_in(&g, &one, &client, "openid").await["id_token"]))["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    signed_in(&g, &two, &client, "openid").await;
    let out = g.cli(&["session", "revoke", "--sid", &sid]);
    assert_eq!(out["notices_queued"], 1, "{out}");
    let received = listener.wait_for(1).await;
    assert_eq!(
        verify_logout_token(&g, &received[0], &client.id).await["sid"],
        sid.as_str()
    );
    assert!(!has_session(&g, &one, &client).await);
    assert!(has_session(&g, &two, &client).await);
    let (ok, _, err) = cli_raw(&g.store, &["session", "revoke", "--sid", &sid], None);
    assert!(!ok && err.contains("no live session"), "{err}");
}

#[tokio::test]
async fn internal_destinations_are_refused_unless_allowed_and_the_outbox_says_why() {
    let listener = Listener::start(&[200]).await;
    let g = Gatehouse::start();
    let client = alice_and_logout_client(&g, Some(&listener.url));
    let browser = Browser::new();
    let hint = s(&signed_in(&g, &browser, &client, "openid").await["id_token"]);
    let back = browser
        .follow(&logout_url(
            &g,
            &[("id_token_hint", &hint), ("post_logout_redirect_uri", BYE)],
        ))
        .await;
    assert_eq!(back, BYE);
    let outbox = g.cli(&["session", "outbox"]);
    assert_eq!(outbox[0]["status"], "given_up", "{outbox}");
    assert!(
        s(&outbox[0]["last_error"]).contains("GATEHOUSE_OUTBOUND_ALLOW"),
        "says what to configure: {outbox}"
    );
    assert!(listener.tokens().is_empty(), "nothing was sent to the internal address");
}

#[test]
fn bad_logout_uris_are_refused_naming_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreEnv::fresh(dir.path());
    for (flag, uri, rule) in [
        ("--backchannel-logout-uri", "https://app.example.com/bc#x", "fragment"),
        ("--backchannel-logout-uri", "/relative", "absolute"),
        ("--post-logout-redirect-uri", "http://app.example.com/bye", "plain http"),
    ] {
        let (ok, _, err) = cli_raw(
            &store,
            &["client", "create", "--name", "x", "--redirect-uri", REDIRECT, flag, uri],
            None,
        );
        assert!(!ok && err.contains(rule), "{flag} {uri}: {err}");
    }
}

#[tokio::test]
async fn signing_in_again_keeps_the_sid_and_another_user_ends_the_session() {
    let (listener, g, client) = notified_setup().await;
    g.user("bob");
    let browser = Browser::new();
    let first = jwt_claims(&s(&signed_in(&g, &browser, &client, "openid").await["id_token"]));
    // The same user authenticates again (prompt=login): new cookie, same sid, nobody notified.
    let (verifier, challenge) = pkce();
    let again = auth_url(&g.issuer, &client.id, "openid", &challenge, &[("prompt", "login")]);
    let back = browser.authorize(&g.issuer, &again, "alice", PASSWORD).await;
    let (status, tokens) = exchange_code(&g, &client, &query(&back, "code").unwrap(), &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(jwt_claims(&s(&tokens["id_token"]))["sid"], first["sid"]);
    assert!(listener.tokens().is_empty());
    // Another user signs in in the same browser: alice's session ends, and its client hears of it.
    let (_, challenge) = pkce();
    let other = auth_url(&g.issuer, &client.id, "openid", &challenge, &[("prompt", "login")]);
    browser.authorize(&g.issuer, &other, "bob", PASSWORD).await;
    let received = listener.wait_for(1).await;
    let claims = verify_logout_token(&g, &received[0], &client.id).await;
    assert_eq!((&claims["sid"], &claims["sub"]), (&first["sid"], &first["sub"]));
}
