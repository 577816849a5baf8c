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
}

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
            Self::Basic { client_id, .. } | Self::Post { client_id, .. } | Self::None { client_id } => client_id,
        }
    }

    /// The method these credentials use.
    #[must_use]
    pub fn method(&self) -> TokenEndpointAuthMethod {
        match self {
            Self::Basic { .. } => TokenEndpointAuthMethod::ClientSecretBasic,
            Self::Post { .. } => TokenEndpointAuthMethod::ClientSecretPost,
            Self::None { .. } => TokenEndpointAuthMethod::None,
        }
    }

    /// Checks the credentials against the client's registration: the method must be the
    /// registered one and the secret must match its stored hash (compared in constant time).
    ///
    /// # Errors
    /// `invalid_client`, with a description that says what to change.
    pub fn verify(&self, registered: TokenEndpointAuthMethod, secret_hash: Option<&TokenHash>) -> Result<(), Error> {
        if self.method() != registered {
            return Err(Error::InvalidClient(
                format!(
                    "this client is registered for token_endpoint_auth_method {registered} but authenticated with {}; {}",
                    self.method(),
                    match registered {
                        TokenEndpointAuthMethod::ClientSecretBasic => "send the credentials in an HTTP Basic Authorization header",
                        TokenEndpointAuthMethod::ClientSecretPost => "send client_id and client_secret in the form body",
                        TokenEndpointAuthMethod::None => "a public client sends only client_id, no secret",
                    }
                )
                .into(),
            ));
        }
        match (self, secret_hash) {
            (Self::None { .. }, _) => Ok(()),
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
        let public = ClientAuth::parse(None, &Params::from_pairs([("client_id", "spa")])).unwrap();
        public.verify(TokenEndpointAuthMethod::None, None).unwrap();
        assert!(
            public
                .verify(TokenEndpointAuthMethod::ClientSecretBasic, Some(&hash))
                .is_err()
        );
    }
}
