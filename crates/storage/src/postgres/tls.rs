//! TLS to PostgreSQL: libpq's `sslmode`/`sslrootcert` read from the URL (the driver knows
//! neither), the policy (verified TLS off loopback unless the URL says otherwise) and the rustls
//! connector.

use crate::error::StoreError;

/// How the connection to PostgreSQL is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPolicy {
    /// No TLS (`sslmode=disable`, or a loopback host without `sslmode`).
    Off,
    /// TLS when the server offers it, else plaintext (`sslmode=prefer`, only when asked for).
    Prefer,
    /// TLS required, the certificate chain and host name verified (`require`, `verify-ca`,
    /// `verify-full`, and the default for every non-loopback host: no silent downgrade).
    Verify,
}

/// A connection string with its libpq TLS parameters (which the driver does not know) taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsParams {
    /// The connection string for the driver.
    pub driver_url: String,
    /// The policy `sslmode` asks for, if it is given.
    pub mode: Option<TlsPolicy>,
    /// `sslrootcert`, if given.
    pub root_cert: Option<String>,
}

impl TlsParams {
    /// The policy for a connection to a loopback host or not: `sslmode` when given, else off on
    /// loopback and verified TLS everywhere else.
    #[must_use]
    pub fn policy(&self, loopback: bool) -> TlsPolicy {
        self.mode
            .unwrap_or(if loopback { TlsPolicy::Off } else { TlsPolicy::Verify })
    }
}

/// Takes the libpq TLS parameters out of `url`.
///
/// # Errors
/// An `sslmode` value that is not one of libpq's.
pub fn tls_params(url: &str) -> Result<TlsParams, String> {
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let (base, query, sep) = match url.split_once('?') {
        Some((b, q)) if is_url => (b, q, '&'),
        _ if is_url => (url, "", '&'),
        // key=value connection strings separate parameters with spaces (Gatehouse's own settings
        // accept URLs only; this keeps the CLI's and tests' key=value strings working)
        _ => ("", url, ' '),
    };
    let mut mode = None;
    let mut root = None;
    let mut kept = Vec::new();
    for part in query.split(sep).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some(("sslmode", v)) => mode = Some(v.to_owned()),
            Some(("sslrootcert", v)) => root = Some(v.to_owned()),
            _ => kept.push(part),
        }
    }
    let mode = match mode.as_deref() {
        None => None,
        Some("require" | "verify-ca" | "verify-full") => Some(TlsPolicy::Verify),
        Some("disable") => Some(TlsPolicy::Off),
        Some("prefer" | "allow") => Some(TlsPolicy::Prefer),
        Some(other) => {
            return Err(format!(
                "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
            ));
        }
    };
    let rest = kept.join(&sep.to_string());
    let driver_url = match (base.is_empty(), rest.is_empty()) {
        (true, _) => rest,
        (false, true) => base.to_owned(),
        (false, false) => format!("{base}?{rest}"),
    };
    Ok(TlsParams {
        driver_url,
        mode,
        root_cert: root,
    })
}

/// TLS with the certificate chain and host name checked against the public web PKI roots, or
/// against the certificate authorities in `ca_file` only.
pub(super) fn tls_connector(
    ca_file: Option<&std::path::Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let roots = match ca_file {
        None => rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
        Some(path) => {
            let bad = |e: String| StoreError::Internal(format!("GATEHOUSE_DB_CA_FILE {}: {e}", path.display()));
            let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            let mut store = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                store
                    .add(cert.map_err(|e| bad(format!("not PEM certificates ({e})")))?)
                    .map_err(|e| bad(e.to_string()))?;
            }
            if store.is_empty() {
                return Err(bad("holds no certificate".into()));
            }
            store
        }
    };
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Internal(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::{TlsPolicy, tls_params};

    #[test]
    fn tls_is_required_and_verified_off_loopback_unless_the_url_says_otherwise() {
        let remote = "postgres://u:p@db.example.com:5432/gh";
        let plain = tls_params(remote).unwrap();
        assert_eq!(plain.policy(false), TlsPolicy::Verify, "no silent downgrade");
        assert_eq!(plain.policy(true), TlsPolicy::Off);
        for (mode, policy) in [
            ("disable", TlsPolicy::Off),
            ("prefer", TlsPolicy::Prefer),
            ("require", TlsPolicy::Verify),
            ("verify-ca", TlsPolicy::Verify),
            ("verify-full", TlsPolicy::Verify),
        ] {
            let p = tls_params(&format!("{remote}?application_name=x&sslmode={mode}")).unwrap();
            assert_eq!(p.policy(true), policy, "{mode}: an explicit mode wins, loopback or not");
            assert_eq!(p.policy(false), policy, "{mode}");
            assert_eq!(
                p.driver_url,
                format!("{remote}?application_name=x"),
                "the driver never sees sslmode"
            );
        }
        let p = tls_params(&format!("{remote}?sslmode=verify-full&sslrootcert=/etc/ca.pem")).unwrap();
        assert_eq!(
            (p.driver_url.as_str(), p.root_cert.as_deref()),
            (remote, Some("/etc/ca.pem"))
        );
        let p = tls_params("host=db.example.com user=u sslmode=verify-full").unwrap();
        assert_eq!(
            (p.driver_url.as_str(), p.policy(true)),
            ("host=db.example.com user=u", TlsPolicy::Verify)
        );
        assert!(
            tls_params(&format!("{remote}?sslmode=bogus"))
                .unwrap_err()
                .contains("bogus")
        );
    }
}
