use super::*;
use crate::types::RedirectUri;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const CB: &str = "https://app.example.com/cb";

fn base() -> Vec<(&'static str, String)> {
    vec![
        ("client_id", "app".into()),
        ("redirect_uri", CB.into()),
        ("response_type", "code".into()),
        ("scope", "openid email".into()),
        ("state", "xyz".into()),
        ("code_challenge", CHALLENGE.into()),
        ("code_challenge_method", "S256".into()),
    ]
}

fn parse(pairs: &[(&str, String)]) -> Result<AuthorizationRequest, Error> {
    let params = Params::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
    let target = Target::parse(&params)?;
    let redirect = target.resolve_redirect_uri(&[RedirectUri::parse(CB).unwrap()])?;
    AuthorizationRequest::parse(&params, target, redirect)
}

fn with(name: &'static str, value: &str) -> Vec<(&'static str, String)> {
    let mut p: Vec<_> = base().into_iter().filter(|(k, _)| *k != name).collect();
    p.push((name, value.to_owned()));
    p
}

fn without(name: &str) -> Vec<(&'static str, String)> {
    base().into_iter().filter(|(k, _)| *k != name).collect()
}

#[test]
fn a_complete_request_parses() {
    let r = parse(&base()).unwrap();
    assert_eq!(r.scope.to_param(), "email openid");
    assert_eq!(r.state.as_deref(), Some("xyz"));
    assert!(r.redirect.supplied);
}

#[test]
fn missing_challenge_or_plain_method_is_invalid_request() {
    assert_eq!(parse(&without("code_challenge")).unwrap_err().code(), "invalid_request");
    assert_eq!(
        parse(&with("code_challenge_method", "plain")).unwrap_err().code(),
        "invalid_request"
    );
}

#[test]
fn response_type_other_than_code_is_unsupported_and_missing_is_invalid() {
    assert_eq!(
        parse(&with("response_type", "token")).unwrap_err().code(),
        "unsupported_response_type"
    );
    assert_eq!(parse(&without("response_type")).unwrap_err().code(), "invalid_request");
}

#[test]
fn request_objects_never_nest_in_resolved_parameters() {
    // The caller resolves request and request_uri first; inside what it resolved they are refused.
    for nested in ["request", "request_uri"] {
        let e = parse(&with(nested, "x")).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        assert!(e.description().contains(nested), "{}", e.description());
    }
}

#[test]
fn repeated_parameter_is_invalid_request() {
    let mut p = base();
    p.push(("scope", "openid".into()));
    assert_eq!(parse(&p).unwrap_err().code(), "invalid_request");
}

#[test]
fn repeated_or_missing_client_id_fails_before_redirect_resolution() {
    let mut p = base();
    p.push(("client_id", "other".into()));
    let params = Params::from_pairs(p.iter().map(|(k, v)| (*k, v.as_str())));
    assert!(Target::parse(&params).is_err());
    let params = Params::from_pairs(without("client_id").iter().map(|(k, v)| (*k, v.as_str())));
    assert!(Target::parse(&params).is_err());
}

#[test]
fn unregistered_redirect_uri_is_refused_with_a_hint() {
    let e = parse(&with("redirect_uri", "https://app.example.com/cb/")).unwrap_err();
    assert!(e.description().contains("trailing slash"));
}

#[test]
fn unknown_parameters_are_ignored_and_prompt_is_parsed() {
    let mut p = with("prompt", "login consent");
    p.push(("display", "popup".into()));
    p.push(("ui_locales", "se".into()));
    let r = parse(&p).unwrap();
    assert!(r.prompt.login && r.prompt.consent && !r.prompt.none);
    assert_eq!(
        parse(&with("prompt", "none login")).unwrap_err().code(),
        "invalid_request"
    );
    assert_eq!(parse(&with("prompt", "bogus")).unwrap_err().code(), "invalid_request");
}

#[test]
fn max_age_must_be_a_number() {
    assert_eq!(parse(&with("max_age", "10")).unwrap().max_age, Some(10));
    assert!(parse(&with("max_age", "-1")).is_err());
    assert!(parse(&with("max_age", "ten")).is_err());
}

#[test]
fn openid_request_without_redirect_uri_is_refused() {
    assert_eq!(parse(&without("redirect_uri")).unwrap_err().code(), "invalid_request");
    let mut p = without("redirect_uri");
    p.retain(|(k, _)| *k != "scope");
    assert!(!parse(&p).unwrap().redirect.supplied);
}

#[test]
fn state_for_error_ignores_repeated_state() {
    let p = Params::from_pairs([("state", "a"), ("state", "b")]);
    assert_eq!(state_for_error(&p), None);
    assert_eq!(
        state_for_error(&Params::from_pairs([("state", "s")])).as_deref(),
        Some("s")
    );
}

#[test]
fn login_is_needed_for_prompt_login_stale_max_age_or_other_hinted_user() {
    use crate::types::UnixTime;
    let r = parse(&base()).unwrap();
    assert!(!needs_login(&r, "u1", UnixTime(100), None, UnixTime(200)));
    assert!(needs_login(&r, "u1", UnixTime(100), Some("u2"), UnixTime(200)));
    assert!(!needs_login(&r, "u1", UnixTime(100), Some("u1"), UnixTime(200)));
    let r = parse(&with("prompt", "login")).unwrap();
    assert!(needs_login(&r, "u1", UnixTime(100), None, UnixTime(100)));
    let r = parse(&with("max_age", "60")).unwrap();
    assert!(!needs_login(&r, "u1", UnixTime(100), None, UnixTime(160)));
    assert!(needs_login(&r, "u1", UnixTime(100), None, UnixTime(161)));
    let r = parse(&with("max_age", "0")).unwrap();
    assert!(needs_login(&r, "u1", UnixTime(100), None, UnixTime(100)));
}

#[test]
fn consent_is_needed_for_new_scopes_or_prompt_consent() {
    let r = parse(&base()).unwrap();
    assert!(needs_consent(&r, None));
    assert!(needs_consent(&r, Some(&ScopeSet::from_static(&["openid"]))));
    assert!(!needs_consent(
        &r,
        Some(&ScopeSet::from_static(&["openid", "email", "profile"]))
    ));
    let r = parse(&with("prompt", "consent")).unwrap();
    assert!(needs_consent(&r, Some(&ScopeSet::from_static(&["openid", "email"]))));
}
