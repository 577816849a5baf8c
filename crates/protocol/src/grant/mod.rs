//! One module per `grant_type`. Grant functions are pure: the caller passes the stored record and
//! `now`, and persists what comes back.

pub mod authorization_code;
pub mod refresh_token;
