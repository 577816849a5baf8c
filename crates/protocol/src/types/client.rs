//! Client nouns: identifier, kind, grant types, authentication methods and signing algorithms.

use crate::error::{Error, invalid_request};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A `client_id`: 1 to 255 printable ASCII characters (RFC 6749 Appendix A.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(String);

stored_string!(ClientId, "The identifier.");

impl ClientId {
    /// Validates a `client_id` from a request or the CLI.
    ///
    /// # Errors
    /// `invalid_request` when empty, longer than 255 or not printable ASCII.
    pub fn parse(value: &str) -> Result<Self, Error> {
        if value.is_empty() || value.len() > 255 || !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(invalid_request("client_id must be 1 to 255 printable ASCII characters"));
        }
        Ok(Self(value.to_owned()))
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a client can keep a secret (RFC 6749 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// Holds a secret and authenticates at the token endpoint.
    Confidential,
    /// A browser or native app: no secret, PKCE is its protection.
    Public,
}

/// Defines a string-valued protocol enum with its wire names, `FromStr` and `Display`.
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident, $what:literal { $($(#[$vm:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The wire name.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire),+ }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($wire => Ok(Self::$variant),)+
                    other => Err(format!(
                        concat!("unknown ", $what, " {}; expected one of: {}"),
                        other,
                        [$($wire),+].join(", ")
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// A `grant_type` a client may be allowed to use.
    GrantType, "grant type" {
        /// RFC 6749 §4.1.
        AuthorizationCode = "authorization_code",
        /// RFC 6749 §6.
        RefreshToken = "refresh_token",
        /// RFC 6749 §4.4.
        ClientCredentials = "client_credentials",
        /// RFC 8628 §3.4: a device polls while its user approves elsewhere.
        DeviceCode = "urn:ietf:params:oauth:grant-type:device_code",
    }
);

wire_enum!(
    /// How a client authenticates at the token endpoint (OIDC Core §9).
    TokenEndpointAuthMethod, "token endpoint auth method" {
        /// HTTP Basic with the URL-encoded id and secret (RFC 6749 §2.3.1).
        ClientSecretBasic = "client_secret_basic",
        /// `client_id` and `client_secret` in the form body.
        ClientSecretPost = "client_secret_post",
        /// A public client: no authentication, PKCE only.
        None = "none",
        /// A JWT signed with one of the client's keys (RFC 7523, OIDC Core §9).
        PrivateKeyJwt = "private_key_jwt",
    }
);

wire_enum!(
    /// A JWS algorithm Gatehouse signs with (RFC 7518 §3.1, RFC 8037).
    SigningAlg, "signing algorithm" {
        /// RSASSA-PKCS1-v1_5 with SHA-256: the OIDC default and mandatory to implement.
        Rs256 = "RS256",
        /// ECDSA P-256 with SHA-256.
        Es256 = "ES256",
        /// Ed25519.
        EdDsa = "EdDSA",
    }
);

wire_enum!(
    /// How a client's access tokens are issued.
    AccessTokenFormat, "access token format" {
        /// 256 random bits, stored hashed; checked by introspection.
        Opaque = "opaque",
        /// An RFC 9068 JWT (`typ: at+jwt`) a resource server can verify against the JWKS.
        Jwt = "jwt",
    }
);

impl TokenEndpointAuthMethod {
    /// Whether clients of this method hold a shared secret (stored as its hash).
    #[must_use]
    pub fn has_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }

    /// The kind of client this method implies.
    #[must_use]
    pub fn kind(self) -> ClientKind {
        match self {
            Self::ClientSecretBasic | Self::ClientSecretPost | Self::PrivateKeyJwt => ClientKind::Confidential,
            Self::None => ClientKind::Public,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_unknown_names_list_the_choices() {
        for g in GrantType::ALL {
            assert_eq!(g.as_str().parse::<GrantType>().unwrap(), *g);
        }
        let e = "password".parse::<GrantType>().unwrap_err();
        assert!(e.contains("authorization_code") && e.contains("password"), "{e}");
        assert_eq!("EdDSA".parse::<SigningAlg>().unwrap(), SigningAlg::EdDsa);
    }

    #[test]
    fn client_id_rejects_control_characters_and_empty() {
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse("a\nb").is_err());
        assert!(ClientId::parse(&"x".repeat(256)).is_err());
        assert_eq!(ClientId::parse("app-1").unwrap().as_str(), "app-1");
    }
}
