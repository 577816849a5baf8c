//! Booting the binary, running its CLI, and a cookie-keeping "browser" that posts the forms.

use openidconnect::reqwest;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const PASSWORD: &str = "correct-horse-battery";

/// Where a server and its CLI keep state: a data directory, and a PostgreSQL URL when the suite
/// runs against PostgreSQL (`GATEHOUSE_TEST_BACKEND=postgres`, set by `./scripts/test`).
#[derive(Clone)]
pub struct StoreEnv {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
}

impl StoreEnv {
    /// The store for a new server: a fresh schema on PostgreSQL, or the data directory alone.
    pub fn fresh(data_dir: &Path) -> Self {
        private_dir(data_dir);
        let database_url = (std::env::var("GATEHOUSE_TEST_BACKEND").as_deref() == Ok("postgres")).then(|| {
            let url = std::env::var("GATEHOUSE_TEST_PG_URL").expect("GATEHOUSE_TEST_PG_URL for the postgres backend");
            fresh_schema(&url)
        });
        Self {
            data_dir: data_dir.to_path_buf(),
            database_url,
        }
    }

    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("GATEHOUSE_DATA_DIR", &self.data_dir);
        match &self.database_url {
            Some(url) => cmd.env("DATABASE_URL", url),
            None => cmd.env_remove("DATABASE_URL"),
        };
    }
}

/// A URL whose connections use a new, empty schema of the cluster at `url`.
pub fn fresh_schema(url: &str) -> String {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    let schema = format!("e2e_{}", u64::from_le_bytes(bytes));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url_owned = url.to_owned();
    let schema_owned = schema.clone();
    std::thread::spawn(move || {
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url_owned, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            client
                .batch_execute(&format!("CREATE SCHEMA {schema_owned}"))
                .await
                .unwrap();
        });
    })
    .join()
    .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// Creates `dir` as the server would: private to this user (the server refuses a data directory
/// other users can read).
pub fn private_dir(dir: &Path) {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if dir.exists() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    } else {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .unwrap();
    }
}

/// A running `gatehouse serve`, killed on drop.
pub struct Gatehouse {
    child: Child,
    pub issuer: String,
    pub data_dir: PathBuf,
    pub store: StoreEnv,
    _dir: Option<tempfile::TempDir>,
}

impl Gatehouse {
    /// Starts a server on a fresh data directory.
    pub fn start() -> Self {
        Self::start_env(&[])
    }

    /// Starts a server on a fresh data directory with extra environment.
    pub fn start_env(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut g = Self::start_with(&StoreEnv::fresh(dir.path()), env);
        g._dir = Some(dir);
        g
    }

    /// Starts a server on `store` with extra environment.
    pub fn start_with(store: &StoreEnv, env: &[(&str, &str)]) -> Self {
        let data_dir = store.data_dir.as_path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("server.log").as_path());
        private_dir(data_dir);
        let log = log.unwrap_or_else(|_| std::fs::File::create(data_dir.join("server.log")).unwrap());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GATEHOUSE_BIND", "127.0.0.1:0")
            .env("GATEHOUSE_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        store.apply(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn gatehouse");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("issuer:") {
                    let _ = tx.send(rest.trim().to_owned());
                }
            }
        });
        let issuer = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            let _ = child.kill();
            let log = std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default();
            panic!("gatehouse did not start; log:\n{log}")
        });
        Self {
            child,
            issuer,
            data_dir: data_dir.to_path_buf(),
            store: store.clone(),
            _dir: None,
        }
    }

    /// Stops the server (SIGKILL; the store is durable per commit).
    pub fn stop(mut self) -> StoreEnv {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.store.clone()
    }

    /// Sends SIGTERM without waiting.
    pub fn signal_term(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Waits for the process to exit; whether it exited with status 0.
    pub fn wait_exit(&mut self) -> bool {
        self.child.wait().is_ok_and(|s| s.success())
    }

    /// The `host:port` the server listens on.
    pub fn addr(&self) -> String {
        self.issuer
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_owned()
    }

    /// Runs `gatehouse ARGS --json` on this server's store and returns the parsed output.
    pub fn cli(&self, args: &[&str]) -> Value {
        cli_json(&self.store, args)
    }

    /// A confidential client with `alg` and the given auth method.
    pub fn confidential_client(&self, alg: &str, auth_method: &str) -> TestClient {
        let v = self.cli(&[
            "client",
            "create",
            "--name",
            "Test App",
            "--redirect-uri",
            REDIRECT,
            "--id-token-alg",
            alg,
            "--token-endpoint-auth-method",
            auth_method,
            "--scope",
            "openid profile email offline_access",
        ]);
        TestClient {
            id: s(&v["client_id"]),
            secret: Some(s(&v["client_secret"])),
        }
    }

    /// A public client with `alg`.
    pub fn public_client(&self, alg: &str) -> TestClient {
        let v = self.cli(&[
            "client",
            "create",
            "--name",
            "Public App",
            "--public",
            "--redirect-uri",
            REDIRECT,
            "--id-token-alg",
            alg,
            "--scope",
            "openid profile email offline_access",
        ]);
        assert!(v.get("client_secret").is_none(), "a public client has no secret: {v}");
        TestClient {
            id: s(&v["client_id"]),
            secret: None,
        }
    }

    /// Creates user alice and a confidential client (`client_secret_basic`) whose ID tokens use `alg`.
    pub fn alice_and_client(&self, alg: &str) -> TestClient {
        self.user_and_client("alice", alg)
    }

    /// As [`Gatehouse::alice_and_client`], for user `username`.
    pub fn user_and_client(&self, username: &str, alg: &str) -> TestClient {
        self.user(username);
        self.confidential_client(alg, "client_secret_basic")
    }

    /// Creates user `username` with [`PASSWORD`], named Alice Example, email verified.
    pub fn user(&self, username: &str) -> Value {
        user_in(&self.store, username, &["--name", "Alice Example", "--email-verified"])
    }

    /// The server's log so far.
    /// The server writes its log from a writer thread a moment after the requests that caused the
    /// lines, so this reads until the file has stopped growing for 50 ms (at most 2 s).
    pub fn log(&self) -> String {
        let read = || std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default();
        let mut last = read();
        for _ in 0..40 {
            std::thread::sleep(Duration::from_millis(50));
            let now = read();
            if now.len() == last.len() {
                return now;
            }
            last = now;
        }
        last
    }
}

impl Drop for Gatehouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const REDIRECT: &str = "http://127.0.0.1:9/callback";

pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
}

impl TestClient {
    /// The client `gatehouse client create --json` printed.
    pub fn created(v: &Value) -> Self {
        Self {
            id: s(&v["client_id"]),
            secret: v.get("client_secret").map(s),
        }
    }
}

pub fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_owned()
}

/// Runs the CLI and returns (status success, stdout, stderr).
pub fn cli_raw(store: &StoreEnv, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    store.apply(&mut cmd);
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Creates user `username` (email `username@example.com`) with [`PASSWORD`] in `store`, plus `extra`
/// arguments of `user create`.
pub fn user_in(store: &StoreEnv, username: &str, extra: &[&str]) -> Value {
    let email = format!("{username}@example.com");
    let args = [
        &[
            "user",
            "create",
            "--username",
            username,
            "--email",
            &email,
            "--password-stdin",
        ],
        extra,
    ]
    .concat();
    cli_json_stdin(store, &args, PASSWORD)
}

pub fn cli_json(store: &StoreEnv, args: &[&str]) -> Value {
    cli_json_stdin(store, args, "")
}

fn cli_json_stdin(store: &StoreEnv, args: &[&str], stdin: &str) -> Value {
    let mut all: Vec<&str> = args.to_vec();
    all.push("--json");
    let (ok, out, err) = cli_raw(store, &all, Some(stdin));
    assert!(ok, "gatehouse {args:?} failed: {err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// An HTTP client that never follows redirects.
pub fn http() -> reqwest::Client {
    reqwest::ClientBuilder::new()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A browser: keeps cookies, never follows redirects on its own.
pub struct Browser {
    pub http: reqwest::Client,
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: reqwest::ClientBuilder::new()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .build()
                .unwrap(),
        }
    }

    /// GETs `url`, asserting a 303, and returns the `Location`.
    pub async fn follow(&self, url: &str) -> String {
        let res = self.http.get(url).send().await.unwrap();
        assert_eq!(res.status(), 303, "GET {url}: {}", res.text().await.unwrap_or_default());
        location(&res)
    }

    /// GETs a page and returns (status, body).
    pub async fn page(&self, url: &str) -> (u16, String) {
        let res = self.http.get(url).send().await.unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// POSTs a form and returns the response.
    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http.post(url).form(form).send().await.unwrap()
    }

    /// Opens the login page at `login_url` and posts its form with these credentials.
    pub async fn submit_login(
        &self,
        issuer: &str,
        login_url: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let (status, html) = self.page(login_url).await;
        assert_eq!(status, 200, "{html}");
        self.post_login(
            issuer,
            &hidden(&html, "interaction"),
            Some(&hidden(&html, "csrf_token")),
            username,
            password,
        )
        .await
    }

    /// POSTs the login form of `interaction` with these fields (no `csrf_token` field for `None`).
    pub async fn post_login(
        &self,
        issuer: &str,
        interaction: &str,
        csrf_token: Option<&str>,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let mut form = vec![("interaction", interaction)];
        form.extend(csrf_token.map(|csrf| ("csrf_token", csrf)));
        form.extend([("username", username), ("password", password)]);
        self.post(&format!("{issuer}/login"), &form).await
    }

    /// Starts an authorization of `client` for `openid` and returns the login page it redirects to.
    pub async fn open_login(&self, g: &Gatehouse, client: &TestClient) -> String {
        let (_, challenge) = pkce();
        self.follow(&auth_url(&g.issuer, &client.id, "openid", &challenge, &[]))
            .await
    }

    /// Runs a whole authorization from `auth_url` with the given password, answering the consent
    /// page with `allow` if it appears; returns the final redirect to the client.
    pub async fn authorize(&self, issuer: &str, auth_url: &str, username: &str, password: &str) -> url::Url {
        let mut next = self.follow(auth_url).await;
        if next.starts_with(&format!("{issuer}/login")) {
            let res = self.submit_login(issuer, &next, username, password).await;
            assert_eq!(res.status(), 303, "login failed: {}", res.text().await.unwrap());
            next = location(&res);
        }
        if next.starts_with(&format!("{issuer}/consent")) {
            next = self.consent(issuer, &next, "allow").await;
        }
        url::Url::parse(&next).unwrap()
    }

    /// Answers a consent page and returns where it redirects.
    pub async fn consent(&self, issuer: &str, page_url: &str, decision: &str) -> String {
        let (status, html) = self.page(page_url).await;
        assert_eq!(status, 200, "{html}");
        let res = self
            .post(
                &format!("{issuer}/consent"),
                &[
                    ("interaction", &hidden(&html, "interaction")),
                    ("csrf_token", &hidden(&html, "csrf_token")),
                    ("decision", decision),
                ],
            )
            .await;
        assert_eq!(res.status(), 303);
        location(&res)
    }
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// The value of a hidden form field.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// A query parameter of a URL.
pub fn query(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// PKCE verifier and its S256 challenge, computed independently of the server.
pub fn pkce() -> (String, String) {
    use sha2::Digest;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    let verifier = base64_url(&bytes);
    let challenge = base64_url(&sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An authorization URL with PKCE for `client`.
pub fn auth_url(issuer: &str, client_id: &str, scope: &str, challenge: &str, extra: &[(&str, &str)]) -> String {
    auth_url_to(issuer, client_id, REDIRECT, scope, challenge, extra)
}

/// As [`auth_url`], with another `redirect_uri`.
pub fn auth_url_to(
    issuer: &str,
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut u = url::Url::parse(&format!("{issuer}/oauth/authorize")).unwrap();
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", "st4te")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        u.query_pairs_mut().append_pair(k, v);
    }
    u.to_string()
}

/// Runs the authorization-code flow for `client` through a browser and the token endpoint with raw
/// HTTP; returns the token response.
pub async fn user_tokens(g: &Gatehouse, client: &TestClient, scope: &str, extra: &[(&str, &str)]) -> Value {
    let (code, verifier) = authorized_code(g, &Browser::new(), client, scope, extra).await;
    let res = exchange_code(g, client, &code, &verifier).await;
    assert_eq!(res.0, 200, "{}", res.1);
    res.1
}

/// Runs an authorization for `client` as alice in `browser`; returns (code, code_verifier).
pub async fn authorized_code(
    g: &Gatehouse,
    browser: &Browser,
    client: &TestClient,
    scope: &str,
    extra: &[(&str, &str)],
) -> (String, String) {
    let (verifier, challenge) = pkce();
    let back = browser
        .authorize(
            &g.issuer,
            &auth_url(&g.issuer, &client.id, scope, &challenge, extra),
            "alice",
            PASSWORD,
        )
        .await;
    let code = query(&back, "code").unwrap_or_else(|| panic!("no code: {back}"));
    (code, verifier)
}

/// Exchanges a code at the token endpoint; returns (status, body).
pub async fn exchange_code(g: &Gatehouse, client: &TestClient, code: &str, verifier: &str) -> (u16, Value) {
    token(g, client, &code_grant(code, verifier)).await
}

/// The form of a token request that redeems `code` with `verifier` (redirect URI [`REDIRECT`]).
pub fn code_grant<'a>(code: &'a str, verifier: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ]
}

/// The status userinfo answers for an access token.
pub async fn userinfo_status(g: &Gatehouse, token: &str) -> u16 {
    userinfo_response(g, token).await.status().as_u16()
}

async fn userinfo_response(g: &Gatehouse, token: &str) -> reqwest::Response {
    http()
        .get(format!("{}/oauth/userinfo", g.issuer))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// GETs `url` (no redirects followed).
pub async fn get(url: &str) -> reqwest::Response {
    http().get(url).send().await.unwrap()
}

/// GETs `url` with one extra request header.
pub async fn get_with(url: &str, header: &str, value: &str) -> reqwest::Response {
    http().get(url).header(header, value).send().await.unwrap()
}

/// POSTs `form` to `url` without client authentication.
pub async fn post_form(url: &str, form: &[(&str, &str)]) -> reqwest::Response {
    http().post(url).form(form).send().await.unwrap()
}

/// The status a GET of `url` answers.
pub async fn get_status(url: &str) -> u16 {
    get(url).await.status().as_u16()
}

/// A confidential client for `client_credentials` with scope openid, plus `extra` arguments of
/// `client create` (e.g. `--introspect`).
pub fn service_client(g: &Gatehouse, extra: &[&str]) -> TestClient {
    service_client_in(&g.store, extra)
}

/// As [`service_client`], in `store` (no server running).
pub fn service_client_in(store: &StoreEnv, extra: &[&str]) -> TestClient {
    service_client_scoped(store, "openid", extra)
}

/// As [`service_client_in`], allowed `scope` instead of openid.
pub fn service_client_scoped(store: &StoreEnv, scope: &str, extra: &[&str]) -> TestClient {
    create_client(
        store,
        &["--name", "svc", "--grant-type", "client_credentials", "--scope", scope],
        extra,
    )
}

/// A confidential authorization-code client named App for [`REDIRECT`], allowed `scope`, plus
/// `extra` arguments of `client create`.
pub fn app_client_in(store: &StoreEnv, scope: &str, extra: &[&str]) -> TestClient {
    create_client(
        store,
        &["--name", "App", "--redirect-uri", REDIRECT, "--scope", scope],
        extra,
    )
}

/// `gatehouse client create ARGS EXTRA` in `store`.
fn create_client(store: &StoreEnv, args: &[&str], extra: &[&str]) -> TestClient {
    let args = [&["client", "create"], args, extra].concat();
    TestClient::created(&cli_json(store, &args))
}

/// Refreshes with `refresh_token`; returns (status, body).
pub async fn refresh(g: &Gatehouse, client: &TestClient, refresh_token: &str) -> (u16, Value) {
    token(
        g,
        client,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
    )
    .await
}

/// GETs `url` and parses the JSON body.
pub async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> T {
    get(url).await.json().await.unwrap()
}

/// The userinfo response for `token`.
pub async fn userinfo(g: &Gatehouse, token: &str) -> Value {
    userinfo_response(g, token).await.json().await.unwrap()
}

/// `n` login forms of `client`, each opened in a browser of its own: (browser, interaction, csrf).
pub async fn open_logins(g: &Gatehouse, client: &TestClient, n: usize) -> Vec<(Browser, String, String)> {
    let mut forms = Vec::new();
    for _ in 0..n {
        let browser = Browser::new();
        let login = browser.open_login(g, client).await;
        let (_, html) = browser.page(&login).await;
        forms.push((browser, hidden(&html, "interaction"), hidden(&html, "csrf_token")));
    }
    forms
}

/// Posts every form of [`open_logins`] at once with these credentials; returns the statuses.
pub async fn post_logins_at_once(
    g: &Gatehouse,
    forms: Vec<(Browser, String, String)>,
    username: &str,
    password: &str,
) -> Vec<u16> {
    let mut burst = tokio::task::JoinSet::new();
    for (browser, interaction, csrf) in forms {
        let (issuer, username, password) = (g.issuer.clone(), username.to_owned(), password.to_owned());
        burst.spawn(async move {
            browser
                .post_login(&issuer, &interaction, Some(&csrf), &username, &password)
                .await
                .status()
                .as_u16()
        });
    }
    burst.join_all().await
}

/// POSTs to the token endpoint with the client's credentials; returns (status, body).
pub async fn token(g: &Gatehouse, client: &TestClient, form: &[(&str, &str)]) -> (u16, Value) {
    post_authenticated(g, "/oauth/token", client, form).await
}

/// POSTs a form to `path` with the client's credentials (Basic, or client_id for public clients).
pub async fn post_authenticated(g: &Gatehouse, path: &str, client: &TestClient, form: &[(&str, &str)]) -> (u16, Value) {
    let mut req = http().post(format!("{}{path}", g.issuer));
    let mut form: Vec<(&str, &str)> = form.to_vec();
    match &client.secret {
        Some(secret) => req = req.basic_auth(&client.id, Some(secret)),
        None => form.push(("client_id", &client.id)),
    }
    let res = req.form(&form).send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        },
    )
}

/// Asserts that a token-endpoint style answer is `expected` with RFC 6749 `error`.
#[track_caller]
pub fn assert_error(status: u16, body: &Value, expected: u16, error: &str) {
    assert_eq!((status, body["error"].as_str()), (expected, Some(error)), "{body}");
}

/// The JSON payload of a JWT, unverified (for comparing claims).
pub fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// A login form post on a fresh interaction of `client` in `browser`.
pub async fn login_attempt(
    g: &Gatehouse,
    browser: &Browser,
    client: &TestClient,
    username: &str,
    password: &str,
) -> reqwest_response::Response {
    let login = browser.open_login(g, client).await;
    let res = browser.submit_login(&g.issuer, &login, username, password).await;
    let status = res.status().as_u16();
    let retry_after = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    reqwest_response::Response {
        status,
        retry_after,
        body: res.text().await.unwrap(),
    }
}

pub mod reqwest_response {
    /// What a login post answered.
    pub struct Response {
        pub status: u16,
        pub retry_after: Option<String>,
        pub body: String,
    }
}

/// Now, in seconds since the epoch.
pub fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// A TLS acceptor with a certificate for `host`, valid from 2020 until `not_after` (y, m, d),
/// issued by a throwaway certificate authority whose PEM is written to `ca_file`.
pub fn test_tls(host: &str, not_after: (i32, u8, u8), ca_file: &Path) -> tokio_rustls::TlsAcceptor {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec![host.to_owned()]).unwrap();
    leaf.not_before = rcgen::date_time_ymd(2020, 1, 1);
    leaf.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf.signed_by(&leaf_key, &issuer).unwrap();
    std::fs::write(ca_file, ca_cert.pem()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}

/// Two free loopback ports, for two instances of one deployment. Both are held until both are
/// picked: a port picked and released can be handed out again at once (two instances were given
/// the same port, and the second could not start).
pub fn two_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (a.local_addr().unwrap().port(), b.local_addr().unwrap().port())
}
