//! Client ID Metadata Documents: a client whose `client_id` is the https URL of its metadata,
//! served here by a real TLS server whose throwaway certificate authority the server trusts
//! through `GATEHOUSE_OUTBOUND_CA_FILE`; and the URLs that must never be fetched.

use crate::support::*;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A web client's redirect URI: a native app's (loopback) would be confirmed every time (RFC 8252
/// section 8.6), whatever was remembered.
const TOOL_REDIRECT: &str = "https://tool.example/cb";

/// What the document server answers: status, extra header lines, body.
#[derive(Clone)]
struct Answer {
    status: u16,
    headers: String,
    body: String,
}

/// An https server on 127.0.0.1 with a certificate for `localhost` from its own CA.
struct DocServer {
    port: u16,
    ca_file: std::path::PathBuf,
    answer: Arc<Mutex<Answer>>,
    hits: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

impl DocServer {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        let acceptor = test_tls("localhost", (2099, 1, 1), &ca_file);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let answer = Arc::new(Mutex::new(Answer {
            status: 404,
            headers: String::new(),
            body: String::new(),
        }));
        let hits = Arc::new(AtomicUsize::new(0));
        let (a, h) = (Arc::clone(&answer), Arc::clone(&hits));
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, a, h) = (acceptor.clone(), Arc::clone(&a), Arc::clone(&h));
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    let answer = a.lock().unwrap().clone();
                    let response = format!(
                        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n{}",
                        answer.status,
                        answer.body.len(),
                        answer.headers,
                        answer.body
                    );
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self {
            port,
            ca_file,
            answer,
            hits,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    fn serve(&self, status: u16, headers: &str, body: String) {
        *self.answer.lock().unwrap() = Answer {
            status,
            headers: headers.to_owned(),
            body,
        };
    }

    fn serve_document(&self, path: &str, name: &str) {
        let doc = json!({
            "client_id": self.url(path),
            "client_name": name,
            "redirect_uris": [TOOL_REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        });
        self.serve(200, "Cache-Control: max-age=3600\r\n", doc.to_string());
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GATEHOUSE_CLIENT_ID_METADATA", "on".into()),
            ("GATEHOUSE_REGISTRATION_OUTBOUND_ALLOW", "localhost".into()),
            ("GATEHOUSE_OUTBOUND_CA_FILE", self.ca_file.display().to_string()),
        ]
    }
}

fn start(store: &StoreEnv, env: &[(&'static str, String)]) -> Gatehouse {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Gatehouse::start_with(store, &env)
}

/// A server on a store of its own (a failed fetch is remembered by the instance for a while).
fn fresh(env: &[(&'static str, String)]) -> Gatehouse {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Gatehouse::start_env(&env)
}

/// Follows an authorization as alice; where the browser lands after login (consent or client).
async fn after_login(g: &Gatehouse, browser: &Browser, client_id: &str, challenge: &str) -> String {
    let next = browser.follow(&tool_auth_url(g, client_id, challenge)).await;
    if !next.starts_with(&format!("{}/login", g.issuer)) {
        return next;
    }
    let res = browser.submit_login(&g.issuer, &next, "alice", PASSWORD).await;
    assert_eq!(res.status(), 303);
    location(&res)
}

fn tool_auth_url(g: &Gatehouse, client_id: &str, challenge: &str) -> String {
    auth_url_to(&g.issuer, client_id, TOOL_REDIRECT, "openid", challenge, &[])
}

#[tokio::test]
async fn a_client_described_by_its_document_signs_a_user_in_and_a_changed_document_asks_again() {
    let docs = DocServer::start().await;
    let id = docs.url("/oauth/client.json");
    docs.serve_document("/oauth/client.json", "Research Tool");
    let dir = tempfile::tempdir().unwrap();
    let store = StoreEnv::fresh(dir.path());
    let g = start(&store, &docs.env());
    g.user("alice");
    let discovery: Value = get_json(&format!("{}/.well-known/openid-configuration", g.issuer)).await;
    assert_eq!(discovery["client_id_metadata_document_supported"], true);

    let browser = Browser::new();
    let (verifier, challenge) = pkce();
    let consent = after_login(&g, &browser, &id, &challenge).await;
    assert!(consent.starts_with(&format!("{}/consent", g.issuer)), "{consent}");
    let (_, html) = browser.page(&consent).await;
    assert!(
        html.contains("An application at localhost") && html.contains("Research Tool"),
        "{html}"
    );
    let back = url::Url::parse(&browser.consent(&g.issuer, &consent, "allow").await).unwrap();
    let code = query(&back, "code").expect("a code");
    let public = TestClient {
        id: id.clone(),
        secret: None,
    };
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", TOOL_REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, tokens) = token(&g, &public, &form).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(jwt_claims(tokens["id_token"].as_str().unwrap())["aud"], id.as_str());
    assert_eq!(docs.hits.load(Ordering::SeqCst), 1, "fetched once, then cached");

    // Consent is remembered while the document stays the same...
    let (_, challenge) = pkce();
    let back = browser.follow(&tool_auth_url(&g, &id, &challenge)).await;
    assert!(back.starts_with(TOOL_REDIRECT), "{back}");
    let listed = g.cli(&["client", "list", "--dynamic"]);
    assert_eq!(listed[0]["origin"], "metadata_document");

    // ...and asked again once the document names the client differently.
    docs.serve_document("/oauth/client.json", "Research Tool 2");
    let store = g.stop();
    let g = start(&store, &docs.env());
    let (_, challenge) = pkce();
    let next = browser.follow(&tool_auth_url(&g, &id, &challenge)).await;
    assert!(
        next.starts_with(&format!("{}/consent", g.issuer)),
        "consent asked again: {next}"
    );
    let (_, html) = browser.page(&next).await;
    assert!(html.contains("Research Tool 2"), "{html}");
}

#[tokio::test]
async fn a_document_that_does_not_name_itself_or_breaks_a_rule_is_refused() {
    let docs = DocServer::start().await;
    let id = docs.url("/client.json");
    let cases = [
        json!({"client_id": docs.url("/other.json"), "redirect_uris": [REDIRECT]}),
        json!({"client_id": id, "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_basic"}),
        json!({"client_id": id}),
    ];
    for doc in cases {
        docs.serve(200, "", doc.to_string());
        let g = fresh(&docs.env());
        let (_, challenge) = pkce();
        let (status, html) = Browser::new()
            .page(&auth_url(&g.issuer, &id, "openid", &challenge, &[]))
            .await;
        assert_eq!(status, 400, "{doc}: {html}");
        assert!(html.contains("cannot be used"), "{html}");
    }
    // Larger than 5 KiB.
    docs.serve(
        200,
        "",
        format!("{{\"client_id\": \"{id}\", \"pad\": \"{}\"}}", "x".repeat(6000)),
    );
    let g = fresh(&docs.env());
    let (_, challenge) = pkce();
    let (status, html) = Browser::new()
        .page(&auth_url(&g.issuer, &id, "openid", &challenge, &[]))
        .await;
    assert_eq!(status, 400);
    assert!(html.contains("larger than 5 KiB"), "{html}");
}

#[tokio::test]
async fn document_urls_inside_the_network_or_redirecting_are_never_followed() {
    let docs = DocServer::start().await;
    let inside = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    inside.set_nonblocking(true).unwrap();
    let port = inside.local_addr().unwrap().port();
    // Only localhost is allowed: the same server reached by its address is refused, as are
    // link-local metadata services and private ranges.
    let g = fresh(&docs.env());
    for id in [
        format!("https://127.0.0.1:{port}/client.json"),
        "https://169.254.169.254/latest/client.json".to_owned(),
        "https://10.0.0.7/client.json".to_owned(),
    ] {
        let (_, challenge) = pkce();
        let (status, html) = Browser::new()
            .page(&auth_url(&g.issuer, &id, "openid", &challenge, &[]))
            .await;
        assert_eq!(status, 400, "{id}: {html}");
        assert!(html.contains("internal address"), "{html}");
    }
    // A document server that redirects inside is not followed.
    docs.serve(
        302,
        &format!("Location: http://127.0.0.1:{port}/client.json\r\n"),
        String::new(),
    );
    let id = docs.url("/client.json");
    let (_, challenge) = pkce();
    let (status, html) = Browser::new()
        .page(&auth_url(&g.issuer, &id, "openid", &challenge, &[]))
        .await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("did not answer 200"), "{html}");
    assert!(
        matches!(inside.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "nothing may connect inside"
    );
    assert!(g.cli(&["client", "list", "--dynamic"]).as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_operators_outbound_allow_list_does_not_open_the_network_to_documents() {
    let docs = DocServer::start().await;
    docs.serve_document("/client.json", "Tool");
    let env = vec![
        ("GATEHOUSE_CLIENT_ID_METADATA", "on".to_owned()),
        ("GATEHOUSE_OUTBOUND_ALLOW", "localhost".to_owned()),
        ("GATEHOUSE_OUTBOUND_CA_FILE", docs.ca_file.display().to_string()),
    ];
    let g = fresh(&env);
    let (_, challenge) = pkce();
    let (status, html) = Browser::new()
        .page(&tool_auth_url(&g, &docs.url("/client.json"), &challenge))
        .await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("internal address"), "{html}");
    assert_eq!(
        docs.hits.load(Ordering::SeqCst),
        0,
        "no request reached the document server"
    );
}

#[tokio::test]
async fn an_operator_client_whose_id_is_an_https_url_stays_the_operators() {
    let docs = DocServer::start().await;
    let g = fresh(&docs.env());
    g.user("alice");
    // No path, so not a valid document URL, and no document is served: the store's client wins.
    let id = "https://partner.example";
    g.cli(&[
        "client",
        "create",
        "--name",
        "Partner",
        "--client-id",
        id,
        "--redirect-uri",
        TOOL_REDIRECT,
        "--public",
    ]);
    let browser = Browser::new();
    let (_, challenge) = pkce();
    let next = after_login(&g, &browser, id, &challenge).await;
    assert!(next.starts_with(&format!("{}/consent", g.issuer)), "{next}");
    let (_, html) = browser.page(&next).await;
    assert!(
        html.contains("<h1>Partner wants to</h1>") && !html.contains("says it is"),
        "{html}"
    );
    assert_eq!(docs.hits.load(Ordering::SeqCst), 0);
}
