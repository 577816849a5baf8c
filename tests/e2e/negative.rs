//! Failure paths, each asserting the HTTP status and the RFC `error` code.

use crate::support::*;
use openidconnect::reqwest;
use serde_json::Value;

struct Setup {
    g: Gatehouse,
    client: TestClient,
}

fn setup() -> Setup {
    let g = Gatehouse::start();
    let client = g.alice_and_client("RS256");
    Setup { g, client }
}

/// Asserts a redirect back to the client carrying `error`, `state` and `iss`, and no code.
async fn assert_redirected_error(res: reqwest::Response, issuer: &str, error: &str) {
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap_or_default());
    let back = url::Url::parse(&location(&res)).unwrap();
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    assert_eq!(query(&back, "error").as_deref(), Some(error), "{back}");
    assert!(query(&back, "error_description").is_some());
    assert_eq!(query(&back, "state").as_deref(), Some("st4te"));
    assert_eq!(query(&back, "iss").as_deref(), Some(issuer));
    assert!(query(&back, "code").is_none());
}

/// Asserts an HTML error page that redirects nowhere.
async fn assert_error_page(res: reqwest::Response) {
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none(), "must never redirect");
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
}

async fn token_request(
    s: &Setup,
    form: &[(&str, &str)],
    secret: Option<&str>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = http().post(format!("{}/oauth/token", s.g.issuer)).form(form);
    if let Some(secret) = secret {
        req = req.basic_auth(&s.client.id, Some(secret));
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, res.json().await.unwrap(), headers)
}

/// GETs an authorization request of the setup's client for `scope` with `extra` parameters.
async fn authorize(s: &Setup, scope: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let (_, challenge) = pkce();
    get(&auth_url(&s.g.issuer, &s.client.id, scope, &challenge, extra)).await
}

/// A browser on a fresh login page of the setup's client: (browser, the page's URL, its HTML).
async fn login_page(s: &Setup) -> (Browser, String, String) {
    let browser = Browser::new();
    let login = browser.open_login(&s.g, &s.client).await;
    let (_, html) = browser.page(&login).await;
    (browser, login, html)
}

/// The status of alice's login with her password, posted by `browser` for `interaction`.
async fn alice_login(s: &Setup, browser: &Browser, interaction: &str, csrf: Option<&str>) -> u16 {
    let res = browser
        .post_login(&s.g.issuer, interaction, csrf, "alice", PASSWORD)
        .await;
    res.status().as_u16()
}

fn secret(s: &Setup) -> &str {
    s.client.secret.as_deref().unwrap()
}

#[tokio::test]
async fn authorize_without_code_challenge_is_invalid_request() {
    let s = setup();
    let url = auth_url(&s.g.issuer, &s.client.id, "openid", "x", &[]);
    let url = url.replace("code_challenge=x&", "");
    assert!(!url.contains("code_challenge="));
    assert_redirected_error(get(&url).await, &s.g.issuer, "invalid_request").await;
}

#[tokio::test]
async fn authorize_with_plain_method_is_invalid_request() {
    let s = setup();
    let (verifier, _) = pkce();
    let url = auth_url(&s.g.issuer, &s.client.id, "openid", &verifier, &[])
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    assert_redirected_error(get(&url).await, &s.g.issuer, "invalid_request").await;
}

#[tokio::test]
async fn authorize_with_unknown_scope_is_invalid_scope() {
    let s = setup();
    let res = authorize(&s, "openid calendar:write", &[]).await;
    assert_redirected_error(res, &s.g.issuer, "invalid_scope").await;
}

#[tokio::test]
async fn prompt_none_without_session_is_login_required() {
    let s = setup();
    let res = authorize(&s, "openid", &[("prompt", "none")]).await;
    assert_redirected_error(res, &s.g.issuer, "login_required").await;
}

#[tokio::test]
async fn unsigned_and_fetched_request_objects_are_refused_explicitly() {
    let s = setup();
    for (parameter, value, error, says) in [
        (
            "request",
            "eyJhbGciOiJub25lIn0.e30.",
            "invalid_request_object",
            "alg none",
        ),
        (
            "request_uri",
            "https://rp.example/r",
            "request_uri_not_supported",
            "not fetched",
        ),
    ] {
        let res = authorize(&s, "openid", &[(parameter, value)]).await;
        let back = url::Url::parse(&location(&res)).unwrap();
        let description = query(&back, "error_description").unwrap_or_default();
        assert!(description.contains(says), "{says}: {description}");
        assert_redirected_error(res, &s.g.issuer, error).await;
    }
}

#[tokio::test]
async fn repeated_authorization_parameter_is_invalid_request() {
    let s = setup();
    let res = authorize(&s, "openid", &[("nonce", "a"), ("nonce", "b")]).await;
    assert_redirected_error(res, &s.g.issuer, "invalid_request").await;
}

#[tokio::test]
async fn unregistered_redirect_uri_gets_an_error_page_not_a_redirect() {
    let s = setup();
    let (_, challenge) = pkce();
    for bad in [
        "http://127.0.0.1:9/callback/abcdefghij",
        "https://evil.example/callback",
    ] {
        let url = auth_url(&s.g.issuer, &s.client.id, "openid", &challenge, &[]).replace(
            &url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
            &url::form_urlencoded::byte_serialize(bad.as_bytes()).collect::<String>(),
        );
        assert!(
            url.contains(&url::form_urlencoded::byte_serialize(bad.as_bytes()).collect::<String>()),
            "{url}"
        );
        assert_error_page(get(&url).await).await;
    }
}

#[tokio::test]
async fn unknown_client_gets_an_error_page_not_a_redirect() {
    let s = setup();
    let (_, challenge) = pkce();
    assert_error_page(get(&auth_url(&s.g.issuer, "no-such-client", "openid", &challenge, &[])).await).await;
}

#[tokio::test]
async fn non_utf8_authorization_request_gets_an_error_page() {
    let s = setup();
    let url = format!("{}/oauth/authorize?client_id=%FF%FE&response_type=code", s.g.issuer);
    assert_error_page(get(&url).await).await;
}

#[tokio::test]
async fn wrong_code_verifier_is_invalid_grant_and_the_code_survives() {
    let s = setup();
    let (code, verifier) = authorized_code(&s.g, &Browser::new(), &s.client, "openid", &[]).await;
    let (wrong, _) = pkce();
    let (status, body, _) = token_request(&s, &code_grant(&code, &wrong), Some(secret(&s))).await;
    assert_error(status, &body, 400, "invalid_grant");
    let (status, body, _) = token_request(&s, &code_grant(&code, &verifier), Some(secret(&s))).await;
    assert_eq!(status, 200, "the rightful verifier still redeems the code: {body}");
}

#[tokio::test]
async fn reused_code_is_invalid_grant_and_revokes_the_first_tokens() {
    let s = setup();
    let (code, verifier) = authorized_code(&s.g, &Browser::new(), &s.client, "openid", &[]).await;
    let form = code_grant(&code, &verifier);
    let (status, first, headers) = token_request(&s, &form, Some(secret(&s))).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(headers["cache-control"], "no-store");
    let access = first["access_token"].as_str().unwrap().to_owned();
    let userinfo = format!("{}/oauth/userinfo", s.g.issuer);
    assert_eq!(userinfo_status(&s.g, &access).await, 200);

    let (status, body, _) = token_request(&s, &form, Some(secret(&s))).await;
    assert_error(status, &body, 400, "invalid_grant");
    let res = http().get(&userinfo).bearer_auth(&access).send().await.unwrap();
    assert_eq!(res.status(), 401, "the first access token is revoked");
    let challenge = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
}

#[tokio::test]
async fn wrong_client_secret_is_401_with_www_authenticate() {
    let s = setup();
    let (code, verifier) = authorized_code(&s.g, &Browser::new(), &s.client, "openid", &[]).await;
    let form = code_grant(&code, &verifier);
    let (status, body, headers) = token_request(&s, &form, Some("not-the-secret")).await;
    assert_error(status, &body, 401, "invalid_client");
    assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Basic"));
}

#[tokio::test]
async fn token_request_without_client_authentication_is_invalid_client() {
    let s = setup();
    let (status, body, _) = token_request(&s, &[("grant_type", "authorization_code"), ("code", "x")], None).await;
    assert_error(status, &body, 401, "invalid_client");
}

#[tokio::test]
async fn unsupported_grant_type_is_rejected() {
    let s = setup();
    let form = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    let (status, body, _) = token_request(&s, &form, Some(secret(&s))).await;
    assert_error(status, &body, 400, "unsupported_grant_type");
}

#[tokio::test]
async fn grant_the_client_may_not_use_is_unauthorized_client() {
    let s = setup();
    let (status, body, _) = token_request(&s, &[("grant_type", "client_credentials")], Some(secret(&s))).await;
    assert_error(status, &body, 400, "unauthorized_client");
    let public = s.g.public_client("RS256");
    let (status, body) = token(&s.g, &public, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "unauthorized_client");
}

#[tokio::test]
async fn repeated_token_parameter_and_wrong_content_type_are_invalid_request() {
    let s = setup();
    let token_post = || {
        http()
            .post(format!("{}/oauth/token", s.g.issuer))
            .basic_auth(&s.client.id, s.client.secret.as_deref())
    };
    for req in [
        token_post()
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=authorization_code&code=a&code=b"),
        token_post().json(&serde_json::json!({"grant_type": "authorization_code"})),
    ] {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_request");
    }
}

#[tokio::test]
async fn login_form_without_csrf_token_is_refused() {
    let s = setup();
    let (browser, login, html) = login_page(&s).await;
    let interaction = hidden(&html, "interaction");
    let res = browser
        .post_login(&s.g.issuer, &interaction, None, "alice", PASSWORD)
        .await;
    assert_eq!(res.status(), 403);
    assert!(res.headers().get("location").is_none());
    // A token from another page is refused too.
    assert_eq!(alice_login(&s, &browser, &interaction, Some("forged")).await, 403);
    // And a browser without the binding cookie cannot finish someone else's interaction.
    let stranger = Browser::new();
    let (_, fresh) = browser.page(&login).await;
    let csrf = hidden(&fresh, "csrf_token");
    assert_eq!(alice_login(&s, &stranger, &interaction, Some(&csrf)).await, 403);
}

#[tokio::test]
async fn wrong_password_shows_the_form_again_and_yields_no_code() {
    let s = setup();
    let (browser, login, html) = login_page(&s).await;
    for (user, password) in [("alice", "wrong-password"), ("nobody", PASSWORD)] {
        let res = browser.submit_login(&s.g.issuer, &login, user, password).await;
        assert_eq!(res.status(), 401);
        assert!(res.headers().get("location").is_none(), "no redirect, no code");
        let body = res.text().await.unwrap();
        assert!(body.contains("Wrong username or password"), "{body}");
        assert!(body.contains("name=\"password\""), "the form is shown again");
    }
    // The same interaction still completes with the right password.
    let (_, html2) = browser.page(&login).await;
    assert_ne!(
        hidden(&html, "csrf_token"),
        hidden(&html2, "csrf_token"),
        "each form gets a fresh CSRF token"
    );
    let (interaction, csrf) = (hidden(&html2, "interaction"), hidden(&html2, "csrf_token"));
    assert_eq!(alice_login(&s, &browser, &interaction, Some(&csrf)).await, 303);
}

#[tokio::test]
async fn locked_user_cannot_log_in() {
    let s = setup();
    let (ok, _, err) = cli_raw(&s.g.store, &["user", "lock", "alice"], None);
    assert!(ok, "{err}");
    let r = login_attempt(&s.g, &Browser::new(), &s.client, "alice", PASSWORD).await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("locked"));
}

#[tokio::test]
async fn userinfo_rejects_missing_and_bad_tokens() {
    let s = setup();
    let url = format!("{}/oauth/userinfo", s.g.issuer);
    for req in [
        http().get(&url).bearer_auth("garbage"),
        http().post(&url).form(&[("access_token", "garbage")]),
    ] {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401);
        let challenge = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_token");
    }
}

#[test]
fn cli_names_the_bad_argument() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreEnv::fresh(dir.path());
    let create = |extra: &[&'static str]| [&["client", "create", "--name", "x"], extra].concat();
    for (args, needle) in [
        (
            create(&["--redirect-uri", "https://a.example/cb#frag"]),
            "--redirect-uri",
        ),
        (create(&["--redirect-uri", "http://a.example/cb"]), "--redirect-uri"),
        (
            create(&["--redirect-uri", "https://a.example/cb", "--grant-type", "implicit"]),
            "--grant-type",
        ),
        (
            create(&["--redirect-uri", "https://a.example/cb", "--scope", "nope"]),
            "--scope",
        ),
        (create(&[]), "--redirect-uri"),
        (vec!["client", "show", "missing"], "missing"),
    ] {
        let (ok, _, err) = cli_raw(&store, &args, None);
        assert!(!ok, "{args:?} should fail");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn invalid_setting_fails_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("serve")
        .env("GATEHOUSE_DATA_DIR", dir.path())
        .env("GATEHOUSE_CODE_TTL", "forever")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("GATEHOUSE_CODE_TTL"));
}
