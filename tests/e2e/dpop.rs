//! DPoP (RFC 9449) end to end: proofs built here with `jsonwebtoken` from keys generated here,
//! sent to the real binary's token, userinfo, introspection and PAR endpoints.

use crate::client_jwt::{Key, key, random_suffix};
use crate::support::*;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};
use sha2::Digest;

/// A proof by `k` for `method` at `url`, for `token` when given, with `nonce` when given.
fn proof(k: &Key, method: &str, url: &str, token: Option<&str>, nonce: Option<&str>) -> String {
    let mut h = Header::new(k.alg);
    h.typ = Some("dpop+jwt".into());
    let mut jwk = k.jwk.clone();
    jwk.as_object_mut().unwrap().remove("kid");
    h.jwk = Some(serde_json::from_value(jwk).unwrap());
    let mut claims = json!({"jti": random_suffix(), "htm": method, "htu": url, "iat": unix_now()});
    if let Some(t) = token {
        claims["ath"] = json!(base64_url(&sha2::Sha256::digest(t.as_bytes())));
    }
    if let Some(n) = nonce {
        claims["nonce"] = json!(n);
    }
    jsonwebtoken::encode(&h, &claims, &k.signing).unwrap()
}

/// The RFC 7638 thumbprint of `k`, computed here independently of the server.
fn thumbprint(k: &Key) -> String {
    let j = &k.jwk;
    let canonical = format!(
        r#"{{"crv":"{}","kty":"{}","x":"{}","y":"{}"}}"#,
        j["crv"].as_str().unwrap(),
        j["kty"].as_str().unwrap(),
        j["x"].as_str().unwrap(),
        j["y"].as_str().unwrap()
    );
    base64_url(&sha2::Sha256::digest(canonical.as_bytes()))
}

/// A token request to `g` with `form`, HTTP Basic for `client` when it has a secret, and these
/// DPoP header values.
async fn token_request(
    g: &Gatehouse,
    client: &TestClient,
    form: &[(&str, &str)],
    proofs: &[&str],
) -> reqwest::Response {
    let mut req = http().post(format!("{}/oauth/token", g.issuer)).form(form);
    if let Some(secret) = &client.secret {
        req = req.basic_auth(&client.id, Some(secret));
    }
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    req.send().await.unwrap()
}

async fn userinfo(g: &Gatehouse, scheme: &str, token: &str, proofs: &[&str]) -> reqwest::Response {
    let mut req = http()
        .get(format!("{}/oauth/userinfo", g.issuer))
        .header("Authorization", format!("{scheme} {token}"));
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    req.send().await.unwrap()
}

fn challenge(res: &reqwest::Response) -> String {
    res.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_dpop_bound_code_flow_binds_its_tokens_and_userinfo_checks_every_proof() {
    let g = Gatehouse::start();
    let discovery: Value = get_json(&format!("{}/.well-known/openid-configuration", g.issuer)).await;
    assert_eq!(
        discovery["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA", "PS256"])
    );
    g.user("alice");
    let client = g.public_client("ES256");
    let (k, other) = (key(Algorithm::ES256, "k"), key(Algorithm::ES256, "o"));
    let token_url = format!("{}/oauth/token", g.issuer);
    let jkt = thumbprint(&k);
    let (code, verifier) = authorized_code(
        &g,
        &Browser::new(),
        &client,
        "openid offline_access",
        &[("dpop_jkt", &jkt)],
    )
    .await;
    let mut form = code_grant(&code, &verifier).to_vec();
    form.push(("client_id", &client.id));
    // The code is bound by dpop_jkt: another key, or none, gets nothing and leaves the code.
    let res = token_request(&g, &client, &form, &[&proof(&other, "POST", &token_url, None, None)]).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert!(s(&body["error_description"]).contains("dpop_jkt"), "{body}");
    let res = token_request(&g, &client, &form, &[&proof(&k, "POST", &token_url, None, None)]).await;
    let tokens: Value = res.json().await.unwrap();
    assert_eq!(tokens["token_type"], "DPoP", "{tokens}");
    let at = s(&tokens["access_token"]);
    let userinfo_url = format!("{}/oauth/userinfo", g.issuer);
    // userinfo: DPoP with a proof by the key works; the scheme is case-insensitive.
    let res = userinfo(&g, "DPOP", &at, &[&proof(&k, "GET", &userinfo_url, Some(&at), None)]).await;
    assert_eq!(res.status(), 200);
    // As Bearer it is refused; with another key's proof, a replayed proof or two headers too.
    let res = userinfo(&g, "Bearer", &at, &[]).await;
    assert_eq!(res.status(), 401);
    assert!(challenge(&res).starts_with("DPoP algs="), "{}", challenge(&res));
    assert!(challenge(&res).contains("invalid_token"), "{}", challenge(&res));
    let res = userinfo(
        &g,
        "DPoP",
        &at,
        &[&proof(&other, "GET", &userinfo_url, Some(&at), None)],
    )
    .await;
    assert_eq!(res.status(), 401);
    assert!(challenge(&res).starts_with("DPoP algs="), "{}", challenge(&res));
    assert!(challenge(&res).contains("invalid_dpop_proof"));
    let once = proof(&k, "GET", &userinfo_url, Some(&at), None);
    assert_eq!(userinfo(&g, "DPoP", &at, &[&once]).await.status(), 200);
    let res = userinfo(&g, "DPoP", &at, &[&once]).await;
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert!(s(&body["error_description"]).contains("already used"), "{body}");
    let (a, b) = (
        proof(&k, "GET", &userinfo_url, Some(&at), None),
        proof(&k, "GET", &userinfo_url, Some(&at), None),
    );
    assert_eq!(userinfo(&g, "DPoP", &at, &[&a, &b]).await.status(), 401);
    // A wrong ath (a proof made for another token).
    let res = userinfo(&g, "DPoP", &at, &[&proof(&k, "GET", &userinfo_url, Some("x"), None)]).await;
    let body: Value = res.json().await.unwrap();
    assert!(s(&body["error_description"]).contains("ath"), "{body}");
    // The public client's refresh token is bound too: another key or none is refused.
    let rt = s(&tokens["refresh_token"]);
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
        ("client_id", client.id.as_str()),
    ];
    for proofs in [vec![proof(&other, "POST", &token_url, None, None)], vec![]] {
        let p: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let body: Value = token_request(&g, &client, &refresh, &p).await.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant", "{body}");
    }
    let res = token_request(&g, &client, &refresh, &[&proof(&k, "POST", &token_url, None, None)]).await;
    let refreshed: Value = res.json().await.unwrap();
    assert_eq!(refreshed["token_type"], "DPoP", "{refreshed}");
}

#[tokio::test]
async fn client_credentials_bind_and_introspection_shows_the_key() {
    let g = Gatehouse::start();
    let service = service_client(&g, &["--introspect"]);
    let k = key(Algorithm::EdDSA, "k");
    let token_url = format!("{}/oauth/token", g.issuer);
    let cc = [("grant_type", "client_credentials")];
    let res = token_request(&g, &service, &cc, &[&proof(&k, "POST", &token_url, None, None)]).await;
    let tokens: Value = res.json().await.unwrap();
    assert_eq!(tokens["token_type"], "DPoP", "{tokens}");
    let res = http()
        .post(format!("{}/oauth/introspect", g.issuer))
        .basic_auth(&service.id, service.secret.as_ref())
        .form(&[("token", s(&tokens["access_token"]))])
        .send()
        .await
        .unwrap();
    let about: Value = res.json().await.unwrap();
    assert_eq!(about["token_type"], "DPoP", "{about}");
    let mut jwk = k.jwk.clone();
    jwk.as_object_mut().unwrap().remove("kid");
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, s(&jwk["x"]));
    assert_eq!(
        about["cnf"]["jkt"],
        json!(base64_url(&sha2::Sha256::digest(canonical.as_bytes())))
    );
    // A proof sent with wrong client credentials is not used up (nothing is written for anonymous
    // requests): the same proof then works for the real client.
    let p = proof(&k, "POST", &token_url, None, None);
    let impostor = TestClient {
        id: service.id.clone(),
        secret: Some("wrong".into()),
    };
    assert_eq!(token_request(&g, &impostor, &cc, &[&p]).await.status(), 401);
    assert_eq!(token_request(&g, &service, &cc, &[&p]).await.status(), 200);
    assert_eq!(
        token_request(&g, &service, &cc, &[&p]).await.status(),
        400,
        "then it is spent"
    );
    // Without a proof the token is a bearer token, as before.
    let plain: Value = token_request(&g, &service, &cc, &[]).await.json().await.unwrap();
    assert_eq!(plain["token_type"], "Bearer");
    // A client registered with dpop_bound_access_tokens gets nothing without a proof.
    g.cli(&["client", "update", &service.id, "--dpop-bound-access-tokens", "true"]);
    // On PostgreSQL the change reaches the server's client cache through NOTIFY, asynchronously.
    let mut res = token_request(&g, &service, &cc, &[]).await;
    for _ in 0..100 {
        if res.status() == 400 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        res = token_request(&g, &service, &cc, &[]).await;
    }
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
    // A proof for another endpoint, or with the wrong method, is refused.
    let wrong = proof(&k, "POST", &format!("{}/oauth/revoke", g.issuer), None, None);
    let body: Value = token_request(&g, &service, &cc, &[&wrong]).await.json().await.unwrap();
    assert!(s(&body["error_description"]).contains("htu"), "{body}");
}

#[tokio::test]
async fn with_nonces_on_the_retry_succeeds_on_another_instance_and_a_proof_counts_once() {
    let first = Gatehouse::start_env(&[("GATEHOUSE_DPOP_NONCE", "true")]);
    let second = Gatehouse::start_with(&first.store, &[("GATEHOUSE_DPOP_NONCE", "true")]);
    let service = service_client(&first, &[]);
    let k = key(Algorithm::ES256, "k");
    let cc = [("grant_type", "client_credentials")];
    let url = |g: &Gatehouse| format!("{}/oauth/token", g.issuer);
    let res = token_request(&first, &service, &cc, &[&proof(&k, "POST", &url(&first), None, None)]).await;
    assert_eq!(res.status(), 400);
    let nonce = res.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "use_dpop_nonce", "{body}");
    // The nonce is stateless: the other instance accepts it.
    let res = token_request(
        &second,
        &service,
        &cc,
        &[&proof(&k, "POST", &url(&second), None, Some(&nonce))],
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // One proof raced at two instances of one deployment (one issuer, as behind a load balancer)
    // is accepted once.
    let (p1, p2) = two_ports();
    let issuer = format!("http://127.0.0.1:{p1}");
    let one = Gatehouse::start_with(
        &first.store,
        &[
            ("GATEHOUSE_BIND", &format!("127.0.0.1:{p1}")),
            ("GATEHOUSE_ISSUER", &issuer),
        ],
    );
    let two = Gatehouse::start_with(
        &first.store,
        &[
            ("GATEHOUSE_BIND", &format!("127.0.0.1:{p2}")),
            ("GATEHOUSE_ISSUER", &issuer),
        ],
    );
    assert_eq!(one.issuer, two.issuer);
    let raced = proof(&k, "POST", &format!("{issuer}/oauth/token"), None, None);
    let send = |port: u16| {
        http()
            .post(format!("http://127.0.0.1:{port}/oauth/token"))
            .basic_auth(&service.id, service.secret.as_ref())
            .header("DPoP", raced.as_str())
            .form(&cc)
            .send()
    };
    let (a, b) = tokio::join!(send(p1), send(p2));
    let mut statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400]);
}

#[tokio::test]
async fn a_proof_at_par_binds_the_code() {
    let g = Gatehouse::start();
    g.user("alice");
    let client = g.confidential_client("ES256", "client_secret_basic");
    let (k, other) = (key(Algorithm::ES256, "k"), key(Algorithm::ES256, "o"));
    let (verifier, challenge) = pkce();
    let par_url = format!("{}/oauth/par", g.issuer);
    let res = http()
        .post(&par_url)
        .basic_auth(&client.id, client.secret.as_ref())
        .header("DPoP", proof(&k, "POST", &par_url, None, None))
        .form(&[
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let pushed: Value = res.json().await.unwrap();
    let mut u = url::Url::parse(&format!("{}/oauth/authorize", g.issuer)).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", &client.id)
        .append_pair("request_uri", &s(&pushed["request_uri"]));
    let back = Browser::new().authorize(&g.issuer, u.as_str(), "alice", PASSWORD).await;
    let code = query(&back, "code").unwrap();
    let form = code_grant(&code, &verifier);
    let token_url = format!("{}/oauth/token", g.issuer);
    let body: Value = token_request(&g, &client, &form, &[&proof(&other, "POST", &token_url, None, None)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let tokens: Value = token_request(&g, &client, &form, &[&proof(&k, "POST", &token_url, None, None)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tokens["token_type"], "DPoP", "{tokens}");
}

#[tokio::test]
async fn a_public_client_that_starts_using_dpop_binds_its_refresh_tokens_from_then_on() {
    let g = Gatehouse::start_env(&[("GATEHOUSE_DPOP_NONCE", "true")]);
    g.user("alice");
    let client = g.public_client("ES256");
    let k = key(Algorithm::ES256, "k");
    let token_url = format!("{}/oauth/token", g.issuer);
    let (code, verifier) = authorized_code(&g, &Browser::new(), &client, "openid offline_access", &[]).await;
    let mut form = code_grant(&code, &verifier).to_vec();
    form.push(("client_id", &client.id));
    let tokens: Value = token_request(&g, &client, &form, &[]).await.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer", "{tokens}");
    // First refresh with a proof: refused for want of a nonce, then accepted with it.
    let rt = s(&tokens["refresh_token"]);
    let refresh = |rt: &str| {
        vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("refresh_token".to_owned(), rt.to_owned()),
            ("client_id".to_owned(), client.id.clone()),
        ]
    };
    let form = refresh(&rt);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let res = token_request(&g, &client, &pairs, &[&proof(&k, "POST", &token_url, None, None)]).await;
    assert_eq!(res.status(), 400);
    let nonce = res.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let res = token_request(
        &g,
        &client,
        &pairs,
        &[&proof(&k, "POST", &token_url, None, Some(&nonce))],
    )
    .await;
    assert!(
        res.headers().contains_key("dpop-nonce"),
        "a fresh nonce with every answer"
    );
    let bound: Value = res.json().await.unwrap();
    assert_eq!(bound["token_type"], "DPoP", "{bound}");
    // From then on the refresh token is bound: without a proof it is refused.
    let form = refresh(&s(&bound["refresh_token"]));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let body: Value = token_request(&g, &client, &pairs, &[]).await.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
}
