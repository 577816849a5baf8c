//! Operations (issue 6): metrics scraped by a real Prometheus, truthful health, lockout shared by
//! instances, rate limits, trusted proxies, CORS, headers, size limits, graceful shutdown, config.

use crate::support::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

fn required_tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found && std::env::var_os("CI").is_some() {
        panic!("{name} is not installed; ./scripts/test installs it");
    }
    found
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn prometheus_scrapes_gatehouse_metrics_and_promtool_accepts_them() {
    if !required_tool("prometheus") || !required_tool("promtool") {
        return;
    }
    let g = Gatehouse::start();
    let client = g.alice_and_client("RS256");
    user_tokens(&g, &client, "openid", &[]).await;

    let exposition = http()
        .get(format!("{}/metrics", g.issuer))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "gatehouse_http_requests_total",
        "gatehouse_tokens_issued_total",
        "gatehouse_logins_total",
        "gatehouse_build_info",
        "process_resident_memory_bytes",
    ] {
        assert!(exposition.contains(name), "{name} missing");
    }
    assert!(!exposition.contains("alice"), "no usernames in labels");
    assert!(!exposition.contains(&client.id), "no client ids in labels");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    promtool.stdin.take().unwrap().write_all(exposition.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: gatehouse\n    static_configs:\n      - targets: ['{}']\n", g.addr()),
    )
    .unwrap();
    let mut prom = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let query = |q: &str| {
        format!(
            "http://127.0.0.1:{port}/api/v1/query?query={}",
            url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        )
    };
    let mut found = (false, false);
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(res) = http()
            .get(query(
                "gatehouse_tokens_issued_total{grant_type=\"authorization_code\"}",
            ))
            .send()
            .await
        else {
            continue;
        };
        let body: Value = res.json().await.unwrap_or(Value::Null);
        found.0 = body["data"]["result"].as_array().is_some_and(|r| !r.is_empty());
        let res = http()
            .get(query(
                "gatehouse_http_request_duration_seconds_bucket{route=\"/oauth/token\",method=\"POST\"}",
            ))
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        found.1 = body["data"]["result"].as_array().is_some_and(|r| !r.is_empty());
        if found == (true, true) {
            break;
        }
    }
    let _ = prom.kill();
    let _ = prom.wait();
    assert_eq!(
        found,
        (true, true),
        "Prometheus saw the tokens counter and the latency histogram with their labels"
    );
}

#[tokio::test]
async fn ready_and_detailed_health_tell_the_truth() {
    let g = Gatehouse::start();
    let ready = http().get(format!("{}/ready", g.issuer)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let res = get(&format!("{}/health/detailed", g.issuer)).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "healthy", "{body}");
    assert_eq!(body["store"]["reachable"], true);
    assert_eq!(body["store"]["migrations"]["pending"], serde_json::json!([]));
    assert!(body["signing_keys"]["active"]["RS256"].is_string());
    let text = body.to_string();
    assert!(
        !text.contains("password") && !text.contains("private"),
        "no secrets: {text}"
    );
}

#[tokio::test]
async fn lockout_is_shared_by_two_instances_and_unlock_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreEnv::fresh(dir.path());
    let a = Gatehouse::start_with(&store, &[]);
    let b = Gatehouse::start_with(&store, &[]);
    a.user("alice");
    let client = a.confidential_client("RS256", "client_secret_basic");
    for i in 0..5 {
        let r = login_attempt(&a, &Browser::new(), &client, "alice", "wrong-password").await;
        assert_eq!(r.status, 401, "attempt {i}");
    }
    // The right password on the other instance: still locked, and the page does not say whether
    // the password was right.
    let r = login_attempt(&b, &Browser::new(), &client, "alice", PASSWORD).await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("temporarily locked"), "{}", r.body);
    let (ok, _, err) = cli_raw(&store, &["user", "unlock", "alice"], None);
    assert!(ok, "{err}");
    let r = login_attempt(&b, &Browser::new(), &client, "alice", PASSWORD).await;
    assert_eq!(r.status, 303, "unlocked: {}", r.body);
}

#[tokio::test]
async fn failed_client_authentication_is_rate_limited_with_retry_after() {
    let g = Gatehouse::start_env(&[("GATEHOUSE_RATE_LIMIT_CLIENT_AUTH_FAILURES", "3/1m")]);
    let good = service_client(&g, &[]);
    let bad = TestClient {
        id: good.id.clone(),
        secret: Some("wrong".into()),
    };
    for _ in 0..3 {
        assert_eq!(token(&g, &bad, &[("grant_type", "client_credentials")]).await.0, 401);
    }
    let res = http()
        .post(format!("{}/oauth/token", g.issuer))
        .basic_auth(&bad.id, bad.secret.as_deref())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429, "the guesser waits out the window");
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "temporarily_unavailable");
    // A request whose credentials verify is never refused by the failure limiter, even from the
    // guesser's own address.
    assert_eq!(token(&g, &good, &[("grant_type", "client_credentials")]).await.0, 200);
}

#[tokio::test]
async fn defaults_never_throttle_legitimate_traffic() {
    let g = Gatehouse::start();
    let client = g.alice_and_client("RS256");
    let svc = service_client(&g, &[]);
    for _ in 0..300 {
        assert_eq!(token(&g, &svc, &[("grant_type", "client_credentials")]).await.0, 200);
    }
    assert_eq!(
        login_attempt(&g, &Browser::new(), &client, "alice", "wrong-password")
            .await
            .status,
        401
    );
    for _ in 0..50 {
        assert_eq!(
            login_attempt(&g, &Browser::new(), &client, "alice", PASSWORD)
                .await
                .status,
            303
        );
    }
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    for (trusted, second_limited) in [(None, true), (Some("127.0.0.1"), false)] {
        let dir = tempfile::tempdir().unwrap();
        let mut env = vec![
            ("GATEHOUSE_RATE_LIMIT_LOGIN_FAILURES", "1/1m"),
            ("GATEHOUSE_LOCKOUT", "off"),
        ];
        if let Some(t) = trusted {
            env.push(("GATEHOUSE_TRUSTED_PROXIES", t));
        }
        let g = Gatehouse::start_with(&StoreEnv::fresh(dir.path()), &env);
        let client = g.alice_and_client("RS256");
        let mut statuses = Vec::new();
        for forwarded in ["203.0.113.1", "203.0.113.2"] {
            let browser = Browser {
                http: openidconnect::reqwest::ClientBuilder::new()
                    .redirect(openidconnect::reqwest::redirect::Policy::none())
                    .cookie_store(true)
                    .default_headers(
                        std::iter::once(("x-forwarded-for".parse().unwrap(), forwarded.parse().unwrap())).collect(),
                    )
                    .build()
                    .unwrap(),
            };
            statuses.push(login_attempt(&g, &browser, &client, "alice", "wrong-password").await);
        }
        assert_eq!(statuses[0].status, 401);
        if second_limited {
            assert_eq!(
                statuses[1].status, 429,
                "an untrusted peer cannot pick its address with X-Forwarded-For"
            );
            assert!(statuses[1].retry_after.is_some());
        } else {
            assert_eq!(
                statuses[1].status, 401,
                "behind a trusted proxy each forwarded address has its own limit"
            );
        }
    }
}

#[tokio::test]
async fn cors_preflight_for_api_endpoints_only_from_configured_origins() {
    let g = Gatehouse::start_env(&[("GATEHOUSE_CORS_ORIGINS", "https://app.example.com")]);
    let preflight = |path: &str, origin: &str| {
        http()
            .request(openidconnect::reqwest::Method::OPTIONS, format!("{}{path}", g.issuer))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let ok = preflight("/oauth/token", "https://app.example.com").await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(ok.headers()["access-control-allow-origin"], "https://app.example.com");
    let evil = preflight("/oauth/token", "https://evil.example").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    let page = preflight("/login", "https://app.example.com").await.unwrap();
    assert!(
        page.headers().get("access-control-allow-origin").is_none(),
        "no CORS on HTML pages"
    );
    let jwks = get_with(
        &format!("{}/.well-known/jwks.json", g.issuer),
        "origin",
        "https://app.example.com",
    )
    .await;
    assert_eq!(jwks.headers()["access-control-allow-origin"], "https://app.example.com");
}

#[tokio::test]
async fn request_ids_hsts_and_oversized_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreEnv::fresh(dir.path());
    let port = free_port();
    let g = Gatehouse::start_with(
        &store,
        &[
            ("GATEHOUSE_BIND", &format!("127.0.0.1:{port}")),
            ("GATEHOUSE_ISSUER", &format!("https://127.0.0.1:{port}")),
        ],
    );
    let base = format!("http://127.0.0.1:{port}");
    let res = get_with(&format!("{base}/health"), "x-request-id", "abc-123").await;
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    assert!(
        res.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let res = get_with(&format!("{base}/health"), "x-request-id", "bad id with spaces").await;
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(!generated.contains(' ') && !generated.is_empty());
    let meta: Value = get_json(&format!("{base}/.well-known/openid-configuration")).await;
    assert_eq!(
        meta["issuer"],
        format!("https://127.0.0.1:{port}"),
        "URLs come from the configured issuer"
    );
    let big = vec![b'a'; 10 * 1024 * 1024];
    let started = std::time::Instant::now();
    let res = http()
        .post(format!("{base}/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await;
    match res {
        Ok(r) => assert_eq!(r.status(), 413),
        Err(e) => panic!("expected a 413, got {e}"),
    }
    assert!(started.elapsed() < Duration::from_secs(20), "answered, not hung");
    assert!(
        g.log().contains("\"request_id\":\"abc-123\""),
        "log lines carry the request id"
    );
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_complete_and_exits_zero() {
    let mut g = Gatehouse::start();
    let mut stream = std::net::TcpStream::connect(g.addr()).unwrap();
    let body = "grant_type=client_credentials&client_id=nobody";
    write!(
        stream,
        "POST /oauth/token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        g.addr(),
        body.len(),
        &body[..10]
    )
    .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    g.signal_term();
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(&body.as_bytes()[10..]).unwrap();
    let mut response = String::new();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = stream.read_to_string(&mut response);
    assert!(
        response.starts_with("HTTP/1.1 401"),
        "the in-flight request got its answer: {response:?}"
    );
    assert!(g.wait_exit(), "exit status 0 after a graceful shutdown");
    // New connections are refused once it has stopped.
    assert!(std::net::TcpStream::connect(g.addr()).is_err());
}

#[test]
fn config_file_is_validated_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gatehouse.toml");
    std::fs::write(&file, "bind = \"127.0.0.1:9999\"\ncode_ttl = \"30s\"\ndatabase_url = \"postgres://gh:s3cret@db.internal/gatehouse\"\n").unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.args(args)
            .env_remove("DATABASE_URL")
            .env("GATEHOUSE_DATA_DIR", dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = run(
        &["config", "check", "--json", "--config", file.to_str().unwrap()],
        &[("GATEHOUSE_CODE_TTL", "45s")],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let setting = |name: &str| {
        v["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["setting"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(setting("GATEHOUSE_BIND")["value"], "127.0.0.1:9999");
    assert!(
        setting("GATEHOUSE_BIND")["source"]
            .as_str()
            .unwrap()
            .starts_with("file")
    );
    assert_eq!(setting("GATEHOUSE_CODE_TTL")["value"], "45s", "the environment wins");
    assert_eq!(setting("GATEHOUSE_CODE_TTL")["source"], "env");
    assert_eq!(setting("GATEHOUSE_LOCKOUT")["source"], "default");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("s3cret"), "secrets are redacted");

    std::fs::write(&file, "bnid = \"127.0.0.1:9999\"\n").unwrap();
    let out = run(&["config", "check", "--config", file.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bnid") && err.contains("bind"), "{err}");
}

#[tokio::test]
async fn metrics_can_move_to_their_own_listener_or_be_restricted() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let g = Gatehouse::start_with(
        &StoreEnv::fresh(dir.path()),
        &[("GATEHOUSE_METRICS_BIND", &format!("127.0.0.1:{port}"))],
    );
    assert_eq!(
        get_status(&format!("{}/metrics", g.issuer)).await,
        404,
        "not on the public listener"
    );
    let res = http()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("gatehouse_build_info"));

    let g = Gatehouse::start_env(&[("GATEHOUSE_METRICS_ALLOW", "10.0.0.0/8")]);
    assert_eq!(
        get_status(&format!("{}/metrics", g.issuer)).await,
        403,
        "127.0.0.1 is not allowed"
    );
}

#[tokio::test]
async fn optional_token_request_limit_counts_every_request_per_client() {
    let g = Gatehouse::start_env(&[("GATEHOUSE_RATE_LIMIT_TOKEN", "2/1m")]);
    let svc = service_client(&g, &[]);
    for _ in 0..2 {
        assert_eq!(token(&g, &svc, &[("grant_type", "client_credentials")]).await.0, 200);
    }
    let (status, body) = token(&g, &svc, &[("grant_type", "client_credentials")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("temporarily_unavailable")),
        "{body}"
    );
}

// A generated client_id or a key's RFC 7638 kid is base64url and could start with `-`; the CLI
// read such an id as an unknown option (`client update -HtOA10A_zk7qB2v` failed one run in 64).
#[test]
fn ids_starting_with_a_dash_are_taken_as_ids_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreEnv::fresh(dir.path());
    cli_json(
        &store,
        &[
            "client",
            "create",
            "--name",
            "dash",
            "--grant-type",
            "client_credentials",
            "--client-id=-dash-1",
        ],
    );
    let updated = cli_json(&store, &["client", "update", "-dash-1", "--scope", "openid"]);
    assert_eq!(updated["scope"], "openid", "{updated}");
    let (ok, out, err) = cli_raw(&store, &["client", "show", "--json", "-dash-1"], None);
    assert!(ok, "{err}");
    assert!(out.contains(r#""client_id":"-dash-1""#), "{out}");
    let (ok, _, err) = cli_raw(&store, &["keys", "retire", "-no-such-kid", "--now"], None);
    assert!(!ok && err.contains("no key with kid -no-such-kid"), "{err}");
    for _ in 0..64 {
        let v = cli_json(
            &store,
            &[
                "client",
                "create",
                "--name",
                "gen",
                "--grant-type",
                "client_credentials",
            ],
        );
        assert!(!v["client_id"].as_str().unwrap().starts_with('-'), "{v}");
    }
}

#[tokio::test]
async fn under_load_sigterm_loses_no_access_line_and_no_audit_event() {
    let mut g = Gatehouse::start();
    let client = service_client(&g, &[]);
    let url = format!("{}/oauth/token", g.issuer);
    // Clients that keep sending until the server goes away; each request names its own id.
    let mut senders = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let (url, id_of_client, secret) = (url.clone(), client.id.clone(), client.secret.clone());
        senders.spawn(async move {
            let mut answered = Vec::new();
            for n in 0..10_000 {
                let id = format!("load-{worker}-{n}");
                let res = http()
                    .post(&url)
                    .basic_auth(&id_of_client, secret.as_ref())
                    .header("X-Request-Id", &id)
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status() == 200 => answered.push(id),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            answered
        });
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    g.signal_term();
    let mut answered = Vec::new();
    while let Some(done) = senders.join_next().await {
        answered.extend(done.unwrap());
    }
    assert!(g.wait_exit(), "exit status 0 after a graceful shutdown");
    assert!(answered.len() > 100, "the load ran: {} answered", answered.len());
    let log = g.log();
    let access: std::collections::HashSet<&str> = log
        .lines()
        .filter(|l| l.contains("\"target\":\"gatehouse::access\""))
        .filter_map(|l| l.split("\"request_id\":\"").nth(1)?.split('"').next())
        .collect();
    let missing: Vec<&String> = answered.iter().filter(|id| !access.contains(id.as_str())).collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered requests have no access line, e.g. {:?}",
        missing.len(),
        answered.len(),
        missing.first()
    );
    let issued = log
        .lines()
        .filter(|l| l.contains("\"event\":\"token.issued\"") && l.contains("load-"))
        .count();
    assert!(
        issued >= answered.len(),
        "{issued} audit events for {} tokens",
        answered.len()
    );
}
