//! Dynamic client registration (RFC 7591) and its management (RFC 7592), with the `openidconnect`
//! crate registering and then running the flow as the new client; malformed and hostile
//! registrations with raw requests.

use crate::support::*;
use openidconnect::core::{
    CoreClient, CoreClientAuthMethod, CoreClientRegistrationRequest, CoreGrantType, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AccessToken, AuthorizationCode, ClientId, ClientName, ClientSecret, CsrfToken, IssuerUrl, LocalizedClaim, Nonce,
    PkceCodeChallenge, RedirectUrl, RegistrationUrl, Scope,
};
use serde_json::{Value, json};

const TOKEN_MODE: &[(&str, &str)] = &[("GATEHOUSE_REGISTRATION", "token")];
const OPEN_MODE: &[(&str, &str)] = &[("GATEHOUSE_REGISTRATION", "open")];

/// Posts a registration with an optional bearer token; (status, body).
async fn register(g: &Gatehouse, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = http().post(format!("{}/oauth/register", g.issuer)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Calls the client configuration endpoint; (status, body).
async fn manage(method: reqwest::Method, uri: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
    let mut req = http().request(method, uri).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn initial_token(g: &Gatehouse, extra: &[&str]) -> String {
    let mut args = vec!["initial-access-token", "create"];
    args.extend(extra);
    s(&g.cli(&args)["initial_access_token"])
}

#[tokio::test]
async fn a_client_registers_with_an_initial_access_token_and_signs_a_user_in() {
    let g = Gatehouse::start_env(TOKEN_MODE);
    g.user("alice");
    let token = initial_token(&g, &["--uses", "2"]);
    let http = http();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(g.issuer.clone()).unwrap(), &http)
        .await
        .unwrap();
    let endpoint = metadata
        .registration_endpoint()
        .expect("registration_endpoint advertised")
        .clone();
    assert_eq!(endpoint.as_str(), format!("{}/oauth/register", g.issuer));

    let mut name = LocalizedClaim::new();
    name.insert(None, ClientName::new("Notes".into()));
    let registered =
        CoreClientRegistrationRequest::new(vec![RedirectUrl::new(REDIRECT.into()).unwrap()], Default::default())
            .set_grant_types(Some(vec![
                CoreGrantType::AuthorizationCode,
                CoreGrantType::RefreshToken,
            ]))
            .set_token_endpoint_auth_method(Some(CoreClientAuthMethod::ClientSecretBasic))
            .set_client_name(Some(name))
            .set_initial_access_token(Some(AccessToken::new(token.clone())))
            .register_async(&RegistrationUrl::new(endpoint.to_string()).unwrap(), &http)
            .await
            .expect("registered");
    let client_id = registered.client_id().clone();
    let secret = registered.client_secret().expect("a client_secret").clone();
    assert!(registered.registration_access_token().is_some());
    let config_uri = registered
        .registration_client_uri()
        .expect("registration_client_uri")
        .to_string();
    assert_eq!(
        config_uri,
        format!("{}/oauth/register/{}", g.issuer, client_id.as_str())
    );

    // A refused registration does not use up the token (two uses are still there below).
    let (status, body) = register(&g, Some(&token), &json!({"redirect_uris": ["http://app.example/cb"]})).await;
    assert_error(status, &body, 400, "invalid_redirect_uri");

    // The new client runs the whole flow; the login and consent pages say its name is its own
    // claim.
    let rp = CoreClient::from_provider_metadata(metadata, client_id.clone(), Some(secret.clone()))
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, nonce) = rp
        .authorize_url(
            openidconnect::core::CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = Browser::new();
    let login = browser.follow(url.as_str()).await;
    let (_, html) = browser.page(&login).await;
    assert!(html.contains("an application that says it is “Notes”"), "{html}");
    let res = browser.submit_login(&g.issuer, &login, "alice", PASSWORD).await;
    let consent = location(&res);
    assert!(consent.starts_with(&format!("{}/consent", g.issuer)), "{consent}");
    let (_, html) = browser.page(&consent).await;
    assert!(html.contains("An application at 127.0.0.1"), "{html}");
    assert!(html.contains("says it is") && html.contains("Notes"), "{html}");
    let back = url::Url::parse(&browser.consent(&g.issuer, &consent, "allow").await).unwrap();
    let code = query(&back, "code").expect("a code");
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange by the registered client");
    let id_token = openidconnect::TokenResponse::id_token(&tokens).expect("an id_token");
    id_token
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("the ID token verifies");
    assert!(openidconnect::OAuth2TokenResponse::refresh_token(&tokens).is_some());

    // The raw answer has every RFC 7591 §3.2.1 member, defaults included.
    let (status, body) = register(
        &g,
        Some(&token),
        &json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    for member in [
        "client_id",
        "client_id_issued_at",
        "registration_access_token",
        "registration_client_uri",
    ] {
        assert!(body.get(member).is_some(), "{member} missing: {body}");
    }
    assert!(
        body.get("client_secret").is_none(),
        "a public client gets no secret: {body}"
    );
    assert_eq!(body["grant_types"], json!(["authorization_code"]));
    assert_eq!(body["response_types"], json!(["code"]));
    assert_eq!(body["id_token_signed_response_alg"], "RS256");
    assert_eq!(body["scope"], "email offline_access openid profile");

    // Two uses: the third registration is refused; so is one without a token, or a made-up one.
    let (status, body) = register(&g, Some(&token), &json!({"redirect_uris": [REDIRECT]})).await;
    assert_error(status, &body, 401, "invalid_token");
    let (status, body) = register(&g, None, &json!({"redirect_uris": [REDIRECT]})).await;
    assert_error(status, &body, 401, "invalid_token");
    let (status, body) = register(&g, Some("made-up"), &json!({"redirect_uris": [REDIRECT]})).await;
    assert_error(status, &body, 401, "invalid_token");
    let log = g.log();
    for secret in [token.as_str(), secret.secret().as_str()] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}

#[tokio::test]
async fn registration_is_off_unless_switched_on() {
    let g = Gatehouse::start();
    let (status, _) = register(&g, None, &json!({"redirect_uris": [REDIRECT]})).await;
    assert_eq!(status, 404);
    let discovery: Value = get_json(&format!("{}/.well-known/openid-configuration", g.issuer)).await;
    assert!(discovery.get("registration_endpoint").is_none(), "{discovery}");
    assert_eq!(discovery["client_id_metadata_document_supported"], false);
    assert!(
        discovery["userinfo_signing_alg_values_supported"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("ES256")))
    );
}

#[tokio::test]
async fn bad_metadata_gets_the_rfc_error_naming_the_member_and_unknown_members_are_ignored() {
    let g = Gatehouse::start_env(OPEN_MODE);
    let cases = [
        (
            json!({"redirect_uris": ["https://app.example/cb#x"]}),
            "invalid_redirect_uri",
            "fragment",
        ),
        (
            json!({"redirect_uris": ["http://app.example/cb"]}),
            "invalid_redirect_uri",
            "http",
        ),
        (
            json!({"redirect_uris": ["https://*.app.example/cb"]}),
            "invalid_redirect_uri",
            "wildcard",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "jwks_uri": "https://app.example/jwks", "jwks": {"keys": []}}),
            "invalid_client_metadata",
            "jwks",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_jwt"}),
            "invalid_client_metadata",
            "token_endpoint_auth_method",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
            "grant_types",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "scope": "openid admin"}),
            "invalid_client_metadata",
            "scope",
        ),
    ];
    for (body, error, names) in cases {
        let (status, answer) = register(&g, None, &body).await;
        assert_error(status, &answer, 400, error);
        assert!(
            answer["error_description"].as_str().unwrap().contains(names),
            "{body}: {answer}"
        );
    }
    let res = http()
        .post(format!("{}/oauth/register", g.issuer))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let (status, body) = register(
        &g,
        None,
        &json!({"redirect_uris": [REDIRECT], "x_unknown": 1, "token_endpoint_auth_method": "none"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(body.get("x_unknown").is_none(), "{body}");
    // Nothing was half-written by the refusals: only the one good client exists.
    let clients = g.cli(&["client", "list", "--dynamic"]);
    assert_eq!(clients.as_array().unwrap().len(), 1, "{clients}");
    assert_eq!(clients[0]["origin"], "registration");
    assert_eq!(clients[0]["introspect"], false);
}

#[tokio::test]
async fn the_registration_access_token_reads_replaces_and_deletes_the_client() {
    let g = Gatehouse::start_env(OPEN_MODE);
    g.user("alice");
    let other = "http://127.0.0.1:9/other";
    let (status, reg) = register(&g, None, &json!({"redirect_uris": [REDIRECT], "client_name": "Before"})).await;
    assert_eq!(status, 201, "{reg}");
    let uri = s(&reg["registration_client_uri"]);
    let token = s(&reg["registration_access_token"]);
    let client = TestClient::created(&reg);

    let (status, read) = manage(reqwest::Method::GET, &uri, &token, None).await;
    assert_eq!(status, 200, "{read}");
    for member in [
        "client_id",
        "redirect_uris",
        "client_name",
        "grant_types",
        "token_endpoint_auth_method",
    ] {
        assert_eq!(read[member], reg[member], "{member}");
    }
    assert!(read.get("client_secret").is_none() && read.get("registration_access_token").is_none());
    let (status, body) = manage(reqwest::Method::GET, &uri, "wrong", None).await;
    assert_error(status, &body, 401, "invalid_token");

    // Full replacement: the old redirect URI stops working, the token rotates.
    let mut put = json!({"client_id": client.id, "redirect_uris": [other], "client_name": "After"});
    let (status, body) = manage(
        reqwest::Method::PUT,
        &uri,
        &token,
        Some(&json!({"client_id": client.id, "redirect_uris": [other], "registration_access_token": "x"})),
    )
    .await;
    assert_error(status, &body, 400, "invalid_client_metadata");
    let (status, replaced) = manage(reqwest::Method::PUT, &uri, &token, Some(&put)).await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["redirect_uris"], json!([other]));
    let new_token = s(&replaced["registration_access_token"]);
    assert_ne!(new_token, token);
    let (status, _) = manage(reqwest::Method::GET, &uri, &token, None).await;
    assert_eq!(status, 401, "the replaced token no longer works");
    let (_, challenge) = pkce();
    let (status, page) = Browser::new()
        .page(&auth_url(&g.issuer, &client.id, "openid", &challenge, &[]))
        .await;
    assert_eq!(status, 400, "the old redirect URI is refused: {page}");
    put["client_id"] = json!("someone-else");
    let (status, _) = manage(reqwest::Method::PUT, &uri, &new_token, Some(&put)).await;
    assert_eq!(status, 400);

    // Two replacements with one token: one wins, the other is refused (the token rotated).
    let put = json!({"client_id": client.id, "redirect_uris": [other], "client_name": "Raced"});
    let (a, b) = tokio::join!(
        manage(reqwest::Method::PUT, &uri, &new_token, Some(&put)),
        manage(reqwest::Method::PUT, &uri, &new_token, Some(&put))
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401], "{a:?} {b:?}");
    let new_token = if a.0 == 200 {
        s(&a.1["registration_access_token"])
    } else {
        s(&b.1["registration_access_token"])
    };
    // Becoming public drops the secret; becoming confidential again issues a new one.
    let public = json!({"client_id": client.id, "redirect_uris": [other], "token_endpoint_auth_method": "none"});
    let (status, body) = manage(reqwest::Method::PUT, &uri, &new_token, Some(&public)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("client_secret").is_none());
    let new_token = s(&body["registration_access_token"]);
    let (status, body) = token_with_secret(&g, &client, &[("grant_type", "client_credentials")]).await;
    assert_error(status, &body, 401, "invalid_client");
    let back = json!({"client_id": client.id, "redirect_uris": [other]});
    let (status, body) = manage(reqwest::Method::PUT, &uri, &new_token, Some(&back)).await;
    assert_eq!(status, 200, "{body}");
    let client = TestClient {
        id: client.id.clone(),
        secret: Some(s(&body["client_secret"])),
    };
    let new_token = s(&body["registration_access_token"]);

    // The client works until deleted, then neither it nor its tokens do.
    let (status, tokens) = token_with_secret(&g, &client, &[("grant_type", "client_credentials")]).await;
    assert_error(status, &tokens, 400, "unauthorized_client");
    let (status, _) = manage(reqwest::Method::DELETE, &uri, &new_token, None).await;
    assert_eq!(status, 204);
    let (status, body) = token_with_secret(&g, &client, &[("grant_type", "client_credentials")]).await;
    assert_error(status, &body, 401, "invalid_client");
    let (status, _) = manage(reqwest::Method::GET, &uri, &new_token, None).await;
    assert_eq!(status, 401);
}

async fn token_with_secret(g: &Gatehouse, c: &TestClient, form: &[(&str, &str)]) -> (u16, Value) {
    token(g, c, form).await
}

#[tokio::test]
async fn urls_inside_the_network_are_refused_without_a_connection() {
    let g = Gatehouse::start_env(OPEN_MODE);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let cases = [
        ("jwks_uri", format!("http://127.0.0.1:{port}/jwks.json")),
        ("logo_uri", format!("https://127.0.0.1:{port}/logo.png")),
        ("client_uri", format!("https://localhost:{port}/")),
        ("jwks_uri", "https://169.254.169.254/latest/meta-data".to_owned()),
        ("policy_uri", "https://10.1.2.3/privacy".to_owned()),
        ("tos_uri", "https://[::1]/tos".to_owned()),
    ];
    for (member, url) in cases {
        let mut body = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"});
        body[member] = json!(url);
        let (status, answer) = register(&g, None, &body).await;
        assert_error(status, &answer, 400, "invalid_client_metadata");
        let description = answer["error_description"].as_str().unwrap();
        assert!(
            description.starts_with(member) && description.contains("internal address"),
            "{description}"
        );
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "nothing may connect to the internal listener"
    );
    assert!(g.cli(&["client", "list", "--dynamic"]).as_array().unwrap().is_empty());
}

#[tokio::test]
async fn registrations_per_address_are_limited() {
    let g = Gatehouse::start_env(&[
        ("GATEHOUSE_REGISTRATION", "open"),
        ("GATEHOUSE_RATE_LIMIT_REGISTRATION", "2/1h"),
    ]);
    let body = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"});
    for _ in 0..2 {
        assert_eq!(register(&g, None, &body).await.0, 201);
    }
    let res = http()
        .post(format!("{}/oauth/register", g.issuer))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
}

#[tokio::test]
async fn signed_userinfo_verifies_against_the_jwks() {
    let g = Gatehouse::start_env(OPEN_MODE);
    g.user("alice");
    let (status, reg) = register(
        &g,
        None,
        &json!({"redirect_uris": [REDIRECT], "userinfo_signed_response_alg": "RS256", "scope": "openid email"}),
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    assert_eq!(reg["userinfo_signed_response_alg"], "RS256");
    let client = TestClient::created(&reg);
    let tokens = user_tokens(&g, &client, "openid email", &[]).await;
    let access = s(&tokens["access_token"]);
    let res = http()
        .get(format!("{}/oauth/userinfo", g.issuer))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/jwt");
    // The independent library fetches the JWKS and checks signature, issuer and audience.
    let http = http();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(g.issuer.clone()).unwrap(), &http)
        .await
        .unwrap();
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.id.clone()),
        client.secret.clone().map(ClientSecret::new),
    );
    let claims: CoreUserInfoClaims = rp
        .user_info(AccessToken::new(access), None)
        .unwrap()
        .require_signed_response(true)
        .request_async(&http)
        .await
        .expect("signed userinfo verifies");
    assert_eq!(claims.email().map(|e| e.as_str()), Some("alice@example.com"));
}

#[tokio::test]
async fn uses_are_recorded_and_idle_dynamic_clients_are_deleted() {
    let g = Gatehouse::start_env(&[
        ("GATEHOUSE_REGISTRATION", "open"),
        ("GATEHOUSE_DYNAMIC_CLIENT_IDLE", "3s"),
        ("GATEHOUSE_CLEANUP_INTERVAL", "1s"),
    ]);
    let operator = g.public_client("RS256");
    let (_, reg) = register(
        &g,
        None,
        &json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let id = s(&reg["client_id"]);
    let (_, challenge) = pkce();
    Browser::new()
        .follow(&auth_url(&g.issuer, &id, "openid", &challenge, &[]))
        .await;
    let mut used = false;
    let mut gone = false;
    for _ in 0..100 {
        let list = g.cli(&["client", "list", "--dynamic"]);
        match list.as_array().unwrap().first() {
            Some(c) => used |= !c["last_used_at"].is_null(),
            None => {
                gone = true;
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(used, "the authorization request was recorded as a use");
    assert!(gone, "the idle self-registered client was deleted");
    let all = g.cli(&["client", "list"]);
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == operator.id.as_str()),
        "operator clients stay"
    );
}
