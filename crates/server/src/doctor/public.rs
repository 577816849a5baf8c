//! Checks of the public face: what relying parties see through the issuer URL (through the proxy,
//! as they do). The discovery document names this issuer and only URLs under it; the JWKS served
//! is the store's keys (an instance or a cache serving other keys is caught here); the TLS
//! certificate is valid for the host and not about to expire; HSTS is on; the operator endpoints
//! are not passed through.

use super::{Finding, Options};
use crate::config::Config;
use crate::keys::KeyRing;
use gatehouse_storage::Store;
use serde_json::Value;
use std::collections::BTreeMap;

pub(super) async fn check(config: &Config, store: Option<&dyn Store>, options: &Options, out: &mut Vec<Finding>) {
    let issuer = super::issuer(config);
    let http = match super::public_client(config, options, false) {
        Ok(h) => h,
        Err(e) => return out.push(Finding::fail("public.discovery", format!("{e:#}"), "", "")),
    };
    let url = format!("{issuer}/.well-known/openid-configuration");
    let res = match http.get(&url).send().await {
        Ok(r) => r,
        Err(e) => return out.push(unreachable(config, &url, &e)),
    };
    let https = issuer.starts_with("https://");
    if https {
        out.push(tls(&issuer, config, options).await);
        out.push(hsts(&res));
    }
    let status = res.status();
    let doc: Value = match res.json::<Value>().await {
        Ok(d) if status.is_success() => d,
        answer => {
            let said = answer
                .ok()
                .and_then(|v| v["error_description"].as_str().map(|d| format!(": {d}")))
                .unwrap_or_default();
            return out.push(Finding::fail(
                "public.discovery",
                format!("{url} answered HTTP {status}, not the discovery document{said}"),
                "relying parties start from this document; none can be configured",
                "check that the proxy forwards /.well-known/ to Gatehouse",
            ));
        }
    };
    out.push(issuer_matches(&issuer, &url, &doc));
    out.push(endpoints(&issuer, &doc));
    if let Some(store) = store {
        out.push(jwks(&http, &doc, store).await);
    }
    out.push(exposure(&http, &issuer).await);
}

fn unreachable(config: &Config, url: &str, e: &reqwest::Error) -> Finding {
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause.push_str(": ");
        cause.push_str(&s.to_string());
        source = s.source();
    }
    if cause.contains("certificate") || cause.contains("Certificate") {
        return Finding::fail(
            "public.tls",
            format!("the TLS certificate of {url} is not valid: {cause}"),
            "every client and browser refuses the connection (SSL verification failed)",
            "renew the certificate, or make it cover the issuer's host name; for a private CA run doctor with --ca-file CA.pem",
        );
    }
    if config.issuer.is_none() && e.is_connect() {
        return Finding::warn(
            "public.discovery",
            format!("no server answers at {url}"),
            "the public checks need a running server",
            "start it with gatehouse serve, then run gatehouse doctor again",
        );
    }
    Finding::fail(
        "public.discovery",
        format!("cannot fetch {url}: {cause}"),
        "relying parties cannot discover this server",
        "check that the issuer's host name resolves to the proxy, that the proxy runs, and that it forwards to Gatehouse",
    )
}

fn issuer_matches(issuer: &str, url: &str, doc: &Value) -> Finding {
    let served = doc["issuer"].as_str().unwrap_or_default();
    if served == issuer {
        return Finding::ok("public.issuer", format!("the discovery document names issuer {issuer}"));
    }
    Finding::fail(
        "public.issuer",
        format!("{url} names issuer {served}, but GATEHOUSE_ISSUER here is {issuer}"),
        "relying parties require the iss of every ID token to equal the issuer they discovered (OIDC Discovery section 4.3): sign-ins fail with an issuer mismatch",
        format!(
            "set the same GATEHOUSE_ISSUER on every instance; if {issuer} is right, set GATEHOUSE_ISSUER={issuer} on the instances behind the proxy and restart them"
        ),
    )
}

fn endpoints(issuer: &str, doc: &Value) -> Finding {
    let prefix = format!("{issuer}/");
    let outside: Vec<String> = doc
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.ends_with("_endpoint") || *k == "jwks_uri")
        .filter_map(|(k, v)| {
            v.as_str()
                .filter(|u| !u.starts_with(&prefix))
                .map(|u| format!("{k} {u}"))
        })
        .collect();
    if outside.is_empty() {
        return Finding::ok("public.endpoints", format!("every endpoint is under {issuer}/"));
    }
    Finding::fail(
        "public.endpoints",
        format!("endpoints outside the issuer: {}", outside.join(", ")),
        "clients call these URLs as given; ones outside the issuer reach another server or nothing",
        "set the same GATEHOUSE_ISSUER on every instance and restart them",
    )
}

/// `kid` to the key's public members, of a JWKS.
fn keys_of(jwks: &Value) -> BTreeMap<String, Value> {
    jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| Some((k["kid"].as_str()?.to_owned(), k.clone())))
        .collect()
}

async fn jwks(http: &reqwest::Client, doc: &Value, store: &dyn Store) -> Finding {
    const ID: &str = "public.jwks";
    let Some(url) = doc["jwks_uri"].as_str() else {
        return Finding::fail(ID, "the discovery document has no jwks_uri", "", "");
    };
    let served = match http.get(url).send().await {
        Ok(r) if r.status().is_success() => match r.json::<Value>().await {
            Ok(v) => v,
            Err(e) => {
                return Finding::fail(
                    ID,
                    format!("{url} is not a JSON key set: {e}"),
                    "relying parties cannot verify any token",
                    "check what the proxy serves at /.well-known/jwks.json",
                );
            }
        },
        Ok(r) => {
            return Finding::fail(
                ID,
                format!("{url} answered HTTP {}", r.status()),
                "relying parties cannot verify any token",
                "check the proxy forwards /.well-known/jwks.json",
            );
        }
        Err(e) => {
            return Finding::fail(
                ID,
                format!("cannot fetch {url}: {e}"),
                "relying parties cannot verify any token",
                "check the proxy",
            );
        }
    };
    let Ok(records) = store.list_keys().await else {
        return Finding::warn(ID, "cannot read the store's keys to compare", "", "");
    };
    let Ok(ring) = KeyRing::from_records(&records, crate::clock::system_now()) else {
        return Finding::warn(ID, "the store's keys cannot be read to compare", "", "");
    };
    let expected = keys_of(&serde_json::from_slice(&ring.jwks()).unwrap_or_default());
    let served = keys_of(&served);
    if expected == served {
        return Finding::ok(ID, format!("{url} serves the store's {} keys", expected.len()));
    }
    let missing: Vec<&String> = expected.keys().filter(|k| !served.contains_key(*k)).collect();
    let unknown: Vec<&String> = served.keys().filter(|k| !expected.contains_key(*k)).collect();
    let changed: Vec<&String> = expected
        .keys()
        .filter(|k| served.get(*k).is_some_and(|v| v != &expected[*k]))
        .collect();
    Finding::fail(
        ID,
        format!(
            "{url} serves other keys than the store holds: missing {missing:?}, not in the store {unknown:?}, different {changed:?}"
        ),
        "an instance on another database, or a cache in front, serves stale keys: relying parties fail to verify tokens signed with the keys it lacks (algorithm mismatch, unknown kid); right after a key rotation, instances pick up the change within GATEHOUSE_KEY_POLL_INTERVAL, so run doctor again before acting",
        "point every instance at the same DATABASE_URL and restart the odd one (its X-Gatehouse-Instance header names it); purge any cache in front of /.well-known/",
    )
}

fn hsts(res: &reqwest::Response) -> Finding {
    if res.headers().contains_key("strict-transport-security") {
        return Finding::ok("public.hsts", "Strict-Transport-Security is sent");
    }
    Finding::warn(
        "public.hsts",
        "no Strict-Transport-Security header on the public URL",
        "without HSTS a browser's first plain-http visit can be intercepted and the sign-in page replaced",
        "in nginx: add_header Strict-Transport-Security \"max-age=63072000\" always;",
    )
}

async fn exposure(http: &reqwest::Client, issuer: &str) -> Finding {
    let mut open = Vec::new();
    for path in ["/metrics", "/health/detailed"] {
        if let Ok(r) = http.get(format!("{issuer}{path}")).send().await
            && r.status().is_success()
        {
            open.push(path);
        }
    }
    if open.is_empty() || !issuer.starts_with("https://") {
        return Finding::ok(
            "public.exposure",
            "operator endpoints are not served through the public URL",
        );
    }
    Finding::warn(
        "public.exposure",
        format!("served through the public URL: {}", open.join(", ")),
        "the proxy passes them to anyone it lets in; they show versions, key ids and store figures",
        "block them at the proxy (location = /metrics { return 404; }) and scrape instances directly or on GATEHOUSE_METRICS_BIND",
    )
}

/// Connects to the issuer's host and reads its certificate's expiry.
async fn tls(issuer: &str, config: &Config, options: &Options) -> Finding {
    const ID: &str = "public.tls";
    match certificate_days(issuer, config, options).await {
        Ok(days) if days < 14 => Finding::warn(
            ID,
            format!("the TLS certificate expires in {days} day(s)"),
            "once it expires every client and browser refuses the connection",
            "renew it now (certbot renew, or your certificate authority's process) and reload the proxy",
        ),
        Ok(days) => Finding::ok(ID, format!("TLS certificate valid for the host, {days} days left")),
        Err(e) => Finding::fail(
            ID,
            format!("the TLS certificate of {issuer} is not valid: {e}"),
            "every client and browser refuses the connection (SSL verification failed)",
            "renew the certificate, or make it cover the issuer's host name; for a private CA run doctor with --ca-file CA.pem",
        ),
    }
}

async fn certificate_days(issuer: &str, config: &Config, options: &Options) -> Result<i64, String> {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
    let url = url::Url::parse(issuer).map_err(|e| e.to_string())?;
    let host = url.host_str().ok_or("no host")?.to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for file in options.ca_file.iter().chain(config.outbound_ca_file.iter()) {
        for cert in CertificateDer::pem_file_iter(file).map_err(|e| e.to_string())? {
            roots.add(cert.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned()).map_err(|e| e.to_string())?;
    let limit = std::time::Duration::from_secs(10);
    let tcp = tokio::time::timeout(
        limit,
        tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port)),
    )
    .await
    .map_err(|_| "no connection within 10 s".to_owned())?
    .map_err(|e| e.to_string())?;
    let stream = tokio::time::timeout(
        limit,
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls)).connect(name, tcp),
    )
    .await
    .map_err(|_| "no TLS handshake within 10 s".to_owned())?
    .map_err(|e| e.to_string())?;
    let certs = stream.get_ref().1.peer_certificates().ok_or("no certificate")?;
    let (_, cert) = x509_parser::parse_x509_certificate(certs[0].as_ref()).map_err(|e| e.to_string())?;
    let now = crate::clock::system_now().0;
    Ok((cert.validity().not_after.timestamp() - now) / 86_400)
}
