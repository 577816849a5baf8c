//! DPoP server nonces (RFC 9449 §8), stateless: an HMAC of the time step under a server secret
//! every instance shares (kept in the store), so any instance accepts a nonce another handed out
//! and nothing is stored per nonce.

use aws_lc_rs::hmac;
use gatehouse_protocol::types::b64url;

/// How long one server nonce is current; the one before is accepted too.
pub const NONCE_STEP: i64 = 300;

/// Stateless server nonces: an HMAC of the time step under a server secret every instance shares,
/// so any instance accepts a nonce another handed out.
pub struct Nonces {
    key: hmac::Key,
}

impl Nonces {
    /// Nonces under `key`.
    #[must_use]
    pub fn new(key: hmac::Key) -> Self {
        Self { key }
    }

    fn at(&self, step: i64) -> String {
        let tag = hmac::sign(&self.key, &step.to_be_bytes());
        b64url(&tag.as_ref()[..18])
    }

    /// The nonce to hand out now.
    #[must_use]
    pub fn current(&self, now: i64) -> String {
        self.at(now.div_euclid(NONCE_STEP))
    }

    /// Whether `nonce` is the current one or the one before.
    #[must_use]
    pub fn accepts(&self, nonce: &str, now: i64) -> bool {
        use subtle::ConstantTimeEq;
        let step = now.div_euclid(NONCE_STEP);
        [step, step - 1]
            .iter()
            .any(|s| bool::from(self.at(*s).as_bytes().ct_eq(nonce.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &[byte; 32])
    }

    #[test]
    fn a_nonce_lives_its_step_and_the_next_and_only_under_its_key() {
        let (a, b) = (Nonces::new(key(1)), Nonces::new(key(1)));
        let now = 1_800_000_000;
        let n = a.current(now);
        assert!(b.accepts(&n, now), "another instance with the same secret");
        assert!(b.accepts(&n, now + NONCE_STEP), "the next step");
        assert!(!b.accepts(&n, now + 2 * NONCE_STEP), "two steps later");
        assert!(!Nonces::new(key(2)).accepts(&n, now), "another secret");
        assert!(!a.accepts("", now) && !a.accepts("x", now));
    }
}
