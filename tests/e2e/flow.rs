//! Happy paths with the `openidconnect` crate as relying party: discovery, PKCE + nonce, login and
//! consent through the forms, code exchange, ID token verification (signature, nonce, at_hash),
//! userinfo; for confidential and public clients and every signing algorithm.

use crate::support::*;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, RefreshToken, Scope, TokenResponse,
};

fn jws_alg(alg: &str) -> CoreJwsSigningAlgorithm {
    match alg {
        "RS256" => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        "ES256" => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        "EdDSA" => CoreJwsSigningAlgorithm::EdDsa,
        other => panic!("{other}"),
    }
}

/// The whole relying-party flow; returns the subject and the refresh token.
async fn complete_flow(g: &Gatehouse, client: &TestClient, alg: &str, auth_type: AuthType) -> (String, Option<String>) {
    let http = http();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(g.issuer.clone()).unwrap(), &http)
        .await
        .expect("discovery accepted by openidconnect");
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.id.clone()),
        client.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap())
    .set_auth_type(auth_type);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = Browser::new();
    let callback = browser.authorize(&g.issuer, url.as_str(), "alice", PASSWORD).await;
    assert!(callback.as_str().starts_with(REDIRECT), "{callback}");
    assert_eq!(query(&callback, "state").as_deref(), Some(csrf.secret().as_str()));
    assert_eq!(
        query(&callback, "iss").as_deref(),
        Some(g.issuer.as_str()),
        "RFC 9207 iss"
    );
    let code = query(&callback, "code").expect("a code");
    assert!(code.len() >= 43, "code carries at least 256 bits");

    let token = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    assert!(token.access_token().secret().len() >= 43);
    let id_token = token.id_token().expect("an id_token");
    let id_verifier = rp.id_token_verifier().set_allowed_algs(vec![jws_alg(alg)]);
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("ID token verifies against the JWKS");
    let expected_hash = claims.access_token_hash().expect("at_hash present");
    let actual = AccessTokenHash::from_token(
        token.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(&actual, expected_hash, "at_hash");
    assert!(claims.auth_time().is_some());

    let userinfo: CoreUserInfoClaims = rp
        .user_info(token.access_token().clone(), Some(claims.subject().clone()))
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(userinfo.email().map(|e| e.as_str()), Some("alice@example.com"));
    assert_eq!(userinfo.preferred_username().map(|u| u.as_str()), Some("alice"));

    (
        claims.subject().as_str().to_owned(),
        token.refresh_token().map(|r| r.secret().clone()),
    )
}

async fn confidential(alg: &str) {
    let g = Gatehouse::start();
    g.user("alice");
    let client = g.confidential_client(alg, "client_secret_basic");
    let (_, refresh) = complete_flow(&g, &client, alg, AuthType::BasicAuth).await;
    let refresh = refresh.expect("offline_access yields a refresh token");
    // Secrets never reach the log.
    let log = g.log();
    assert!(log.contains("token.issued"), "the log is being written");
    for secret in [PASSWORD, client.secret.as_deref().unwrap(), refresh.as_str()] {
        assert!(!log.contains(secret), "a secret leaked into the log");
    }
}

async fn public(alg: &str) {
    let g = Gatehouse::start();
    g.user("alice");
    let client = g.public_client(alg);
    complete_flow(&g, &client, alg, AuthType::RequestBody).await;
}

#[tokio::test]
async fn confidential_client_completes_flow_with_rs256() {
    confidential("RS256").await;
}

#[tokio::test]
async fn confidential_client_completes_flow_with_es256() {
    confidential("ES256").await;
}

#[tokio::test]
async fn confidential_client_completes_flow_with_eddsa() {
    confidential("EdDSA").await;
}

#[tokio::test]
async fn public_client_completes_flow_with_rs256() {
    public("RS256").await;
}

#[tokio::test]
async fn public_client_completes_flow_with_es256() {
    public("ES256").await;
}

#[tokio::test]
async fn public_client_completes_flow_with_eddsa() {
    public("EdDSA").await;
}

#[tokio::test]
async fn client_secret_post_client_completes_flow() {
    let g = Gatehouse::start();
    g.user("alice");
    let client = g.confidential_client("RS256", "client_secret_post");
    complete_flow(&g, &client, "RS256", AuthType::RequestBody).await;
}

#[tokio::test]
async fn refresh_token_rotates_and_keeps_identity() {
    let g = Gatehouse::start();
    let client = g.alice_and_client("ES256");
    let (sub, refresh) = complete_flow(&g, &client, "ES256", AuthType::BasicAuth).await;
    let http = http();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(g.issuer.clone()).unwrap(), &http)
        .await
        .unwrap();
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.id.clone()),
        client.secret.clone().map(ClientSecret::new),
    );
    let first = RefreshToken::new(refresh.unwrap());
    let res = rp
        .exchange_refresh_token(&first)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    let next = res
        .refresh_token()
        .expect("rotation issues a successor")
        .secret()
        .clone();
    assert_ne!(&next, first.secret());
    let verifier = rp
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let claims = res
        .id_token()
        .unwrap()
        .claims(&verifier, |_: Option<&Nonce>| Ok(()))
        .unwrap();
    assert_eq!(claims.subject().as_str(), sub);
    // Replaying the rotated token is refused and revokes the family, successor included.
    let replay = rp.exchange_refresh_token(&first).unwrap().request_async(&http).await;
    assert!(replay.is_err());
    let after = rp
        .exchange_refresh_token(&RefreshToken::new(next))
        .unwrap()
        .request_async(&http)
        .await;
    assert!(after.is_err(), "the successor dies with its family");
}

#[tokio::test]
async fn second_authorization_uses_the_session_and_remembered_consent() {
    let g = Gatehouse::start();
    let client = g.alice_and_client("RS256");
    let browser = Browser::new();
    let (_, challenge) = pkce();
    let url = |scope: &str, extra: &[(&str, &str)]| auth_url(&g.issuer, &client.id, scope, &challenge, extra);
    let first = browser
        .authorize(&g.issuer, &url("openid email", &[]), "alice", PASSWORD)
        .await;
    assert!(query(&first, "code").is_some());
    // Same browser, same scopes: straight back to the client, no login form, no consent page.
    let direct = browser.follow(&url("openid email", &[])).await;
    assert!(direct.starts_with(REDIRECT) && direct.contains("code="), "{direct}");
    // prompt=none works silently with a session.
    let silent = browser.follow(&url("openid", &[("prompt", "none")])).await;
    assert!(silent.contains("code="), "{silent}");
    // prompt=login and max_age=0 demand the password again.
    for extra in [("prompt", "login"), ("max_age", "0")] {
        let again = browser.follow(&url("openid email", &[extra])).await;
        assert!(again.starts_with(&format!("{}/login", g.issuer)), "{extra:?}: {again}");
    }
    // A new scope asks for consent again, without a password.
    let wider = browser.follow(&url("openid email profile", &[])).await;
    assert!(wider.starts_with(&format!("{}/consent", g.issuer)), "{wider}");
}

#[tokio::test]
async fn consent_denied_redirects_access_denied() {
    let g = Gatehouse::start();
    let client = g.alice_and_client("RS256");
    let browser = Browser::new();
    let login = browser.open_login(&g, &client).await;
    let res = browser.submit_login(&g.issuer, &login, "alice", PASSWORD).await;
    let consent = location(&res);
    let back = url::Url::parse(&browser.consent(&g.issuer, &consent, "deny").await).unwrap();
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&back, "state").as_deref(), Some("st4te"));
    assert!(query(&back, "code").is_none());
}

#[tokio::test]
async fn authorization_by_post_and_login_hint_work() {
    let g = Gatehouse::start();
    let client = g.alice_and_client("RS256");
    let browser = Browser::new();
    let (_, challenge) = pkce();
    let url = url::Url::parse(&auth_url(
        &g.issuer,
        &client.id,
        "openid",
        &challenge,
        &[("login_hint", "alice")],
    ))
    .unwrap();
    let form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let res = browser
        .http
        .post(format!("{}/oauth/authorize", g.issuer))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let (_, html) = browser.page(&location(&res)).await;
    assert!(html.contains("value=\"alice\""), "login_hint prefills the username");
    assert!(html.contains("<label for=\"password\">"), "labelled fields");
}

#[tokio::test]
async fn pages_and_cookies_carry_protective_headers() {
    let g = Gatehouse::start();
    let client = g.alice_and_client("RS256");
    let (_, challenge) = pkce();
    let res = http()
        .get(auth_url(&g.issuer, &client.id, "openid", &challenge, &[]))
        .send()
        .await
        .unwrap();
    let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "no Secure on an http issuer");
    let page = http()
        .get(format!("{}/login?interaction=nope", g.issuer))
        .send()
        .await
        .unwrap();
    for h in [
        "content-security-policy",
        "x-frame-options",
        "referrer-policy",
        "x-content-type-options",
    ] {
        assert!(page.headers().contains_key(h), "{h}");
    }
}
