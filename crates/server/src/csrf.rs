//! CSRF tokens for forms that have no stored interaction (the logout confirmation, the device
//! pages): an HMAC, under a server secret every instance shares, of the form's purpose and of the
//! cookie the form is bound to. Any instance can check one; a page of another site cannot make one.

use crate::state::AppState;
use gatehouse_protocol::types::{TokenHash, b64url};
use subtle::ConstantTimeEq;

/// The token for a form of `purpose` bound to the cookie whose hash is `binding`.
#[must_use]
pub fn token(state: &AppState, purpose: &str, binding: &TokenHash) -> String {
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&state.form_key);
    ctx.update(purpose.as_bytes());
    ctx.update(&[0]);
    ctx.update(binding.as_bytes());
    b64url(ctx.sign().as_ref())
}

/// Whether `sent` is the token for `purpose` and `binding` (compared in constant time).
#[must_use]
pub fn verify(state: &AppState, purpose: &str, binding: &TokenHash, sent: Option<&str>) -> bool {
    let expected = token(state, purpose, binding);
    bool::from(expected.as_bytes().ct_eq(sent.unwrap_or("").as_bytes()))
}
