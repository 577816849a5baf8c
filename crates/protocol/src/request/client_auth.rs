//! Client authentication at the token, revocation and introspection endpoints
//! (RFC 6749 §2.3, OIDC Core §9).

use super::Params;
use crate::error::{Error, invalid_request};
use crate::types::{ClientId, Secret, TokenEndpointAuthMethod, TokenHash};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The credentials a request presented, before they are checked.
#[derive(Debug)]
pub enum ClientAuth {
    /// `Authorization: Basic` (`client_secret_basic`).
    Basic {
        /// The client.
        client_id: ClientId,
        /// The presented secret.
        secret: Secret,
    },
    /// `client_id` and `client_secret` in the body (`client_secret_post`).
    Post {
        /// The client.
        client_id: ClientId,
        /// The presented secret.
        secret: Secret,
    },
    /// Only `client_id` in the body: a public client (`none`).
    None {
        /// The client.
        client_id: ClientId,
    },
    /// A `client_assertion` JWT (`private_key_jwt`, RFC 7523 §2.2). The caller verifies it with
    /// the client's keys ([`crate::client_jwt`]); [`ClientAuth::verify`] never accepts it.
    Assertion {
        /// The client: `client_id` if sent, else the assertion's (unverified) `sub`.
        client_id: ClientId,
        /// The assertion.
        assertion: Secret,
    },
}

/// The one `client_assertion_type` (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

impl ClientAuth {
    /// Reads credentials from the `Authorization` header and the form.
    ///
    /// # Errors
    /// `invalid_client` when none are presented or the Basic header is malformed;
    /// `invalid_request` when two methods are used at once (RFC 6749 §2.3) or the body's
    /// `client_id` contradicts the header.
    pub fn parse(authorization: Option<&str>, params: &Params) -> Result<Self, Error> {
        let body_id = params.get("client_id")?;
        let body_secret = params.get("client_secret")?;
        if let Some(kind) = params.get("client_assertion_type")? {
            if authorization.is_some() || body_secret.is_some() {
                return Err(invalid_request(
                    "use one client authentication method: a client_assertion was sent with a client secret",
                ));
            }
            return assertion(kind, params.get("client_assertion")?, body_id);
        }
        if let Some(header) = authorization {
            let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(Error::InvalidClient(
                    "the Authorization header must use the Basic scheme for client authentication".into(),
                ));
            }
            let (client_id, secret) = decode_basic(rest.trim())?;
            if body_secret.is_some() {
                return Err(invalid_request(
                    "use one client authentication method: client_secret was sent both in the Authorization header and in the body",
                ));
            }
            if body_id.is_some_and(|id| id != client_id.as_str()) {
                return Err(invalid_request(
                    "client_id in the body differs from the one in the Authorization header",
                ));
            }
            return Ok(Self::Basic { client_id, secret });
        }
        let Some(id) = body_id else {
            return Err(Error::InvalidClient(
                "client authentication is required: send HTTP Basic credentials, or client_id (and client_secret) in the body".into(),
            ));
        };
        let client_id = ClientId::parse(id).map_err(|_| Error::InvalidClient("client_id is malformed".into()))?;
        Ok(match body_secret {
            Some(s) => Self::Post {
                client_id,
                secret: Secret::new(s.to_owned()),
            },
            None => Self::None { client_id },
        })
    }

    /// The client the credentials claim to be.
    #[must_use]
    pub fn client_id(&self) -> &ClientId {
        match self {
            Self::Basic { client_id, .. }
            | Self::Post { client_id, .. }
            | Self::None { client_id }
            | Self::Assertion { client_id, .. } => client_id,
        }
    }

    /// The method these credentials use.
    #[must_use]
    pub fn method(&self) -> TokenEndpointAuthMethod {
        match self {
            Self::Basic { .. } => TokenEndpointAuthMethod::ClientSecretBasic,
            Self::Post { .. } => TokenEndpointAuthMethod::ClientSecretPost,
            Self::None { .. } => TokenEndpointAuthMethod::None,
            Self::Assertion { .. } => TokenEndpointAuthMethod::PrivateKeyJwt,
        }
    }

    /// Checks only that these credentials use the client's registered method.
    ///
    /// # Errors
    /// `invalid_client`, saying how this client must authenticate.
    pub fn verify_method(&self, registered: TokenEndpointAuthMethod) -> Result<(), Error> {
        if self.method() == registered {
            return Ok(());
        }
        Err(Error::InvalidClient(
            format!(
                "this client is registered for token_endpoint_auth_method {registered} but authenticated with {}; {}",
                self.method(),
                match registered {
                    TokenEndpointAuthMethod::ClientSecretBasic => "send the credentials in an HTTP Basic Authorization header",
                    TokenEndpointAuthMethod::ClientSecretPost => "send client_id and client_secret in the form body",
                    TokenEndpointAuthMethod::None => "a public client sends only client_id, no secret",
                    TokenEndpointAuthMethod::PrivateKeyJwt => {
                        "send a client_assertion (a JWT signed with one of its registered keys) with client_assertion_type urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                    }
                }
            )
            .into(),
        ))
    }

    /// Checks the credentials against the client's registration: the method must be the
    /// registered one and the secret must match its stored hash (compared in constant time).
    ///
    /// # Errors
    /// `invalid_client`, with a description that says what to change.
    pub fn verify(&self, registered: TokenEndpointAuthMethod, secret_hash: Option<&TokenHash>) -> Result<(), Error> {
        self.verify_method(registered)?;
        match (self, secret_hash) {
            (Self::None { .. }, _) => Ok(()),
            (Self::Assertion { .. }, _) => Err(Error::InvalidClient(
                "a client_assertion is checked against the client's keys, not a secret".into(),
            )),
            (Self::Basic { secret, .. } | Self::Post { secret, .. }, Some(stored))
                if TokenHash::of(secret.expose()).ct_eq(stored) =>
            {
                Ok(())
            }
            _ => Err(Error::InvalidClient(
                "client authentication failed: wrong client_secret".into(),
            )),
        }
    }
}

/// Reads `client_assertion`: the type must be JWT bearer; the client is `client_id` if sent, else
/// the assertion's `sub` (RFC 7523 §3: `client_id` is optional), read without verifying (the
/// caller verifies the assertion with that client's keys, and `sub` must match then).
fn assertion(kind: &str, jwt: Option<&str>, body_id: Option<&str>) -> Result<ClientAuth, Error> {
    if kind != JWT_BEARER {
        return Err(Error::InvalidClient(
            format!("client_assertion_type {kind} is not supported; use {JWT_BEARER}").into(),
        ));
    }
    let jwt =
        jwt.ok_or_else(|| Error::InvalidClient("client_assertion_type was sent without client_assertion".into()))?;
    let id = match body_id {
        Some(id) => id.to_owned(),
        None => jwt
            .split('.')
            .nth(1)
            .and_then(crate::types::b64url_decode)
            .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok())
            .and_then(|c| c["sub"].as_str().map(str::to_owned))
            .ok_or_else(|| {
                Error::InvalidClient("the client_assertion has no readable sub, and no client_id was sent".into())
            })?,
    };
    let client_id = ClientId::parse(&id).map_err(|_| Error::InvalidClient("client_id is malformed".into()))?;
    Ok(ClientAuth::Assertion {
        client_id,
        assertion: Secret::new(jwt.to_owned()),
    })
}

/// RFC 6749 §2.3.1: id and secret are each form-urlencoded before being joined and base64'd.
fn decode_basic(encoded: &str) -> Result<(ClientId, Secret), Error> {
    let malformed = || {
        Error::InvalidClient("the Basic Authorization header is malformed: expected base64(urlencode(client_id):urlencode(client_secret))".into())
    };
    let bytes = STANDARD.decode(encoded).map_err(|_| malformed())?;
    let text = String::from_utf8(bytes).map_err(|_| malformed())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
    let params = Params::parse(format!("i={id}&s={secret}").as_bytes()).map_err(|_| malformed())?;
    let id = params.get("i").map_err(|_| malformed())?.ok_or_else(malformed)?;
    let secret = params.get("s").map_err(|_| malformed())?.unwrap_or("");
    let client_id = ClientId::parse(id).map_err(|_| malformed())?;
    Ok((client_id, Secret::new(secret.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn basic_credentials_are_url_decoded() {
        let auth = ClientAuth::parse(Some(&basic("my%20app", "s%3Acret")), &Params::default()).unwrap();
        let ClientAuth::Basic { client_id, secret } = auth else {
            panic!()
        };
        assert_eq!(client_id.as_str(), "my app");
        assert_eq!(secret.expose(), "s:cret");
    }

    #[test]
    fn no_credentials_is_invalid_client() {
        assert_eq!(
            ClientAuth::parse(None, &Params::default()).unwrap_err().code(),
            "invalid_client"
        );
        assert_eq!(
            ClientAuth::parse(Some("Basic !!!"), &Params::default())
                .unwrap_err()
                .code(),
            "invalid_client"
        );
        assert_eq!(
            ClientAuth::parse(Some("Bearer abc"), &Params::default())
                .unwrap_err()
                .code(),
            "invalid_client"
        );
    }

    #[test]
    fn two_methods_at_once_is_invalid_request() {
        let p = Params::from_pairs([("client_secret", "x")]);
        assert_eq!(
            ClientAuth::parse(Some(&basic("a", "b")), &p).unwrap_err().code(),
            "invalid_request"
        );
    }

    #[test]
    fn verify_checks_method_and_secret() {
        let hash = TokenHash::of("right");
        let ok = ClientAuth::parse(Some(&basic("a", "right")), &Params::default()).unwrap();
        ok.verify(TokenEndpointAuthMethod::ClientSecretBasic, Some(&hash))
            .unwrap();
        assert!(
            ok.verify(TokenEndpointAuthMethod::ClientSecretPost, Some(&hash))
                .is_err()
        );
        let wrong = ClientAuth::parse(Some(&basic("a", "wrong")), &Params::default()).unwrap();
        assert_eq!(
            wrong
                .verify(TokenEndpointAuthMethod::ClientSecretBasic, Some(&hash))
                .unwrap_err()
                .code(),
            "invalid_client"
        );
        // An assertion is never accepted here: its signature is checked with the client's keys.
        let asserted = ClientAuth::parse(
            None,
            &Params::from_pairs([
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", "a.e30.c"),
                ("client_id", "svc"),
            ]),
        )
        .unwrap();
        assert_eq!(asserted.method(), TokenEndpointAuthMethod::PrivateKeyJwt);
        assert!(asserted.verify(TokenEndpointAuthMethod::PrivateKeyJwt, None).is_err());
        asserted.verify_method(TokenEndpointAuthMethod::PrivateKeyJwt).unwrap();
        let public = ClientAuth::parse(None, &Params::from_pairs([("client_id", "spa")])).unwrap();
        public.verify(TokenEndpointAuthMethod::None, None).unwrap();
        assert!(
            public
                .verify(TokenEndpointAuthMethod::ClientSecretBasic, Some(&hash))
                .is_err()
        );
    }
}
