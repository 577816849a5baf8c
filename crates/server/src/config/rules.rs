//! Rules between settings, checked once every setting has parsed on its own.

use super::{Config, ConfigError};

/// The first rule `config` breaks.
///
/// # Errors
/// The later setting of the pair, with what it must be.
pub(super) fn together(config: &Config) -> Result<(), ConfigError> {
    // A JWT access token is not stored: the record of its grant's revocation must outlive it.
    if config.revoked_retention < config.access_token_ttl {
        return Err(ConfigError {
            setting: "GATEHOUSE_REVOKED_RETENTION",
            message: format!(
                "must be at least GATEHOUSE_ACCESS_TOKEN_TTL ({}s): a revoked grant is remembered that long so \
                 its JWT access tokens stay revoked until they expire",
                config.access_token_ttl.as_secs()
            ),
        });
    }
    Ok(())
}
