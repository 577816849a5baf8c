//! Settings of clients that register themselves: the registration mode and policies
//! (RFC 7591), Client ID Metadata Documents, and the cleanup of unused dynamic clients.

use super::read::{Reader, list};
use super::{ConfigError, DAY, Limit};
use gatehouse_protocol::registration::Policy;
use gatehouse_protocol::types::{GrantType, ScopeSet};
use std::time::Duration;

/// Who may call `/oauth/register`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationMode {
    /// Nobody: the endpoint answers 404 and discovery does not name it.
    Off,
    /// Bearers of an initial access token (`gatehouse initial-access-token create`).
    Token,
    /// Anyone, under the `default` policy and the per-address rate limit.
    Open,
}

impl std::str::FromStr for RegistrationMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Self::Off),
            "token" => Ok(Self::Token),
            "open" => Ok(Self::Open),
            _ => Err(format!("{s:?} is not off, token or open")),
        }
    }
}

/// The registration settings.
#[derive(Debug, Clone)]
pub struct Registration {
    /// `GATEHOUSE_REGISTRATION`.
    pub mode: RegistrationMode,
    /// `GATEHOUSE_REGISTRATION_POLICIES`; always holds `default`.
    pub policies: Vec<Policy>,
    /// `GATEHOUSE_RATE_LIMIT_REGISTRATION`: registrations per client address.
    pub limit: Option<Limit>,
    /// `GATEHOUSE_DYNAMIC_CLIENT_IDLE`: self-registered clients unused this long are deleted.
    pub idle: Option<Duration>,
    /// `GATEHOUSE_CLIENT_ID_METADATA`: https `client_id`s name their metadata document.
    pub metadata_documents: bool,
    /// `GATEHOUSE_CLIENT_ID_METADATA_HOSTS`: the hosts whose documents are used (empty: any).
    pub metadata_hosts: Vec<String>,
    /// `GATEHOUSE_REGISTRATION_OUTBOUND_ALLOW`: internal destinations self-described clients'
    /// URLs may name (`GATEHOUSE_OUTBOUND_ALLOW` is for the operator's clients only).
    pub outbound_allow: Vec<crate::outbound::Allowed>,
}

impl Registration {
    /// The policy called `name`.
    #[must_use]
    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.name == name)
    }

    /// The `default` policy (open registration, tokens without `--policy`, metadata documents).
    #[must_use]
    pub fn default_policy(&self) -> &Policy {
        self.policy("default").unwrap_or(&self.policies[0])
    }

    pub(super) fn read<G: Fn(&str) -> Option<String>>(r: &Reader<G>) -> Result<Self, ConfigError> {
        const POLICIES: &str = "GATEHOUSE_REGISTRATION_POLICIES";
        let raw = r.value(POLICIES).unwrap_or_default();
        let policies = parse_policies(&raw).map_err(|message| ConfigError {
            setting: POLICIES,
            message,
        })?;
        let idle = match r.value("GATEHOUSE_DYNAMIC_CLIENT_IDLE").as_deref() {
            Some("off") => None,
            _ => Some(r.duration("GATEHOUSE_DYNAMIC_CLIENT_IDLE", Duration::from_secs(3650 * DAY))?),
        };
        Ok(Self {
            mode: r.parsed("GATEHOUSE_REGISTRATION")?,
            policies,
            limit: r.limit("GATEHOUSE_RATE_LIMIT_REGISTRATION")?,
            idle,
            metadata_documents: match r.value("GATEHOUSE_CLIENT_ID_METADATA").as_deref() {
                Some("on") => true,
                Some("off") | None => false,
                Some(other) => {
                    return Err(ConfigError {
                        setting: "GATEHOUSE_CLIENT_ID_METADATA",
                        message: format!("{other:?} is not on or off"),
                    });
                }
            },
            outbound_allow: r.items("GATEHOUSE_REGISTRATION_OUTBOUND_ALLOW", crate::outbound::Allowed::parse)?,
            metadata_hosts: r.items("GATEHOUSE_CLIENT_ID_METADATA_HOSTS", |h| {
                let host = h.to_ascii_lowercase();
                if host.is_empty() || host.contains(['/', ':', '@', ' ']) {
                    Err(format!("{h:?} is not a host name (app.example.com)"))
                } else {
                    Ok(host)
                }
            })?,
        })
    }
}

/// Policies: `name: scope=a,b grant_types=x,y resources=u,v public=true|false`, separated by `;`. A `default`
/// policy must be among them.
pub(super) fn parse_policies(raw: &str) -> Result<Vec<Policy>, String> {
    let mut policies: Vec<Policy> = Vec::new();
    for entry in raw.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, rest) = entry
            .split_once(':')
            .ok_or_else(|| format!("{entry:?}: write a policy as name: scope=... grant_types=... public=..."))?;
        let name = name.trim();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!("{name:?} is not a policy name (letters, digits, - and _)"));
        }
        if policies.iter().any(|p| p.name == name) {
            return Err(format!("policy {name} is defined twice"));
        }
        let mut policy = Policy {
            name: name.to_owned(),
            scopes: ScopeSet::from_static(&["openid"]),
            grant_types: vec![GrantType::AuthorizationCode],
            public_clients: false,
            resources: Vec::new(),
        };
        for pair in rest.split_whitespace() {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("policy {name}: {pair:?} is not key=value"))?;
            match key {
                "scope" => {
                    policy.scopes = ScopeSet::parse(&list(value).collect::<Vec<_>>().join(" "))
                        .map_err(|e| format!("policy {name}: scope: {}", e.description()))?;
                }
                "grant_types" => {
                    policy.grant_types = list(value)
                        .map(|g| {
                            g.parse::<GrantType>()
                                .map_err(|e| format!("policy {name}: grant_types: {e}"))
                        })
                        .collect::<Result<_, _>>()?;
                }
                "resources" => {
                    policy.resources = list(value)
                        .map(|r| {
                            let p = gatehouse_protocol::request::Params::from_pairs([("resource", r)]);
                            gatehouse_protocol::request::resource::parse_resources(&p)
                                .map(|_| r.to_owned())
                                .map_err(|e| format!("policy {name}: resources: {}", e.description()))
                        })
                        .collect::<Result<_, _>>()?;
                }
                "public" => {
                    policy.public_clients = match value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(format!("policy {name}: public={value} is not true or false")),
                    };
                }
                other => {
                    return Err(format!(
                        "policy {name}: unknown key {other}; the keys are scope, grant_types, resources and public"
                    ));
                }
            }
        }
        policies.push(policy);
    }
    if !policies.iter().any(|p| p.name == "default") {
        return Err("no policy is called default; it applies to open registration, tokens created without --policy and metadata documents".into());
    }
    Ok(policies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_name_what_is_wrong() {
        let p = parse_policies(
            "default: scope=openid,profile grant_types=authorization_code,refresh_token public=true resources=https://mcp.example.com; partners: scope=openid",
        )
        .unwrap();
        assert_eq!(p.len(), 2);
        assert!(p[0].public_clients && p[0].grant_types.contains(&GrantType::RefreshToken));
        assert_eq!(p[1].scopes.to_param(), "openid");
        assert_eq!(p[0].resources, vec!["https://mcp.example.com".to_owned()]);
        assert!(!p[1].public_clients);
        for (raw, says) in [
            ("partners: scope=openid", "default"),
            ("default: colour=blue", "unknown key colour"),
            ("default: grant_types=password", "password"),
            ("default: public=yes", "public=yes"),
            ("default: resources=https://a.example/#x", "resources"),
            ("default scope=openid", "name: scope"),
            ("default: scope=openid; default: scope=openid", "twice"),
        ] {
            let e = parse_policies(raw).unwrap_err();
            assert!(e.contains(says), "{raw}: {e}");
        }
    }
}
