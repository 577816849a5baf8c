//! Fresh random values: codes, tokens, secrets, cookies, identifiers. One source (aws-lc-rs's
//! system random generator), so nothing secret is ever drawn from a weaker one.

use gatehouse_protocol::types::b64url;

/// A fresh 256-bit random value, base64url (43 characters): codes, tokens, secrets, cookies.
#[must_use]
pub fn random_token() -> String {
    random_b64(32)
}

/// A fresh access-token value (or JWT `jti`) whose storage key sorts by issue time: 208 random
/// bits plus the issue time in milliseconds, 44 characters (see `TokenHash::ordered`).
#[must_use]
pub fn ordered_token() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut random = [0u8; 26];
    aws_lc_rs::rand::fill(&mut random).expect("the system random source failed");
    gatehouse_protocol::types::ordered_value(millis, &random)
}

/// A request id (16 characters): 48 random bits drawn once per process, then a counter. Unique,
/// not secret (it is echoed to the caller and logged), so it costs no draw from the random
/// generator (that draw was 3% of a discovery request).
#[must_use]
pub fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: std::sync::OnceLock<[u8; 6]> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 6];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random source failed");
        bytes
    });
    let mut bytes = [0u8; 12];
    bytes[..6].copy_from_slice(prefix);
    bytes[6..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes()[2..]);
    b64url(&bytes)
}

/// A fresh `client_id`: 96 random bits, base64url (16 characters), never starting with `-` (it
/// would read as an option on the command line); drawn again rather than rewritten, so every id
/// stays uniform over the rest.
#[must_use]
pub fn client_id() -> gatehouse_protocol::types::ClientId {
    let id = std::iter::repeat_with(|| random_b64(12))
        .find(|id| !id.starts_with('-'))
        .expect("repeat_with never ends");
    gatehouse_protocol::types::ClientId::from_stored(id)
}

/// `len` random bytes, base64url.
#[must_use]
pub fn random_b64(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random source failed");
    b64url(&bytes)
}

/// A fresh device user code (RFC 8628 §6.1): 8 characters of the 20-consonant alphabet, drawn
/// without bias.
#[must_use]
pub fn user_code() -> gatehouse_protocol::grant::device_code::UserCode {
    loop {
        let mut bytes = [0u8; 16];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random source failed");
        if let Some(code) = gatehouse_protocol::grant::device_code::UserCode::from_random(&bytes) {
            return code;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_distinct_and_plain() {
        let (a, b) = (request_id(), request_id());
        assert_ne!(a, b);
        assert_eq!((a.len(), &a[..8]), (16, &b[..8]), "one prefix per process");
    }

    #[test]
    fn generated_client_ids_never_read_as_options() {
        // One id in 64 started with `-` before the fix; 4096 draws make a miss vanishingly rare.
        for _ in 0..4096 {
            let id = client_id();
            assert!(!id.as_str().starts_with('-'), "{}", id.as_str());
            assert_eq!(id.as_str().len(), 16);
        }
    }
}
