//! `gatehouse doctor --flow`: a complete authorization-code + PKCE flow through the public issuer
//! URL, as a browser and a client do it: discovery, authorization, login and consent forms, the
//! code exchange, the ID token verified against the public JWKS, userinfo, a refresh rotation and
//! revocation. Each step reports its status and latency; a failed step says what came back and
//! the likely cause. The probe client (and, without `--user`, the probe user) exist only for the
//! run: created in the store first, deleted at the end whatever happened.

use super::{Finding, Options};
use crate::config::Config;
use crate::random::random_token;
use gatehouse_protocol::types::ClientId;
use gatehouse_storage::Store;
use serde_json::Value;
use sha2::Digest;
use std::sync::Arc;
use std::time::Instant;

use super::flow_http::{Failed, answer, authenticated, b64, failed, hidden, token, verify_id_token};
pub use super::probe::Who;
use super::probe::{As, REDIRECT, named_client, setup};

/// Runs the flow; one finding per step, up to the first failure.
pub async fn run(config: &Config, options: &Options, store: Arc<dyn Store>, who: Who) -> Vec<Finding> {
    let now = crate::clock::system_now();
    let suffix = &random_token()[..10];
    let mut out = Vec::new();
    let (client, probe_client) = match &who.client {
        Some(id) => {
            match named_client(&store, id).await {
                Ok(c) => (c, None),
                Err(e) => {
                    out.push(Finding::fail("flow.setup", format!("--client {id}: {e}"), "", "name a public client that may use authorization_code, or leave --client out for a probe client"));
                    return out;
                }
            }
        }
        None => {
            let id = ClientId::from_stored(format!("gatehouse-doctor-{suffix}"));
            let secret = random_token();
            let client = As {
                id: id.as_str().to_owned(),
                secret: Some(secret.clone()),
                redirect: REDIRECT.to_owned(),
                refresh: true,
            };
            (client, Some((id, secret)))
        }
    };
    let probe_user = match setup(&store, probe_client.as_ref(), &who, suffix, now).await {
        Ok(u) => u,
        Err(e) => {
            out.push(Finding::fail(
                "flow.setup",
                format!("cannot create the probe: {e:#}"),
                "",
                "run gatehouse doctor on a host that can reach the store",
            ));
            if let Some((id, _)) = &probe_client {
                let _ = store.delete_client(id).await;
            }
            return out;
        }
    };
    let (username, password) = match (&who.username, &who.password, &probe_user) {
        (Some(u), Some(p), _) => (u.clone(), p.clone()),
        (_, _, Some((u, p))) => (u.username.clone(), p.clone()),
        _ => (String::new(), String::new()),
    };
    let mut probe = Probe {
        config,
        issuer: super::issuer(config),
        client,
        out: &mut out,
    };
    let _ = probe.steps(options, &username, &password).await;
    let mut left = Vec::new();
    if let Some((u, _)) = &probe_user
        && store.delete_user(&u.id).await.is_err()
    {
        left.push(format!("gatehouse user delete {}", u.username));
    }
    if let Some((id, _)) = &probe_client
        && store.delete_client(id).await.is_err()
    {
        left.push(format!("gatehouse client delete {id}"));
    }
    if !left.is_empty() {
        out.push(Finding::fail(
            "flow.cleanup",
            "the probe could not be deleted",
            "a probe client or user left behind is an account nobody watches",
            left.join(" && "),
        ));
    }
    out
}

struct Probe<'a> {
    config: &'a Config,
    issuer: String,
    client: As,
    out: &'a mut Vec<Finding>,
}

impl Probe<'_> {
    /// Times `step`, records its finding, and stops the flow at a failure.
    async fn step<T>(
        &mut self,
        id: &'static str,
        what: &str,
        step: impl Future<Output = Result<(T, String), Failed>>,
    ) -> Result<T, ()> {
        let started = Instant::now();
        let result = step.await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok((value, note)) => {
                self.out.push(Finding::ok(id, format!("{what}: {note} ({ms:.0} ms)")));
                Ok(value)
            }
            Err(f) => {
                self.out.push(Finding::fail(
                    id,
                    format!("{what} failed ({ms:.0} ms): {}", f.answer),
                    f.cause,
                    "",
                ));
                Err(())
            }
        }
    }

    async fn steps(&mut self, options: &Options, username: &str, password: &str) -> Result<(), ()> {
        let browser = super::public_client(self.config, options, true).map_err(|e| {
            self.out.push(Finding::fail("flow.setup", format!("{e:#}"), "", ""));
        })?;
        let issuer = self.issuer.clone();
        let redirect = self.client.redirect.clone();
        let doc: Value = self
            .step("flow.discovery", "discovery", async {
                let a = answer(browser.get(format!("{issuer}/.well-known/openid-configuration"))).await?;
                if a.status != 200 {
                    return Err(failed(
                        a.brief(),
                        "the public URL does not serve the discovery document: the answer's error_description says why",
                    ));
                }
                let doc: Value = serde_json::from_str(&a.body)
                    .map_err(|_| failed(a.brief(), "the proxy does not forward /.well-known/ to Gatehouse"))?;
                if doc["issuer"] != issuer.as_str() {
                    return Err(failed(
                        format!("issuer {}", doc["issuer"]),
                        "GATEHOUSE_ISSUER differs between this host and the instances behind the proxy",
                    ));
                }
                Ok((doc, "document names this issuer".to_owned()))
            })
            .await?;
        let endpoint = |name: &str| doc[name].as_str().unwrap_or_default().to_owned();
        let verifier = random_token();
        let challenge = b64(&sha2::Sha256::digest(verifier.as_bytes()));
        let state = random_token();
        let nonce = random_token();
        let Ok(mut auth) = url::Url::parse(&endpoint("authorization_endpoint")) else {
            self.out.push(Finding::fail(
                "flow.authorize",
                "the discovery document has no usable authorization_endpoint",
                "no sign-in can start",
                "set the same GATEHOUSE_ISSUER on every instance",
            ));
            return Err(());
        };
        auth.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client.id)
            .append_pair("redirect_uri", &self.client.redirect)
            .append_pair(
                "scope",
                if self.client.refresh {
                    "openid offline_access"
                } else {
                    "openid"
                },
            )
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("prompt", "login");
        let login_url = self
            .step("flow.authorize", "authorization request", async {
                let a = answer(browser.get(auth.as_str())).await?;
                match &a.location {
                    Some(l) if a.status == 303 && l.starts_with(&format!("{issuer}/login")) => {
                        Ok((l.clone(), "redirected to the login page".to_owned()))
                    }
                    _ => Err(failed(
                        a.brief(),
                        "the authorization endpoint refused the probe client; its error says why",
                    )),
                }
            })
            .await?;
        let after_login = self
            .step("flow.login", "login", async {
                let page = answer(browser.get(&login_url)).await?;
                let (Some(interaction), Some(csrf)) = (hidden(&page.body, "interaction"), hidden(&page.body, "csrf_token")) else {
                    return Err(failed(page.brief(), "the login page did not come back as a form: the browser cookie was not kept (check the proxy passes Set-Cookie, and that the public URL is https when the issuer is)"));
                };
                let form = [("interaction", interaction.as_str()), ("csrf_token", csrf.as_str()), ("username", username), ("password", password)];
                let a = answer(browser.post(format!("{issuer}/login")).form(&form)).await?;
                match &a.location {
                    Some(l) if a.status == 303 => Ok((l.clone(), format!("signed in as {username}"))),
                    _ if a.status == 403 => Err(failed(a.brief(), "the form was refused as not coming from this browser: its cookie was lost between the page and the post (cookies are Secure with an https issuer: the public URL must be https end to end, and the proxy must pass Set-Cookie and X-Forwarded-Proto)")),
                    _ => Err(failed(a.brief(), format!("the sign-in was refused: wrong password for {username}, a locked account, or a login rate limit"))),
                }
            })
            .await?;
        let back = self
            .step("flow.consent", "consent", async {
                if !after_login.starts_with(&format!("{issuer}/consent")) {
                    return Ok((after_login.clone(), "no consent page needed".to_owned()));
                }
                let page = answer(browser.get(&after_login)).await?;
                let (Some(interaction), Some(csrf)) =
                    (hidden(&page.body, "interaction"), hidden(&page.body, "csrf_token"))
                else {
                    return Err(failed(
                        page.brief(),
                        "the consent page did not come back as a form (cookie lost; see flow.login)",
                    ));
                };
                let form = [
                    ("interaction", interaction.as_str()),
                    ("csrf_token", csrf.as_str()),
                    ("decision", "allow"),
                ];
                let a = answer(browser.post(format!("{issuer}/consent")).form(&form)).await?;
                match &a.location {
                    Some(l) if a.status == 303 && l.starts_with(&redirect) => Ok((l.clone(), "allowed".to_owned())),
                    _ => Err(failed(a.brief(), "the consent was not accepted")),
                }
            })
            .await?;
        let code = self
            .step("flow.callback", "authorization response", async {
                // The code is not repeated in findings: it may be a real client's.
                let shown = redact_code(&back);
                let back = back.clone();
                let u = url::Url::parse(&back).map_err(|_| failed(shown.clone(), "not a URL"))?;
                let get = |n: &str| u.query_pairs().find(|(k, _)| k == n).map(|(_, v)| v.into_owned());
                if get("state").as_deref() != Some(state.as_str()) || get("iss").as_deref() != Some(issuer.as_str()) {
                    return Err(failed(
                        shown.clone(),
                        "state or iss (RFC 9207) is wrong: a proxy rewrote the redirect",
                    ));
                }
                let code = get("code")
                    .ok_or_else(|| failed(shown.clone(), "the answer carries an error instead of a code"))?;
                Ok((code, "code, state and iss present".to_owned()))
            })
            .await?;
        let client = (self.client.id.clone(), self.client.secret.clone());
        let token_url = endpoint("token_endpoint");
        let tokens: Value = self
            .step("flow.token", "code exchange", async {
                let form = [
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", redirect.as_str()),
                    ("code_verifier", verifier.as_str()),
                ];
                token(&browser, &token_url, &client, &form).await
            })
            .await?;
        let jwks_url = endpoint("jwks_uri");
        self.step("flow.id_token", "ID token", async {
            let id_token = tokens["id_token"].as_str().unwrap_or_default();
            verify_id_token(&browser, &jwks_url, id_token, &issuer, &client.0, &nonce).await
        })
        .await?;
        let access = tokens["access_token"].as_str().unwrap_or_default().to_owned();
        let userinfo_url = endpoint("userinfo_endpoint");
        self.step("flow.userinfo", "userinfo", async {
            let a = answer(browser.get(&userinfo_url).bearer_auth(&access)).await?;
            if a.status != 200 {
                return Err(failed(a.brief(), "the access token was refused at userinfo: instances disagree on the store, or the proxy strips the Authorization header"));
            }
            Ok(((), "claims returned".to_owned()))
        })
        .await?;
        let refresh = tokens["refresh_token"].as_str().unwrap_or_default().to_owned();
        let rotated: Value = if !self.client.refresh {
            Value::Null
        } else {
            self.step("flow.refresh", "refresh rotation", async {
                token(
                    &browser,
                    &token_url,
                    &client,
                    &[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())],
                )
                .await
            })
            .await?
        };
        let revoke_url = endpoint("revocation_endpoint");
        self.step("flow.revoke", "revocation", async {
            let new_refresh = rotated["refresh_token"].as_str().unwrap_or_default();
            for t in [new_refresh, access.as_str()].into_iter().filter(|t| !t.is_empty()) {
                let a = answer(authenticated(browser.post(&revoke_url), &client, &[("token", t)])).await?;
                if a.status != 200 {
                    return Err(failed(a.brief(), "revocation was refused"));
                }
            }
            Ok(((), "tokens revoked".to_owned()))
        })
        .await
    }
}

/// A redirect with its `code` parameter's value hidden.
fn redact_code(uri: &str) -> String {
    let Ok(mut u) = url::Url::parse(uri) else {
        return "(not a URL)".to_owned();
    };
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let hidden = if k == "code" {
                "[hidden]".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), hidden)
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}
