//! Protocol nouns as types that cannot hold invalid values. Constructors validate; nothing else does.

/// `from_stored` and `as_str` for a validated string newtype: a value read back from storage was
/// validated on its way in and is not parsed again.
macro_rules! stored_string {
    ($ty:ident, $as_str:literal) => {
        impl $ty {
            /// Rebuilds a value read from storage, where it was validated on the way in.
            #[must_use]
            pub fn from_stored(value: String) -> Self {
                Self(value)
            }

            #[doc = $as_str]
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

mod backchannel_uri;
mod client;
mod hash;
mod pkce;
mod redirect_uri;
mod scope;
mod secret;
mod time;

pub use backchannel_uri::{BackchannelUri, JwksUri};
pub use client::{AccessTokenFormat, ClientId, ClientKind, GrantType, SigningAlg, TokenEndpointAuthMethod};
pub use hash::{TokenHash, b64url, b64url_decode, ordered_millis, ordered_value};
pub use pkce::{CodeChallenge, CodeVerifier};
pub use redirect_uri::RedirectUri;
pub use scope::{BuiltinScope, Scope, ScopeSet};
pub use secret::Secret;
pub use time::UnixTime;
