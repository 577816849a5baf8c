//! Scale-out (issue 7), through `scripts/cluster`: real nginx with TLS in front of three instances
//! on one PostgreSQL. A flow whose steps land on different instances, key rotation mid-flow, and a
//! SIGTERM under load with no failed request at the client.

use crate::support::*;
use openidconnect::reqwest;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

struct Cluster {
    info: Value,
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Cluster {
    fn up(instances: u32, env: &[(&str, &str)]) -> Option<Self> {
        let nginx = Path::new("/usr/sbin/nginx").exists()
            || Command::new("sh")
                .args(["-c", "command -v nginx"])
                .output()
                .is_ok_and(|o| o.status.success());
        if !nginx {
            assert!(
                std::env::var_os("CI").is_none(),
                "nginx must be installed in CI (./scripts/test)"
            );
            return None;
        }
        std::env::var("GATEHOUSE_TEST_PG_URL").ok()?;
        let parent = tempfile::tempdir().unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let dir = parent.path().join("cluster");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/cluster");
        let mut cmd = Command::new(script);
        cmd.args(["up", "--instances", &instances.to_string()])
            .env("GATEHOUSE_CLUSTER_DIR", &dir)
            .env("GATEHOUSE_BIN", env!("CARGO_BIN_EXE_gatehouse"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "scripts/cluster up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let last = stdout.lines().last().expect("a JSON line");
        let info: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {last}"));
        Some(Self {
            info,
            dir,
            _parent: parent,
        })
    }

    fn issuer(&self) -> String {
        s(&self.info["issuer"])
    }

    fn store(&self) -> StoreEnv {
        StoreEnv {
            data_dir: self.dir.join("cli"),
            database_url: Some(s(&self.info["database_url"])),
        }
    }

    fn http(&self, cookies: bool) -> reqwest::Client {
        let ca = std::fs::read(s(&self.info["ca_file"])).unwrap();
        reqwest::ClientBuilder::new()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(cookies)
            .build()
            .unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/cluster");
        let _ = Command::new(script)
            .arg("down")
            .env("GATEHOUSE_CLUSTER_DIR", &self.dir)
            .output();
    }
}

fn instance(res: &reqwest::Response) -> String {
    res.headers()
        .get("x-gatehouse-instance")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn jwks(http: &reqwest::Client, issuer: &str) -> jsonwebtoken::jwk::JwkSet {
    http.get(format!("{issuer}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn verify(http: &reqwest::Client, issuer: &str, jwt: &str, aud: &str) -> String {
    let kid = jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap();
    let set = jwks(http, issuer).await;
    let key = jsonwebtoken::DecodingKey::from_jwk(set.find(&kid).expect("kid published")).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[aud]);
    v.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(jwt, &key, &v).expect("verifies against the JWKS");
    kid
}

#[tokio::test]
async fn flow_across_instances_behind_nginx_with_key_rotation_mid_flow() {
    let env = [
        ("GATEHOUSE_KEY_PUBLISH_DELAY", "1s"),
        ("GATEHOUSE_KEY_POLL_INTERVAL", "1s"),
        ("GATEHOUSE_ID_TOKEN_TTL", "4s"),
        ("GATEHOUSE_ACCESS_TOKEN_TTL", "4s"),
    ];
    let Some(cluster) = Cluster::up(3, &env) else { return };
    let issuer = cluster.issuer();
    let store = cluster.store();
    cli_json_stdin_pub(
        &store,
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--email",
            "alice@example.com",
            "--password-stdin",
        ],
        PASSWORD,
    );
    let v = cli_json(
        &store,
        &[
            "client",
            "create",
            "--name",
            "App",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            "openid email offline_access",
        ],
    );
    let (client_id, secret) = (s(&v["client_id"]), s(&v["client_secret"]));

    // The relying party reads discovery over https with the cluster's CA.
    let http = cluster.http(false);
    let meta = openidconnect::core::CoreProviderMetadata::discover_async(
        openidconnect::IssuerUrl::new(issuer.clone()).unwrap(),
        &http,
    )
    .await
    .expect("discovery through nginx");
    assert_eq!(meta.issuer().as_str(), issuer);

    // A browser: every step may land on another instance.
    let browser = cluster.http(true);
    let mut seen = Vec::new();
    let (verifier, challenge) = pkce();
    let res = browser
        .get(auth_url(
            &issuer,
            &client_id,
            "openid email offline_access",
            &challenge,
            &[],
        ))
        .send()
        .await
        .unwrap();
    seen.push(instance(&res));
    let login = location(&res);
    let res = browser.get(&login).send().await.unwrap();
    seen.push(instance(&res));
    let html = res.text().await.unwrap();
    let res = browser
        .post(format!("{issuer}/login"))
        .form(&[
            ("interaction", hidden(&html, "interaction")),
            ("csrf_token", hidden(&html, "csrf_token")),
            ("username", "alice".into()),
            ("password", PASSWORD.into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    seen.push(instance(&res));
    let res = browser.get(location(&res)).send().await.unwrap();
    seen.push(instance(&res));
    let html = res.text().await.unwrap();
    let res = browser
        .post(format!("{issuer}/consent"))
        .form(&[
            ("interaction", hidden(&html, "interaction")),
            ("csrf_token", hidden(&html, "csrf_token")),
            ("decision", "allow".into()),
        ])
        .send()
        .await
        .unwrap();
    seen.push(instance(&res));
    let back = url::Url::parse(&location(&res)).unwrap();
    let code = query(&back, "code").expect("a code");
    let res = http
        .post(format!("{issuer}/oauth/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    seen.push(instance(&res));
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert!(
        distinct.len() >= 2 && !distinct.contains(&String::new()),
        "steps landed on {seen:?}"
    );
    assert_ne!(
        seen[0], seen[2],
        "the login started on one instance finished on another"
    );

    let old_id_token = s(&tokens["id_token"]);
    let old_kid = verify(&http, &issuer, &old_id_token, &client_id).await;

    // JWKS: cacheable for less than the publish delay, with an ETag that revalidates to 304.
    let res = http
        .get(format!("{issuer}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public, max-age=")
    );
    let again = http
        .get(format!("{issuer}/.well-known/jwks.json"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // Rotate while the flow's tokens are live.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(["keys", "rotate", "--alg", "RS256", "--json"])
        .env("DATABASE_URL", store.database_url.as_ref().unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rotated: Value = serde_json::from_slice(&out.stdout).unwrap();
    let new_kid = s(&rotated["created"][0]["kid"]);
    // Every instance publishes the new key within the poll interval, before it signs.
    let mut published = false;
    for _ in 0..40 {
        let kids: Vec<String> = jwks(&http, &issuer)
            .await
            .keys
            .iter()
            .filter_map(|k| k.common.key_id.clone())
            .collect();
        if kids.contains(&new_kid) && kids.contains(&old_kid) {
            published = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(published, "new and old key both published");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The refresh token from before the rotation still works; the new ID token has the new kid.
    let res = http
        .post(format!("{issuer}/oauth/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", s(&tokens["refresh_token"]).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let refreshed: Value = res.json().await.unwrap();
    let kid = verify(&http, &issuer, &s(&refreshed["id_token"]), &client_id).await;
    assert_eq!(kid, new_kid, "tokens after the rotation carry the new kid");
    // The old key is retired once every token it signed has expired (4 s here).
    let mut retired = false;
    for _ in 0..60 {
        let kids: Vec<String> = jwks(&http, &issuer)
            .await
            .keys
            .iter()
            .filter_map(|k| k.common.key_id.clone())
            .collect();
        if !kids.contains(&old_kid) {
            retired = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(retired, "the old kid leaves the JWKS on schedule");
    let list = cli_json(&store, &["keys", "list"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == old_kid.as_str() && k["state"] == "retired"),
        "{list}"
    );
}

#[tokio::test]
async fn sigterm_of_one_instance_under_load_loses_no_request() {
    let Some(cluster) = Cluster::up(3, &[("GATEHOUSE_SHUTDOWN_TIMEOUT", "10s")]) else {
        return;
    };
    let issuer = cluster.issuer();
    let store = cluster.store();
    let v = cli_json(
        &store,
        &[
            "client",
            "create",
            "--name",
            "svc",
            "--grant-type",
            "client_credentials",
            "--scope",
            "openid",
        ],
    );
    let (client_id, secret) = (s(&v["client_id"]), s(&v["client_secret"]));
    let http = cluster.http(false);
    let victim: i64 = cluster.info["instances"][1]["pid"].as_i64().unwrap();
    let mut failures = Vec::new();
    let mut served = std::collections::BTreeSet::new();
    for i in 0..400 {
        if i == 100 {
            Command::new("kill")
                .args(["-TERM", &victim.to_string()])
                .status()
                .unwrap();
        }
        let res = if i % 2 == 0 {
            http.get(format!("{issuer}/.well-known/openid-configuration"))
                .send()
                .await
        } else {
            http.post(format!("{issuer}/oauth/token"))
                .basic_auth(&client_id, Some(&secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
        };
        match res {
            Ok(r) if r.status().is_success() => {
                served.insert(instance(&r));
            }
            Ok(r) => failures.push(format!("request {i}: status {}", r.status())),
            Err(e) => failures.push(format!("request {i}: {e}")),
        }
    }
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    assert!(served.len() >= 2, "{served:?}");
    // The instance was started by the script and reparented, so once it exits it may linger as an
    // unreaped zombie: gone or zombie both mean it has exited.
    let exited = || {
        std::fs::read_to_string(format!("/proc/{victim}/stat")).map_or(true, |stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
    };
    let mut done = false;
    for _ in 0..60 {
        if exited() {
            done = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(done, "the signalled instance has exited");
    let log = std::fs::read_to_string(s(&cluster.info["instances"][1]["log"])).unwrap();
    assert!(log.contains("gatehouse stopped"), "it shut down gracefully");
}
