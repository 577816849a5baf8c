//! Pushed authorization requests (RFC 9126) and signed request objects (RFC 9101) end to end: a
//! `private_key_jwt` client whose keys are made here pushes requests and signs request objects with
//! `jsonwebtoken`; a cookie-keeping HTTP client plays the browser against the real binary.

use crate::client_jwt::{Key, claims, jwks_of, key, random_suffix, sign, with_assertion};
use crate::support::*;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

/// A `private_key_jwt` client for the code flow with these keys, plus `extra` arguments; alice
/// exists.
fn app(g: &Gatehouse, keys: &[&Key], extra: &[&str]) -> String {
    let _ = cli_raw(
        &g.store,
        &["user", "create", "--username", "alice", "--password-stdin"],
        Some(PASSWORD),
    );
    let file = g.data_dir.join(format!("jwks-{}.json", random_suffix()));
    std::fs::write(&file, jwks_of(keys).to_string()).unwrap();
    let mut args = vec![
        "client",
        "create",
        "--name",
        "Pushing App",
        "--token-endpoint-auth-method",
        "private_key_jwt",
        "--jwks-file",
        file.to_str().unwrap(),
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "openid profile",
    ];
    args.extend_from_slice(extra);
    s(&g.cli(&args)["client_id"])
}

/// The parameters of a code request of `client` with `challenge`.
fn request_params(client: &str, challenge: &str, state: &str) -> Vec<(String, String)> {
    [
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("state", state),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// Pushes `params`, authenticated with an assertion signed by `k`; returns (status, body).
async fn push(g: &Gatehouse, client: &str, k: &Key, params: &[(String, String)]) -> (u16, Value) {
    let form: Vec<(&str, &str)> = params.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    with_assertion(g, "/oauth/par", &sign(k, None, &claims(g, client)), &form).await
}

/// The authorization URL that uses a pushed request.
fn pushed_url(g: &Gatehouse, client: &str, request_uri: &str) -> String {
    let mut u = url::Url::parse(&format!("{}/oauth/authorize", g.issuer)).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", client)
        .append_pair("request_uri", request_uri);
    u.to_string()
}

/// The `error` a refused authorization request answers with: from the redirect to the client, or
/// the code printed on the error page.
async fn authorize_error(browser: &Browser, url: &str) -> String {
    let res = browser.http.get(url).send().await.unwrap();
    if res.status() == 303 {
        let back = url::Url::parse(&location(&res)).unwrap();
        return query(&back, "error").unwrap_or_else(|| panic!("no error: {back}"));
    }
    let body = res.text().await.unwrap();
    let start = body
        .find("<code>error: ")
        .unwrap_or_else(|| panic!("no error code on the page: {body}"))
        + "<code>error: ".len();
    body[start..].split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_pushed_request_survives_a_reload_and_is_used_once() {
    let g = Gatehouse::start();
    let discovery: Value = get_json(&format!("{}/.well-known/openid-configuration", g.issuer)).await;
    assert_eq!(
        discovery["pushed_authorization_request_endpoint"],
        json!(format!("{}/oauth/par", g.issuer))
    );
    assert_eq!(discovery["require_pushed_authorization_requests"], json!(false));
    let k = key(Algorithm::ES256, "k1");
    let client = app(&g, &[&k], &[]);
    let (verifier, challenge) = pkce();
    let (status, pushed) = push(&g, &client, &k, &request_params(&client, &challenge, "pushed-state")).await;
    assert_eq!(status, 201, "{pushed}");
    let request_uri = s(&pushed["request_uri"]);
    assert!(
        request_uri.starts_with("urn:ietf:params:oauth:request_uri:"),
        "{pushed}"
    );
    assert!(request_uri.len() >= "urn:ietf:params:oauth:request_uri:".len() + 43);
    assert_eq!(pushed["expires_in"], json!(60));
    let url = pushed_url(&g, &client, &request_uri);
    // A reload before signing in (and a slow sign-in) still works: nothing is used up yet.
    let browser = Browser::new();
    let first = browser.follow(&url).await;
    let again = browser.follow(&url).await;
    assert!(first.contains("/login") && again.contains("/login"), "{first} {again}");
    let back = browser.authorize(&g.issuer, &url, "alice", PASSWORD).await;
    assert_eq!(query(&back, "state").as_deref(), Some("pushed-state"), "{back}");
    let code = query(&back, "code").unwrap_or_else(|| panic!("no code: {back}"));
    let mut exchange = code_grant(&code, &verifier).to_vec();
    exchange.push(("client_id", client.as_str()));
    let (status, tokens) = with_assertion(&g, "/oauth/token", &sign(&k, None, &claims(&g, &client)), &exchange).await;
    assert_eq!(status, 200, "{tokens}");
    // Once a code was issued from it, the request_uri is spent, even with a live session.
    assert_eq!(authorize_error(&browser, &url).await, "invalid_request_uri");
}

#[tokio::test]
async fn pushed_requests_are_checked_at_the_push_and_bound_to_their_client() {
    let g = Gatehouse::start();
    let k = key(Algorithm::EdDSA, "k1");
    let client = app(&g, &[&k], &[]);
    let other_key = key(Algorithm::PS256, "o1");
    let other = app(&g, &[&other_key], &[]);
    let (_, challenge) = pkce();
    // GET is not how a request is pushed.
    let res = http().get(format!("{}/oauth/par", g.issuer)).send().await.unwrap();
    assert_eq!(res.status(), 405);
    // The validator of /oauth/authorize runs at the push: errors come back to the client as JSON.
    let mut bad_scope = request_params(&client, &challenge, "s");
    bad_scope[3].1 = "openid admin".into();
    let mut no_pkce = request_params(&client, &challenge, "s");
    no_pkce.retain(|(k, _)| !k.starts_with("code_challenge"));
    let mut nested = request_params(&client, &challenge, "s");
    nested.push(("request_uri".into(), "urn:ietf:params:oauth:request_uri:x".into()));
    let mut unregistered = request_params(&client, &challenge, "s");
    unregistered[2].1 = "https://evil.example/cb".into();
    for (params, error, says) in [
        (bad_scope, "invalid_scope", "admin"),
        (no_pkce, "invalid_request", "code_challenge"),
        (nested, "invalid_request", "request_uri"),
        (unregistered, "invalid_request", "redirect_uri"),
    ] {
        let (status, body) = push(&g, &client, &k, &params).await;
        assert_error(status, &body, 400, error);
        assert!(s(&body["error_description"]).contains(says), "{says}: {body}");
    }
    // An assertion naming the token endpoint is accepted here too (RFC 9126 section 2).
    let mut token_aud = claims(&g, &client);
    token_aud["aud"] = json!(format!("{}/oauth/token", g.issuer));
    let params = request_params(&client, &challenge, "s");
    let form: Vec<(&str, &str)> = params.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let (status, body) = with_assertion(&g, "/oauth/par", &sign(&k, None, &token_aud), &form).await;
    assert_eq!(status, 201, "{body}");
    // Without credentials, or with another client's, nothing is pushed.
    let form: Vec<(&str, &str)> = vec![("client_id", client.as_str()), ("response_type", "code")];
    let res = post_form(&format!("{}/oauth/par", g.issuer), &form).await;
    assert_eq!(res.status(), 401);
    // Another client cannot use this client's request_uri.
    let (_, pushed) = push(&g, &client, &k, &request_params(&client, &challenge, "s")).await;
    let request_uri = s(&pushed["request_uri"]);
    let stolen = pushed_url(&g, &other, &request_uri);
    assert_eq!(authorize_error(&Browser::new(), &stolen).await, "invalid_request_uri");
    // A request_uri that is not ours is never fetched.
    let foreign = pushed_url(&g, &client, "https://app.example.com/request.jwt");
    assert_eq!(
        authorize_error(&Browser::new(), &foreign).await,
        "request_uri_not_supported"
    );
    // An expired one is refused.
    let short = Gatehouse::start_with(&g.store, &[("GATEHOUSE_PAR_TTL", "1s")]);
    let (_, pushed) = push(&short, &client, &k, &request_params(&client, &challenge, "s")).await;
    assert_eq!(pushed["expires_in"], json!(1));
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let expired = pushed_url(&short, &client, &s(&pushed["request_uri"]));
    assert_eq!(authorize_error(&Browser::new(), &expired).await, "invalid_request_uri");
}

#[tokio::test]
async fn pushing_can_be_required_per_client_and_for_the_server() {
    let g = Gatehouse::start();
    let k = key(Algorithm::ES256, "k1");
    let client = app(&g, &[&k], &["--require-pushed-authorization-requests"]);
    let (_, challenge) = pkce();
    let plain = auth_url(&g.issuer, &client, "openid", &challenge, &[]);
    let res = Browser::new().http.get(&plain).send().await.unwrap();
    let back = url::Url::parse(&location(&res)).unwrap();
    assert_eq!(query(&back, "error").as_deref(), Some("invalid_request"), "{back}");
    assert!(
        query(&back, "error_description").unwrap().contains("/oauth/par"),
        "{back}"
    );
    let (status, pushed) = push(&g, &client, &k, &request_params(&client, &challenge, "s")).await;
    assert_eq!(status, 201, "{pushed}");
    let next = Browser::new()
        .follow(&pushed_url(&g, &client, &s(&pushed["request_uri"])))
        .await;
    assert!(next.contains("/login"), "{next}");
    // For every client.
    let strict = Gatehouse::start_with(&g.store, &[("GATEHOUSE_REQUIRE_PAR", "true")]);
    let discovery: Value = get_json(&format!("{}/.well-known/openid-configuration", strict.issuer)).await;
    assert_eq!(discovery["require_pushed_authorization_requests"], json!(true));
    let lenient = app(&strict, &[&k], &[]);
    let plain = auth_url(&strict.issuer, &lenient, "openid", &challenge, &[]);
    assert_eq!(authorize_error(&Browser::new(), &plain).await, "invalid_request");
}

/// A request object of `client` with these parameters, signed by `k` (claims beyond them in
/// `extra`).
fn request_object(k: &Key, client: &str, params: &[(String, String)], extra: Value) -> String {
    let mut claims = json!({"iss": client, "aud": "", "exp": unix_now() + 60});
    for (name, value) in params {
        claims[name] = json!(value);
    }
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    sign(k, Some("oauth-authz-req+jwt"), &claims)
}

#[tokio::test]
async fn a_signed_request_object_carries_the_request() {
    let g = Gatehouse::start();
    let k = key(Algorithm::ES256, "k1");
    let client = app(
        &g,
        &[&k],
        &[
            "--request-object-signing-alg",
            "ES256",
            "--require-signed-request-object",
        ],
    );
    let discovery: Value = get_json(&format!("{}/.well-known/openid-configuration", g.issuer)).await;
    assert_eq!(discovery["request_parameter_supported"], json!(true));
    assert_eq!(discovery["request_uri_parameter_supported"], json!(false));
    assert_eq!(
        discovery["request_object_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256", "EdDSA"])
    );
    let aud = json!({ "aud": g.issuer });
    let (verifier, challenge) = pkce();
    let inner = request_params(&client, &challenge, "inner-state");
    let object = request_object(&k, &client, &inner, aud.clone());
    // Only the object counts: the outer state and a bad outer redirect_uri are ignored (RFC 9101
    // section 5; the certification's oidcc-ensure-request-object-with-redirect-uri).
    let mut u = url::Url::parse(&format!("{}/oauth/authorize", g.issuer)).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", &client)
        .append_pair("response_type", "code")
        .append_pair("state", "outer-state")
        .append_pair("redirect_uri", &format!("{REDIRECT}/_invalid"))
        .append_pair("request", &object);
    let browser = Browser::new();
    let back = browser.authorize(&g.issuer, u.as_str(), "alice", PASSWORD).await;
    assert_eq!(query(&back, "state").as_deref(), Some("inner-state"), "{back}");
    let code = query(&back, "code").unwrap();
    let exchange = code_grant(&code, &verifier);
    let (status, tokens) = with_assertion(&g, "/oauth/token", &sign(&k, None, &claims(&g, &client)), &exchange).await;
    assert_eq!(status, 200, "{tokens}");
    // A plain request from this client is refused: it registered signed request objects only.
    let plain = auth_url(&g.issuer, &client, "openid", &challenge, &[]);
    assert_eq!(authorize_error(&browser, &plain).await, "invalid_request");
    // A request object pushed (JAR inside PAR) works, and the pushed request remembers it was signed.
    let (status, pushed) = push(
        &g,
        &client,
        &k,
        &[("request".to_owned(), request_object(&k, &client, &inner, aud))],
    )
    .await;
    assert_eq!(status, 201, "{pushed}");
    let back = browser
        .authorize(
            &g.issuer,
            &pushed_url(&g, &client, &s(&pushed["request_uri"])),
            "alice",
            PASSWORD,
        )
        .await;
    assert_eq!(query(&back, "state").as_deref(), Some("inner-state"), "{back}");
}

#[tokio::test]
async fn request_objects_that_do_not_verify_are_invalid_request_object() {
    let g = Gatehouse::start();
    let (k, stranger, ed) = (
        key(Algorithm::ES256, "k1"),
        key(Algorithm::ES256, "k1"),
        key(Algorithm::EdDSA, "k2"),
    );
    let client = app(&g, &[&k, &ed], &["--request-object-signing-alg", "ES256"]);
    let (_, challenge) = pkce();
    let params = request_params(&client, &challenge, "s");
    let aud = json!({ "aud": g.issuer });
    let unsigned = {
        let mut c = json!({});
        for (name, value) in &params {
            c[name] = json!(value);
        }
        format!(
            "{}.{}.",
            base64_url(br#"{"alg":"none"}"#),
            base64_url(c.to_string().as_bytes())
        )
    };
    for (object, says) in [
        (request_object(&stranger, &client, &params, aud.clone()), "signature"),
        (unsigned, "alg none"),
        (
            request_object(
                &k,
                &client,
                &params,
                json!({"aud": g.issuer, "client_id": "someone-else"}),
            ),
            "client_id",
        ),
        (request_object(&ed, &client, &params, aud.clone()), "registered"),
        (
            request_object(&k, &client, &params, json!({"aud": "https://elsewhere.example"})),
            "aud",
        ),
        (
            request_object(&k, &client, &params, json!({"aud": g.issuer, "exp": unix_now() - 600})),
            "expired",
        ),
    ] {
        let mut u = url::Url::parse(&format!("{}/oauth/authorize", g.issuer)).unwrap();
        u.query_pairs_mut()
            .append_pair("client_id", &client)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("request", &object);
        let res = Browser::new().http.get(u.as_str()).send().await.unwrap();
        assert_eq!(res.status(), 303, "{says}");
        let back = url::Url::parse(&location(&res)).unwrap();
        assert_eq!(
            query(&back, "error").as_deref(),
            Some("invalid_request_object"),
            "{says}: {back}"
        );
        assert!(
            query(&back, "error_description").unwrap().contains(says),
            "{says}: {back}"
        );
    }
}
