//! Which destinations outbound calls may reach: public addresses always, internal ones only when
//! `GATEHOUSE_OUTBOUND_ALLOW` names them.

use ipnet::IpNet;
use std::net::IpAddr;

/// One entry of `GATEHOUSE_OUTBOUND_ALLOW`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// Addresses in this network.
    Net(IpNet),
    /// This host name, whatever it resolves to (lowercase).
    Host(String),
}

impl Allowed {
    /// Reads one entry: a CIDR, an address, or a host name.
    ///
    /// # Errors
    /// What is wrong with it.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(Self::Net(net));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self::Net(IpNet::from(ip)));
        }
        let host = s.to_ascii_lowercase();
        let valid = !host.is_empty()
            && host.len() <= 253
            && host
                .split('.')
                .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if valid {
            Ok(Self::Host(host))
        } else {
            Err(format!(
                "{s:?} is not a CIDR (10.0.0.0/8), an address (10.1.2.3) or a host name (app.internal)"
            ))
        }
    }
}

/// Which destinations may be called.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    allow: Vec<Allowed>,
}

impl Policy {
    /// A policy allowing public addresses and the given internal ones.
    #[must_use]
    pub fn new(allow: Vec<Allowed>) -> Self {
        Self { allow }
    }

    pub(super) fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allow.iter().any(|a| matches!(a, Allowed::Host(h) if *h == host))
    }

    pub(super) fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        !is_internal(ip)
            || self
                .allow
                .iter()
                .any(|a| matches!(a, Allowed::Net(n) if n.contains(&ip)))
    }
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Whether an address is inside someone's network rather than on the public internet.
#[must_use]
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, RFC 6598
                || (a == 198 && (18..20).contains(&b)) // benchmarking, RFC 2544
                || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments, RFC 6890
                || a >= 240
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local, RFC 4193
                || (first & 0xffc0) == 0xfe80 // link local
                || v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] // NAT64: may reach anything
                || v6.segments()[..3] == [0x64, 0xff9b, 1] // local-use NAT64, RFC 8215
                || first == 0x2002 // 6to4: an IPv4 address inside
                || (v6.segments()[..6] == [0; 6] && !v6.is_loopback()) // IPv4-compatible (deprecated)
        }
    }
}
