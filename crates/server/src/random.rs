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
