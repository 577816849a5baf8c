//! Scopes (RFC 6749 §3.3): a space-delimited list of scope tokens, held as a sorted set.

use crate::error::Error;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeSet;

/// Most scopes one request may name, and the longest scope token: bounds on hostile input.
const MAX_SCOPES: usize = 64;
const MAX_SCOPE_LEN: usize = 128;

/// One scope token: 1*( %x21 / %x23-5B / %x5D-7E ).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope(String);

impl Scope {
    /// Validates one scope token.
    ///
    /// # Errors
    /// `invalid_scope` when empty, too long or containing a character outside RFC 6749 §3.3.
    pub fn parse(value: &str) -> Result<Self, Error> {
        if value.is_empty() || value.len() > MAX_SCOPE_LEN {
            return Err(Error::InvalidScope(
                format!("a scope must be 1 to {MAX_SCOPE_LEN} characters").into(),
            ));
        }
        if !value.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e)) {
            return Err(Error::InvalidScope(
                "a scope may only contain printable ASCII except space, double quote and backslash (RFC 6749 section 3.3)".into(),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The scope token.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The scopes Gatehouse defines itself (OIDC Core §5.4, §11). They are about a user, so a grant
/// without one (`client_credentials`) never carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinScope {
    /// `openid`: an OpenID Connect request; an ID token is issued.
    OpenId,
    /// `profile`: the user's name claims.
    Profile,
    /// `email`: the user's email claims.
    Email,
    /// `offline_access`: a refresh token is issued.
    OfflineAccess,
}

impl BuiltinScope {
    /// Every built-in scope.
    pub const ALL: [Self; 4] = [Self::OpenId, Self::Profile, Self::Email, Self::OfflineAccess];

    /// The scope token.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenId => "openid",
            Self::Profile => "profile",
            Self::Email => "email",
            Self::OfflineAccess => "offline_access",
        }
    }

    /// Whether `scope` is one of the built-in scopes.
    #[must_use]
    pub fn is_builtin(scope: &Scope) -> bool {
        Self::ALL.iter().any(|b| b.as_str() == scope.as_str())
    }
}

/// A set of scopes, serialised as the canonical space-delimited string (sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Parses a `scope` parameter. Runs of spaces are tolerated; duplicates collapse.
    ///
    /// # Errors
    /// `invalid_scope` for a malformed token or more than 64 scopes.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let mut set = BTreeSet::new();
        for token in value.split(' ').filter(|t| !t.is_empty()) {
            set.insert(Scope::parse(token)?);
            if set.len() > MAX_SCOPES {
                return Err(Error::InvalidScope(
                    format!("at most {MAX_SCOPES} scopes may be requested").into(),
                ));
            }
        }
        Ok(Self(set))
    }

    /// Builds a set from known-valid names (built-in scopes, test fixtures).
    ///
    /// # Panics
    /// If a name is not a valid scope token; use only with literals.
    #[must_use]
    pub fn from_static(names: &[&str]) -> Self {
        Self(
            names
                .iter()
                .map(|n| Scope::parse(n).expect("valid scope literal"))
                .collect(),
        )
    }

    /// Whether the set holds `name`.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|s| s.0 == name)
    }

    /// Whether the set holds the built-in scope `scope`.
    #[must_use]
    pub fn has(&self, scope: BuiltinScope) -> bool {
        self.contains(scope.as_str())
    }

    /// Whether every scope here is also in `other`.
    #[must_use]
    pub fn is_subset(&self, other: &Self) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes here that are not in `other`.
    pub fn difference<'a>(&'a self, other: &'a Self) -> impl Iterator<Item = &'a Scope> {
        self.0.difference(&other.0)
    }

    /// The union of two sets.
    #[must_use]
    pub fn union(&self, other: &Self) -> Self {
        Self(self.0.union(&other.0).cloned().collect())
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// The canonical space-delimited form.
    #[must_use]
    pub fn to_param(&self) -> String {
        self.0.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<T: IntoIterator<Item = Scope>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_param())
    }
}

impl<'de> Deserialize<'de> for ScopeSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_collapses_duplicates_and_extra_spaces() {
        let s = ScopeSet::parse("openid  email openid").unwrap();
        assert_eq!(s.to_param(), "email openid");
        assert!(ScopeSet::parse("").unwrap().is_empty());
    }

    #[test]
    fn quotes_backslashes_and_control_characters_are_invalid_scope() {
        for bad in ["a\"b", "a\\b", "tab\there", "caf\u{e9}"] {
            assert_eq!(ScopeSet::parse(bad).unwrap_err().code(), "invalid_scope", "{bad}");
        }
    }

    #[test]
    fn too_many_scopes_is_rejected() {
        let many = (0..65).map(|i| format!("s{i}")).collect::<Vec<_>>().join(" ");
        assert!(ScopeSet::parse(&many).is_err());
    }

    #[test]
    fn builtin_scopes_are_recognised_by_name() {
        let s = ScopeSet::parse("openid api:read").unwrap();
        assert!(s.has(BuiltinScope::OpenId));
        assert!(!s.has(BuiltinScope::OfflineAccess));
        let builtin: Vec<bool> = s.iter().map(BuiltinScope::is_builtin).collect();
        assert_eq!(builtin, [false, true]);
    }

    proptest! {
        #[test]
        fn canonical_form_round_trips(tokens in proptest::collection::vec("[a-z:._-]{1,12}", 0..10)) {
            let s = ScopeSet::parse(&tokens.join(" ")).unwrap();
            let again = ScopeSet::parse(&s.to_param()).unwrap();
            prop_assert_eq!(&s, &again);
            for t in &tokens { prop_assert!(s.contains(t)); }
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,200}") {
            let _ = ScopeSet::parse(&input);
        }
    }
}
