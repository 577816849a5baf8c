//! The one client for every HTTP call Gatehouse makes to another server (back-channel logout,
//! clients' `jwks_uri`; metadata documents later). Those URLs come from client
//! registrations, so each call is treated as an attempt at server-side request forgery until
//! proven otherwise:
//!
//! - Addresses inside the operator's network (loopback, private, link-local, carrier-grade NAT,
//!   unique-local, multicast, unspecified, and IPv4 written as IPv6) are refused unless
//!   `GATEHOUSE_OUTBOUND_ALLOW` names them (a CIDR, an address, or a host name).
//! - The check is made on the addresses the connection will really use: names are resolved by
//!   [`Guard`], which hands the connector only the allowed addresses, so a name that resolves to a
//!   public address when checked and an internal one when connecting (DNS rebinding) gets nowhere.
//! - Redirects are never followed (Back-Channel Logout 1.0 §2.5 and RFC 9700 §4.11), proxies from
//!   the environment are ignored, every call has a timeout, and at most [`BODY_LIMIT`] bytes of a
//!   response are read.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The most of a response body read.
pub const BODY_LIMIT: usize = 64 * 1024;

mod policy;
pub use policy::{Allowed, Policy, is_internal};

/// Why a call did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundError {
    /// The destination is not allowed; the text says why and what to configure.
    Refused(String),
    /// No answer within the timeout.
    Timeout,
    /// Could not connect, or the connection failed.
    Failed(String),
}

impl std::fmt::Display for OutboundError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(why) => f.write_str(why),
            Self::Timeout => f.write_str("no answer within the timeout"),
            Self::Failed(why) => write!(f, "connection failed: {why}"),
        }
    }
}

/// An answer: its status and the first [`BODY_LIMIT`] bytes of its body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// `Cache-Control: max-age` in seconds; `Some(0)` for `no-store` or `no-cache`.
    pub max_age: Option<u64>,
    /// The body, cut at [`BODY_LIMIT`].
    pub body: Vec<u8>,
}

/// The outbound client.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    policy: Arc<Policy>,
    /// Limit on name resolution, which the HTTP client's timeout does not cover.
    timeout: Duration,
    /// The setting that allows internal destinations, named in refusals.
    setting: &'static str,
}

/// The two outbound clients: one for URLs the operator registered, allowed the internal
/// destinations of `GATEHOUSE_OUTBOUND_ALLOW`; one for URLs clients registered themselves
/// (registration, metadata documents), allowed only those of
/// `GATEHOUSE_REGISTRATION_OUTBOUND_ALLOW` (none by default), so self-registration cannot reach
/// what the operator opened for their own clients.
#[derive(Clone)]
pub struct Outbounds {
    /// For operator-made clients.
    pub operator: Outbound,
    /// For self-described clients.
    pub dynamic: Outbound,
}

impl Outbounds {
    /// The client to use for `client`'s URLs.
    #[must_use]
    pub fn for_client(&self, client: &gatehouse_storage::ClientRecord) -> &Outbound {
        if client.origin.is_dynamic() {
            &self.dynamic
        } else {
            &self.operator
        }
    }
}

impl Outbound {
    /// A client with this policy and a timeout for each whole call.
    ///
    /// # Errors
    /// The TLS backend could not be set up.
    pub fn new(policy: Policy, timeout: Duration) -> Result<Self, String> {
        Self::with_roots(policy, timeout, None, "GATEHOUSE_OUTBOUND_ALLOW")
    }

    /// Like [`Outbound::new`], also trusting the certificate authorities of a PEM bundle
    /// (`GATEHOUSE_OUTBOUND_CA_FILE`) besides the public web PKI.
    ///
    /// # Errors
    /// The bundle holds no certificate, or the TLS backend could not be set up.
    pub fn with_roots(
        policy: Policy,
        timeout: Duration,
        ca_pem: Option<&[u8]>,
        setting: &'static str,
    ) -> Result<Self, String> {
        let policy = Arc::new(policy);
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = ca_pem {
            let roots = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("GATEHOUSE_OUTBOUND_CA_FILE: not a PEM certificate bundle: {e}"))?;
            if roots.is_empty() {
                return Err("GATEHOUSE_OUTBOUND_CA_FILE: the file holds no PEM certificate".into());
            }
            for root in roots {
                builder = builder.add_root_certificate(root);
            }
        }
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("Gatehouse/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(Guard {
                policy: Arc::clone(&policy),
            }))
            .build()
            .map_err(|e| format!("cannot build the outbound HTTP client: {e}"))?;
        Ok(Self {
            client,
            policy,
            timeout,
            setting,
        })
    }

    /// Posts a form (`application/x-www-form-urlencoded`).
    ///
    /// # Errors
    /// See [`OutboundError`].
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<Reply, OutboundError> {
        let parsed = self.check(url, false).await?;
        let response = self
            .client
            .post(parsed)
            .header(reqwest::header::CACHE_CONTROL, "no-store")
            .form(form)
            .send()
            .await
            .map_err(failure)?;
        read(response, BODY_LIMIT).await
    }

    /// Gets a document (a client's JWKS), accepting `accept`.
    ///
    /// # Errors
    /// See [`OutboundError`].
    pub async fn get(&self, url: &str, accept: &str) -> Result<Reply, OutboundError> {
        self.get_at_most(url, accept, BODY_LIMIT).await
    }

    /// Gets a document of at most `limit` bytes; a longer body is a failure, not a cut one.
    ///
    /// # Errors
    /// See [`OutboundError`]; `Failed` naming the limit for a longer body.
    pub async fn get_at_most(&self, url: &str, accept: &str, limit: usize) -> Result<Reply, OutboundError> {
        let parsed = self.check(url, false).await?;
        let response = self
            .client
            .get(parsed)
            .header(reqwest::header::ACCEPT, accept)
            .send()
            .await
            .map_err(failure)?;
        let reply = read(response, limit.min(BODY_LIMIT) + 1).await?;
        if limit < BODY_LIMIT && reply.body.len() > limit {
            return Err(OutboundError::Failed(format!(
                "the answer is longer than {limit} bytes"
            )));
        }
        Ok(reply)
    }

    /// Refuses a URL whose destination is not allowed, without connecting to it (names are
    /// resolved): for URLs a client registers, so a registration cannot point the server, or its
    /// users' browsers, inside the operator's network.
    ///
    /// # Errors
    /// `Refused` saying why; `Failed` when the name does not resolve.
    pub async fn vet(&self, url: &str) -> Result<(), OutboundError> {
        self.check(url, true).await.map(|_| ())
    }

    /// Refuses metadata whose URLs point inside the operator's network (unless
    /// `GATEHOUSE_OUTBOUND_ALLOW` names the place): the server would call some of them (`jwks_uri`,
    /// `backchannel_logout_uri`), and the consent page would make users' browsers load others
    /// (`logo_uri`). Names are resolved; nothing is connected to.
    ///
    /// # Errors
    /// `invalid_client_metadata` naming the member and why.
    pub async fn vet_metadata(
        &self,
        m: &gatehouse_protocol::registration::ClientMetadata,
    ) -> Result<(), gatehouse_protocol::Error> {
        let urls = [
            ("jwks_uri", m.jwks_uri.as_ref().map(|u| u.as_str())),
            (
                "backchannel_logout_uri",
                m.backchannel_logout_uri.as_ref().map(|u| u.as_str()),
            ),
            ("logo_uri", m.about.logo_uri.as_deref()),
            ("client_uri", m.about.client_uri.as_deref()),
            ("policy_uri", m.about.policy_uri.as_deref()),
            ("tos_uri", m.about.tos_uri.as_deref()),
        ];
        for (member, url) in urls {
            let Some(url) = url else { continue };
            match self.vet(url).await {
                Ok(()) => {}
                Err(OutboundError::Refused(why)) => return Err(bad_member(member, why)),
                Err(e) => return Err(bad_member(member, format!("{url} cannot be checked: {e}"))),
            }
        }
        Ok(())
    }

    /// Refuses a URL whose destination is not allowed, before anything is sent. Names are checked
    /// again on every connection (by [`Guard`]). A name with both public and internal addresses
    /// passes for a call (only the allowed ones are connected to), but not, `strict`, for a URL
    /// being registered.
    async fn check(&self, url: &str, strict: bool) -> Result<reqwest::Url, OutboundError> {
        let parsed =
            reqwest::Url::parse(url).map_err(|e| OutboundError::Refused(format!("{url} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(OutboundError::Refused(format!("{url}: only http and https are called")));
        }
        let host = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => return self.check_ip(url, IpAddr::V4(ip)).map(|()| parsed),
            Some(url::Host::Ipv6(ip)) => return self.check_ip(url, IpAddr::V6(ip)).map(|()| parsed),
            Some(url::Host::Domain(d)) => d.to_owned(),
            None => return Err(OutboundError::Refused(format!("{url} has no host"))),
        };
        if self.policy.allows_host(&host) {
            return Ok(parsed);
        }
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = tokio::time::timeout(self.timeout, tokio::net::lookup_host((host.as_str(), port)))
            .await
            .map_err(|_| OutboundError::Timeout)?
            .map_err(|e| OutboundError::Failed(format!("cannot resolve {host}: {e}")))?
            .collect();
        match addrs.iter().find(|a| !self.policy.allows_ip(a.ip())) {
            Some(internal) if strict || addrs.iter().all(|a| !self.policy.allows_ip(a.ip())) => {
                Err(refused(url, internal.ip(), self.setting))
            }
            _ => Ok(parsed),
        }
    }

    fn check_ip(&self, url: &str, ip: IpAddr) -> Result<(), OutboundError> {
        if self.policy.allows_ip(ip) {
            Ok(())
        } else {
            Err(refused(url, ip, self.setting))
        }
    }
}

fn bad_member(member: &str, why: impl std::fmt::Display) -> gatehouse_protocol::Error {
    gatehouse_protocol::Error::InvalidClientMetadata(format!("{member}: {why}").into())
}

fn refused(url: &str, ip: IpAddr, setting: &str) -> OutboundError {
    OutboundError::Refused(format!(
        "{url} resolves to the internal address {ip}, which Gatehouse does not call unless {setting} names it (for example {setting}={ip})"
    ))
}

fn failure(e: reqwest::Error) -> OutboundError {
    if e.is_timeout() {
        return OutboundError::Timeout;
    }
    // The full chain: reqwest's own text ("error sending request") says nothing about the cause.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    OutboundError::Failed(text)
}

/// Reads the status and at most `limit` bytes of the body.
async fn read(mut response: reqwest::Response, limit: usize) -> Result<Reply, OutboundError> {
    let status = response.status().as_u16();
    let max_age = response
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(max_age);
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())]),
            Ok(None) => break,
            Err(e) => return Err(failure(e)),
        }
    }
    Ok(Reply { status, max_age, body })
}

/// The freshness a `Cache-Control` value grants (RFC 9111 §5.2.2): `max-age`, or 0 for
/// `no-store` and `no-cache`.
fn max_age(value: &str) -> Option<u64> {
    let mut found = None;
    for directive in value.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-store" || directive == "no-cache" {
            return Some(0);
        }
        if let Some(n) = directive.strip_prefix("max-age=") {
            found = n.trim_matches('"').parse().ok();
        }
    }
    found
}

/// Resolves names for the connector and passes on only the addresses the policy allows.
struct Guard {
    policy: Arc<Policy>,
}

impl reqwest::dns::Resolve for Guard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let by_name = policy.allows_host(&host);
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| by_name || policy.allows_ip(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(
                    format!("{host} resolves only to internal addresses not in GATEHOUSE_OUTBOUND_ALLOW").into(),
                );
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised_in_every_spelling() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::a00:1",
            "2002:a00:1::1",
            "::10.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1", "100.128.0.1", "172.32.0.1"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn the_allow_list_opens_exactly_what_it_names() {
        let policy = Policy::new(vec![
            Allowed::parse("10.0.0.0/8").unwrap(),
            Allowed::parse("127.0.0.1").unwrap(),
            Allowed::parse("App.Internal").unwrap(),
        ]);
        assert!(policy.allows_ip("10.9.9.9".parse().unwrap()));
        assert!(policy.allows_ip("::ffff:10.9.9.9".parse().unwrap()));
        assert!(policy.allows_ip("127.0.0.1".parse().unwrap()));
        assert!(!policy.allows_ip("127.0.0.2".parse().unwrap()));
        assert!(!policy.allows_ip("192.168.0.1".parse().unwrap()));
        assert!(policy.allows_ip("8.8.8.8".parse().unwrap()));
        assert!(policy.allows_host("app.internal."));
        assert!(!policy.allows_host("other.internal"));
        assert!(Allowed::parse("not a host!").is_err());
    }

    #[test]
    fn cache_control_is_read_for_freshness() {
        assert_eq!(max_age("public, max-age=600"), Some(600));
        assert_eq!(max_age("max-age=\"60\""), Some(60));
        assert_eq!(max_age("max-age=600, no-cache"), Some(0));
        assert_eq!(max_age("no-store"), Some(0));
        assert_eq!(max_age("private"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }

    #[tokio::test]
    async fn internal_destinations_are_refused_before_anything_is_sent() {
        let out = Outbound::new(Policy::default(), Duration::from_secs(1)).unwrap();
        for url in [
            "http://127.0.0.1:9/x",
            "http://[::1]:9/x",
            "http://localhost:9/x",
            "http://169.254.169.254/latest/meta-data",
        ] {
            match out.post_form(url, &[]).await {
                Err(OutboundError::Refused(why)) => assert!(why.contains("GATEHOUSE_OUTBOUND_ALLOW"), "{why}"),
                other => panic!("{url}: {other:?}"),
            }
        }
        assert!(matches!(
            out.post_form("file:///etc/passwd", &[]).await,
            Err(OutboundError::Refused(_))
        ));
    }

    #[tokio::test]
    async fn redirects_are_not_followed_and_bodies_are_cut() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for answer in [
                "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/next\r\nContent-Length: 0\r\n\r\n".to_owned(),
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
                    BODY_LIMIT * 2,
                    "x".repeat(BODY_LIMIT * 2)
                ),
            ] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        let allowed = Policy::new(vec![Allowed::parse("127.0.0.1").unwrap()]);
        let out = Outbound::new(allowed, Duration::from_secs(5)).unwrap();
        let url = format!("http://{addr}/bc");
        assert_eq!(out.post_form(&url, &[("a", "b")]).await.unwrap().status, 302);
        let reply = out.post_form(&url, &[]).await.unwrap();
        assert_eq!((reply.status, reply.body.len()), (200, BODY_LIMIT));
    }
}
