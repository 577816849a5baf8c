use super::*;

fn policy() -> Policy {
    Policy {
        name: "default".into(),
        scopes: ScopeSet::from_static(&["openid", "profile", "email", "offline_access"]),
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        public_clients: true,
        resources: vec![],
    }
}

fn parse(body: Value) -> Result<ClientMetadata, Error> {
    parse_from(body, Source::Registration)
}

fn parse_from(body: Value, source: Source) -> Result<ClientMetadata, Error> {
    ClientMetadata::parse(body.as_object().unwrap(), &policy(), source)
}

fn refusal(body: Value) -> (&'static str, String) {
    let e = parse(body).unwrap_err();
    (e.code(), e.description())
}

const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

#[test]
fn minimal_registration_gets_the_rfc_defaults() {
    let m = parse(json!({"redirect_uris": ["https://app.example/cb"]})).unwrap();
    assert_eq!(m.grant_types, vec![GrantType::AuthorizationCode]);
    assert_eq!(m.auth_method, TokenEndpointAuthMethod::ClientSecretBasic);
    assert_eq!(m.scope, policy().scopes);
    assert_eq!(m.id_token_alg, SigningAlg::Rs256);
    let out = m.to_json();
    assert_eq!(out["response_types"], json!(["code"]));
    assert_eq!(out["redirect_uris"], json!(["https://app.example/cb"]));
    assert!(!out.contains_key("jwks_uri") && !out.contains_key("client_name"));
}

#[test]
fn unknown_members_are_ignored_and_null_means_absent() {
    let m = parse(json!({
        "redirect_uris": ["https://app.example/cb"],
        "x_vendor_extension": {"a": 1},
        "client_name": null,
        "software_statement": "eyJ...",
    }))
    .unwrap();
    assert_eq!(m.client_name, None);
}

#[test]
fn metadata_written_out_reads_back_the_same() {
    let body = json!({
        "redirect_uris": ["https://app.example/cb", "http://127.0.0.1/cb"],
        "grant_types": ["refresh_token", "authorization_code"],
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
        "jwks": serde_json::from_str::<Value>(JWKS).unwrap(),
        "client_name": "Notes",
        "logo_uri": "https://app.example/logo.png",
        "client_uri": "https://app.example",
        "policy_uri": "https://app.example/privacy",
        "tos_uri": "https://app.example/tos",
        "contacts": ["ops@app.example"],
        "scope": "email openid",
        "post_logout_redirect_uris": ["https://app.example/bye"],
        "backchannel_logout_uri": "https://app.example/bcl",
        "backchannel_logout_session_required": true,
        "id_token_signed_response_alg": "ES256",
        "userinfo_signed_response_alg": "EdDSA",
        "request_object_signing_alg": "ES256",
        "default_max_age": 3600,
        "require_auth_time": true,
        "require_pushed_authorization_requests": true,
        "dpop_bound_access_tokens": true,
    });
    let m = parse(body.clone()).unwrap();
    let again = parse(Value::Object(m.to_json())).unwrap();
    assert_eq!(m, again);
    let out = m.to_json();
    for (member, value) in body.as_object().unwrap() {
        if member != "grant_types" {
            assert_eq!(&out[member], value, "{member}");
        }
    }
    assert_eq!(out["grant_types"], json!(["authorization_code", "refresh_token"]));
}

#[test]
fn redirect_uri_refusals_are_invalid_redirect_uri() {
    for uri in [
        "https://app.example/cb#frag",
        "http://app.example/cb",
        "https://*.app.example/cb",
        "https://app.example/*",
        "javascript:alert(1)",
        "not a uri",
    ] {
        let (code, text) = refusal(json!({"redirect_uris": [uri]}));
        assert_eq!(code, "invalid_redirect_uri", "{uri}: {text}");
    }
    let (code, text) = refusal(json!({"client_name": "x"}));
    assert_eq!(code, "invalid_redirect_uri");
    assert!(text.contains("redirect_uris"), "{text}");
    let many: Vec<String> = (0..11).map(|i| format!("https://app.example/{i}")).collect();
    assert_eq!(refusal(json!({"redirect_uris": many})).0, "invalid_client_metadata");
}

#[test]
fn every_other_refusal_is_invalid_client_metadata_naming_the_member() {
    let cb = json!(["https://app.example/cb"]);
    let jwks: Value = serde_json::from_str(JWKS).unwrap();
    let cases = [
        (
            json!({"redirect_uris": cb, "jwks": jwks, "jwks_uri": "https://app.example/jwks"}),
            "jwks",
        ),
        (
            json!({"redirect_uris": cb, "token_endpoint_auth_method": "client_secret_jwt"}),
            "token_endpoint_auth_method",
        ),
        (
            json!({"redirect_uris": cb, "token_endpoint_auth_method": "private_key_jwt"}),
            "token_endpoint_auth_method",
        ),
        (json!({"redirect_uris": cb, "grant_types": ["implicit"]}), "grant_types"),
        (
            json!({"redirect_uris": cb, "grant_types": ["client_credentials"]}),
            "grant_types",
        ),
        (
            json!({"redirect_uris": cb, "response_types": ["token"]}),
            "response_types",
        ),
        (json!({"redirect_uris": cb, "response_types": []}), "response_types"),
        (
            json!({"redirect_uris": cb, "grant_types": ["refresh_token"]}),
            "grant_types",
        ),
        (
            json!({"redirect_uris": cb, "grant_types": ["authorization_code"], "response_types": []}),
            "response_types",
        ),
        (json!({"redirect_uris": cb, "scope": "openid admin"}), "scope"),
        (json!({"redirect_uris": cb, "scope": 7}), "scope"),
        (json!({"redirect_uris": "https://app.example/cb"}), "redirect_uris"),
        (json!({"redirect_uris": cb, "client_name": "a\u{7}b"}), "client_name"),
        (
            json!({"redirect_uris": cb, "client_name": "Bank\u{202e}gpj.exe"}),
            "client_name",
        ),
        (
            json!({"redirect_uris": cb, "backchannel_logout_uri": "http://app.example/bcl"}),
            "backchannel_logout_uri",
        ),
        (
            json!({"redirect_uris": cb, "logo_uri": "http://app.example/logo.png"}),
            "logo_uri",
        ),
        (json!({"redirect_uris": cb, "jwks": {"keys": "no"}}), "jwks"),
        (
            json!({"redirect_uris": cb, "jwks_uri": "http://app.example/jwks"}),
            "jwks_uri",
        ),
        (
            json!({"redirect_uris": cb, "id_token_signed_response_alg": "none"}),
            "id_token_signed_response_alg",
        ),
        (
            json!({"redirect_uris": cb, "request_object_signing_alg": "none"}),
            "request_object_signing_alg",
        ),
        (
            json!({"redirect_uris": cb, "request_object_signing_alg": "ES256"}),
            "request_object_signing_alg",
        ),
        (json!({"redirect_uris": cb, "default_max_age": -1}), "default_max_age"),
        (
            json!({"redirect_uris": cb, "require_auth_time": "yes"}),
            "require_auth_time",
        ),
        (
            json!({"redirect_uris": cb, "backchannel_logout_uri": "https://app.example/b#x"}),
            "backchannel_logout_uri",
        ),
        (
            json!({"redirect_uris": cb, "post_logout_redirect_uris": ["http://app.example/"]}),
            "post_logout_redirect_uris",
        ),
    ];
    for (body, member) in cases {
        let (code, text) = refusal(body.clone());
        assert_eq!(code, "invalid_client_metadata", "{body}: {text}");
        assert!(text.starts_with(member), "{body}: {text}");
    }
}

#[test]
fn the_policy_bounds_public_clients_grants_and_scopes() {
    let strict = Policy {
        name: "partners".into(),
        scopes: ScopeSet::from_static(&["openid"]),
        grant_types: vec![GrantType::AuthorizationCode],
        public_clients: false,
        resources: vec![],
    };
    let body = json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none"});
    let e = ClientMetadata::parse(body.as_object().unwrap(), &strict, Source::Registration).unwrap_err();
    assert!(e.description().contains("public clients"), "{}", e.description());
    let body =
        json!({"redirect_uris": ["https://app.example/cb"], "grant_types": ["authorization_code", "refresh_token"]});
    let e = ClientMetadata::parse(body.as_object().unwrap(), &strict, Source::Registration).unwrap_err();
    assert!(
        e.description().contains("refresh_token is not allowed"),
        "{}",
        e.description()
    );
    let body = json!({"redirect_uris": ["https://app.example/cb"]});
    let m = ClientMetadata::parse(body.as_object().unwrap(), &strict, Source::Registration).unwrap();
    assert_eq!(m.scope.to_param(), "openid");
}

#[test]
fn documents_default_to_public_and_never_hold_a_secret() {
    let m = parse_from(json!({"redirect_uris": ["https://app.example/cb"]}), Source::Document).unwrap();
    assert_eq!(m.auth_method, TokenEndpointAuthMethod::None);
    for method in ["client_secret_basic", "client_secret_post"] {
        let e = parse_from(
            json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": method}),
            Source::Document,
        )
        .unwrap_err();
        assert_eq!(e.code(), "invalid_client_metadata");
    }
}
