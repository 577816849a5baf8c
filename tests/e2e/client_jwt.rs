//! `private_key_jwt` (RFC 7523, OIDC Core §9) end to end: clients whose key pairs are generated
//! here, assertions built and signed with `jsonwebtoken`, sent to the real binary's token,
//! introspection and revocation endpoints.

use crate::support::*;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self as sig, KeyPair};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A key pair: its signing key, its algorithm and its public JWK.
pub(crate) struct Key {
    pub(crate) signing: EncodingKey,
    pub(crate) alg: Algorithm,
    pub(crate) jwk: Value,
}

pub(crate) fn key(alg: Algorithm, kid: &str) -> Key {
    let b64 = base64_url;
    let (signing, jwk) = match alg {
        Algorithm::ES256 => {
            let k = sig::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
            let p = k.public_key().as_ref().to_vec();
            let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..65])});
            (EncodingKey::from_ec_der(k.to_pkcs8v1().unwrap().as_ref()), jwk)
        }
        Algorithm::EdDSA => {
            let k = sig::Ed25519KeyPair::generate().unwrap();
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().as_ref())});
            (EncodingKey::from_ed_der(k.to_pkcs8v1().unwrap().as_ref()), jwk)
        }
        _ => {
            use base64::Engine;
            let k = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
            let p = k.public_key();
            let jwk = json!({"kty": "RSA", "n": b64(p.modulus().big_endian_without_leading_zero()),
                "e": b64(p.exponent().big_endian_without_leading_zero())});
            let body = base64::engine::general_purpose::STANDARD.encode(k.as_der().unwrap().as_ref());
            let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
            (EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(), jwk)
        }
    };
    let mut jwk = jwk;
    jwk["kid"] = json!(kid);
    Key { signing, alg, jwk }
}

/// A client authenticating with `private_key_jwt` and these keys, allowed client credentials for
/// scope `api`, plus `extra` arguments.
fn keyed_client(g: &Gatehouse, keys: &[&Key], extra: &[&str]) -> String {
    let _ = cli_raw(&g.store, &["scope", "create", "--name", "api"], None);
    let file = g.data_dir.join(format!("jwks-{}.json", random_suffix()));
    let jwks = json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() });
    std::fs::write(&file, jwks.to_string()).unwrap();
    let mut args = vec![
        "client",
        "create",
        "--name",
        "Service",
        "--token-endpoint-auth-method",
        "private_key_jwt",
        "--jwks-file",
        file.to_str().unwrap(),
        "--grant-type",
        "client_credentials",
        "--scope",
        "api",
    ];
    args.extend_from_slice(extra);
    let created = g.cli(&args);
    assert!(created.get("client_secret").is_none(), "no secret: {created}");
    s(&created["client_id"])
}

pub(crate) fn random_suffix() -> String {
    let mut b = [0u8; 6];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    base64_url(&b)
}

/// The claims of a fresh assertion of `client` for `aud`.
pub(crate) fn claims(g: &Gatehouse, client: &str) -> Value {
    json!({"iss": client, "sub": client, "aud": g.issuer, "iat": unix_now(), "exp": unix_now() + 60, "jti": random_suffix()})
}

pub(crate) fn sign(k: &Key, typ: Option<&str>, claims: &Value) -> String {
    let mut h = Header::new(k.alg);
    h.kid = k.jwk["kid"].as_str().map(str::to_owned);
    h.typ = typ.map(str::to_owned);
    jsonwebtoken::encode(&h, claims, &k.signing).unwrap()
}

/// POSTs `form` plus the assertion to `path`; returns (status, body).
pub(crate) async fn with_assertion(g: &Gatehouse, path: &str, assertion: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let mut all = form.to_vec();
    all.extend([("client_assertion_type", JWT_BEARER), ("client_assertion", assertion)]);
    let res = post_form(&format!("{}{path}", g.issuer), &all).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

const CC: [(&str, &str); 1] = [("grant_type", "client_credentials")];

#[tokio::test]
async fn private_key_jwt_authenticates_at_token_introspection_and_revocation() {
    let g = Gatehouse::start();
    let discovery: Value = get_json(&format!("{}/.well-known/openid-configuration", g.issuer)).await;
    for list in [
        "token_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
    ] {
        assert!(
            discovery[list].to_string().contains("private_key_jwt"),
            "{list}: {discovery}"
        );
    }
    assert_eq!(
        discovery["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256", "EdDSA"])
    );
    for alg in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::PS256] {
        let k = key(alg, "k1");
        let client = keyed_client(&g, &[&k], &[]);
        let (status, body) = with_assertion(&g, "/oauth/token", &sign(&k, None, &claims(&g, &client)), &CC).await;
        assert_eq!(status, 200, "{alg:?}: {body}");
        let token = s(&body["access_token"]);
        let explicit = sign(&k, Some("client-authentication+jwt"), &claims(&g, &client));
        let (status, about) = with_assertion(&g, "/oauth/introspect", &explicit, &[("token", &token)]).await;
        assert_eq!((status, &about["active"]), (200, &json!(true)), "{about}");
        let (status, _) = with_assertion(
            &g,
            "/oauth/revoke",
            &sign(&k, None, &claims(&g, &client)),
            &[("token", &token)],
        )
        .await;
        assert_eq!(status, 200);
        let (_, about) = with_assertion(
            &g,
            "/oauth/introspect",
            &sign(&k, None, &claims(&g, &client)),
            &[("token", &token)],
        )
        .await;
        assert_eq!(about["active"], false, "revoked");
    }
}

#[tokio::test]
async fn every_refusal_is_invalid_client_naming_the_claim_at_fault() {
    let g = Gatehouse::start();
    let (es, ed, stranger) = (
        key(Algorithm::ES256, "es"),
        key(Algorithm::EdDSA, "ed"),
        key(Algorithm::ES256, "es"),
    );
    let client = keyed_client(&g, &[&es, &ed], &["--token-endpoint-auth-signing-alg", "ES256"]);
    let good = claims(&g, &client);
    let replayed = sign(&es, None, &good);
    let (status, body) = with_assertion(&g, "/oauth/token", &replayed, &CC).await;
    assert_eq!(status, 200, "{body}");
    let with = |k: &str, v: Value| {
        let mut c = claims(&g, &client);
        c[k] = v;
        c
    };
    let cases: Vec<(String, &str)> = vec![
        (replayed, "jti was already used"),
        (sign(&es, None, &with("exp", json!(unix_now() - 600))), "in the past by"),
        (sign(&es, None, &with("exp", json!(unix_now() + 3600))), "seconds ahead"),
        (
            sign(&es, None, &with("sub", json!("someone-else"))),
            "sub is someone-else",
        ),
        (sign(&es, None, &with("aud", json!("https://elsewhere.example"))), "aud"),
        (sign(&stranger, None, &good), "signature"),
        (sign(&es, Some("dpop+jwt"), &claims(&g, &client)), "typ dpop+jwt"),
        (sign(&ed, None, &claims(&g, &client)), "registered"),
    ];
    // With client_id sent, as RFC 7523 §3 allows: a wrong sub is then named, not an unknown client.
    let named = [("grant_type", "client_credentials"), ("client_id", client.as_str())];
    for (assertion, says) in cases {
        let (status, body) = with_assertion(&g, "/oauth/token", &assertion, &named).await;
        assert_error(status, &body, 401, "invalid_client");
        assert!(s(&body["error_description"]).contains(says), "{says}: {body}");
    }
    // A legacy audience (the token endpoint URL) is accepted from an assertion without explicit typ.
    let legacy = with("aud", json!(format!("{}/oauth/token", g.issuer)));
    let (status, body) = with_assertion(&g, "/oauth/token", &sign(&es, None, &legacy), &CC).await;
    assert_eq!(status, 200, "{body}");
    let typed = with("aud", json!(format!("{}/oauth/token", g.issuer)));
    let (status, _) = with_assertion(
        &g,
        "/oauth/token",
        &sign(&es, Some("client-authentication+jwt"), &typed),
        &CC,
    )
    .await;
    assert_eq!(status, 401, "an explicitly typed assertion names the issuer");
    // A secret is no way in for a keyed client, nor an assertion for a secret client.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client.as_str()),
        ("client_secret", "x"),
    ];
    let res = post_form(&format!("{}/oauth/token", g.issuer), &form).await;
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_error(status, &body, 401, "invalid_client");
    assert!(s(&body["error_description"]).contains("private_key_jwt"), "{body}");
    let secret_client = service_client(&g, &[]);
    let mut theirs = claims(&g, &secret_client.id);
    theirs["jti"] = json!("x1");
    let (status, body) = with_assertion(&g, "/oauth/token", &sign(&es, None, &theirs), &CC).await;
    assert_error(status, &body, 401, "invalid_client");
}

#[tokio::test]
async fn the_legacy_audience_can_be_turned_off_per_client_and_for_the_server() {
    let legacy_aud = |g: &Gatehouse, client: &str| {
        let mut c = claims(g, client);
        c["aud"] = json!(format!("{}/oauth/token", g.issuer));
        c
    };
    let g = Gatehouse::start();
    let k = key(Algorithm::ES256, "k1");
    let lenient = keyed_client(&g, &[&k], &[]);
    let strict = keyed_client(&g, &[&k], &["--strict-assertion-audience"]);
    let (status, _) = with_assertion(&g, "/oauth/token", &sign(&k, None, &legacy_aud(&g, &lenient)), &CC).await;
    assert_eq!(status, 200);
    let (status, body) = with_assertion(&g, "/oauth/token", &sign(&k, None, &legacy_aud(&g, &strict)), &CC).await;
    assert_error(status, &body, 401, "invalid_client");
    assert!(s(&body["error_description"]).contains("aud"), "{body}");
    let (status, _) = with_assertion(&g, "/oauth/token", &sign(&k, None, &claims(&g, &strict)), &CC).await;
    assert_eq!(status, 200, "the issuer itself always works");
    let everywhere = Gatehouse::start_with(&g.store, &[("GATEHOUSE_STRICT_ASSERTION_AUDIENCE", "true")]);
    let (status, _) = with_assertion(
        &everywhere,
        "/oauth/token",
        &sign(&k, None, &legacy_aud(&everywhere, &lenient)),
        &CC,
    )
    .await;
    assert_eq!(status, 401, "the server setting covers every client");
}

#[tokio::test]
async fn one_assertion_raced_at_two_instances_succeeds_once() {
    let first = Gatehouse::start();
    let k = key(Algorithm::ES256, "k1");
    let client = keyed_client(&first, &[&k], &[]);
    let second = Gatehouse::start_with(&first.store, &[]);
    // Both instances are the same deployment: one issuer for the assertion's audience.
    let mut c = claims(&first, &client);
    c["aud"] = json!([first.issuer, second.issuer]);
    let assertion = sign(&k, None, &c);
    let (a, b) = tokio::join!(
        with_assertion(&first, "/oauth/token", &assertion, &CC),
        with_assertion(&second, "/oauth/token", &assertion, &CC),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401], "{a:?} {b:?}");
}

#[test]
fn a_jwks_file_with_a_private_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreEnv::fresh(dir.path());
    let mut k = key(Algorithm::ES256, "k1").jwk;
    k["d"] = json!("c2VjcmV0");
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, json!({ "keys": [k] }).to_string()).unwrap();
    let (ok, _, err) = cli_raw(
        &store,
        &[
            "client",
            "create",
            "--name",
            "x",
            "--token-endpoint-auth-method",
            "private_key_jwt",
            "--jwks-file",
            file.to_str().unwrap(),
            "--grant-type",
            "client_credentials",
        ],
        None,
    );
    assert!(!ok && err.contains("private or symmetric"), "{err}");
    let (ok, _, err) = cli_raw(
        &store,
        &[
            "client",
            "create",
            "--name",
            "x",
            "--token-endpoint-auth-method",
            "private_key_jwt",
            "--grant-type",
            "client_credentials",
        ],
        None,
    );
    assert!(!ok && err.contains("--jwks-file"), "{err}");
}

/// A loopback server for a client's JWKS: serves whatever `keys` holds, with `max-age=3600`, and
/// counts the requests.
struct JwksServer {
    url: String,
    keys: std::sync::Arc<std::sync::Mutex<Value>>,
    fetches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl JwksServer {
    async fn start(keys: &[&Key]) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let served = std::sync::Arc::new(std::sync::Mutex::new(jwks_of(keys)));
        let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (body, count) = (served.clone(), fetches.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (body, count) = (body.clone(), count.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 2048];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let text = body.lock().unwrap().to_string();
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/jwk-set+json\r\nCache-Control: max-age=3600\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        Self {
            url,
            keys: served,
            fetches,
        }
    }

    fn serve(&self, keys: &[&Key]) {
        *self.keys.lock().unwrap() = jwks_of(keys);
    }

    fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }
}

pub(crate) fn jwks_of(keys: &[&Key]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
}

/// A `private_key_jwt` client whose keys are at `uri`.
fn uri_client(g: &Gatehouse, uri: &str) -> String {
    let _ = cli_raw(&g.store, &["scope", "create", "--name", "api"], None);
    let created = g.cli(&[
        "client",
        "create",
        "--name",
        "Fetched",
        "--token-endpoint-auth-method",
        "private_key_jwt",
        "--jwks-uri",
        uri,
        "--grant-type",
        "client_credentials",
        "--scope",
        "api",
    ]);
    s(&created["client_id"])
}

#[tokio::test]
async fn keys_from_a_jwks_uri_are_cached_refetched_on_rotation_and_not_flooded() {
    let (k1, k2) = (key(Algorithm::ES256, "k1"), key(Algorithm::EdDSA, "k2"));
    let jwks = JwksServer::start(&[&k1]).await;
    // Without the failure limit, every one of the flood below reaches the key lookup.
    let g = Gatehouse::start_env(&[
        ("GATEHOUSE_OUTBOUND_ALLOW", "127.0.0.1"),
        ("GATEHOUSE_RATE_LIMIT_CLIENT_AUTH_FAILURES", "off"),
    ]);
    let client = uri_client(&g, &jwks.url);
    for _ in 0..3 {
        let (status, body) = with_assertion(&g, "/oauth/token", &sign(&k1, None, &claims(&g, &client)), &CC).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(jwks.fetches(), 1, "cached for its max-age");
    // The client rotates to a new key: the first assertion signed with it works.
    jwks.serve(&[&k2]);
    let (status, body) = with_assertion(&g, "/oauth/token", &sign(&k2, None, &claims(&g, &client)), &CC).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(jwks.fetches(), 2);
    // A flood of unknown kids, some at once, costs the client's server nothing more in the window.
    let strangers: Vec<Key> = (0..100)
        .map(|i| key(Algorithm::ES256, &format!("unknown-{i}")))
        .collect();
    let mut requests = tokio::task::JoinSet::new();
    for k in &strangers {
        let (url, assertion) = (format!("{}/oauth/token", g.issuer), sign(k, None, &claims(&g, &client)));
        requests.spawn(async move {
            let form = [
                ("grant_type", "client_credentials"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", assertion.as_str()),
            ];
            let res = post_form(&url, &form).await;
            (res.status().as_u16(), res.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    while let Some(done) = requests.join_next().await {
        let (status, body) = done.unwrap();
        assert_error(status, &body, 401, "invalid_client");
        assert!(s(&body["error_description"]).contains("kid unknown-"), "{body}");
    }
    assert_eq!(jwks.fetches(), 2, "at most one refetch per window");
    // The fetch is recorded off the request's path: wait for the last one.
    let mut shown = g.cli(&["client", "show", &client]);
    for _ in 0..50 {
        if shown["jwks_uri_last_fetch"]["key_ids"] == json!(["k2"]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        shown = g.cli(&["client", "show", &client]);
    }
    assert_eq!(shown["jwks_uri"], json!(jwks.url));
    assert_eq!(shown["jwks_uri_last_fetch"]["key_ids"], json!(["k2"]), "{shown}");
    assert_eq!(shown["jwks_uri_last_fetch"]["error"], Value::Null);
}

#[tokio::test]
async fn a_jwks_uri_inside_the_network_is_not_fetched_unless_allowed() {
    let k = key(Algorithm::ES256, "k1");
    let jwks = JwksServer::start(&[&k]).await;
    let g = Gatehouse::start();
    let client = uri_client(&g, &jwks.url);
    let (status, body) = with_assertion(&g, "/oauth/token", &sign(&k, None, &claims(&g, &client)), &CC).await;
    assert_error(status, &body, 401, "invalid_client");
    assert!(
        s(&body["error_description"]).contains("not one this server calls"),
        "{body}"
    );
    assert_eq!(jwks.fetches(), 0);
    // The fetch is recorded off the request's path: wait for it.
    let mut shown = g.cli(&["client", "show", &client]);
    for _ in 0..50 {
        if shown["jwks_uri_last_fetch"]["error"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        shown = g.cli(&["client", "show", &client]);
    }
    assert!(
        s(&shown["jwks_uri_last_fetch"]["error"]).contains("GATEHOUSE_OUTBOUND_ALLOW"),
        "{shown}"
    );
    // jwks_uri over plain http off loopback, and client_secret_jwt, are refused with the reason.
    let (ok, _, err) = cli_raw(
        &g.store,
        &[
            "client",
            "update",
            &client,
            "--jwks-uri",
            "http://keys.example.com/jwks",
        ],
        None,
    );
    assert!(!ok && err.contains("https"), "{err}");
    let (ok, _, err) = cli_raw(
        &g.store,
        &[
            "client",
            "create",
            "--name",
            "x",
            "--token-endpoint-auth-method",
            "client_secret_jwt",
            "--grant-type",
            "client_credentials",
        ],
        None,
    );
    assert!(!ok && err.contains("stores only hashes"), "{err}");
}
