//! A real browser on the real pages: headless Chromium driven over WebDriver (ChromeDriver,
//! `fantoccini`), signing in and consenting by keyboard alone, and axe-core checking the login,
//! consent and error pages for serious or critical accessibility violations.
//!
//! Chromium, ChromeDriver and axe-core come from `scripts/browser-deps` (which `./scripts/test`
//! runs); without them these tests fail, saying so. Paths: `GATEHOUSE_TEST_CHROMIUM` (default
//! `/usr/bin/chromium`), `GATEHOUSE_TEST_CHROMEDRIVER` (default `/usr/bin/chromedriver`),
//! `GATEHOUSE_TEST_AXE` (default: where `scripts/browser-deps` installs it, [`AXE_VERSION`]).
//!
//! [`Chromium`] and [`axe_serious`] are meant for other page tests too.

use crate::support::*;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The axe-core `scripts/browser-deps` installs (keep the two in step).
pub const AXE_VERSION: &str = "4.14.1";

const INSTALL_HINT: &str = "run scripts/browser-deps (or ./scripts/test, which runs it) to install Chromium, \
                            ChromeDriver and axe-core";

fn tool(var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(path.is_file(), "{} not found ({var}); {INSTALL_HINT}", path.display());
    path
}

/// The path of `axe.min.js`: `GATEHOUSE_TEST_AXE`, or where `scripts/browser-deps` puts it.
pub fn axe_path() -> PathBuf {
    let default = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/browser-deps")
        .join(format!("axe-core-{AXE_VERSION}"))
        .join("node_modules/axe-core/axe.min.js");
    tool("GATEHOUSE_TEST_AXE", default.to_str().unwrap())
}

/// A headless Chromium session (a fresh temporary profile) behind its own ChromeDriver on a free
/// loopback port; it derefs to the WebDriver [`Client`]. Dropping it, also after a failed
/// assertion, closes the browser and kills ChromeDriver; [`Chromium::quit`] ends the session
/// first through the client.
pub struct Chromium {
    client: Client,
    driver: Child,
    port: u16,
    session: String,
    profile: tempfile::TempDir,
}

impl std::ops::Deref for Chromium {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Chromium {
    /// Starts ChromeDriver, waits until it answers, and opens a headless session.
    pub async fn start() -> Self {
        let chromium = tool("GATEHOUSE_TEST_CHROMIUM", "/usr/bin/chromium");
        let chromedriver = tool("GATEHOUSE_TEST_CHROMEDRIVER", "/usr/bin/chromedriver");
        let port = crate::ops::free_port();
        let profile = tempfile::tempdir().unwrap();
        let log = profile.path().join("chromedriver.log");
        let mut driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}; {INSTALL_HINT}", chromedriver.display()));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(res) = http().get(format!("{url}/status")).send().await
                && res.json::<Value>().await.is_ok_and(|v| v["value"]["ready"] == true)
            {
                break;
            }
            if let Some(status) = driver.try_wait().unwrap() {
                panic!(
                    "chromedriver exited ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "chromedriver did not answer on {url}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--disable-breakpad",
                    "--disable-crash-reporter",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().join("profile").display()),
                ],
            },
        });
        let client = ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.as_object().unwrap().clone())
            .connect(&url)
            .await
            .unwrap_or_else(|e| {
                let _ = driver.kill();
                panic!(
                    "no Chromium session ({e}); chromedriver log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        let session = client.session_id().await.unwrap().expect("a session id");
        Self {
            client,
            driver,
            port,
            session,
            profile,
        }
    }

    /// Ends the session (closing the browser), then drops ChromeDriver.
    pub async fn quit(self) {
        let _ = self.client.clone().close().await;
    }

    /// Waits until the current URL satisfies `done` (a navigation started by a key press, say)
    /// and returns it.
    pub async fn wait_for_url(&self, what: &str, done: impl Fn(&url::Url) -> bool) -> url::Url {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let url = self.current_url().await.unwrap();
            if done(&url) {
                return url;
            }
            assert!(Instant::now() < deadline, "waited for {what}; still at {url}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Presses keys on whatever has the focus, as a user would (WebDriver key actions); each
    /// `char` is one key, [`Key`] values included.
    pub async fn keys(&self, keys: &str) {
        let mut actions = KeyActions::new("keyboard".into());
        for c in keys.chars() {
            actions = actions
                .then(KeyAction::Down { value: c })
                .then(KeyAction::Up { value: c });
        }
        self.perform_actions(actions).await.unwrap();
    }

    /// The focused element: `tag#id`, or `tag[name=value]` when it has no id (e.g.
    /// `input#username`, `button[decision=allow]`).
    pub async fn focused(&self) -> String {
        let el = self.active_element().await.unwrap();
        let tag = el.tag_name().await.unwrap().to_lowercase();
        if let Some(id) = el.attr("id").await.unwrap().filter(|i| !i.is_empty()) {
            return format!("{tag}#{id}");
        }
        match (el.attr("name").await.unwrap(), el.attr("value").await.unwrap()) {
            (Some(n), Some(v)) => format!("{tag}[{n}={v}]"),
            _ => tag,
        }
    }
}

impl Drop for Chromium {
    /// Also when a test panicked before [`Chromium::quit`]: the session is deleted (the driver
    /// closes the browser), the browser killed should it still run, then the driver.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        if let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                conn,
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session, self.port
            );
            // One read: the answer comes once the browser is closed (the driver may keep the
            // connection open after it).
            let _ = conn.read(&mut [0u8; 4096]);
        }
        // Should the browser outlive that, its pid is in the profile's lock, `SingletonLock ->
        // host-pid`. Single pids only: no process-group kill (one coincided with
        // unrelated processes of the machine dying, in development).
        let browser = std::fs::read_link(self.profile.path().join("profile/SingletonLock"))
            .ok()
            .and_then(|l| l.to_str()?.rsplit('-').next()?.parse::<u32>().ok())
            // Still the browser (not a process that reused a dead browser's pid).
            .filter(|&pid| {
                pid > 1 && std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with("chrom"))
            });
        if let Some(pid) = browser {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Runs axe-core on the current page and returns its serious and critical violations, one line
/// each: `rule (impact): help [targets]`. Panics when axe cannot be injected or did not run.
///
/// axe is injected with WebDriver's Execute Script, which Chromium evaluates over DevTools: the
/// page's CSP (`default-src 'none'`, no script at all) does not apply to it, so the real page is
/// checked as served.
pub async fn axe_serious(client: &Client) -> Vec<String> {
    let source = std::fs::read_to_string(axe_path()).unwrap();
    client
        .execute(&format!("{source}\n;return null;"), vec![])
        .await
        .unwrap_or_else(|e| panic!("injecting axe-core: {e}"));
    let result = client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            if (typeof axe === "undefined") { done({ error: "axe did not load" }); return; }
            axe.run(document, { resultTypes: ["violations"] })
                .then(r => done({
                    version: r.testEngine.version,
                    passes: r.passes.length,
                    violations: r.violations.map(v => ({
                        id: v.id,
                        impact: v.impact,
                        help: v.help,
                        targets: v.nodes.map(n => n.target.join(" ")),
                    })),
                }))
                .catch(e => done({ error: String(e) }));"#,
            vec![],
        )
        .await
        .unwrap_or_else(|e| panic!("running axe-core: {e}"));
    assert!(result["error"].is_null(), "axe-core failed: {}", result["error"]);
    assert_eq!(result["version"], AXE_VERSION, "axe-core ran: {result}");
    assert!(
        result["passes"].as_u64().unwrap() > 0,
        "axe-core checked nothing: {result}"
    );
    result["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(|v| {
            format!(
                "{} ({}): {} {}",
                s(&v["id"]),
                s(&v["impact"]),
                s(&v["help"]),
                v["targets"]
            )
        })
        .collect()
}

/// Asserts axe-core finds no serious or critical violation on the current page.
async fn assert_accessible(browser: &Chromium, page: &str) {
    let violations = axe_serious(browser).await;
    assert!(
        violations.is_empty(),
        "{page} ({}): {} serious/critical accessibility violations:\n{}",
        browser.current_url().await.unwrap(),
        violations.len(),
        violations.join("\n")
    );
}

/// Presses Tab (at most five times) until `target` has the focus; panics if it never does.
async fn tab_to(browser: &Chromium, target: &str) {
    for _ in 0..5 {
        if browser.focused().await == target {
            return;
        }
        browser.keys(&char::from(Key::Tab).to_string()).await;
    }
    assert_eq!(browser.focused().await, target, "Tab reaches {target}");
}

/// Waits (up to 10 s) for a page whose title starts with `prefix`.
async fn wait_for_title(browser: &Chromium, prefix: &str) {
    for _ in 0..100 {
        if title(browser).await.starts_with(prefix) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected a page titled {prefix}..., got {}", title(browser).await);
}

/// The page's `<title>`.
async fn title(browser: &Chromium) -> String {
    browser.title().await.unwrap()
}

/// Signs alice in and consents by keyboard alone (see the test below), checking the login and
/// consent pages with axe on the way; returns the redirect to the client.
async fn keyboard_sign_in(browser: &Chromium, g: &Gatehouse, client: &TestClient) -> url::Url {
    let (_, challenge) = pkce();
    browser
        .goto(&auth_url(
            &g.issuer,
            &client.id,
            "openid profile email",
            &challenge,
            &[],
        ))
        .await
        .unwrap();
    let login = browser.current_url().await.unwrap();
    assert_eq!(login.path(), "/login", "{login}");
    assert!(title(browser).await.starts_with("Sign in"), "{}", title(browser).await);
    assert_accessible(browser, "login page").await;

    // The username field has autofocus; should the browser not honour it, Tab must get there.
    tab_to(browser, "input#username").await;
    browser.keys("alice").await;
    browser.keys(&char::from(Key::Tab).to_string()).await;
    assert_eq!(browser.focused().await, "input#password", "Tab moves to the password");
    browser.keys(PASSWORD).await;
    browser.keys(&char::from(Key::Enter).to_string()).await;

    let consent = browser
        .wait_for_url("the consent page", |u| u.path() == "/consent")
        .await;
    assert!(title(browser).await.starts_with("Allow access"), "{consent}");
    assert_accessible(browser, "consent page").await;
    browser.keys(&char::from(Key::Tab).to_string()).await;
    assert_eq!(
        browser.focused().await,
        "button[decision=allow]",
        "the first Tab on the consent page reaches Allow"
    );
    browser.keys(&char::from(Key::Enter).to_string()).await;

    // Nothing listens at the redirect URI; the URL is what matters.
    browser
        .wait_for_url("the redirect to the client", |u| u.as_str().starts_with(REDIRECT))
        .await
}

/// Alice signs in and consents with the keyboard alone: focus starts in (or Tab reaches) the
/// username field, Tab moves to the password, Enter submits; on the consent page Tab reaches Allow
/// and Enter presses it. The browser ends at the client's redirect URI with a code and the state.
/// On the way, axe-core checks the login and consent pages.
#[tokio::test]
async fn keyboard_sign_in_and_consent_reach_the_client_with_a_code() {
    let started = Instant::now();
    let g = Gatehouse::start();
    let client = g.alice_and_client("ES256");
    let browser = Chromium::start().await;
    let back = keyboard_sign_in(&browser, &g, &client).await;
    let code = query(&back, "code").unwrap_or_else(|| panic!("no code: {back}"));
    assert!(code.len() >= 43, "{back}");
    assert_eq!(query(&back, "state").as_deref(), Some("st4te"), "{back}");
    browser.quit().await;
    eprintln!("keyboard sign-in in a real browser: {:?}", started.elapsed());
}

/// An error page (an unknown interaction) has no serious or critical accessibility violation.
#[tokio::test]
async fn error_page_passes_axe() {
    let g = Gatehouse::start();
    let browser = Chromium::start().await;
    browser
        .goto(&format!("{}/login?interaction=bogus", g.issuer))
        .await
        .unwrap();
    let html = browser.source().await.unwrap();
    assert!(html.contains("role=\"alert\""), "an error page: {html}");
    assert_accessible(&browser, "error page").await;
    browser.quit().await;
}

/// The checker can fail: on a page with an unlabelled input, an image without alt text and no
/// document language, axe-core reports serious or critical violations.
#[tokio::test]
async fn axe_reports_violations_on_a_deliberately_bad_page() {
    let browser = Chromium::start().await;
    browser
        .goto(
            "data:text/html,<html><head><title>bad</title></head><body><img src=x.png><input type=text></body></html>",
        )
        .await
        .unwrap();
    let violations = axe_serious(&browser).await;
    eprintln!("violations on the deliberately bad page:\n{}", violations.join("\n"));
    for rule in ["image-alt", "label", "html-has-lang"] {
        assert!(
            violations.iter().any(|v| v.starts_with(&format!("{rule} "))),
            "{rule} not reported: {violations:?}"
        );
    }
    browser.quit().await;
}

/// Alice, signed in in a real browser, signs out at `/oauth/logout` through the confirmation page
/// by keyboard alone (Tab reaches "Sign out", Enter presses it); axe-core checks the confirmation
/// and the signed-out pages; afterwards single sign-on is over (`prompt=none` gets
/// `login_required`).
#[tokio::test]
async fn keyboard_sign_out_through_the_confirmation_page() {
    let g = Gatehouse::start();
    let client = g.alice_and_client("ES256");
    let browser = Chromium::start().await;
    keyboard_sign_in(&browser, &g, &client).await;
    browser.goto(&format!("{}/oauth/logout", g.issuer)).await.unwrap();
    assert!(
        title(&browser).await.starts_with("Sign out"),
        "{}",
        title(&browser).await
    );
    assert_accessible(&browser, "logout confirmation page").await;
    tab_to(&browser, "button[confirm=yes]").await;
    browser.keys(&char::from(Key::Enter).to_string()).await;
    wait_for_title(&browser, "Signed out").await;
    assert_accessible(&browser, "signed-out page").await;
    let (_, challenge) = pkce();
    browser
        .goto(&auth_url(
            &g.issuer,
            &client.id,
            "openid",
            &challenge,
            &[("prompt", "none")],
        ))
        .await
        .unwrap();
    let back = browser
        .wait_for_url("the redirect to the client", |u| u.as_str().starts_with(REDIRECT))
        .await;
    assert_eq!(query(&back, "error").as_deref(), Some("login_required"), "{back}");
    browser.quit().await;
}

/// A device's code approved on the real `/device` pages by keyboard alone: the code form, the
/// login form, the confirmation (Tab reaches Allow) and the done page, each checked by axe-core;
/// then the device collects its tokens.
#[tokio::test]
async fn keyboard_device_approval_through_the_pages() {
    let g = Gatehouse::start();
    g.user("alice");
    let tv = TestClient::created(&g.cli(&[
        "client",
        "create",
        "--name",
        "TV",
        "--public",
        "--grant-type",
        "urn:ietf:params:oauth:grant-type:device_code",
        "--scope",
        "openid",
    ]));
    let (status, codes) = post_authenticated(&g, "/oauth/device_authorization", &tv, &[]).await;
    assert_eq!(status, 200, "{codes}");
    let browser = Chromium::start().await;
    browser.goto(&format!("{}/device", g.issuer)).await.unwrap();
    wait_for_title(&browser, "Connect a device").await;
    assert_accessible(&browser, "device code page").await;
    tab_to(&browser, "input#user_code").await;
    browser.keys(&s(&codes["user_code"]).to_lowercase()).await;
    browser.keys(&char::from(Key::Enter).to_string()).await;
    wait_for_title(&browser, "Sign in").await;
    assert_accessible(&browser, "device login page").await;
    tab_to(&browser, "input#username").await;
    browser.keys("alice").await;
    browser.keys(&char::from(Key::Tab).to_string()).await;
    browser.keys(PASSWORD).await;
    browser.keys(&char::from(Key::Enter).to_string()).await;
    wait_for_title(&browser, "Allow a device").await;
    assert_accessible(&browser, "device confirmation page").await;
    tab_to(&browser, "button[decision=allow]").await;
    browser.keys(&char::from(Key::Enter).to_string()).await;
    wait_for_title(&browser, "Device connected").await;
    assert_accessible(&browser, "device done page").await;
    browser.quit().await;
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", codes["device_code"].as_str().unwrap()),
    ];
    let (status, tokens) = token(&g, &tv, &form).await;
    assert_eq!(status, 200, "{tokens}");
}
