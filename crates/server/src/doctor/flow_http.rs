//! What `--flow` needs to act as a browser and a client: answers read whole and summarised,
//! form fields, the token endpoint, and ID token verification against the public JWKS.

use base64::Engine;
use serde_json::Value;

/// A step that failed: what came back and the likely cause.
pub(super) struct Failed {
    pub(super) answer: String,
    pub(super) cause: String,
}

pub(super) fn failed(answer: impl Into<String>, cause: impl Into<String>) -> Failed {
    Failed {
        answer: answer.into(),
        cause: cause.into(),
    }
}

/// A step's answer, read whole.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) location: Option<String>,
    pub(super) body: String,
}

impl Answer {
    pub(super) fn brief(&self) -> String {
        let mut text = format!("HTTP {}", self.status);
        if let Some(l) = &self.location {
            text.push_str(&format!(", Location {l}"));
        }
        let body: String = self.body.chars().take(300).collect();
        if !body.trim().is_empty() && !body.starts_with("<!") {
            text.push_str(&format!(", {body}"));
        } else if let Some(message) = page_message(&self.body) {
            text.push_str(&format!(", page says: {message}"));
        }
        text
    }
}

/// The message of a Gatehouse page (`<p class="error">` or the error page's text).
fn page_message(html: &str) -> Option<String> {
    let start = html.find("class=\"error\"").or_else(|| html.find("<main"))?;
    let rest = &html[start..];
    let text: String = rest
        .split('<')
        .filter_map(|s| s.split_once('>').map(|(_, t)| t.trim()))
        .filter(|t| !t.is_empty())
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    (!text.is_empty()).then_some(text)
}

pub(super) async fn answer(req: reqwest::RequestBuilder) -> Result<Answer, Failed> {
    let res = req.send().await.map_err(|e| {
        failed(
            e.to_string(),
            "the public URL does not answer: the proxy or every instance behind it is down, or the TLS certificate is refused",
        )
    })?;
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = res.text().await.unwrap_or_default();
    Ok(Answer { status, location, body })
}

pub(super) fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    Some(html[start..].split('"').next()?.to_owned())
}

pub(super) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(super) async fn token(
    http: &reqwest::Client,
    url: &str,
    client: &(String, Option<String>),
    form: &[(&str, &str)],
) -> Result<(Value, String), Failed> {
    let a = answer(authenticated(http.post(url), client, form)).await?;
    let body: Value = serde_json::from_str(&a.body).unwrap_or_default();
    if a.status != 200 {
        return Err(failed(
            a.brief(),
            "the token endpoint refused: its error_description says why (an invalid_grant right after a code was issued means the instances do not share one store)",
        ));
    }
    Ok((body, "tokens issued".to_owned()))
}

/// Verifies the ID token with the key the public JWKS serves for its `kid` (not the store's).
pub(super) async fn verify_id_token(
    http: &reqwest::Client,
    jwks_url: &str,
    jwt: &str,
    issuer: &str,
    aud: &str,
    nonce: &str,
) -> Result<((), String), Failed> {
    let header = jsonwebtoken::decode_header(jwt)
        .map_err(|e| failed(e.to_string(), "the token endpoint returned no valid ID token"))?;
    let a = answer(http.get(jwks_url)).await?;
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(&a.body).map_err(|_| failed(a.brief(), "the public JWKS is not a key set"))?;
    let kid = header.kid.clone().unwrap_or_default();
    let jwk = jwks.find(&kid).ok_or_else(|| {
        failed(
            format!("kid {kid} is not in {jwks_url}"),
            "the key that signed the token is not published: an instance or a cache serves another JWKS (see public.jwks)",
        )
    })?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk)
        .map_err(|e| failed(e.to_string(), "the published key cannot be used"))?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[aud]);
    let claims = jsonwebtoken::decode::<Value>(jwt, &key, &validation)
        .map_err(|e| {
            failed(
                e.to_string(),
                "the ID token does not verify against the public JWKS, or its iss, aud or exp is wrong (clock skew?)",
            )
        })?
        .claims;
    if claims["nonce"] != nonce {
        return Err(failed("nonce differs", "the ID token belongs to another request"));
    }
    Ok((
        (),
        format!(
            "signature ({:?}, kid {kid}), iss, aud, exp and nonce verified against the public JWKS",
            header.alg
        ),
    ))
}

/// A client request: HTTP Basic with the secret, or (a public client) `client_id` in the form.
pub(super) fn authenticated(
    req: reqwest::RequestBuilder,
    client: &(String, Option<String>),
    form: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    match &client.1 {
        Some(secret) => req.basic_auth(&client.0, Some(secret)).form(form),
        None => {
            let mut with_id = form.to_vec();
            with_id.push(("client_id", client.0.as_str()));
            req.form(&with_id)
        }
    }
}
