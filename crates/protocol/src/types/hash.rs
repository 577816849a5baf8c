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

    /// The storage key of a value made by [`ordered_value`]: its 6-byte issue time, then 26 bytes
    /// (208 bits) of the value's SHA-256. Keys of tokens issued together sort together, so
    /// inserts append to the right edge of the B-tree instead of dirtying a random page each
    /// (the profile showed one 4 KiB page write per token). Any other value (a token issued
    /// before ordered values existed, or garbage) gets the plain SHA-256, so old tokens keep
    /// working and nothing else can match.
    #[must_use]
    pub fn ordered(value: &str) -> Self {
        let mut key: [u8; 32] = Sha256::digest(value.as_bytes()).into();
        if value.len() == ORDERED_LEN
            && let Some(bytes) = b64url_decode(value)
            && bytes.len() == ORDERED_BYTES
            && bytes[0] == ORDERED_VERSION
        {
            key.copy_within(..26, 6);
            key[..6].copy_from_slice(&bytes[1..7]);
        }
        Self(key)
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

const ORDERED_VERSION: u8 = 1;
const ORDERED_BYTES: usize = 33;
/// base64url length of 33 bytes.
const ORDERED_LEN: usize = 44;

/// A bearer value whose storage key sorts by issue time (see [`TokenHash::ordered`]): a version
/// byte, the issue time in milliseconds (6 bytes, big-endian), and 26 random bytes (208 bits, above
/// the 128 bits RFC 6749 §10.10 and RFC 6819 §5.1.4.2.2 ask for), base64url: 44 characters.
#[must_use]
pub fn ordered_value(unix_millis: u64, random: &[u8; 26]) -> String {
    let mut bytes = [0u8; ORDERED_BYTES];
    bytes[0] = ORDERED_VERSION;
    bytes[1..7].copy_from_slice(&unix_millis.to_be_bytes()[2..]);
    bytes[7..].copy_from_slice(random);
    b64url(&bytes)
}

/// The issue time (Unix milliseconds) an [`ordered_value`] records; `None` for any other value.
#[must_use]
pub fn ordered_millis(value: &str) -> Option<u64> {
    if value.len() != ORDERED_LEN {
        return None;
    }
    let bytes = b64url_decode(value)?;
    if bytes.len() != ORDERED_BYTES || bytes[0] != ORDERED_VERSION {
        return None;
    }
    let mut millis = [0u8; 8];
    millis[2..].copy_from_slice(&bytes[1..7]);
    Some(u64::from_be_bytes(millis))
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
    fn ordered_values_give_back_their_time() {
        let value = ordered_value(1_796_000_123_456, &[7; 26]);
        assert_eq!(ordered_millis(&value), Some(1_796_000_123_456));
        assert_eq!(ordered_millis("not-an-ordered-value"), None);
        assert_eq!(ordered_millis(&b64url(&[9u8; ORDERED_BYTES])), None);
    }

    #[test]
    fn hash_is_stable_and_compares_in_constant_time() {
        let a = TokenHash::of("abc");
        assert!(a.ct_eq(&TokenHash::of("abc")));
        assert!(!a.ct_eq(&TokenHash::of("abd")));
        assert_eq!(TokenHash::from_bytes(a.as_bytes()), Some(a));
        assert_eq!(TokenHash::from_bytes(&[1, 2]), None);
    }

    #[test]
    fn ordered_keys_sort_by_issue_time_and_differ_per_value() {
        let a = ordered_value(1_000, &[7; 26]);
        let b = ordered_value(1_001, &[1; 26]);
        let c = ordered_value(1_001, &[2; 26]);
        assert_eq!(a.len(), 44);
        let (ka, kb, kc) = (TokenHash::ordered(&a), TokenHash::ordered(&b), TokenHash::ordered(&c));
        assert!(ka.as_bytes() < kb.as_bytes());
        assert_eq!(kb.as_bytes()[..6], kc.as_bytes()[..6]);
        assert_ne!(kb, kc);
        // The key is bound to the whole value: changing any character changes it.
        let mut tampered = b.clone().into_bytes();
        tampered[40] = if tampered[40] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_ne!(TokenHash::ordered(&tampered), kb);
        // Values of another shape (older tokens, garbage) get the plain hash.
        assert_eq!(TokenHash::ordered("abc"), TokenHash::of("abc"));
        let old = b64url(&[9u8; 32]);
        assert_eq!(TokenHash::ordered(&old), TokenHash::of(&old));
    }
}
