//! SHA-256 hashes of codes, tokens and client secrets: the only form in which they are stored.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// base64url without padding (RFC 7515 §2).
#[must_use]
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; `None` when malformed.
#[must_use]
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// SHA-256 of a bearer value (code, token, client secret). Random 256-bit values need no slow
/// hash: a preimage search over 2^256 is the protection, and a slow hash would cap throughput.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a presented value.
    #[must_use]
    pub fn of(value: &str) -> Self {
        Self(Sha256::digest(value.as_bytes()).into())
    }

    /// Rebuilds a hash read from storage; `None` if it is not 32 bytes.
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The raw 32 bytes, for storage keys.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time equality, for comparing a presented secret with a stored hash.
    #[must_use]
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A prefix is enough to tell rows apart in a log and reveals nothing usable.
        write!(f, "TokenHash({}…)", &b64url(&self.0)[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_compares_in_constant_time() {
        let a = TokenHash::of("abc");
        assert!(a.ct_eq(&TokenHash::of("abc")));
        assert!(!a.ct_eq(&TokenHash::of("abd")));
        assert_eq!(TokenHash::from_bytes(a.as_bytes()), Some(a));
        assert_eq!(TokenHash::from_bytes(&[1, 2]), None);
    }
}
