//! `gatehouse-bench`: drives the multi-step benchmarks that a single-request load generator cannot:
//! complete authorization-code + PKCE flows (authorize, login with password, consent, code
//! exchange, ID token verified against the JWKS), single-sign-on flows (an existing browser session,
//! no password), refresh-token rotation chains, and client credentials with a fresh DPoP proof per
//! request next to the same without one. Prints one JSON object with requests/s,
//! latency percentiles and errors. HTTP through reqwest; no hand-rolled client.

use anyhow::{Context, bail};
use base64::Engine as _;
use clap::{Parser, ValueEnum};
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// Full flows: password login and consent every time.
    Flow,
    /// Flows from a browser that is already signed in and has consented.
    Sso,
    /// Refresh-token rotation: each request spends a token and keeps its successor.
    Refresh,
    /// Client credentials, a bearer token per request: the baseline of `dpop`, from this driver.
    Bearer,
    /// Client credentials with a fresh DPoP proof (ES256) per request: a bound token each time.
    Dpop,
}

#[derive(Parser)]
struct Args {
    #[arg(value_enum)]
    mode: Mode,
    #[arg(long)]
    issuer: String,
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    client_secret: String,
    #[arg(long)]
    redirect_uri: String,
    #[arg(long, default_value = "bench")]
    username: String,
    #[arg(long)]
    password: String,
    /// Concurrent virtual users.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Unmeasured seconds before.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn random() -> String {
    let mut b = [0u8; 32];
    aws_lc_rs::rand::fill(&mut b).expect("random");
    b64(&b)
}

fn hidden(html: &str, name: &str) -> anyhow::Result<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).with_context(|| format!("no {name} field"))? + marker.len();
    Ok(html[start..].split('"').next().unwrap_or_default().to_owned())
}

fn location(res: &reqwest::Response) -> anyhow::Result<String> {
    Ok(res
        .headers()
        .get("location")
        .context("no Location")?
        .to_str()?
        .to_owned())
}

struct Shared {
    args: Args,
    http: reqwest::Client,
    keys: HashMap<String, jsonwebtoken::DecodingKey>,
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .cookie_store(true)
        .build()
        .expect("client")
}

/// One authorization: returns the token response. `login` posts the password; `consent` answers
/// the consent page (forced with prompt=consent on full flows).
async fn authorize(s: &Shared, browser: &reqwest::Client, full: bool) -> anyhow::Result<Value> {
    let a = &s.args;
    let verifier = random();
    let challenge = b64(&sha2::Sha256::digest(verifier.as_bytes()));
    let nonce = random();
    let mut url = url::Url::parse(&format!("{}/oauth/authorize", a.issuer))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &a.client_id)
        .append_pair("redirect_uri", &a.redirect_uri)
        .append_pair(
            "scope",
            if matches!(s.args.mode, Mode::Refresh) {
                "openid offline_access"
            } else {
                "openid"
            },
        )
        .append_pair("state", "bench")
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    if full {
        url.query_pairs_mut().append_pair("prompt", "login consent");
    }
    let mut next = location(&browser.get(url).send().await?)?;
    if next.contains("/login?") {
        let html = browser.get(&next).send().await?.text().await?;
        let res = browser
            .post(format!("{}/login", a.issuer))
            .form(&[
                ("interaction", hidden(&html, "interaction")?),
                ("csrf_token", hidden(&html, "csrf_token")?),
                ("username", a.username.clone()),
                ("password", a.password.clone()),
            ])
            .send()
            .await?;
        next = location(&res)?;
    }
    if next.contains("/consent?") {
        let html = browser.get(&next).send().await?.text().await?;
        let res = browser
            .post(format!("{}/consent", a.issuer))
            .form(&[
                ("interaction", hidden(&html, "interaction")?),
                ("csrf_token", hidden(&html, "csrf_token")?),
                ("decision", "allow".into()),
            ])
            .send()
            .await?;
        next = location(&res)?;
    }
    let back = url::Url::parse(&next)?;
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .with_context(|| format!("no code in {next}"))?;
    let res = s
        .http
        .post(format!("{}/oauth/token", a.issuer))
        .basic_auth(&a.client_id, Some(&a.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &a.redirect_uri),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("token endpoint answered {}", res.status());
    }
    let tokens: Value = res.json().await?;
    verify_id_token(s, tokens["id_token"].as_str().context("no id_token")?, &nonce)?;
    Ok(tokens)
}

fn verify_id_token(s: &Shared, jwt: &str, nonce: &str) -> anyhow::Result<()> {
    let header = jsonwebtoken::decode_header(jwt)?;
    let key = s
        .keys
        .get(header.kid.as_deref().unwrap_or_default())
        .context("unknown kid")?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[&s.args.client_id]);
    v.set_issuer(&[&s.args.issuer]);
    let claims = jsonwebtoken::decode::<Value>(jwt, key, &v)?.claims;
    if claims["nonce"].as_str() != Some(nonce) {
        bail!("nonce mismatch");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::builder().redirect(Policy::none()).build()?;
    let jwks: jsonwebtoken::jwk::JwkSet = http
        .get(format!("{}/.well-known/jwks.json", args.issuer))
        .send()
        .await?
        .json()
        .await?;
    let keys = jwks
        .keys
        .iter()
        .filter_map(|k| Some((k.common.key_id.clone()?, jsonwebtoken::DecodingKey::from_jwk(k).ok()?)))
        .collect();
    let (mode, concurrency) = (args.mode, args.concurrency);
    let (warmup, duration) = (
        Duration::from_secs_f64(args.warmup),
        Duration::from_secs_f64(args.duration),
    );
    let shared = Arc::new(Shared { args, http, keys });
    // Virtual users sign in during the warm-up, at most 8 at once: the server lets one account have
    // 16 password checks in flight (an abuse limit), so 32 at once would see half refused.
    let sign_ins = Arc::new(tokio::sync::Semaphore::new(8));
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let s = Arc::clone(&shared);
        let sign_ins = Arc::clone(&sign_ins);
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<f64> = Vec::new();
            let mut errors = 0u64;
            let mut last_error = String::new();
            let b = browser();
            // Per virtual user state: a signed-in browser (SSO) or a refresh token (rotation).
            let mut refresh: Option<String> = None;
            let dpop_key = DpopKey::generate();
            if matches!(mode, Mode::Sso | Mode::Refresh) {
                let _permit = sign_ins.acquire().await;
                match authorize(&s, &b, false).await {
                    Ok(t) => refresh = t["refresh_token"].as_str().map(str::to_owned),
                    Err(e) => return (latencies, 1, format!("setup: {e:#}")),
                }
            }
            while Instant::now() < end {
                let t0 = Instant::now();
                let result = match mode {
                    Mode::Flow => authorize(&s, &browser(), true).await.map(|_| ()),
                    Mode::Sso => authorize(&s, &b, false).await.map(|_| ()),
                    Mode::Refresh => rotate(&s, &mut refresh).await,
                    Mode::Bearer => client_credentials(&s, None).await,
                    Mode::Dpop => client_credentials(&s, Some(&dpop_key)).await,
                };
                if t0 >= measure_from {
                    match result {
                        Ok(()) => latencies.push(t0.elapsed().as_secs_f64()),
                        Err(e) => {
                            errors += 1;
                            last_error = format!("{e:#}");
                        }
                    }
                }
            }
            (latencies, errors, last_error)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut last_error = String::new();
    for t in tasks {
        let (l, e, le) = t.await?;
        all.extend(l);
        errors += e;
        if !le.is_empty() {
            last_error = le;
        }
    }
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |v| v * 1000.0)
    };
    let out = json!({
        "requests": all.len(),
        "rps": all.len() as f64 / duration.as_secs_f64(),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": errors,
        "last_error": last_error,
    });
    println!("{out}");
    Ok(())
}

async fn rotate(s: &Shared, refresh: &mut Option<String>) -> anyhow::Result<()> {
    let token = refresh
        .clone()
        .context("no refresh token (does the client have offline_access?)")?;
    let a = &s.args;
    let res = s
        .http
        .post(format!("{}/oauth/token", a.issuer))
        .basic_auth(&a.client_id, Some(&a.client_secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token.as_str())])
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("refresh answered {}", res.status());
    }
    let body: Value = res.json().await?;
    *refresh = Some(body["refresh_token"].as_str().context("no successor")?.to_owned());
    Ok(())
}

/// A DPoP key pair: the signing key and the header that carries its public JWK.
struct DpopKey {
    signing: jsonwebtoken::EncodingKey,
    header: jsonwebtoken::Header,
}

impl DpopKey {
    fn generate() -> Self {
        use aws_lc_rs::signature::{self as sig, KeyPair};
        let k = sig::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).expect("key");
        let p = k.public_key().as_ref().to_vec();
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..65])});
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(jwk).expect("jwk"));
        Self {
            signing: jsonwebtoken::EncodingKey::from_ec_der(k.to_pkcs8v1().expect("pkcs8").as_ref()),
            header,
        }
    }

    fn proof(&self, url: &str) -> anyhow::Result<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let claims = json!({"jti": random(), "htm": "POST", "htu": url, "iat": now});
        Ok(jsonwebtoken::encode(&self.header, &claims, &self.signing)?)
    }
}

/// One client-credentials token, bound to `dpop` when given (a new proof each time).
async fn client_credentials(s: &Shared, dpop: Option<&DpopKey>) -> anyhow::Result<()> {
    let a = &s.args;
    let url = format!("{}/oauth/token", a.issuer);
    let mut req = s
        .http
        .post(&url)
        .basic_auth(&a.client_id, Some(&a.client_secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "api")]);
    if let Some(k) = dpop {
        req = req.header("DPoP", k.proof(&url)?);
    }
    let res = req.send().await?;
    if !res.status().is_success() {
        bail!("token answered {}", res.status());
    }
    let body: Value = res.json().await?;
    let expected = if dpop.is_some() { "DPoP" } else { "Bearer" };
    if body["token_type"] != expected {
        bail!("token_type {} instead of {expected}", body["token_type"]);
    }
    Ok(())
}
