//! The key-encryption key setting, and keeping secrets out of printed settings.

use super::ConfigError;
use super::read::Reader;

/// The text of a validated key-encryption key; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    /// The key as configured, for [`crate::seal::Kek::parse`].
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// `GATEHOUSE_SECRET_KEY`, or the content of `GATEHOUSE_SECRET_KEY_FILE` (a file only its owner
/// can read), validated as a key-encryption key.
pub(super) fn secret_key<G: Fn(&str) -> Option<String>>(r: &Reader<G>) -> Result<Option<SecretKey>, ConfigError> {
    let (setting, raw) = match (r.set("GATEHOUSE_SECRET_KEY"), r.set("GATEHOUSE_SECRET_KEY_FILE")) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(ConfigError {
                setting: "GATEHOUSE_SECRET_KEY_FILE",
                message: "set GATEHOUSE_SECRET_KEY or GATEHOUSE_SECRET_KEY_FILE, not both".into(),
            });
        }
        (Some(v), None) => ("GATEHOUSE_SECRET_KEY", v),
        (None, Some(path)) => {
            let fail = |message: String| ConfigError {
                setting: "GATEHOUSE_SECRET_KEY_FILE",
                message,
            };
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&path)
                    .map_err(|e| fail(format!("cannot read {path}: {e}")))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(fail(format!(
                        "{path} is readable by other users (mode {:o}); fix it with: chmod 600 {path}",
                        mode & 0o777
                    )));
                }
            }
            let text = std::fs::read_to_string(&path).map_err(|e| fail(format!("cannot read {path}: {e}")))?;
            ("GATEHOUSE_SECRET_KEY_FILE", text)
        }
    };
    crate::seal::Kek::parse(&raw).map_err(|message| ConfigError { setting, message })?;
    Ok(Some(SecretKey(raw.trim().to_owned())))
}

/// A setting's value with any password or key replaced, for printing.
#[must_use]
pub fn redact(setting: &str, value: &str) -> String {
    if setting == "GATEHOUSE_SECRET_KEY" {
        return "********".into();
    }
    if setting == "DATABASE_URL" {
        if let Ok(mut u) = url::Url::parse(value) {
            if u.password().is_some() {
                let _ = u.set_password(Some("********"));
            }
            // tokio-postgres also takes the password as a query parameter.
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let secret = k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("sslpassword");
                    (
                        k.into_owned(),
                        if secret { "********".to_owned() } else { v.into_owned() },
                    )
                })
                .collect();
            if !pairs.is_empty() {
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            return u.to_string();
        }
        return "[unparseable, not shown]".into();
    }
    value.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_redacted_wherever_they_are() {
        let shown = redact(
            "DATABASE_URL",
            "postgres://u:hunter2@db/x?password=hunter3&sslmode=require",
        );
        assert!(!shown.contains("hunter2") && !shown.contains("hunter3"), "{shown}");
        assert!(shown.contains("sslmode=require"), "{shown}");
    }
}
