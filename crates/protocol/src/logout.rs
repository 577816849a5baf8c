//! Logout: the RP-initiated logout request (OpenID Connect RP-Initiated Logout 1.0), the decision
//! it leads to, and the logout token of back-channel logout (OpenID Connect Back-Channel Logout
//! 1.0). The server verifies the `id_token_hint`'s signature and reads the stores; everything
//! decided from what they found is decided here.

use crate::error::{Error, invalid_request};
use crate::request::Params;
pub use crate::types::BackchannelUri;
use crate::types::{ClientId, RedirectUri};
use serde::Serialize;

/// An RP-initiated logout request (RP-Initiated Logout 1.0 §2), parsed once at the edge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogoutRequest {
    /// A previously issued ID token, as it was sent (verified by the server).
    pub id_token_hint: Option<String>,
    /// The client asking.
    pub client_id: Option<ClientId>,
    /// Where to send the browser afterwards, exactly as sent.
    pub post_logout_redirect_uri: Option<String>,
    /// Echoed to the post-logout redirect.
    pub state: Option<String>,
    /// Which user the client thinks is signed in (shown, never trusted).
    pub logout_hint: Option<String>,
    /// Preferred languages of the page (accepted; pages are in English).
    pub ui_locales: Option<String>,
}

/// The longest `id_token_hint` read: our ID tokens are far shorter.
const MAX_HINT: usize = 8192;

impl LogoutRequest {
    /// Reads the request's parameters. Unknown parameters are ignored (the page's own form fields
    /// among them); repeated ones are refused.
    ///
    /// # Errors
    /// `invalid_request` naming a repeated parameter, a malformed `client_id` or an oversized hint.
    pub fn parse(params: &Params) -> Result<Self, Error> {
        params.reject_repeats()?;
        let get = |name: &str| params.get(name).map(|v| v.map(str::to_owned));
        let id_token_hint = get("id_token_hint")?;
        if id_token_hint.as_ref().is_some_and(|h| h.len() > MAX_HINT) {
            return Err(invalid_request(format!(
                "id_token_hint is longer than {MAX_HINT} bytes; send the ID token this server issued"
            )));
        }
        Ok(Self {
            id_token_hint,
            client_id: params.get("client_id")?.map(ClientId::parse).transpose()?,
            post_logout_redirect_uri: get("post_logout_redirect_uri")?,
            state: get("state")?,
            logout_hint: get("logout_hint")?,
            ui_locales: get("ui_locales")?,
        })
    }
}

/// What a verified `id_token_hint` says. Its expiry is not checked: an expired ID token is a
/// fine hint (RP-Initiated Logout 1.0 §2: the OP SHOULD accept it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// The client it was issued to (`aud`).
    pub client_id: ClientId,
    /// The user (`sub`).
    pub subject: String,
    /// The browser session it was issued in (`sid`).
    pub sid: Option<String>,
}

impl Hint {
    /// Reads the claims of an ID token whose signature checked out against our keys.
    ///
    /// # Errors
    /// A description of what is missing when it is not one of our ID tokens.
    pub fn from_claims(issuer: &str, claims: &serde_json::Value) -> Result<Self, String> {
        if claims["iss"].as_str() != Some(issuer) {
            return Err("its iss is not this server".into());
        }
        // Our ID tokens have one audience, a string; an array with exactly one is read the same.
        let aud = match &claims["aud"] {
            serde_json::Value::String(a) => Some(a.as_str()),
            serde_json::Value::Array(a) if a.len() == 1 => a[0].as_str(),
            _ => None,
        };
        let client_id = aud
            .and_then(|a| ClientId::parse(a).ok())
            .ok_or("it has no single aud naming a client")?;
        let subject = claims["sub"].as_str().ok_or("it has no sub")?.to_owned();
        Ok(Self {
            client_id,
            subject,
            sid: claims["sid"].as_str().map(str::to_owned),
        })
    }
}

/// What the server found for a request: the hint's verification, the client identified (by the
/// hint or `client_id`) with its registered post-logout redirect URIs, and this browser's session.
#[derive(Debug, Clone, Copy)]
pub struct Found<'a> {
    /// `None` without a hint; `Some(Err(why))` for a hint that did not verify.
    pub hint: Option<&'a Result<Hint, String>>,
    /// The identified client's registered post-logout redirect URIs, if it exists.
    pub client_uris: Option<&'a [RedirectUri]>,
    /// This browser's live session id, if any.
    pub session_sid: Option<&'a str>,
}

/// Why a logout request is refused with a page and no redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The hint is not an ID token of this server.
    BadHint(String),
    /// `client_id` names another client than the hint's `aud` (RP-Initiated Logout 1.0 §2).
    ClientMismatch {
        /// The `client_id` sent.
        sent: ClientId,
        /// The hint's audience.
        hint: ClientId,
    },
    /// No client with the identified id is registered.
    UnknownClient(ClientId),
    /// A `post_logout_redirect_uri` with no client to check it against.
    NoClient {
        /// The URI sent.
        uri: String,
    },
    /// The URI is not registered for the client (exact string comparison, §3.1).
    Unregistered {
        /// The URI sent.
        uri: String,
        /// The client it was checked against.
        client_id: ClientId,
    },
}

impl Refusal {
    /// What went wrong, for the page, and how to fix it.
    #[must_use]
    pub fn explain(&self) -> String {
        match self {
            Self::BadHint(why) => format!(
                "The id_token_hint was not accepted: {why}. Send an ID token this server issued (expired ones are fine), or leave id_token_hint out."
            ),
            Self::ClientMismatch { sent, hint } => format!(
                "client_id {sent} does not match the id_token_hint, which was issued to {hint}. Send the client_id the ID token was issued to, or leave client_id out."
            ),
            Self::UnknownClient(id) => {
                format!("No client with client_id {id} is registered here; see gatehouse client list.")
            }
            Self::NoClient { uri } => format!(
                "post_logout_redirect_uri {uri} was sent without id_token_hint or client_id, so it cannot be checked against any client. Send either with it."
            ),
            Self::Unregistered { uri, client_id } => format!(
                "post_logout_redirect_uri {uri} is not registered for client {client_id} (it must match a registered URI exactly, character for character). Register it with: gatehouse client update {client_id} --post-logout-redirect-uri {uri}"
            ),
        }
    }
}

/// What to do with a logout request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The client identified by the hint or `client_id`.
    pub client_id: Option<ClientId>,
    /// Where the browser goes afterwards, with `state`; `None`: the signed-out page.
    pub redirect: Option<PostLogoutRedirect>,
    /// Whether the user must confirm. Not when there is no session to end, nor when the hint
    /// verified, names this browser's session and the redirect is registered.
    pub confirm: bool,
}

/// A validated post-logout redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostLogoutRedirect {
    /// The registered URI.
    pub uri: String,
    /// `state`, exactly as sent.
    pub state: Option<String>,
}

/// Decides a logout request (RP-Initiated Logout 1.0 §2, §3).
///
/// # Errors
/// A [`Refusal`]: the page says what was wrong, and nobody is redirected.
pub fn decide(request: &LogoutRequest, found: Found<'_>) -> Result<Decision, Refusal> {
    let hint = match found.hint {
        None => None,
        Some(Ok(h)) => Some(h),
        Some(Err(why)) => return Err(Refusal::BadHint(why.clone())),
    };
    let client_id = match (&request.client_id, hint) {
        (Some(sent), Some(h)) if *sent != h.client_id => {
            return Err(Refusal::ClientMismatch {
                sent: sent.clone(),
                hint: h.client_id.clone(),
            });
        }
        (Some(sent), _) => Some(sent.clone()),
        (None, Some(h)) => Some(h.client_id.clone()),
        (None, None) => None,
    };
    if let Some(id) = &client_id
        && found.client_uris.is_none()
    {
        return Err(Refusal::UnknownClient(id.clone()));
    }
    let redirect = match (&request.post_logout_redirect_uri, &client_id, found.client_uris) {
        (None, ..) => None,
        (Some(uri), None, _) => return Err(Refusal::NoClient { uri: uri.clone() }),
        (Some(uri), Some(id), uris) => {
            // A simple string comparison (§3.1): no normalisation, a query appended is a mismatch.
            if !uris.unwrap_or_default().iter().any(|r| r.as_str() == uri) {
                return Err(Refusal::Unregistered {
                    uri: uri.clone(),
                    client_id: id.clone(),
                });
            }
            Some(PostLogoutRedirect {
                uri: uri.clone(),
                state: request.state.clone(),
            })
        }
    };
    let hint_names_this_session = match (hint.and_then(|h| h.sid.as_deref()), found.session_sid) {
        (Some(hinted), Some(current)) => hinted == current,
        _ => false,
    };
    let confirm = found.session_sid.is_some() && !(hint_names_this_session && redirect.is_some());
    Ok(Decision {
        client_id,
        redirect,
        confirm,
    })
}

/// The one event a logout token carries (Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The `typ` header of a logout token (Back-Channel Logout 1.0 §2.4, explicit typing).
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";

/// The claims of a logout token (Back-Channel Logout 1.0 §2.4): both `sub` and `sid`, an `exp`
/// (errata set 1), and never a `nonce`, which the type has no field for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogoutTokenClaims<'a> {
    /// The issuer.
    pub iss: &'a str,
    /// The client being notified.
    pub aud: &'a str,
    /// Issue time.
    pub iat: i64,
    /// Expiry: a logout token is used at once.
    pub exp: i64,
    /// A unique id, so the client can refuse a replay.
    pub jti: &'a str,
    /// `{"http://schemas.openid.net/event/backchannel-logout": {}}`.
    pub events: serde_json::Value,
    /// The user.
    pub sub: &'a str,
    /// The session that ended.
    pub sid: &'a str,
}

impl<'a> LogoutTokenClaims<'a> {
    /// The claims of a token telling `aud` that session `sid` of `sub` ended, issued at `iat` and
    /// living `ttl` seconds.
    #[must_use]
    pub fn new(iss: &'a str, aud: &'a str, sub: &'a str, sid: &'a str, jti: &'a str, iat: i64, ttl: i64) -> Self {
        Self {
            iss,
            aud,
            iat,
            exp: iat.saturating_add(ttl),
            jti,
            events: serde_json::json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
            sub,
            sid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uris(list: &[&str]) -> Vec<RedirectUri> {
        list.iter().map(|u| RedirectUri::parse(u).unwrap()).collect()
    }

    fn hint(client: &str, sid: Option<&str>) -> Result<Hint, String> {
        Ok(Hint {
            client_id: ClientId::parse(client).unwrap(),
            subject: "u1".into(),
            sid: sid.map(str::to_owned),
        })
    }

    fn request(pairs: &[(&str, &str)]) -> LogoutRequest {
        LogoutRequest::parse(&Params::from_pairs(pairs.iter().copied())).unwrap()
    }

    const URI: &str = "https://app.example.com/bye";

    #[test]
    fn a_verified_hint_for_this_session_and_a_registered_uri_needs_no_prompt() {
        let registered = uris(&[URI]);
        let h = hint("app", Some("s1"));
        let req = request(&[("post_logout_redirect_uri", URI), ("state", "x y&z")]);
        let found = Found {
            hint: Some(&h),
            client_uris: Some(&registered),
            session_sid: Some("s1"),
        };
        let d = decide(&req, found).unwrap();
        assert!(!d.confirm);
        let r = d.redirect.unwrap();
        assert_eq!((r.uri.as_str(), r.state.as_deref()), (URI, Some("x y&z")));
        // Another session's hint, or no redirect: the user is asked.
        let other = hint("app", Some("s0"));
        assert!(
            decide(
                &req,
                Found {
                    hint: Some(&other),
                    ..found
                }
            )
            .unwrap()
            .confirm
        );
        assert!(decide(&request(&[]), found).unwrap().confirm);
    }

    #[test]
    fn every_refusal_names_what_was_wrong() {
        let registered = uris(&[URI]);
        let h = hint("app", Some("s1"));
        let with_uri = |u: &str| request(&[("post_logout_redirect_uri", u)]);
        let found = Found {
            hint: Some(&h),
            client_uris: Some(&registered),
            session_sid: Some("s1"),
        };
        let appended = format!("{URI}?x=1");
        assert_eq!(
            decide(&with_uri(&appended), found),
            Err(Refusal::Unregistered {
                uri: appended.clone(),
                client_id: ClientId::parse("app").unwrap()
            })
        );
        let mismatch = request(&[("client_id", "other"), ("post_logout_redirect_uri", URI)]);
        assert!(matches!(decide(&mismatch, found), Err(Refusal::ClientMismatch { .. })));
        let bad: Result<Hint, String> = Err("signature".into());
        assert!(matches!(
            decide(
                &with_uri(URI),
                Found {
                    hint: Some(&bad),
                    ..found
                }
            ),
            Err(Refusal::BadHint(_))
        ));
        let nobody = Found {
            hint: None,
            client_uris: None,
            session_sid: Some("s1"),
        };
        assert!(matches!(decide(&with_uri(URI), nobody), Err(Refusal::NoClient { .. })));
        let unknown = request(&[("client_id", "ghost")]);
        assert!(matches!(decide(&unknown, nobody), Err(Refusal::UnknownClient(_))));
        let text = Refusal::Unregistered {
            uri: appended,
            client_id: ClientId::parse("app").unwrap(),
        }
        .explain();
        assert!(
            text.contains("gatehouse client update app --post-logout-redirect-uri"),
            "{text}"
        );
    }

    #[test]
    fn without_a_session_nobody_is_asked() {
        let registered = uris(&[URI]);
        let req = request(&[("client_id", "app"), ("post_logout_redirect_uri", URI)]);
        let found = Found {
            hint: None,
            client_uris: Some(&registered),
            session_sid: None,
        };
        let d = decide(&req, found).unwrap();
        assert!(!d.confirm);
        assert_eq!(
            d.redirect.unwrap(),
            PostLogoutRedirect {
                uri: URI.into(),
                state: None
            }
        );
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let p = Params::from_pairs([("state", "a"), ("state", "b")]);
        assert!(LogoutRequest::parse(&p).unwrap_err().description().contains("state"));
    }

    #[test]
    fn hints_are_read_only_from_our_id_tokens() {
        let iss = "https://id.example.com";
        let ok = serde_json::json!({"iss": iss, "aud": "app", "sub": "u1", "sid": "s1", "exp": 1});
        assert_eq!(Hint::from_claims(iss, &ok).unwrap().sid.as_deref(), Some("s1"));
        let foreign = serde_json::json!({"iss": "https://evil.example", "aud": "app", "sub": "u1"});
        assert!(Hint::from_claims(iss, &foreign).is_err());
        let many = serde_json::json!({"iss": iss, "aud": ["a", "b"], "sub": "u1"});
        assert!(Hint::from_claims(iss, &many).is_err());
    }

    #[test]
    fn backchannel_uris_follow_the_registration_rules() {
        assert!(BackchannelUri::parse("http://app.internal:8080/bc?x=1").is_ok());
        for (bad, rule) in [
            ("/relative", "absolute"),
            ("https://app.example.com/bc#f", "fragment"),
            ("ftp://app.example.com/bc", "https"),
            ("https://u:p@app.example.com/bc", "user information"),
        ] {
            let e = BackchannelUri::parse(bad).unwrap_err().description();
            assert!(e.contains(rule), "{bad}: {e}");
        }
    }

    #[test]
    fn logout_tokens_carry_sub_sid_and_the_event_and_never_a_nonce() {
        let c = LogoutTokenClaims::new("https://id.example.com", "app", "u1", "s1", "j1", 100, 120);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["exp"], 220);
        assert_eq!(v["events"][BACKCHANNEL_LOGOUT_EVENT], serde_json::json!({}));
        assert!(v.get("nonce").is_none());
        assert_eq!((v["sub"].as_str(), v["sid"].as_str()), (Some("u1"), Some("s1")));
    }
}
