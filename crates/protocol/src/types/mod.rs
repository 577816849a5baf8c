//! Protocol nouns as types that cannot hold invalid values. Constructors validate; nothing else does.

mod client;
mod hash;
mod pkce;
mod redirect_uri;
mod scope;
mod secret;
mod time;

pub use client::{AccessTokenFormat, ClientId, ClientKind, GrantType, SigningAlg, TokenEndpointAuthMethod};
pub use hash::{TokenHash, b64url, b64url_decode, ordered_value};
pub use pkce::{CodeChallenge, CodeVerifier};
pub use redirect_uri::RedirectUri;
pub use scope::{BuiltinScope, Scope, ScopeSet};
pub use secret::Secret;
pub use time::UnixTime;
