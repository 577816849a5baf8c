//! Token lifecycle (issue 5): rotation and reuse detection, client credentials, revocation,
//! introspection, JWT access tokens, resource indicators, family lifetimes, grace, cleanup.

use crate::support::*;
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreRevocableToken};
use openidconnect::{
    ClientId, ClientSecret, IntrospectionUrl, IssuerUrl, OAuth2TokenResponse, RevocationUrl, Scope,
    TokenIntrospectionResponse,
};
use serde_json::{Value, json};

const API: &str = "https://api.example.com";

fn resource_server(g: &Gatehouse) -> TestClient {
    service_client(g, &["--introspect", "--resource", API])
}

async fn introspect(g: &Gatehouse, rs: &TestClient, token: &str) -> Value {
    let (status, body) = post_authenticated(g, "/oauth/introspect", rs, &[("token", token)]).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The status a revocation of `form` by `client` answers.
async fn revoke(g: &Gatehouse, client: &TestClient, form: &[(&str, &str)]) -> u16 {
    post_authenticated(g, "/oauth/revoke", client, form).await.0
}

/// Refreshes with `refresh_token`, asking for `scope`; returns (status, body).
async fn refresh_for(g: &Gatehouse, client: &TestClient, refresh_token: &str, scope: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("scope", scope),
    ];
    token(g, client, &form).await
}

fn inactive() -> Value {
    json!({ "active": false })
}

#[tokio::test]
async fn client_credentials_introspection_and_revocation_with_a_real_client() {
    let g = Gatehouse::start();
    g.cli(&["scope", "create", "--name", "api:read", "--description", "Read the API"]);
    let svc = service_client_scoped(&g.store, "api:read", &[]);
    let (id, secret) = (svc.id.clone(), svc.secret.clone().unwrap());
    let http = http();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(g.issuer.clone()).unwrap(), &http)
        .await
        .unwrap();
    let rp = CoreClient::from_provider_metadata(metadata, ClientId::new(id.clone()), Some(ClientSecret::new(secret)))
        .set_revocation_url(RevocationUrl::new(format!("{}/oauth/revoke", g.issuer)).unwrap())
        .set_introspection_url(IntrospectionUrl::new(format!("{}/oauth/introspect", g.issuer)).unwrap());
    let token = rp
        .exchange_client_credentials()
        .unwrap()
        .add_scope(Scope::new("api:read".into()))
        .request_async(&http)
        .await
        .expect("client credentials");
    assert!(
        token.refresh_token().is_none(),
        "no refresh token for client credentials"
    );
    assert_eq!(token.scopes().unwrap()[0].as_str(), "api:read");
    let info = rp
        .introspect(token.access_token())
        .request_async(&http)
        .await
        .expect("introspection");
    assert!(info.active());
    assert_eq!(info.client_id().unwrap().as_str(), id);
    assert_eq!(info.scopes().unwrap()[0].as_str(), "api:read");
    // The oauth2 crate sends revocations only over https (RFC 7009 §2 requires TLS); this test
    // server is plain http on loopback, so the crate refuses, and the revocation goes raw.
    assert!(
        rp.revoke_token(CoreRevocableToken::AccessToken(token.access_token().clone()))
            .is_err()
    );
    assert_eq!(revoke(&g, &svc, &[("token", token.access_token().secret())]).await, 200);
    let info = rp.introspect(token.access_token()).request_async(&http).await.unwrap();
    assert!(!info.active());
    // The discovery document advertises both endpoints.
    let meta: Value = get_json(&format!("{}/.well-known/openid-configuration", g.issuer)).await;
    assert_eq!(meta["revocation_endpoint"], format!("{}/oauth/revoke", g.issuer));
    assert_eq!(meta["introspection_endpoint"], format!("{}/oauth/introspect", g.issuer));
}

#[tokio::test]
async fn jwt_access_token_verifies_independently_and_is_revocable() {
    let g = Gatehouse::start();
    g.user("alice");
    let client = app_client_in(
        &g.store,
        "openid email offline_access",
        &["--access-token-format", "jwt", "--resource", API],
    );
    let tokens = user_tokens(&g, &client, "openid email", &[("resource", API)]).await;
    let at = s(&tokens["access_token"]);
    let header = jsonwebtoken::decode_header(&at).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let jwks: jsonwebtoken::jwk::JwkSet = get_json(&format!("{}/.well-known/jwks.json", g.issuer)).await;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[API]);
    validation.set_issuer(&[&g.issuer]);
    let claims = jsonwebtoken::decode::<Value>(&at, &key, &validation)
        .expect("verifies against the JWKS")
        .claims;
    for c in [
        "iss",
        "sub",
        "aud",
        "client_id",
        "scope",
        "jti",
        "iat",
        "exp",
        "auth_time",
    ] {
        assert!(claims.get(c).is_some(), "claim {c} missing: {claims}");
    }
    assert_eq!(claims["client_id"], client.id);
    assert_eq!(
        userinfo_status(&g, &at).await,
        200,
        "userinfo accepts JWT access tokens"
    );
    let rs = resource_server(&g);
    let info = introspect(&g, &rs, &at).await;
    assert_eq!((info["active"].clone(), info["aud"].clone()), (json!(true), json!(API)));
    assert_eq!(info["username"], "alice");
    assert_eq!(revoke(&g, &client, &[("token", &at)]).await, 200);
    assert_eq!(introspect(&g, &rs, &at).await, inactive());
    assert_eq!(userinfo_status(&g, &at).await, 401);
}

#[tokio::test]
async fn replayed_rotated_refresh_token_revokes_the_family() {
    let g = Gatehouse::start();
    let client = g.alice_and_client("RS256");
    let first = user_tokens(&g, &client, "openid email offline_access", &[]).await;
    let (rt1, at1) = (s(&first["refresh_token"]), s(&first["access_token"]));
    let (status, second) = refresh(&g, &client, &rt1).await;
    assert_eq!(status, 200, "{second}");
    let (rt2, at2) = (s(&second["refresh_token"]), s(&second["access_token"]));
    // iss, sub, aud and auth_time are unchanged in the refreshed ID token.
    let (a, b) = (jwt_claims(&s(&first["id_token"])), jwt_claims(&s(&second["id_token"])));
    for c in ["iss", "sub", "aud", "auth_time"] {
        assert_eq!(a[c], b[c], "{c}");
    }
    let (status, body) = refresh(&g, &client, &rt1).await;
    assert_error(status, &body, 400, "invalid_grant");
    let (status, body) = refresh(&g, &client, &rt2).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "the newest token dies too: {body}"
    );
    assert_eq!(userinfo_status(&g, &at1).await, 401);
    assert_eq!(userinfo_status(&g, &at2).await, 401);
    let rs = resource_server(&g);
    assert_eq!(introspect(&g, &rs, &at2).await, inactive());
    assert_eq!(introspect(&g, &rs, &rt2).await, inactive());
    assert!(g.log().contains("refresh.reuse_detected"), "an audit event is recorded");
}

#[tokio::test]
async fn refresh_scope_rules_and_cross_client_use() {
    let g = Gatehouse::start();
    let client = g.alice_and_client("RS256");
    let other = g.confidential_client("RS256", "client_secret_basic");
    let t = user_tokens(&g, &client, "openid email offline_access", &[]).await;
    let rt = s(&t["refresh_token"]);
    let (status, body) = refresh(&g, &other, &rt).await;
    assert_error(status, &body, 400, "invalid_grant");
    let (status, body) = refresh_for(&g, &client, &rt, "openid profile").await;
    assert_error(status, &body, 400, "invalid_scope");
    // Neither failure consumed the token; a narrowing refresh works.
    let (status, body) = refresh_for(&g, &client, &rt, "openid").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "openid");
}

#[tokio::test]
async fn expired_tokens_are_refused_inactive_and_cleaned_up() {
    let g = Gatehouse::start_env(&[
        ("GATEHOUSE_REFRESH_FAMILY_MAX_AGE", "1s"),
        ("GATEHOUSE_ACCESS_TOKEN_TTL", "1s"),
        ("GATEHOUSE_CLEANUP_INTERVAL", "1s"),
        ("GATEHOUSE_REVOKED_RETENTION", "1s"),
    ]);
    let client = g.alice_and_client("RS256");
    let t = user_tokens(&g, &client, "openid offline_access", &[]).await;
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let (status, body) = refresh(&g, &client, &s(&t["refresh_token"])).await;
    assert_error(status, &body, 400, "invalid_grant");
    let rs = resource_server(&g);
    assert_eq!(introspect(&g, &rs, &s(&t["access_token"])).await, inactive());
    let mut cleaned = false;
    for _ in 0..20 {
        if g.log().contains("cleanup deleted expired rows") {
            cleaned = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(cleaned, "the cleanup task reports what it deleted");
}

#[tokio::test]
async fn revocation_rules() {
    let g = Gatehouse::start();
    let client = g.alice_and_client("RS256");
    let other = g.confidential_client("RS256", "client_secret_basic");
    let t = user_tokens(&g, &client, "openid offline_access", &[]).await;
    let (at, rt) = (s(&t["access_token"]), s(&t["refresh_token"]));
    // No client authentication: 401.
    let res = post_form(&format!("{}/oauth/revoke", g.issuer), &[("token", &at)]).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_client");
    // Unknown token: 200. Another client's token: 200, and it stays active.
    assert_eq!(revoke(&g, &client, &[("token", "no-such-token")]).await, 200);
    assert_eq!(revoke(&g, &other, &[("token", &at)]).await, 200);
    assert_eq!(userinfo_status(&g, &at).await, 200);
    // Revoking the access token leaves the refresh token working.
    assert_eq!(
        revoke(&g, &client, &[("token", &at), ("token_type_hint", "access_token")]).await,
        200
    );
    assert_eq!(userinfo_status(&g, &at).await, 401);
    let (status, fresh) = refresh(&g, &client, &rt).await;
    assert_eq!(status, 200);
    // Revoking a refresh token (even with a wrong hint) revokes its family and its access tokens.
    let (rt2, at2) = (s(&fresh["refresh_token"]), s(&fresh["access_token"]));
    assert_eq!(
        revoke(&g, &client, &[("token", &rt2), ("token_type_hint", "access_token")]).await,
        200
    );
    assert_eq!(userinfo_status(&g, &at2).await, 401);
    let (status, _) = refresh(&g, &client, &rt2).await;
    assert_eq!(status, 400);
    // Revoking again is still 200.
    assert_eq!(revoke(&g, &client, &[("token", &rt2)]).await, 200);
}

#[tokio::test]
async fn introspection_says_only_inactive_for_bad_tokens_and_needs_a_confidential_client() {
    let g = Gatehouse::start();
    let rs = resource_server(&g);
    for garbage in [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJqdGkiOiJ4In0.",
        &"x".repeat(5000),
    ] {
        assert_eq!(introspect(&g, &rs, garbage).await, inactive(), "{garbage}");
    }
    let public = g.public_client("RS256");
    let (status, body) = post_authenticated(&g, "/oauth/introspect", &public, &[("token", "x")]).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let res = post_form(&format!("{}/oauth/introspect", g.issuer), &[("token", "x")]).await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn unknown_resource_is_invalid_target() {
    let g = Gatehouse::start();
    g.user("alice");
    let client = service_client(
        &g,
        &[
            "--grant-type",
            "authorization_code",
            "--redirect-uri",
            REDIRECT,
            "--resource",
            API,
        ],
    );
    let (status, body) = token(
        &g,
        &client,
        &[
            ("grant_type", "client_credentials"),
            ("resource", "https://other.example.com"),
        ],
    )
    .await;
    assert_error(status, &body, 400, "invalid_target");
    let (status, body) = token(&g, &client, &[("grant_type", "client_credentials"), ("resource", API)]).await;
    assert_eq!(status, 200, "{body}");
    let (_, challenge) = pkce();
    let extra = [("resource", "https://other.example.com")];
    let res = get(&auth_url(&g.issuer, &client.id, "openid", &challenge, &extra)).await;
    assert_eq!(res.status(), 303);
    let back = url::Url::parse(&location(&res)).unwrap();
    assert_eq!(query(&back, "error").as_deref(), Some("invalid_target"));
}

#[tokio::test]
async fn reuse_grace_period_returns_the_same_successor() {
    let g = Gatehouse::start_env(&[("GATEHOUSE_REFRESH_REUSE_GRACE_SECONDS", "30")]);
    let client = g.alice_and_client("RS256");
    let t = user_tokens(&g, &client, "openid offline_access", &[]).await;
    let rt1 = s(&t["refresh_token"]);
    let (_, a) = refresh(&g, &client, &rt1).await;
    let (status, b) = refresh(&g, &client, &rt1).await;
    assert_eq!(status, 200, "a retry within the grace period succeeds: {b}");
    assert_eq!(a["refresh_token"], b["refresh_token"], "and gets the same successor");
    let (status, _) = refresh(&g, &client, &s(&b["refresh_token"])).await;
    assert_eq!(status, 200, "the family was not revoked");
}

/// The store the server of `g` uses, opened beside it, to look at what was (not) written.
async fn store_of(g: &Gatehouse) -> std::sync::Arc<dyn gatehouse_storage::Store> {
    match &g.store.database_url {
        Some(url) => {
            let settings = gatehouse_storage::postgres::PgSettings::new(url.clone());
            std::sync::Arc::new(gatehouse_storage::postgres::PgStore::connect(&settings).unwrap())
        }
        None => std::sync::Arc::new(gatehouse_storage::sqlite::SqliteStore::open(&g.store.data_dir).unwrap()),
    }
}

/// Issue 20: a JWT access token is self-contained (nothing is written when it is issued), and
/// still ends everywhere when its grant, its user or its client does: a replayed refresh token, a
/// replayed code, a password change (a token issued just after it stays live), a deleted client.
#[tokio::test]
async fn jwt_access_tokens_are_not_stored_and_end_with_their_grant_user_or_client() {
    let g = Gatehouse::start();
    g.user("alice");
    let client = app_client_in(
        &g.store,
        "openid email offline_access",
        &["--access-token-format", "jwt", "--resource", API],
    );
    let rs = resource_server(&g);
    let store = store_of(&g).await;
    let now = gatehouse_protocol::types::UnixTime(unix_now());
    let live = |token: String| {
        let (g, rs) = (&g, &rs);
        async move { introspect(g, rs, &token).await["active"] == json!(true) }
    };

    // Issued, verified, not stored; userinfo honours the claims the request asked of it.
    let claims = r#"{"userinfo":{"email":null}}"#;
    let first = user_tokens(
        &g,
        &client,
        "openid offline_access",
        &[("resource", API), ("claims", claims)],
    )
    .await;
    let at1 = s(&first["access_token"]);
    let jti = s(&jwt_claims(&at1)["jti"]);
    let hash = gatehouse_protocol::types::TokenHash::ordered(&jti);
    assert_eq!(
        store.find_access_token(&hash, now).await.unwrap(),
        None,
        "no row was written"
    );
    assert!(live(at1.clone()).await);
    assert_eq!(userinfo(&g, &at1).await["email"], "alice@example.com");

    // A replayed refresh token ends the family: the access tokens of both rotations too.
    let (status, second) = refresh(&g, &client, &s(&first["refresh_token"])).await;
    assert_eq!(status, 200, "{second}");
    let at2 = s(&second["access_token"]);
    assert!(live(at2.clone()).await);
    let (status, _) = refresh(&g, &client, &s(&first["refresh_token"])).await;
    assert_eq!(status, 400);
    assert!(
        !live(at1.clone()).await && !live(at2.clone()).await,
        "the family's tokens end"
    );
    assert_eq!(userinfo_status(&g, &at2).await, 401);

    // A replayed code ends its grant's token.
    let (code, verifier) = authorized_code(&g, &Browser::new(), &client, "openid", &[("resource", API)]).await;
    let (status, body) = exchange_code(&g, &client, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let at3 = s(&body["access_token"]);
    assert!(live(at3.clone()).await);
    assert_eq!(exchange_code(&g, &client, &code, &verifier).await.0, 400);
    assert!(!live(at3).await, "a replayed code revokes the token issued for it");

    // A password change ends every token of the user issued before it, and only those.
    let before = s(&user_tokens(&g, &client, "openid", &[("resource", API)]).await["access_token"]);
    assert!(live(before.clone()).await);
    let (ok, said, err) = cli_raw(
        &g.store,
        &["user", "set-password", "alice", "--password-stdin"],
        Some(PASSWORD),
    );
    assert!(ok, "{err}");
    // JWT access tokens are not stored, so the count cannot include them: the CLI says they end.
    assert!(
        said.contains("stored tokens revoked")
            && said.contains("JWT access tokens issued to alice before now are inactive"),
        "{said}"
    );
    let after = s(&user_tokens(&g, &client, "openid", &[("resource", API)]).await["access_token"]);
    assert!(!live(before.clone()).await, "issued before the change");
    assert_eq!(userinfo_status(&g, &before).await, 401);
    assert!(live(after.clone()).await, "issued after the change");
    assert_eq!(userinfo_status(&g, &after).await, 200);

    // A client's own token ends with the client.
    let svc = service_client_scoped(&g.store, "openid", &["--access-token-format", "jwt", "--resource", API]);
    let (status, body) = token(&g, &svc, &[("grant_type", "client_credentials"), ("resource", API)]).await;
    assert_eq!(status, 200, "{body}");
    let cc = s(&body["access_token"]);
    assert!(live(cc.clone()).await);
    let (ok, _, err) = cli_raw(&g.store, &["client", "delete", &svc.id], None);
    assert!(ok, "{err}");
    // On PostgreSQL a change made by the CLI reaches the server through NOTIFY, asynchronously.
    let mut ended = false;
    for _ in 0..100 {
        ended = !live(cc.clone()).await;
        if ended {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(ended, "a deleted client's token");
}

/// Two instances of one deployment (one store, one issuer) each cache that a JWT access token is
/// not revoked (issue 20); a revocation at one ends the token at the other. On the embedded store
/// the next check sees it; on PostgreSQL it arrives by NOTIFY, within milliseconds (allowed 2 s).
#[tokio::test]
async fn a_jwt_revoked_at_one_instance_is_inactive_at_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreEnv::fresh(dir.path());
    let (p1, p2) = two_ports();
    let issuer = format!("http://127.0.0.1:{p1}");
    let start = |p: u16| {
        Gatehouse::start_with(
            &store,
            &[
                ("GATEHOUSE_BIND", &format!("127.0.0.1:{p}")),
                ("GATEHOUSE_ISSUER", &issuer),
            ],
        )
    };
    let (one, two) = (start(p1), start(p2));
    let rs = resource_server(&one);
    let svc = service_client_scoped(&store, "openid", &["--access-token-format", "jwt", "--resource", API]);
    let issue = || async {
        let (status, body) = token(&one, &svc, &[("grant_type", "client_credentials"), ("resource", API)]).await;
        assert_eq!(status, 200, "{body}");
        s(&body["access_token"])
    };
    let pg = store.database_url.is_some();
    let (a, b) = (issue().await, issue().await);
    for _ in 0..2 {
        for t in [&a, &b] {
            assert!(live_at(&one, &rs, t).await && live_at(&two, &rs, t).await);
        }
    }
    assert_eq!(revoke(&one, &svc, &[("token", &a)]).await, 200);
    assert!(!live_at(&one, &rs, &a).await, "inactive at once where it was revoked");
    assert!(ends_at(&two, &rs, &a, pg).await, "still active at the other instance");
    assert!(live_at(&two, &rs, &b).await, "another token stays live");
    assert_eq!(revoke(&two, &svc, &[("token", &b)]).await, 200);
    assert!(!live_at(&two, &rs, &b).await, "inactive at once where it was revoked");
    assert!(ends_at(&one, &rs, &b, pg).await, "still active at the other instance");
}

async fn live_at(g: &Gatehouse, rs: &TestClient, token: &str) -> bool {
    introspect(g, rs, token).await["active"] == json!(true)
}

/// Whether `token` is inactive at `g`: at the next check on the embedded store, within 2 s on
/// PostgreSQL (`pg`), where another instance's revocation arrives by NOTIFY.
async fn ends_at(g: &Gatehouse, rs: &TestClient, token: &str, pg: bool) -> bool {
    for _ in 0..if pg { 200 } else { 1 } {
        if !live_at(g, rs, token).await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}
