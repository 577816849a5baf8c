//! `application/x-www-form-urlencoded` parameters (query strings and form bodies), decoded once,
//! with the bounds and rules every endpoint shares.

use crate::error::{Error, invalid_request};
use std::collections::BTreeMap;

/// Most distinct parameters accepted in one request.
pub const MAX_PARAMS: usize = 64;
/// Longest accepted parameter value in bytes (an `id_token_hint` or `claims` fits easily).
pub const MAX_VALUE_LEN: usize = 8 * 1024;

/// Decoded parameters. Repeats are remembered, not rejected, so that the authorization endpoint can
/// decide whether the error may be redirected (RFC 6749 §4.1.2.1) before it reports them.
#[derive(Debug, Default)]
pub struct Params {
    values: BTreeMap<String, Vec<String>>,
}

impl Params {
    /// Decodes `a=b&c=d` with `+` as space and `%XX` escapes.
    ///
    /// # Errors
    /// `invalid_request` naming the parameter when a name or value is not UTF-8, a `%` escape is
    /// malformed, a value exceeds [`MAX_VALUE_LEN`], or there are more than [`MAX_PARAMS`] names.
    pub fn parse(input: &[u8]) -> Result<Self, Error> {
        let mut params = Self::default();
        for pair in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (raw_name, raw_value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            let name = decode(raw_name)
                .ok_or_else(|| invalid_request("a parameter name is not valid UTF-8 or has a malformed % escape"))?;
            let value = decode(raw_value).ok_or_else(|| {
                invalid_request(format!(
                    "parameter {name} is not valid UTF-8 or has a malformed % escape"
                ))
            })?;
            params.insert(name, value)?;
        }
        Ok(params)
    }

    /// Builds parameters from decoded pairs (a request object's members), with the checks of
    /// [`Params::parse`].
    ///
    /// # Errors
    /// As [`Params::parse`].
    pub fn from_checked_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, Error> {
        let mut params = Self::default();
        for (name, value) in pairs {
            params.insert(name.to_owned(), value.to_owned())?;
        }
        Ok(params)
    }

    /// Every parameter, in name order (repeats in the order received).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values
            .iter()
            .flat_map(|(k, vs)| vs.iter().map(move |v| (k.as_str(), v.as_str())))
    }

    /// These parameters without `names` (client credentials, before a pushed request is stored).
    #[must_use]
    pub fn without(mut self, names: &[&str]) -> Self {
        self.values.retain(|k, _| !names.contains(&k.as_str()));
        self
    }

    /// Adds one decoded parameter, with the bounds every request shares.
    fn insert(&mut self, name: String, value: String) -> Result<(), Error> {
        if name.len() > 64 {
            return Err(invalid_request("a parameter name is longer than 64 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid_request("a parameter name contains a control character"));
        }
        // Control characters are never part of a valid value; refusing them here keeps them out
        // of every store (PostgreSQL refuses NUL in text with an error) and every log line.
        // `claims` is JSON, where tab, CR and LF are legal whitespace; a password is never
        // stored or logged (only its Argon2 hash is compared), and may hold what its owner chose.
        let allowed = |c: char| match name.as_str() {
            "claims" => matches!(c, '\t' | '\n' | '\r'),
            "password" => true,
            _ => false,
        };
        if let Some(c) = value.chars().find(|&c| c.is_control() && !allowed(c)) {
            return Err(invalid_request(format!(
                "parameter {name} contains the control character U+{:04X}; remove it",
                u32::from(c)
            )));
        }
        // Signed JWTs (a request object, a client assertion) may be longer than other values.
        let limit = match name.as_str() {
            "request" | "client_assertion" => crate::client_jwt::MAX_JWT,
            _ => MAX_VALUE_LEN,
        };
        if value.len() > limit {
            return Err(invalid_request(format!(
                "parameter {name} is longer than {limit} bytes"
            )));
        }
        if !self.values.contains_key(&name) && self.values.len() >= MAX_PARAMS {
            return Err(invalid_request(format!("more than {MAX_PARAMS} parameters")));
        }
        self.values.entry(name).or_default().push(value);
        Ok(())
    }

    /// Builds parameters from decoded pairs (tests, and callers that decoded already).
    #[must_use]
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            values.entry(k.to_owned()).or_default().push(v.to_owned());
        }
        Self { values }
    }

    /// A single-valued parameter. An empty value counts as absent (RFC 6749 §3.1).
    ///
    /// # Errors
    /// `invalid_request` when the parameter appears more than once (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Result<Option<&str>, Error> {
        match self.values.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(one.as_str()).filter(|v| !v.is_empty())),
            Some(_) => Err(invalid_request(format!(
                "parameter {name} appears more than once; send it once"
            ))),
        }
    }

    /// A required single-valued parameter.
    ///
    /// # Errors
    /// `invalid_request` when missing, empty or repeated.
    pub fn require(&self, name: &str) -> Result<&str, Error> {
        self.get(name)?
            .ok_or_else(|| invalid_request(format!("parameter {name} is required")))
    }

    /// Every value of a parameter that may repeat (RFC 8707 `resource`), empty ones dropped.
    #[must_use]
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.values.get(name).map_or_else(Vec::new, |v| {
            v.iter().map(String::as_str).filter(|s| !s.is_empty()).collect()
        })
    }

    /// Fails on the first repeated parameter, naming it. `resource` may repeat (RFC 8707 §2).
    ///
    /// # Errors
    /// `invalid_request` naming the repeated parameter.
    pub fn reject_repeats(&self) -> Result<(), Error> {
        match self
            .values
            .iter()
            .find(|(name, v)| v.len() > 1 && name.as_str() != "resource")
        {
            Some((name, _)) => Err(invalid_request(format!(
                "parameter {name} appears more than once; send it once"
            ))),
            None => Ok(()),
        }
    }

    /// Whether the parameter is present at all (even empty).
    #[must_use]
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
}

/// Percent-decodes one component; `None` on a malformed escape or invalid UTF-8.
fn decode(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3)?;
                let hi = (hex[0] as char).to_digit(16)?;
                let lo = (hex[1] as char).to_digit(16)?;
                out.push(u8::try_from(hi * 16 + lo).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_plus_and_percent_escapes() {
        let p = Params::parse(b"scope=openid+email&redirect_uri=https%3A%2F%2Fa.example%2Fcb").unwrap();
        assert_eq!(p.get("scope").unwrap(), Some("openid email"));
        assert_eq!(p.get("redirect_uri").unwrap(), Some("https://a.example/cb"));
    }

    #[test]
    fn missing_and_empty_values_are_absent() {
        let p = Params::parse(b"state=&nonce").unwrap();
        assert_eq!(p.get("state").unwrap(), None);
        assert_eq!(p.get("nonce").unwrap(), None);
        assert_eq!(p.get("absent").unwrap(), None);
        assert_eq!(p.require("state").unwrap_err().code(), "invalid_request");
    }

    #[test]
    fn repeated_parameter_is_invalid_request_naming_it() {
        let p = Params::parse(b"scope=a&scope=b&x=1").unwrap();
        let e = p.get("scope").unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        assert!(e.description().contains("scope"));
        assert!(p.reject_repeats().is_err());
        assert_eq!(p.get("x").unwrap(), Some("1"));
    }

    #[test]
    fn non_utf8_and_bad_escapes_are_invalid_request() {
        assert!(
            Params::parse(b"state=%FF%FE")
                .unwrap_err()
                .description()
                .contains("state")
        );
        assert!(Params::parse(b"state=\xff").is_err());
        assert!(Params::parse(b"state=%G1").is_err());
        assert!(Params::parse(b"state=%4").is_err());
    }

    #[test]
    fn oversized_value_and_too_many_parameters_are_rejected() {
        let big = format!("state={}", "a".repeat(MAX_VALUE_LEN + 1));
        assert!(
            Params::parse(big.as_bytes())
                .unwrap_err()
                .description()
                .contains("state")
        );
        let many = (0..=MAX_PARAMS)
            .map(|i| format!("p{i}=1"))
            .collect::<Vec<_>>()
            .join("&");
        assert!(Params::parse(many.as_bytes()).is_err());
        let fine = (0..MAX_PARAMS).map(|i| format!("p{i}=1")).collect::<Vec<_>>().join("&");
        assert!(Params::parse(fine.as_bytes()).is_ok());
    }

    #[test]
    fn control_characters_are_invalid_request_except_json_whitespace_in_claims() {
        for bad in [
            "username=al%00ice",
            "code=a%01b",
            "state=x%7F",
            "redirect_uri=https://a.example/cb%0D",
            "a%00=1",
        ] {
            let e = Params::parse(bad.as_bytes()).unwrap_err();
            assert_eq!(e.code(), "invalid_request", "{bad}");
            assert!(!e.description().chars().any(char::is_control), "{bad}");
        }
        assert!(Params::parse(b"claims=%7B%0A%09%22userinfo%22%3A%7B%7D%7D").is_ok());
        assert!(Params::parse(b"state=caf%C3%A9").is_ok(), "non-ASCII text is fine");
        assert!(
            Params::parse(b"password=tab%09inside").is_ok(),
            "passwords are the owner's choice"
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Params::parse(&input);
        }

        #[test]
        fn encoded_values_round_trip(value in "\\PC{0,64}") {
            let encoded: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("v", &value).finish();
            let p = Params::parse(encoded.as_bytes()).unwrap();
            let expected = Some(value.as_str()).filter(|v| !v.is_empty());
            prop_assert_eq!(p.get("v").unwrap(), expected);
        }
    }
}
