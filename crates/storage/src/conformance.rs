//! The store contracts as executable checks: one `async fn` per contract, run against every
//! backend by [`conformance_suite!`]. A backend bug fix adds a contract here, not a backend test.

#![allow(clippy::missing_panics_doc, missing_docs)]

use crate::model::*;
use crate::traits::Store;
use gatehouse_protocol::claims::ClaimsRequest;
use gatehouse_protocol::grant::authorization_code::CodeGrant;
use gatehouse_protocol::request::authorize::{AuthorizationRequest, Prompt, ResolvedRedirect};
use gatehouse_protocol::types::*;
use std::sync::Arc;

const NOW: UnixTime = UnixTime(1_700_000_000);

/// Expands into one `#[tokio::test]` per contract, each given a fresh store from `$make`
/// (an `Option`: `None` skips, for a backend that is not configured outside CI).
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr; $($contract:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $contract() {
                let Some(store) = $make.await else { return };
                $crate::conformance::$contract(store).await;
            }
        )+
    };
}

/// Every contract, for backends to pass to [`conformance_suite!`].
#[macro_export]
macro_rules! all_contracts {
    ($make:expr) => {
        $crate::conformance_suite!($make;
            client_round_trips_and_duplicate_id_conflicts,
            client_update_and_delete_report_existence,
            user_round_trips_by_id_and_username,
            duplicate_username_conflicts,
            builtin_scopes_exist_and_cannot_be_deleted,
            custom_scope_can_be_created_and_deleted,
            consent_accumulates_scopes,
            session_is_found_until_it_expires,
            interaction_can_be_taken_once,
            code_can_be_taken_once,
            expired_code_is_not_found,
            concurrent_code_redemptions_give_exactly_one_success,
            replayed_code_revoke_grant_revokes_its_tokens,
            access_token_is_found_until_expired_or_revoked,
            concurrent_access_token_inserts_fail_alone,
            jwt_access_tokens_are_revoked_by_what_is_recorded,
            refresh_token_rotates_once,
            a_rotation_stores_the_access_token_issued_with_it,
            rotated_refresh_token_reuse_is_reported,
            concurrent_refreshes_give_exactly_one_successor,
            contended_refresh_replays_never_fail,
            deleting_a_user_removes_their_tokens,
            deleting_a_client_removes_its_codes_and_tokens,
            keys_persist_in_insertion_order,
            export_lists_consents_and_live_refresh_tokens,
            refresh_family_expires_absolutely,
            rotated_token_within_grace_returns_its_successor,
            access_token_is_revoked_only_by_its_client,
            revoking_a_refresh_token_revokes_its_family,
            cleanup_deletes_expired_and_long_revoked_rows,
            server_secret_is_created_once,
            failed_logins_lock_the_account_until_cleared,
            login_attempts_are_reserved_before_verification,
            revoking_a_user_ends_their_sessions_and_tokens,
            a_revoked_grant_covers_tokens_written_after_the_revocation,
            key_rotation_schedules_retirement_once,
            a_key_can_be_retired_at_once,
            a_client_round_trips_its_logout_settings,
            ending_a_session_queues_notices_and_revokes_its_online_grants,
            a_users_sessions_end_with_every_token_and_notify_their_clients,
            the_outbox_is_claimed_once_retried_and_given_up,
            concurrent_claims_never_share_a_notice,
            a_renewed_session_keeps_its_sid_and_clients,
            cleanup_forgets_clients_of_expired_sessions_and_old_given_up_notices,
            a_device_poll_enforces_the_interval_and_redeems_once,
            a_device_decision_counts_once_and_expiry_ends_it,
            device_user_codes_are_unique_and_cleaned_up_after_expiry,
            wrong_device_codes_count_in_fixed_windows,
            a_single_use_value_is_accepted_once_until_it_expires,
            a_pushed_request_is_found_until_it_expires_and_goes_with_its_client,
            a_jwks_fetch_is_recorded_and_a_failure_keeps_the_last_good_keys,
            an_initial_access_token_is_used_up_once_per_use_even_when_raced,
            a_described_client_round_trips_and_replacing_it_can_forget_consents,
            uses_are_recorded_hourly_and_idle_dynamic_clients_are_listed,
        );
    };
}

/// A confidential client with a secret, for contracts (and for tests of one store).
pub fn client(id: &str) -> ClientRecord {
    ClientRecord {
        id: ClientId::parse(id).unwrap(),
        name: format!("{id} app"),
        secret_hash: Some(TokenHash::of("secret")),
        auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        redirect_uris: vec![RedirectUri::parse("https://app.example.com/cb").unwrap()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: ScopeSet::from_static(&["openid", "email", "offline_access"]),
        id_token_alg: SigningAlg::Rs256,
        access_token_format: AccessTokenFormat::Opaque,
        resources: vec!["https://api.example.com".into()],
        introspect: false,
        post_logout_redirect_uris: vec![RedirectUri::parse("https://app.example.com/bye").unwrap()],
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        jwks: None,
        token_endpoint_auth_signing_alg: None,
        strict_assertion_audience: false,
        jwks_uri: None,
        request_object_signing_alg: None,
        require_pushed_authorization_requests: false,
        require_signed_request_object: false,
        dpop_bound_access_tokens: false,
        origin: ClientOrigin::Operator,
        registration_token_hash: None,
        registration_policy: None,
        about: Default::default(),
        userinfo_alg: None,
        default_max_age: None,
        require_auth_time: false,
        created_at: NOW,
        secret_set_at: Some(NOW),
        last_used_at: None,
    }
}

pub fn user(id: &str, username: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        username: username.into(),
        email: Some(format!("{username}@example.com")),
        email_verified: true,
        name: Some("Alice".into()),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        locked: false,
        created_at: NOW,
        updated_at: NOW,
    }
}

fn code_grant(grant_id: &str, client_id: &str, expires_at: UnixTime) -> CodeGrant {
    CodeGrant {
        grant_id: grant_id.into(),
        client_id: ClientId::parse(client_id).unwrap(),
        subject: "u1".into(),
        redirect: ResolvedRedirect {
            uri: RedirectUri::parse("https://app.example.com/cb").unwrap(),
            supplied: true,
        },
        scope: ScopeSet::from_static(&["openid"]),
        nonce: Some("n".into()),
        code_challenge: CodeChallenge::parse(Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"), Some("S256"))
            .unwrap(),
        auth_time: NOW,
        session_id: None,
        claims: ClaimsRequest::default(),
        expires_at,
        resources: vec![],
        dpop_jkt: Some("jkt-of-the-client-key".into()),
    }
}

pub fn access(value: &str, client_id: &str, grant: Option<&str>, expires_at: UnixTime) -> AccessTokenRecord {
    AccessTokenRecord {
        hash: TokenHash::of(value),
        client_id: ClientId::parse(client_id).unwrap(),
        grant_id: grant.map(Into::into),
        subject: Some("u1".into()),
        scope: ScopeSet::from_static(&["openid"]),
        claims: ClaimsRequest::default(),
        auth_time: Some(NOW),
        issued_at: NOW,
        expires_at,
        audience: vec!["https://api.example.com".into()],
        format: AccessTokenFormat::Opaque,
        dpop_jkt: None,
    }
}

fn refresh(value: &str, family: &str) -> RefreshTokenRecord {
    RefreshTokenRecord {
        hash: TokenHash::of(value),
        family_id: family.into(),
        client_id: ClientId::parse("app").unwrap(),
        subject: "u1".into(),
        scope: ScopeSet::from_static(&["openid", "offline_access"]),
        claims: ClaimsRequest::default(),
        auth_time: NOW,
        session_id: Some("sid".into()),
        issued_at: NOW,
        expires_at: NOW.plus(3600),
        family_expires_at: NOW.plus(86_400),
        audience: vec![],
        dpop_jkt: Some("jkt-of-the-client-key".into()),
    }
}

/// The successor a rotation stores for `value`.
fn successor_token(value: &str) -> Successor {
    Successor {
        hash: TokenHash::of(value),
        expires_at: NOW.plus(3600),
        bind_to: None,
        access_token: None,
    }
}

/// The live access token stored for `value`, at `now`.
async fn live_access(store: &Arc<dyn Store>, value: &str, now: UnixTime) -> Option<AccessTokenRecord> {
    store.find_access_token(&TokenHash::of(value), now).await.unwrap()
}

/// The live refresh token stored for `value`, at `now`.
async fn live_refresh(store: &Arc<dyn Store>, value: &str, now: UnixTime) -> Option<RefreshTokenRecord> {
    store.find_refresh_token(&TokenHash::of(value), now).await.unwrap()
}

/// Stores an access token.
async fn issue_access(store: &Arc<dyn Store>, token: AccessTokenRecord) {
    store.put_access_token(&token).await.unwrap();
}

/// Stores a code.
async fn issue_code(store: &Arc<dyn Store>, hash: &TokenHash, grant: CodeGrant) {
    store.put_code(hash, &grant, NOW).await.unwrap();
}

/// Rotates the refresh token `value` into [`successor_token`]`(next)`.
async fn rotate(store: &Arc<dyn Store>, value: &str, next: &str, now: UnixTime, grace_seconds: u64) -> Rotation {
    store
        .rotate_refresh_token(&TokenHash::of(value), successor_token(next), now, grace_seconds)
        .await
        .unwrap()
}

async fn seeded(store: &Arc<dyn Store>) {
    seed(&**store).await;
}

/// Client `app` and user `u1`, whom [`access`] and [`jwt_access`] name.
pub async fn seed<S: crate::Clients + crate::Users + ?Sized>(store: &S) {
    store.create_client(&client("app")).await.unwrap();
    store.create_user(&user("u1", "alice")).await.unwrap();
}

/// A refresh token of client `app` and user `u1` in family `family` (the suite's own).
pub fn refresh_record(value: &str, family: &str) -> RefreshTokenRecord {
    refresh(value, family)
}

/// A JWT access token (never stored) of client `app` and user `u1`, of grant `grant-{jti}`.
pub fn jwt_access(jti: &str) -> AccessTokenRecord {
    AccessTokenRecord {
        format: AccessTokenFormat::Jwt,
        ..access(jti, "app", Some(&format!("grant-{jti}")), UnixTime(i64::MAX / 2))
    }
}

pub async fn client_round_trips_and_duplicate_id_conflicts(store: Arc<dyn Store>) {
    let mut c = client("app");
    c.introspect = true;
    store.create_client(&c).await.unwrap();
    assert_eq!(store.find_client(&c.id).await.unwrap(), Some(c.clone()));
    assert!(matches!(
        store.create_client(&c).await,
        Err(crate::StoreError::Conflict(_))
    ));
    assert_eq!(store.list_clients().await.unwrap(), vec![c]);
    assert_eq!(
        store.find_client(&ClientId::parse("nope").unwrap()).await.unwrap(),
        None
    );
}

pub async fn client_update_and_delete_report_existence(store: Arc<dyn Store>) {
    let mut c = client("app");
    assert!(!store.update_client(&c).await.unwrap());
    store.create_client(&c).await.unwrap();
    c.name = "Renamed".into();
    c.secret_hash = Some(TokenHash::of("rotated"));
    assert!(store.update_client(&c).await.unwrap());
    assert_eq!(store.find_client(&c.id).await.unwrap().unwrap().name, "Renamed");
    assert!(store.delete_client(&c.id).await.unwrap());
    assert!(!store.delete_client(&c.id).await.unwrap());
}

pub async fn user_round_trips_by_id_and_username(store: Arc<dyn Store>) {
    let u = user("u1", "alice");
    store.create_user(&u).await.unwrap();
    assert_eq!(store.find_user("u1").await.unwrap(), Some(u.clone()));
    assert_eq!(store.find_user_by_username("alice").await.unwrap(), Some(u.clone()));
    let mut locked = u.clone();
    locked.locked = true;
    assert!(store.update_user(&locked).await.unwrap());
    assert!(store.find_user("u1").await.unwrap().unwrap().locked);
    assert_eq!(store.list_users().await.unwrap().len(), 1);
}

pub async fn duplicate_username_conflicts(store: Arc<dyn Store>) {
    store.create_user(&user("u1", "alice")).await.unwrap();
    let dup = store.create_user(&user("u2", "alice")).await;
    assert!(matches!(dup, Err(crate::StoreError::Conflict(_))), "{dup:?}");
}

pub async fn builtin_scopes_exist_and_cannot_be_deleted(store: Arc<dyn Store>) {
    let names: Vec<String> = store.list_scopes().await.unwrap().into_iter().map(|s| s.name).collect();
    for b in ["email", "offline_access", "openid", "profile"] {
        assert!(names.contains(&b.to_owned()), "{b} missing from {names:?}");
    }
    assert!(!store.delete_scope("openid").await.unwrap());
}

pub async fn custom_scope_can_be_created_and_deleted(store: Arc<dyn Store>) {
    let s = ScopeRecord {
        name: "api:read".into(),
        description: "Read the API".into(),
        builtin: false,
    };
    store.create_scope(&s).await.unwrap();
    assert!(matches!(
        store.create_scope(&s).await,
        Err(crate::StoreError::Conflict(_))
    ));
    assert!(store.list_scopes().await.unwrap().contains(&s));
    assert!(store.delete_scope("api:read").await.unwrap());
    assert!(!store.delete_scope("api:read").await.unwrap());
}

pub async fn consent_accumulates_scopes(store: Arc<dyn Store>) {
    seeded(&store).await;
    let app = ClientId::parse("app").unwrap();
    assert_eq!(store.find_consent("u1", &app).await.unwrap(), None);
    store
        .grant_consent("u1", &app, &ScopeSet::from_static(&["openid"]), NOW)
        .await
        .unwrap();
    store
        .grant_consent("u1", &app, &ScopeSet::from_static(&["email"]), NOW)
        .await
        .unwrap();
    assert_eq!(
        store.find_consent("u1", &app).await.unwrap(),
        Some(ScopeSet::from_static(&["email", "openid"]))
    );
}

pub async fn session_is_found_until_it_expires(store: Arc<dyn Store>) {
    seeded(&store).await;
    let s = BrowserSession {
        token_hash: TokenHash::of("cookie"),
        sid: "sid1".into(),
        user_id: "u1".into(),
        auth_time: NOW,
        expires_at: NOW.plus(60),
    };
    store.put_session(&s).await.unwrap();
    assert_eq!(store.find_session(&s.token_hash, NOW).await.unwrap(), Some(s.clone()));
    assert_eq!(store.find_session(&s.token_hash, NOW.plus(60)).await.unwrap(), None);
    store.delete_session(&s.token_hash).await.unwrap();
    assert_eq!(store.find_session(&s.token_hash, NOW).await.unwrap(), None);
}

pub async fn interaction_can_be_taken_once(store: Arc<dyn Store>) {
    let request = AuthorizationRequest {
        client_id: ClientId::parse("app").unwrap(),
        redirect: ResolvedRedirect {
            uri: RedirectUri::parse("https://app.example.com/cb").unwrap(),
            supplied: true,
        },
        scope: ScopeSet::from_static(&["openid"]),
        state: Some("s".into()),
        nonce: None,
        code_challenge: CodeChallenge::parse(Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"), Some("S256"))
            .unwrap(),
        prompt: Prompt::default(),
        max_age: None,
        login_hint: None,
        id_token_hint: None,
        claims: ClaimsRequest::default(),
        resources: vec![],
        pushed_request: Some("cHVzaGVk".into()),
        dpop_jkt: None,
    };
    let i = Interaction {
        id: "i1".into(),
        csrf_hash: TokenHash::of("csrf"),
        browser_hash: TokenHash::of("browser"),
        request,
        login: None,
        expires_at: NOW.plus(600),
    };
    store.put_interaction(&i).await.unwrap();
    let login = InteractionLogin {
        user_id: "u1".into(),
        auth_time: NOW,
        sid: "sid".into(),
    };
    assert!(store.set_interaction_login("i1", &login).await.unwrap());
    assert!(store.set_interaction_csrf("i1", &TokenHash::of("csrf2")).await.unwrap());
    assert!(
        !store
            .set_interaction_csrf("missing", &TokenHash::of("csrf2"))
            .await
            .unwrap()
    );
    let found = store.find_interaction("i1", NOW).await.unwrap().unwrap();
    assert_eq!(found.login, Some(login));
    assert_eq!(found.csrf_hash, TokenHash::of("csrf2"));
    assert_eq!(store.find_interaction("i1", NOW.plus(600)).await.unwrap(), None);
    assert!(store.take_interaction("i1", NOW).await.unwrap().is_some());
    assert!(store.take_interaction("i1", NOW).await.unwrap().is_none());
}

pub async fn code_can_be_taken_once(store: Arc<dyn Store>) {
    seeded(&store).await;
    let h = TokenHash::of("code");
    let g = code_grant("g1", "app", NOW.plus(60));
    store.put_code(&h, &g, NOW).await.unwrap();
    assert_eq!(store.find_code(&h, NOW).await.unwrap(), Some((g.clone(), false)));
    assert_eq!(
        store.take_code(&h, NOW).await.unwrap(),
        Taken::Fresh(Box::new(g.clone()))
    );
    assert_eq!(
        store.take_code(&h, NOW).await.unwrap(),
        Taken::Replayed { grant_id: "g1".into() }
    );
    assert_eq!(store.find_code(&h, NOW).await.unwrap(), Some((g, true)));
    assert_eq!(
        store.take_code(&TokenHash::of("other"), NOW).await.unwrap(),
        Taken::NotFound
    );
}

pub async fn expired_code_is_not_found(store: Arc<dyn Store>) {
    seeded(&store).await;
    let h = TokenHash::of("code");
    issue_code(&store, &h, code_grant("g1", "app", NOW.plus(60))).await;
    assert_eq!(store.find_code(&h, NOW.plus(60)).await.unwrap(), None);
    assert_eq!(store.take_code(&h, NOW.plus(60)).await.unwrap(), Taken::NotFound);
    // A consumed code is still found after its expiry, so a late replay is detected.
    let used = TokenHash::of("used");
    issue_code(&store, &used, code_grant("g2", "app", NOW.plus(60))).await;
    assert!(matches!(store.take_code(&used, NOW).await.unwrap(), Taken::Fresh(_)));
    let (_, consumed) = store.find_code(&used, NOW.plus(120)).await.unwrap().unwrap();
    assert!(consumed);
    assert!(matches!(
        store.take_code(&used, NOW.plus(120)).await.unwrap(),
        Taken::Replayed { .. }
    ));
    // Cleanup keeps it until the retention of revoked rows is over.
    store.cleanup(NOW.plus(120), UnixTime(NOW.0 - 1), 100).await.unwrap();
    assert!(store.find_code(&used, NOW.plus(120)).await.unwrap().is_some());
    store.cleanup(NOW.plus(120), NOW.plus(1), 100).await.unwrap();
    assert_eq!(store.find_code(&used, NOW.plus(120)).await.unwrap(), None);
}

pub async fn concurrent_code_redemptions_give_exactly_one_success(store: Arc<dyn Store>) {
    seeded(&store).await;
    let h = TokenHash::of("code");
    issue_code(&store, &h, code_grant("g1", "app", NOW.plus(60))).await;
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let s = Arc::clone(&store);
            tokio::spawn(async move { s.take_code(&h, NOW).await.unwrap() })
        })
        .collect();
    let mut fresh = 0;
    for t in tasks {
        match t.await.unwrap() {
            Taken::Fresh(_) => fresh += 1,
            Taken::Replayed { grant_id } => assert_eq!(grant_id, "g1"),
            Taken::NotFound => panic!("a consumed code must report Replayed"),
        }
    }
    assert_eq!(fresh, 1);
}

pub async fn replayed_code_revoke_grant_revokes_its_tokens(store: Arc<dyn Store>) {
    seeded(&store).await;
    issue_access(&store, access("at1", "app", Some("g1"), NOW.plus(60))).await;
    issue_access(&store, access("at-other", "app", Some("g2"), NOW.plus(60))).await;
    store.put_refresh_token(&refresh("rt1", "g1")).await.unwrap();
    assert_eq!(store.revoke_grant("g1", NOW).await.unwrap(), 2);
    assert_eq!(live_access(&store, "at1", NOW).await, None);
    assert_eq!(live_refresh(&store, "rt1", NOW).await, None);
    assert!(live_access(&store, "at-other", NOW).await.is_some());
}

pub async fn access_token_is_found_until_expired_or_revoked(store: Arc<dyn Store>) {
    seeded(&store).await;
    let t = AccessTokenRecord {
        dpop_jkt: Some("jkt-of-the-client-key".into()),
        ..access("at1", "app", Some("g1"), NOW.plus(60))
    };
    store.put_access_token(&t).await.unwrap();
    assert_eq!(store.find_access_token(&t.hash, NOW).await.unwrap(), Some(t.clone()));
    assert_eq!(store.find_access_token(&t.hash, NOW.plus(60)).await.unwrap(), None);
    store.revoke_grant("g1", NOW).await.unwrap();
    assert_eq!(store.find_access_token(&t.hash, NOW).await.unwrap(), None);
}

/// Many inserts at once (the embedded store commits them as a group): a row that cannot be
/// inserted, a duplicate or one naming an unknown client, fails alone and the others land.
pub async fn concurrent_access_token_inserts_fail_alone(store: Arc<dyn Store>) {
    seeded(&store).await;
    issue_access(&store, access("dup", "app", None, NOW.plus(60))).await;
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let s = Arc::clone(&store);
            let t = match i {
                20 => access("dup", "app", None, NOW.plus(60)),
                40 => access("orphan", "no-such-client", None, NOW.plus(60)),
                _ => access(&format!("at{i}"), "app", None, NOW.plus(60)),
            };
            tokio::spawn(async move { (i, s.put_access_token(&t).await) })
        })
        .collect();
    for t in tasks {
        let (i, result) = t.await.unwrap();
        match i {
            20 | 40 => assert!(result.is_err(), "insert {i} should fail"),
            _ => {
                result.unwrap();
                let found = live_access(&store, &format!("at{i}"), NOW).await;
                assert!(found.is_some(), "token {i} was lost");
            }
        }
    }
    assert!(live_access(&store, "orphan", NOW).await.is_none());
}

/// A JWT access token is never stored: it is revoked by its `jti`, by its grant, by its user's
/// tokens ending after it was issued (not before), and by its user or client being deleted.
pub async fn jwt_access_tokens_are_revoked_by_what_is_recorded(store: Arc<dyn Store>) {
    seeded(&store).await;
    let issued_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap())
        .unwrap();
    let jwt = |value: &str, client_id: &str, grant: Option<&str>| AccessTokenRecord {
        format: AccessTokenFormat::Jwt,
        ..access(value, client_id, grant, NOW.plus(60))
    };
    let revoked = |t: AccessTokenRecord, ms: i64| {
        let store = Arc::clone(&store);
        async move { store.jwt_access_revoked(&t, ms).await.unwrap() }
    };
    assert!(!revoked(jwt("j1", "app", Some("g1")), issued_ms).await, "live");
    assert!(
        revoked(jwt("j1", "no-such-client", Some("g1")), issued_ms).await,
        "unknown client"
    );
    let client_token = AccessTokenRecord {
        subject: None,
        ..jwt("j0", "app", None)
    };
    assert!(!revoked(client_token.clone(), issued_ms).await, "a client's own token");

    store
        .revoke_jwt_access_token(&TokenHash::of("j1"), NOW.plus(60))
        .await
        .unwrap();
    store
        .revoke_jwt_access_token(&TokenHash::of("j1"), NOW.plus(60))
        .await
        .unwrap();
    assert!(revoked(jwt("j1", "app", Some("g1")), issued_ms).await, "by jti");
    assert!(!revoked(jwt("j2", "app", Some("g1")), issued_ms).await, "another jti");

    // Each token below is first found live (an answer the server may cache), then revoked: the
    // revocation must be seen by the very next check.
    assert!(!revoked(jwt("j3", "app", Some("g2")), issued_ms).await, "live");
    store.revoke_grant("g2", NOW).await.unwrap();
    assert!(revoked(jwt("j3", "app", Some("g2")), issued_ms).await, "by grant");

    let legacy = jwt("j6", "app", Some("g6"));
    store.put_access_token(&legacy).await.unwrap();
    assert!(
        !revoked(legacy.clone(), issued_ms).await,
        "stored before JWTs stopped being stored"
    );
    assert!(
        store
            .revoke_access_token(&legacy.hash, &legacy.client_id, NOW)
            .await
            .unwrap()
    );
    assert!(revoked(legacy, issued_ms).await, "stored, then revoked");

    store.create_client(&client("app2")).await.unwrap();
    assert!(!revoked(jwt("j7", "app2", None), issued_ms).await, "live");
    assert!(store.delete_client(&ClientId::parse("app2").unwrap()).await.unwrap());
    assert!(revoked(jwt("j7", "app2", None), issued_ms).await, "deleted client");

    assert!(!revoked(jwt("j4", "app", Some("g1")), issued_ms).await, "live");
    store
        .end_sessions(SessionEnd::User("u1"), "password_changed", NOW, NOW)
        .await
        .unwrap();
    assert!(
        revoked(jwt("j4", "app", Some("g1")), issued_ms).await,
        "issued before the user's end"
    );
    assert!(
        !revoked(jwt("j5", "app", Some("g1")), issued_ms + 60_000).await,
        "issued after the user's end"
    );
    assert!(
        !revoked(client_token.clone(), issued_ms).await,
        "a client's token has no user"
    );
    store.delete_user("u1").await.unwrap();
    assert!(
        revoked(jwt("j5", "app", Some("g1")), issued_ms + 60_000).await,
        "deleted user"
    );

    // The record of a revoked jti goes when the token would have expired.
    let report = store.cleanup(NOW.plus(61), NOW, 100).await.unwrap();
    assert!(report.access_tokens >= 1, "{report:?}");
    assert!(!revoked(client_token, issued_ms).await);
    store.create_user(&user("u1", "alice")).await.unwrap();
    assert!(
        !revoked(jwt("j1", "app", Some("g1")), issued_ms + 60_000).await,
        "forgotten after expiry"
    );
}

pub async fn refresh_token_rotates_once(store: Arc<dyn Store>) {
    seeded(&store).await;
    let first = refresh("rt1", "g1");
    store.put_refresh_token(&first).await.unwrap();
    let next = successor_token("rt2");
    let r = store
        .rotate_refresh_token(&first.hash, next.clone(), NOW, 0)
        .await
        .unwrap();
    assert_eq!(r, Rotation::Rotated(Box::new(first.clone())));
    // The successor continues the grant: all of the presented token but its hash and lifetimes.
    let stored = store.find_refresh_token(&next.hash, NOW).await.unwrap().unwrap();
    let expected = RefreshTokenRecord {
        hash: next.hash,
        issued_at: NOW,
        expires_at: next.expires_at,
        ..first.clone()
    };
    assert_eq!(stored, expected);
    assert_eq!(store.find_refresh_token(&first.hash, NOW).await.unwrap(), None);

    // RFC 9449 §5: the successor of a token not yet bound is bound to the key asked for; a bound
    // token's successor keeps its own key whatever is asked.
    let key = TokenHash::of("client key");
    let unbound = RefreshTokenRecord {
        dpop_jkt: None,
        ..refresh("rt3", "g3")
    };
    store.put_refresh_token(&unbound).await.unwrap();
    let binding = Successor {
        bind_to: Some(key),
        ..successor_token("rt4")
    };
    let r = store
        .rotate_refresh_token(&unbound.hash, binding.clone(), NOW, 0)
        .await
        .unwrap();
    assert_eq!(r, Rotation::Rotated(Box::new(unbound.clone())));
    let stored = live_refresh(&store, "rt4", NOW).await.unwrap();
    assert_eq!(stored.dpop_jkt, binding.binding());
    assert!(stored.dpop_jkt.is_some());
    let other = Successor {
        bind_to: Some(TokenHash::of("another key")),
        ..successor_token("rt5")
    };
    store.rotate_refresh_token(&stored.hash, other, NOW, 0).await.unwrap();
    assert_eq!(
        live_refresh(&store, "rt5", NOW).await.unwrap().dpop_jkt,
        binding.binding()
    );
}

/// The access token a refresh issues is stored in the rotation's own write, and only when the
/// token was live: a replay, a retry within the grace period or an unknown token stores nothing.
pub async fn a_rotation_stores_the_access_token_issued_with_it(store: Arc<dyn Store>) {
    seeded(&store).await;
    store.put_refresh_token(&refresh("rt1", "g1")).await.unwrap();
    let with = |next: &str, at: &str| Successor {
        access_token: Some(access(at, "app", Some("g1"), NOW.plus(60))),
        ..successor_token(next)
    };
    let r = store
        .rotate_refresh_token(&TokenHash::of("rt1"), with("rt2", "at1"), NOW, 10)
        .await
        .unwrap();
    assert!(matches!(r, Rotation::Rotated(_)), "{r:?}");
    let stored = live_access(&store, "at1", NOW).await;
    assert_eq!(stored, Some(access("at1", "app", Some("g1"), NOW.plus(60))));
    // A retry within the grace period gets the successor back and stores no access token.
    let r = store
        .rotate_refresh_token(&TokenHash::of("rt1"), with("rt2", "at2"), NOW.plus(1), 10)
        .await
        .unwrap();
    assert!(matches!(r, Rotation::Retried(_)), "{r:?}");
    assert_eq!(live_access(&store, "at2", NOW.plus(1)).await, None);
    // A replay after the grace period revokes the family, the access token stored with the
    // rotation included, and stores none.
    let r = store
        .rotate_refresh_token(&TokenHash::of("rt1"), with("rt3", "at3"), NOW.plus(20), 10)
        .await
        .unwrap();
    assert!(matches!(r, Rotation::Reused { .. }), "{r:?}");
    assert_eq!(live_access(&store, "at3", NOW.plus(20)).await, None);
    assert_eq!(live_access(&store, "at1", NOW.plus(20)).await, None);
    let r = store
        .rotate_refresh_token(&TokenHash::of("nope"), with("rt4", "at4"), NOW, 10)
        .await
        .unwrap();
    assert_eq!(r, Rotation::NotFound);
    assert_eq!(live_access(&store, "at4", NOW).await, None);
}

pub async fn rotated_refresh_token_reuse_is_reported(store: Arc<dyn Store>) {
    seeded(&store).await;
    store.put_refresh_token(&refresh("rt1", "g1")).await.unwrap();
    issue_access(&store, access("at1", "app", Some("g1"), NOW.plus(60))).await;
    rotate(&store, "rt1", "rt2", NOW, 0).await;
    let again = rotate(&store, "rt1", "rt3", NOW, 0).await;
    assert_eq!(
        again,
        Rotation::Reused {
            family_id: "g1".into(),
            client_id: ClientId::parse("app").unwrap()
        }
    );
    // The whole family is revoked: the newest refresh token and the access tokens.
    assert_eq!(live_refresh(&store, "rt2", NOW).await, None);
    assert_eq!(live_refresh(&store, "rt3", NOW).await, None);
    assert_eq!(live_access(&store, "at1", NOW).await, None);
    let unknown = rotate(&store, "nope", "rt4", NOW, 0).await;
    assert_eq!(unknown, Rotation::NotFound);
}

pub async fn concurrent_refreshes_give_exactly_one_successor(store: Arc<dyn Store>) {
    seeded(&store).await;
    store.put_refresh_token(&refresh("rt1", "g1")).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let s = Arc::clone(&store);
            tokio::spawn(async move { rotate(&s, "rt1", &format!("next{i}"), NOW, 0).await })
        })
        .collect();
    let mut rotated = 0;
    for t in tasks {
        if let Rotation::Rotated(_) = t.await.unwrap() {
            rotated += 1;
        }
    }
    assert_eq!(rotated, 1);
}

/// Many replays of one refresh token at once: one rotates, the rest revoke the family, and none
/// fails. On PostgreSQL a loser's UPDATE locks the rotated row even though it changes nothing, and
/// then waits for the family's revocation record that another loser holds while it waits for that
/// row: a deadlock, which the store must resolve by retrying, not report.
pub async fn contended_refresh_replays_never_fail(store: Arc<dyn Store>) {
    seeded(&store).await;
    for round in 0..20 {
        let (token, family) = (format!("rt-{round}"), format!("g-{round}"));
        store.put_refresh_token(&refresh(&token, &family)).await.unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let s = Arc::clone(&store);
                let token = TokenHash::of(&token);
                tokio::spawn(async move {
                    s.rotate_refresh_token(&token, successor_token(&format!("next-{round}-{i}")), NOW, 0)
                        .await
                })
            })
            .collect();
        let mut rotated = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(Rotation::Rotated(_)) => rotated += 1,
                Ok(Rotation::Reused { family_id, .. }) => assert_eq!(family_id, family),
                other => panic!("round {round}: {other:?}"),
            }
        }
        assert_eq!(rotated, 1, "round {round}");
    }
}

pub async fn deleting_a_user_removes_their_tokens(store: Arc<dyn Store>) {
    seeded(&store).await;
    issue_access(&store, access("at1", "app", Some("g1"), NOW.plus(60))).await;
    store.put_refresh_token(&refresh("rt1", "g1")).await.unwrap();
    assert!(store.delete_user("u1").await.unwrap());
    assert_eq!(live_access(&store, "at1", NOW).await, None);
    assert_eq!(live_refresh(&store, "rt1", NOW).await, None);
    assert!(!store.delete_user("u1").await.unwrap());
}

pub async fn deleting_a_client_removes_its_codes_and_tokens(store: Arc<dyn Store>) {
    seeded(&store).await;
    let h = TokenHash::of("code");
    issue_code(&store, &h, code_grant("g1", "app", NOW.plus(60))).await;
    issue_access(&store, access("at1", "app", Some("g1"), NOW.plus(60))).await;
    store
        .grant_consent(
            "u1",
            &ClientId::parse("app").unwrap(),
            &ScopeSet::from_static(&["openid"]),
            NOW,
        )
        .await
        .unwrap();
    assert!(store.delete_client(&ClientId::parse("app").unwrap()).await.unwrap());
    assert_eq!(store.find_code(&h, NOW).await.unwrap(), None);
    assert_eq!(live_access(&store, "at1", NOW).await, None);
    assert_eq!(
        store
            .find_consent("u1", &ClientId::parse("app").unwrap())
            .await
            .unwrap(),
        None
    );
}

pub async fn keys_persist_in_insertion_order(store: Arc<dyn Store>) {
    let k1 = key("k1", SigningAlg::Rs256, NOW);
    let k2 = key("k2", SigningAlg::EdDsa, NOW.plus(1));
    store.put_key(&k1).await.unwrap();
    store.put_key(&k2).await.unwrap();
    assert_eq!(store.list_keys().await.unwrap(), vec![k1.clone(), k2]);
    assert!(matches!(store.put_key(&k1).await, Err(crate::StoreError::Conflict(_))));
}

pub async fn export_lists_consents_and_live_refresh_tokens(store: Arc<dyn Store>) {
    seeded(&store).await;
    let app = ClientId::parse("app").unwrap();
    store
        .grant_consent("u1", &app, &ScopeSet::from_static(&["openid"]), NOW)
        .await
        .unwrap();
    assert_eq!(
        store.list_consents().await.unwrap(),
        vec![("u1".into(), app, ScopeSet::from_static(&["openid"]), NOW)]
    );
    store.put_refresh_token(&refresh("rt1", "g1")).await.unwrap();
    store.put_refresh_token(&refresh("rt2", "g2")).await.unwrap();
    rotate(&store, "rt2", "rt3", NOW, 0).await;
    let live: Vec<TokenHash> = store
        .list_refresh_tokens(NOW)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.hash)
        .collect();
    assert_eq!(live.len(), 2);
    assert!(live.contains(&TokenHash::of("rt1")) && live.contains(&TokenHash::of("rt3")));
    assert!(store.list_refresh_tokens(NOW.plus(3600)).await.unwrap().is_empty());
}

pub async fn refresh_family_expires_absolutely(store: Arc<dyn Store>) {
    seeded(&store).await;
    let mut first = refresh("rt1", "g1");
    first.family_expires_at = NOW.plus(100);
    store.put_refresh_token(&first).await.unwrap();
    let r = store
        .rotate_refresh_token(&first.hash, successor_token("rt2"), NOW, 0)
        .await
        .unwrap();
    assert!(matches!(r, Rotation::Rotated(_)));
    // The successor inherits the family's absolute expiry, whatever the caller put in it.
    let next = live_refresh(&store, "rt2", NOW).await.unwrap();
    assert_eq!(next.family_expires_at, NOW.plus(100));
    assert_eq!(live_refresh(&store, "rt2", NOW.plus(100)).await, None);
    let late = rotate(&store, "rt2", "rt3", NOW.plus(100), 0).await;
    assert_eq!(late, Rotation::NotFound);
}

pub async fn rotated_token_within_grace_returns_its_successor(store: Arc<dyn Store>) {
    seeded(&store).await;
    store.put_refresh_token(&refresh("rt1", "g1")).await.unwrap();
    rotate(&store, "rt1", "rt2", NOW, 10).await;
    let retry = rotate(&store, "rt1", "rt3", NOW.plus(5), 10).await;
    let Rotation::Retried(successor) = retry else {
        panic!("expected Retried, got {retry:?}")
    };
    assert_eq!(successor.hash, TokenHash::of("rt2"));
    assert!(live_refresh(&store, "rt2", NOW.plus(5)).await.is_some(), "not revoked");
    assert_eq!(live_refresh(&store, "rt3", NOW.plus(5)).await, None, "no new successor");
    // After the grace period the same replay revokes the family.
    let late = rotate(&store, "rt1", "rt4", NOW.plus(10), 10).await;
    assert!(matches!(late, Rotation::Reused { .. }), "{late:?}");
    assert_eq!(live_refresh(&store, "rt2", NOW.plus(10)).await, None);
}

pub async fn access_token_is_revoked_only_by_its_client(store: Arc<dyn Store>) {
    seeded(&store).await;
    store.create_client(&client("other")).await.unwrap();
    let t = access("at1", "app", Some("g1"), NOW.plus(60));
    store.put_access_token(&t).await.unwrap();
    assert!(
        !store
            .revoke_access_token(&t.hash, &ClientId::parse("other").unwrap(), NOW)
            .await
            .unwrap()
    );
    assert!(store.find_access_token(&t.hash, NOW).await.unwrap().is_some());
    assert!(
        store
            .revoke_access_token(&t.hash, &ClientId::parse("app").unwrap(), NOW)
            .await
            .unwrap()
    );
    assert_eq!(store.find_access_token(&t.hash, NOW).await.unwrap(), None);
    assert!(
        !store
            .revoke_access_token(&t.hash, &ClientId::parse("app").unwrap(), NOW)
            .await
            .unwrap()
    );
}

pub async fn revoking_a_refresh_token_revokes_its_family(store: Arc<dyn Store>) {
    seeded(&store).await;
    store.create_client(&client("other")).await.unwrap();
    store.put_refresh_token(&refresh("rt1", "g1")).await.unwrap();
    issue_access(&store, access("at1", "app", Some("g1"), NOW.plus(60))).await;
    rotate(&store, "rt1", "rt2", NOW, 0).await;
    let other = ClientId::parse("other").unwrap();
    assert!(
        !store
            .revoke_refresh_token(&TokenHash::of("rt2"), &other, NOW)
            .await
            .unwrap()
    );
    assert!(live_refresh(&store, "rt2", NOW).await.is_some());
    // Revoking an older (rotated) member still revokes the family.
    assert!(
        store
            .revoke_refresh_token(&TokenHash::of("rt1"), &ClientId::parse("app").unwrap(), NOW)
            .await
            .unwrap()
    );
    assert_eq!(live_refresh(&store, "rt2", NOW).await, None);
    assert_eq!(live_access(&store, "at1", NOW).await, None);
    assert!(
        !store
            .revoke_refresh_token(&TokenHash::of("nope"), &ClientId::parse("app").unwrap(), NOW)
            .await
            .unwrap()
    );
}

pub async fn cleanup_deletes_expired_and_long_revoked_rows(store: Arc<dyn Store>) {
    seeded(&store).await;
    for i in 0..7 {
        issue_code(
            &store,
            &TokenHash::of(&format!("old{i}")),
            code_grant("g", "app", NOW.plus(1)),
        )
        .await;
        issue_access(&store, access(&format!("at-old{i}"), "app", Some("g9"), NOW.plus(1))).await;
    }
    issue_code(&store, &TokenHash::of("fresh"), code_grant("g", "app", NOW.plus(600))).await;
    issue_access(&store, access("at-live", "app", Some("g1"), NOW.plus(600))).await;
    issue_access(&store, access("at-revoked", "app", Some("g2"), NOW.plus(600))).await;
    store.revoke_grant("g2", NOW).await.unwrap();
    store.put_refresh_token(&refresh("rt-live", "g1")).await.unwrap();
    let report = store.cleanup(NOW.plus(10), NOW.plus(5), 3).await.unwrap();
    assert_eq!(report.codes, 7, "{report:?}");
    assert_eq!(
        report.access_tokens, 8,
        "expired ones and the long-revoked one: {report:?}"
    );
    assert_eq!(report.refresh_tokens, 0);
    assert!(
        store
            .find_code(&TokenHash::of("fresh"), NOW.plus(10))
            .await
            .unwrap()
            .is_some()
    );
    assert!(live_access(&store, "at-live", NOW.plus(10)).await.is_some());
    assert!(live_refresh(&store, "rt-live", NOW.plus(10)).await.is_some());
    assert_eq!(store.cleanup(NOW.plus(10), NOW.plus(5), 3).await.unwrap().total(), 0);
}

pub async fn server_secret_is_created_once(store: Arc<dyn Store>) {
    let first = store.server_secret("refresh", b"candidate-1", NOW).await.unwrap();
    assert_eq!(first, b"candidate-1");
    let second = store.server_secret("refresh", b"candidate-2", NOW).await.unwrap();
    assert_eq!(second, b"candidate-1", "the first stored secret wins");
}

pub async fn failed_logins_lock_the_account_until_cleared(store: Arc<dyn Store>) {
    for i in 0..5 {
        assert_eq!(
            store.reserve_login_attempt("alice", NOW.plus(i), 900, 5).await.unwrap(),
            LoginAttempt::Allowed,
            "attempt {i}"
        );
        let locked = store.record_login_failure("alice", NOW.plus(i), 900, 5).await.unwrap();
        if i < 4 {
            assert_eq!(locked, None, "failure {i}");
            assert_eq!(store.login_lock("alice", NOW.plus(i)).await.unwrap(), None);
        } else {
            assert_eq!(locked, Some(NOW.plus(904)), "the fifth failure locks for one window");
        }
    }
    assert_eq!(
        store
            .reserve_login_attempt("alice", NOW.plus(100), 900, 5)
            .await
            .unwrap(),
        LoginAttempt::Locked(NOW.plus(904)),
        "a locked account refuses attempts before any password is checked"
    );
    assert_eq!(
        store.login_lock("alice", NOW.plus(100)).await.unwrap(),
        Some(NOW.plus(904))
    );
    assert_eq!(
        store.login_lock("bob", NOW.plus(100)).await.unwrap(),
        None,
        "per account"
    );
    assert_eq!(
        store.login_lock("alice", NOW.plus(904)).await.unwrap(),
        None,
        "the lock ends"
    );
    assert_eq!(
        store
            .reserve_login_attempt("alice", NOW.plus(904), 900, 5)
            .await
            .unwrap(),
        LoginAttempt::Allowed,
        "after the lock a new window starts"
    );
    // Failures outside the window start a new count.
    store.reserve_login_attempt("carol", NOW, 900, 2).await.unwrap();
    assert_eq!(store.record_login_failure("carol", NOW, 900, 2).await.unwrap(), None);
    store
        .reserve_login_attempt("carol", NOW.plus(900), 900, 2)
        .await
        .unwrap();
    assert_eq!(
        store
            .record_login_failure("carol", NOW.plus(900), 900, 2)
            .await
            .unwrap(),
        None,
        "the first failure of a new window"
    );
    store.reserve_login_attempt("dave", NOW, 900, 1).await.unwrap();
    store.record_login_failure("dave", NOW, 900, 1).await.unwrap();
    assert!(store.login_lock("dave", NOW).await.unwrap().is_some());
    store.clear_login_failures("dave").await.unwrap();
    assert_eq!(store.login_lock("dave", NOW).await.unwrap(), None);
}

pub async fn login_attempts_are_reserved_before_verification(store: Arc<dyn Store>) {
    // Concurrent attempts: exactly `threshold` get a place before any password is verified.
    let attempts = (0..24).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.reserve_login_attempt("erin", NOW, 900, 5).await.unwrap() })
    });
    let mut allowed = 0;
    for a in attempts {
        match a.await.unwrap() {
            LoginAttempt::Allowed => allowed += 1,
            LoginAttempt::Busy => {}
            LoginAttempt::Locked(_) => panic!("nothing failed yet: busy, not locked"),
        }
    }
    assert_eq!(allowed, 5, "attempts are counted before any password is verified");
    // Four fail, one succeeds: the success gives its place back and does not lift anything...
    for _ in 0..4 {
        assert_eq!(store.record_login_failure("erin", NOW, 900, 5).await.unwrap(), None);
    }
    store.release_login_attempts("erin", NOW).await.unwrap();
    assert_eq!(store.login_lock("erin", NOW).await.unwrap(), None);
    // ...and forgets the failures, so the owner gets the full budget again.
    for _ in 0..5 {
        assert_eq!(
            store.reserve_login_attempt("erin", NOW, 900, 5).await.unwrap(),
            LoginAttempt::Allowed
        );
    }
    // With the fifth failure the account locks; a success that was in flight never lifts it.
    for _ in 0..4 {
        store.record_login_failure("erin", NOW, 900, 5).await.unwrap();
    }
    assert!(store.record_login_failure("erin", NOW, 900, 5).await.unwrap().is_some());
    store.release_login_attempts("erin", NOW.plus(1)).await.unwrap();
    assert_eq!(
        store.login_lock("erin", NOW.plus(1)).await.unwrap(),
        Some(NOW.plus(900))
    );
    // Many right passwords at once: places are given back, nobody is locked.
    for round in 0..3 {
        for _ in 0..5 {
            assert_eq!(
                store.reserve_login_attempt("finn", NOW, 900, 5).await.unwrap(),
                LoginAttempt::Allowed,
                "round {round}"
            );
        }
        assert_eq!(
            store.reserve_login_attempt("finn", NOW, 900, 5).await.unwrap(),
            LoginAttempt::Busy
        );
        for _ in 0..5 {
            store.release_login_attempts("finn", NOW).await.unwrap();
        }
    }
    assert_eq!(store.login_lock("finn", NOW).await.unwrap(), None);
}

pub async fn revoking_a_user_ends_their_sessions_and_tokens(store: Arc<dyn Store>) {
    seeded(&store).await;
    store.create_user(&user("u2", "bob")).await.unwrap();
    issue_access(&store, access("at1", "app", Some("g1"), NOW.plus(60))).await;
    store.put_refresh_token(&refresh("rt1", "g1")).await.unwrap();
    let mut other = access("at2", "app", Some("g2"), NOW.plus(60));
    other.subject = Some("u2".into());
    store.put_access_token(&other).await.unwrap();
    let session = |user: &str, cookie: &str| BrowserSession {
        token_hash: TokenHash::of(cookie),
        sid: format!("sid-{cookie}"),
        user_id: user.into(),
        auth_time: NOW,
        expires_at: NOW.plus(60),
    };
    store.put_session(&session("u1", "c1")).await.unwrap();
    store.put_session(&session("u2", "c2")).await.unwrap();
    let ended = end_user(&store, "u1").await;
    assert_eq!(ended.tokens_revoked, 2);
    assert_eq!(ended.sessions, vec![("sid-c1".to_owned(), "u1".to_owned())]);
    assert_eq!(live_access(&store, "at1", NOW).await, None);
    assert_eq!(live_refresh(&store, "rt1", NOW).await, None);
    assert_eq!(store.find_session(&TokenHash::of("c1"), NOW).await.unwrap(), None);
    assert!(
        live_access(&store, "at2", NOW).await.is_some(),
        "other users keep theirs"
    );
    assert!(store.find_session(&TokenHash::of("c2"), NOW).await.unwrap().is_some());
    assert_eq!(end_user(&store, "u1").await.tokens_revoked, 0);
    // A code not yet exchanged, and a token written after the revocation, are dead too.
    let code = TokenHash::of("pending-code");
    issue_code(&store, &code, code_grant("g9", "app", NOW.plus(60))).await;
    assert_eq!(end_user(&store, "u1").await.tokens_revoked, 0);
    assert_eq!(store.find_code(&code, NOW).await.unwrap(), None);
    store.put_refresh_token(&refresh("rt-late", "g1")).await.unwrap();
    assert_eq!(live_refresh(&store, "rt-late", NOW).await, None);
}

pub async fn a_revoked_grant_covers_tokens_written_after_the_revocation(store: Arc<dyn Store>) {
    // A code replay (or refresh reuse) revokes the grant while the first exchange is still
    // writing its tokens: those arrive after the revocation and must be dead on arrival.
    seeded(&store).await;
    store.revoke_grant("g1", NOW).await.unwrap();
    issue_access(&store, access("late-at", "app", Some("g1"), NOW.plus(60))).await;
    store.put_refresh_token(&refresh("late-rt", "g1")).await.unwrap();
    assert_eq!(live_access(&store, "late-at", NOW).await, None);
    assert_eq!(live_refresh(&store, "late-rt", NOW).await, None);
    let next = successor_token("next-rt");
    assert!(
        !matches!(
            store
                .rotate_refresh_token(&TokenHash::of("late-rt"), next, NOW, 0)
                .await
                .unwrap(),
            Rotation::Rotated(_)
        ),
        "a token of a revoked grant never rotates"
    );
    assert!(store.list_refresh_tokens(NOW).await.unwrap().is_empty());
    // Other grants and client-credentials tokens are untouched.
    issue_access(&store, access("other", "app", Some("g2"), NOW.plus(60))).await;
    issue_access(&store, access("cc", "app", None, NOW.plus(60))).await;
    assert!(live_access(&store, "other", NOW).await.is_some());
    assert!(live_access(&store, "cc", NOW).await.is_some());
    // The record outlives its retention while a token of the grant could still read as live.
    store.cleanup(NOW.plus(1), NOW.plus(1), 100).await.unwrap();
    assert_eq!(live_refresh(&store, "late-rt", NOW.plus(1)).await, None);
}

fn key(kid: &str, alg: SigningAlg, created_at: UnixTime) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        alg,
        private_der: vec![1, 2, 3],
        created_at,
        activates_at: created_at,
        retires_at: None,
    }
}

pub async fn a_key_can_be_retired_at_once(store: Arc<dyn Store>) {
    store.put_key(&key("bad", SigningAlg::Es256, NOW)).await.unwrap();
    store.put_key(&key("good", SigningAlg::Es256, NOW)).await.unwrap();
    assert!(store.retire_key("bad", NOW.plus(5)).await.unwrap());
    assert!(!store.retire_key("nope", NOW.plus(5)).await.unwrap());
    // A later retirement never postpones an earlier one.
    assert!(store.retire_key("bad", NOW.plus(50)).await.unwrap());
    let keys = store.list_keys().await.unwrap();
    let find = |kid: &str| keys.iter().find(|k| k.kid == kid).unwrap().clone();
    assert_eq!(find("bad").retires_at, Some(NOW.plus(5)));
    assert_eq!(find("good").retires_at, None, "only the named key");
    // Re-encryption at rest replaces the stored private half and server secrets in place.
    assert!(store.replace_key_material("good", b"sealed").await.unwrap());
    assert!(!store.replace_key_material("nope", b"sealed").await.unwrap());
    let keys = store.list_keys().await.unwrap();
    assert_eq!(keys.iter().find(|k| k.kid == "good").unwrap().private_der, b"sealed");
    store.server_secret("s", b"plain", NOW).await.unwrap();
    assert!(store.replace_server_secret("s", b"sealed").await.unwrap());
    assert!(!store.replace_server_secret("nope", b"x").await.unwrap());
    assert_eq!(store.server_secret("s", b"other", NOW).await.unwrap(), b"sealed");
}

pub async fn key_rotation_schedules_retirement_once(store: Arc<dyn Store>) {
    store.put_key(&key("old", SigningAlg::Rs256, NOW)).await.unwrap();
    store.put_key(&key("ed", SigningAlg::EdDsa, NOW)).await.unwrap();
    let mut new = key("new", SigningAlg::Rs256, NOW.plus(10));
    new.activates_at = NOW.plus(70);
    assert!(store.rotate_key(&new, Some("old"), NOW.plus(3670)).await.unwrap());
    let keys = store.list_keys().await.unwrap();
    let find = |kid: &str| keys.iter().find(|k| k.kid == kid).unwrap().clone();
    assert_eq!(find("old").retires_at, Some(NOW.plus(3670)));
    assert_eq!(find("new").retires_at, None);
    assert_eq!(find("new").activates_at, NOW.plus(70));
    assert_eq!(find("ed").retires_at, None, "other algorithms are untouched");
    // A second instance that saw "old" as newest loses the race and adds nothing.
    assert!(
        !store
            .rotate_key(
                &key("late", SigningAlg::Rs256, NOW.plus(11)),
                Some("old"),
                NOW.plus(9999)
            )
            .await
            .unwrap()
    );
    assert_eq!(store.list_keys().await.unwrap().len(), 3);
}

/// Ends every session of a user, as `user lock` does.
async fn end_user(store: &Arc<dyn Store>, user: &str) -> EndedSessions {
    store
        .end_sessions(SessionEnd::User(user), "user_locked", NOW, NOW)
        .await
        .unwrap()
}

/// A delivery given up on after `attempts`, at `at`: the client answered 400.
fn rejected(attempts: u32, at: UnixTime) -> NoticeOutcome {
    NoticeOutcome::GaveUp {
        attempts,
        at,
        error: "HTTP 400".into(),
    }
}

/// A client that hears of logouts.
fn notified_client(id: &str) -> ClientRecord {
    ClientRecord {
        backchannel_logout_uri: Some(
            gatehouse_protocol::logout::BackchannelUri::parse(&format!("http://{id}.internal/bc")).unwrap(),
        ),
        ..client(id)
    }
}

/// A live session of `user` with `cookie` and `sid`.
fn session_of(user: &str, cookie: &str, sid: &str) -> BrowserSession {
    BrowserSession {
        token_hash: TokenHash::of(cookie),
        sid: sid.into(),
        user_id: user.into(),
        auth_time: NOW,
        expires_at: NOW.plus(3600),
    }
}

/// A code `value` for `client` issued in session `sid`.
async fn code_in_session(store: &Arc<dyn Store>, value: &str, client: &str, sid: &str) {
    let grant = CodeGrant {
        session_id: Some(sid.into()),
        ..code_grant(&format!("g-{value}"), client, NOW.plus(60))
    };
    issue_code(store, &TokenHash::of(value), grant).await;
}

/// A refresh token of family `family` issued in session `sid` with `scope`.
fn refresh_in_session(value: &str, family: &str, sid: &str, scope: &[&'static str]) -> RefreshTokenRecord {
    RefreshTokenRecord {
        session_id: Some(sid.into()),
        scope: ScopeSet::from_static(scope),
        ..refresh(value, family)
    }
}

pub async fn a_client_round_trips_its_logout_settings(store: Arc<dyn Store>) {
    let mut c = notified_client("app");
    c.backchannel_logout_session_required = true;
    c.jwks = Some(r#"{"keys":[]}"#.into());
    c.token_endpoint_auth_signing_alg = Some("ES256".into());
    c.strict_assertion_audience = true;
    c.jwks_uri = Some(JwksUri::parse("https://app.example.com/jwks").unwrap());
    c.request_object_signing_alg = Some("PS256".into());
    c.require_pushed_authorization_requests = true;
    c.require_signed_request_object = true;
    c.dpop_bound_access_tokens = true;
    store.create_client(&c).await.unwrap();
    assert_eq!(store.find_client(&c.id).await.unwrap().unwrap(), c);
    c.post_logout_redirect_uris = vec![];
    c.backchannel_logout_uri = None;
    assert!(store.update_client(&c).await.unwrap());
    assert_eq!(store.find_client(&c.id).await.unwrap().unwrap(), c);
}

pub async fn ending_a_session_queues_notices_and_revokes_its_online_grants(store: Arc<dyn Store>) {
    store.create_client(&notified_client("app")).await.unwrap();
    store.create_client(&client("web")).await.unwrap();
    store.create_user(&user("u1", "alice")).await.unwrap();
    store.put_session(&session_of("u1", "c1", "s1")).await.unwrap();
    store.put_session(&session_of("u1", "c2", "s2")).await.unwrap();
    code_in_session(&store, "code-app", "app", "s1").await;
    code_in_session(&store, "code-app-again", "app", "s1").await;
    code_in_session(&store, "code-web", "web", "s1").await;
    code_in_session(&store, "code-other-session", "app", "s2").await;
    for t in [
        refresh_in_session("rt-online", "g-online", "s1", &["openid"]),
        refresh_in_session("rt-offline", "g-offline", "s1", &["openid", "offline_access"]),
        refresh_in_session("rt-s2", "g-s2", "s2", &["openid"]),
    ] {
        store.put_refresh_token(&t).await.unwrap();
    }
    issue_access(&store, access("at-online", "app", Some("g-online"), NOW.plus(60))).await;

    let ended = store
        .end_sessions(SessionEnd::Cookie(&TokenHash::of("c1")), "rp", NOW, NOW.plus(30))
        .await
        .unwrap();
    assert_eq!(ended.sessions, vec![("s1".to_owned(), "u1".to_owned())]);
    assert_eq!(ended.tokens_revoked, 2, "the online family's refresh and access token");
    // One notice for the one client with a back-channel URI, however many codes it got.
    assert_eq!(ended.notices.len(), 1, "{:?}", ended.notices);
    let n = &ended.notices[0];
    assert_eq!(
        (n.sid.as_str(), n.client_id.as_str(), n.subject.as_str()),
        ("s1", "app", "u1")
    );
    assert_eq!(
        (n.initiator.as_str(), n.attempts, n.next_attempt_at),
        ("rp", 0, NOW.plus(30))
    );
    assert_eq!(store.find_session(&TokenHash::of("c1"), NOW).await.unwrap(), None);
    assert_eq!(live_refresh(&store, "rt-online", NOW).await, None);
    assert_eq!(live_access(&store, "at-online", NOW).await, None);
    assert!(
        live_refresh(&store, "rt-offline", NOW).await.is_some(),
        "offline_access outlives logout"
    );
    assert!(
        live_refresh(&store, "rt-s2", NOW).await.is_some(),
        "other sessions are untouched"
    );
    assert_eq!(
        store.find_code(&TokenHash::of("code-app"), NOW).await.unwrap(),
        None,
        "a code of the ended session can no longer start a grant"
    );
    assert!(
        store
            .find_code(&TokenHash::of("code-other-session"), NOW)
            .await
            .unwrap()
            .is_some()
    );
    // Ending it again, or by its sid, finds nothing: exactly one notice per session and client.
    let again = store
        .end_sessions(SessionEnd::Sid("s1"), "operator", NOW, NOW)
        .await
        .unwrap();
    assert_eq!(again, EndedSessions::default());
    let by_sid = store
        .end_sessions(SessionEnd::Sid("s2"), "operator", NOW, NOW)
        .await
        .unwrap();
    assert_eq!(by_sid.notices.len(), 1);
    assert_eq!(store.list_notices().await.unwrap().len(), 2);
}

pub async fn a_users_sessions_end_with_every_token_and_notify_their_clients(store: Arc<dyn Store>) {
    store.create_client(&notified_client("app")).await.unwrap();
    store.create_user(&user("u1", "alice")).await.unwrap();
    store.create_user(&user("u2", "bob")).await.unwrap();
    store.put_session(&session_of("u1", "c1", "s1")).await.unwrap();
    store.put_session(&session_of("u1", "c2", "s2")).await.unwrap();
    store.put_session(&session_of("u2", "c3", "s3")).await.unwrap();
    for sid in ["s1", "s2", "s3"] {
        code_in_session(&store, &format!("code-{sid}"), "app", sid).await;
    }
    store
        .put_refresh_token(&refresh_in_session(
            "rt-offline",
            "g-off",
            "s1",
            &["openid", "offline_access"],
        ))
        .await
        .unwrap();
    let ended = end_user(&store, "u1").await;
    assert_eq!(ended.sessions.len(), 2);
    let mut sids: Vec<&str> = ended.notices.iter().map(|n| n.sid.as_str()).collect();
    sids.sort_unstable();
    assert_eq!(sids, ["s1", "s2"]);
    assert_eq!(
        live_refresh(&store, "rt-offline", NOW).await,
        None,
        "a lock ends offline tokens too"
    );
    assert!(store.find_session(&TokenHash::of("c3"), NOW).await.unwrap().is_some());
}

pub async fn the_outbox_is_claimed_once_retried_and_given_up(store: Arc<dyn Store>) {
    store.create_client(&notified_client("app")).await.unwrap();
    store.create_client(&notified_client("api")).await.unwrap();
    store.create_user(&user("u1", "alice")).await.unwrap();
    store.put_session(&session_of("u1", "c1", "s1")).await.unwrap();
    code_in_session(&store, "code-app", "app", "s1").await;
    code_in_session(&store, "code-api", "api", "s1").await;
    let ended = store
        .end_sessions(SessionEnd::Sid("s1"), "rp", NOW, NOW.plus(30))
        .await
        .unwrap();
    assert_eq!(ended.notices.len(), 2);
    // Claimed by the instance that ended the session: nobody else sees them until the claim lapses.
    assert!(
        store
            .claim_notices(NOW.plus(29), NOW.plus(60), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let (first, second) = (&ended.notices[0], &ended.notices[1]);
    store.settle_notice(&first.id, &NoticeOutcome::Delivered).await.unwrap();
    let retry = NoticeOutcome::Retry {
        attempts: 1,
        at: NOW.plus(40),
        error: "HTTP 500".into(),
    };
    store.settle_notice(&second.id, &retry).await.unwrap();
    let listed = store.list_notices().await.unwrap();
    assert_eq!(listed.len(), 1, "the delivered one left the outbox");
    assert_eq!(
        (
            listed[0].attempts,
            listed[0].last_error.as_deref(),
            listed[0].gave_up_at
        ),
        (1, Some("HTTP 500"), None)
    );
    assert!(
        store
            .claim_notices(NOW.plus(39), NOW.plus(90), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store.claim_notices(NOW.plus(40), NOW.plus(90), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].next_attempt_at, NOW.plus(90));
    assert!(
        store
            .claim_notices(NOW.plus(40), NOW.plus(90), 10)
            .await
            .unwrap()
            .is_empty(),
        "claimed once"
    );
    let gave_up = rejected(2, NOW.plus(41));
    store.settle_notice(&second.id, &gave_up).await.unwrap();
    assert!(
        store
            .claim_notices(NOW.plus(1000), NOW.plus(1030), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let listed = store.list_notices().await.unwrap();
    assert_eq!(
        listed[0].gave_up_at,
        Some(NOW.plus(41)),
        "kept, for gatehouse session outbox"
    );
}

pub async fn concurrent_claims_never_share_a_notice(store: Arc<dyn Store>) {
    store.create_user(&user("u1", "alice")).await.unwrap();
    for i in 0..8 {
        store.create_client(&notified_client(&format!("app{i}"))).await.unwrap();
    }
    for s in 0..5 {
        let sid = format!("s{s}");
        store
            .put_session(&session_of("u1", &format!("c{s}"), &sid))
            .await
            .unwrap();
        for i in 0..8 {
            code_in_session(&store, &format!("code-{s}-{i}"), &format!("app{i}"), &sid).await;
        }
    }
    assert_eq!(end_user(&store, "u1").await.notices.len(), 40);
    let claims = (0..4).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.claim_notices(NOW, NOW.plus(30), 15).await.unwrap() })
    });
    let mut ids = Vec::new();
    for c in claims {
        ids.extend(c.await.unwrap().into_iter().map(|n| n.id));
    }
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "a notice was claimed twice");
    assert_eq!(total, 40);
}

pub async fn a_renewed_session_keeps_its_sid_and_clients(store: Arc<dyn Store>) {
    seeded(&store).await;
    store.put_session(&session_of("u1", "old", "s1")).await.unwrap();
    code_in_session(&store, "code-app", "app", "s1").await;
    let renewed = BrowserSession {
        auth_time: NOW.plus(10),
        expires_at: NOW.plus(7200),
        ..session_of("u1", "new", "ignored")
    };
    assert!(store.renew_session(&TokenHash::of("old"), &renewed).await.unwrap());
    assert_eq!(store.find_session(&TokenHash::of("old"), NOW).await.unwrap(), None);
    let found = store.find_session(&TokenHash::of("new"), NOW).await.unwrap().unwrap();
    assert_eq!((found.sid.as_str(), found.auth_time), ("s1", NOW.plus(10)));
    let listed = store.list_sessions(Some("u1"), NOW).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].clients.len(), 1);
    assert_eq!(listed[0].clients[0].0.as_str(), "app");
    // Another user's sign-in never takes over the session.
    let other = BrowserSession {
        user_id: "u2".into(),
        ..session_of("u2", "x", "s9")
    };
    assert!(!store.renew_session(&TokenHash::of("new"), &other).await.unwrap());
}

pub async fn cleanup_forgets_clients_of_expired_sessions_and_old_given_up_notices(store: Arc<dyn Store>) {
    store.create_client(&notified_client("app")).await.unwrap();
    store.create_user(&user("u1", "alice")).await.unwrap();
    let short = BrowserSession {
        expires_at: NOW.plus(5),
        ..session_of("u1", "c1", "s1")
    };
    store.put_session(&short).await.unwrap();
    store.put_session(&session_of("u1", "c2", "s2")).await.unwrap();
    code_in_session(&store, "code-1", "app", "s1").await;
    code_in_session(&store, "code-2", "app", "s2").await;
    let report = store.cleanup(NOW.plus(10), NOW, 100).await.unwrap();
    assert_eq!((report.sessions, report.session_clients), (1, 1), "{report:?}");
    // An expired session is not a logout: nobody is notified of it.
    let ended = end_user(&store, "u1").await;
    assert_eq!(ended.notices.len(), 1);
    let gave_up = rejected(1, NOW.plus(20));
    store.settle_notice(&ended.notices[0].id, &gave_up).await.unwrap();
    assert_eq!(
        store
            .cleanup(NOW.plus(30), NOW.plus(19), 100)
            .await
            .unwrap()
            .logout_notices,
        0
    );
    assert_eq!(
        store
            .cleanup(NOW.plus(30), NOW.plus(20), 100)
            .await
            .unwrap()
            .logout_notices,
        1
    );
    assert!(store.list_notices().await.unwrap().is_empty());
}

/// A pending device authorization of client `app` with `user_code`, polled every 5 seconds.
fn device(value: &str, user_code: &str) -> DeviceRecord {
    use gatehouse_protocol::grant::device_code::UserCode;
    DeviceRecord {
        hash: TokenHash::of(value),
        user_code: UserCode::parse(user_code).unwrap(),
        client_id: ClientId::parse("app").unwrap(),
        scope: ScopeSet::from_static(&["openid", "offline_access"]),
        resources: vec!["https://api.example.com".into()],
        created_at: NOW,
        expires_at: NOW.plus(600),
        interval: 5,
        state: DeviceState::Pending,
        subject: None,
        auth_time: None,
        requested_from: Some("203.0.113.7".into()),
    }
}

async fn poll(store: &Arc<dyn Store>, value: &str, client: &str, at: UnixTime) -> Option<DevicePoll> {
    store
        .poll_device(&TokenHash::of(value), &ClientId::parse(client).unwrap(), at)
        .await
        .unwrap()
}

pub async fn a_device_poll_enforces_the_interval_and_redeems_once(store: Arc<dyn Store>) {
    use gatehouse_protocol::grant::device_code::DeviceStatus;
    seeded(&store).await;
    store.create_client(&client("other")).await.unwrap();
    let d = device("dc1", "BCDF-GHJK");
    store.put_device(&d).await.unwrap();
    assert_eq!(
        store.find_pending_device("BCDFGHJK", NOW).await.unwrap(),
        Some(d.clone())
    );
    let first = poll(&store, "dc1", "app", NOW).await.unwrap();
    assert_eq!(
        (first.status, first.too_fast, first.interval),
        (DeviceStatus::Pending, false, 5)
    );
    // Sooner than the interval: slow_down, and 5 more seconds from now on (RFC 8628 §3.5).
    let fast = poll(&store, "dc1", "app", NOW.plus(1)).await.unwrap();
    assert_eq!((fast.too_fast, fast.interval), (true, 10));
    // After the old interval but before the new one: still too fast.
    let again = poll(&store, "dc1", "app", NOW.plus(7)).await.unwrap();
    assert_eq!((again.too_fast, again.interval), (true, 15));
    let patient = poll(&store, "dc1", "app", NOW.plus(30)).await.unwrap();
    assert_eq!((patient.too_fast, patient.interval), (false, 15));
    assert_eq!(
        poll(&store, "dc1", "other", NOW.plus(60)).await,
        None,
        "another client's code"
    );
    let approve = DeviceDecision::Approve {
        subject: "u1".into(),
        auth_time: NOW.plus(40),
    };
    assert!(store.decide_device("BCDFGHJK", &approve, NOW.plus(45)).await.unwrap());
    assert_eq!(store.find_pending_device("BCDFGHJK", NOW.plus(45)).await.unwrap(), None);
    // Approved: the next poll redeems it, however soon; nothing after that finds it.
    let redeemed = poll(&store, "dc1", "app", NOW.plus(46)).await.unwrap();
    assert_eq!(redeemed.status, DeviceStatus::Redeemed);
    assert_eq!(
        (redeemed.subject.as_deref(), redeemed.auth_time),
        (Some("u1"), Some(NOW.plus(40)))
    );
    assert_eq!(redeemed.scope, d.scope);
    assert_eq!(redeemed.resources, d.resources);
    assert_eq!(poll(&store, "dc1", "app", NOW.plus(60)).await, None, "redeemed once");
    assert_eq!(poll(&store, "unknown", "app", NOW).await, None);
}

pub async fn a_device_decision_counts_once_and_expiry_ends_it(store: Arc<dyn Store>) {
    use gatehouse_protocol::grant::device_code::DeviceStatus;
    seeded(&store).await;
    store.put_device(&device("dc1", "BCDF-GHJK")).await.unwrap();
    store.put_device(&device("dc2", "LMNP-QRST")).await.unwrap();
    assert!(
        store
            .decide_device("BCDFGHJK", &DeviceDecision::Deny, NOW)
            .await
            .unwrap()
    );
    let approve = DeviceDecision::Approve {
        subject: "u1".into(),
        auth_time: NOW,
    };
    assert!(
        !store.decide_device("BCDFGHJK", &approve, NOW).await.unwrap(),
        "decided already"
    );
    assert_eq!(
        poll(&store, "dc1", "app", NOW).await.unwrap().status,
        DeviceStatus::Denied
    );
    // Approved too late to be collected: never redeemed.
    assert!(store.decide_device("LMNPQRST", &approve, NOW.plus(10)).await.unwrap());
    let late = poll(&store, "dc2", "app", NOW.plus(600)).await.unwrap();
    assert_eq!((late.status, late.expires_at), (DeviceStatus::Pending, NOW.plus(600)));
    store.put_device(&device("dc3", "VWXZ-BCDF")).await.unwrap();
    assert!(
        !store.decide_device("VWXZBCDF", &approve, NOW.plus(600)).await.unwrap(),
        "expired"
    );
    assert_eq!(store.list_pending_devices(NOW).await.unwrap().len(), 1);
    assert!(store.list_pending_devices(NOW.plus(600)).await.unwrap().is_empty());
}

pub async fn device_user_codes_are_unique_and_cleaned_up_after_expiry(store: Arc<dyn Store>) {
    seeded(&store).await;
    store.put_device(&device("dc1", "BCDF-GHJK")).await.unwrap();
    let taken = store.put_device(&device("dc2", "BCDF-GHJK")).await.unwrap_err();
    assert!(matches!(taken, crate::StoreError::Conflict(_)), "{taken:?}");
    let report = store.cleanup(NOW.plus(700), NOW.plus(599), 100).await.unwrap();
    assert_eq!(report.device_codes, 0, "kept for the retention after expiry");
    let report = store.cleanup(NOW.plus(700), NOW.plus(600), 100).await.unwrap();
    assert_eq!(report.device_codes, 1);
}

pub async fn wrong_device_codes_count_in_fixed_windows(store: Arc<dyn Store>) {
    assert_eq!(store.wrong_device_codes("198.51.100.1", NOW, 600).await.unwrap(), None);
    for n in 1..=3 {
        let counted = store
            .count_wrong_device_code("198.51.100.1", NOW.plus(n), 600)
            .await
            .unwrap();
        assert_eq!(counted, (u32::try_from(n).unwrap(), NOW.plus(1)));
    }
    assert_eq!(
        store
            .wrong_device_codes("198.51.100.1", NOW.plus(10), 600)
            .await
            .unwrap(),
        Some((3, NOW.plus(1)))
    );
    assert_eq!(
        store
            .wrong_device_codes("198.51.100.2", NOW.plus(10), 600)
            .await
            .unwrap(),
        None,
        "per address"
    );
    // The window is over: forgotten, and the next wrong code starts a new one.
    assert_eq!(
        store
            .wrong_device_codes("198.51.100.1", NOW.plus(601), 600)
            .await
            .unwrap(),
        None
    );
    let fresh = store
        .count_wrong_device_code("198.51.100.1", NOW.plus(601), 600)
        .await
        .unwrap();
    assert_eq!(fresh, (1, NOW.plus(601)));
    // Concurrent wrong codes are each counted once.
    let counts = (0..8).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.count_wrong_device_code("198.51.100.3", NOW, 600).await.unwrap().0 })
    });
    let mut seen = Vec::new();
    for c in counts {
        seen.push(c.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=8).collect::<Vec<u32>>());
}

pub async fn a_single_use_value_is_accepted_once_until_it_expires(store: Arc<dyn Store>) {
    let jti = TokenHash::of("client-assertion-jti");
    assert!(
        store
            .first_use("client_assertion", &jti, NOW.plus(60), NOW)
            .await
            .unwrap()
    );
    assert!(
        !store
            .first_use("client_assertion", &jti, NOW.plus(60), NOW.plus(1))
            .await
            .unwrap(),
        "a replay"
    );
    assert!(
        store.first_use("dpop", &jti, NOW.plus(60), NOW).await.unwrap(),
        "purposes are apart"
    );
    // Once it has expired, the value could not be accepted anyway: its record is replaced.
    assert!(
        store
            .first_use("client_assertion", &jti, NOW.plus(200), NOW.plus(60))
            .await
            .unwrap()
    );
    assert_eq!(
        store.cleanup(NOW.plus(100), NOW, 100).await.unwrap().seen_values,
        1,
        "the dpop record"
    );
    // Racing: exactly one of many concurrent uses wins.
    let racers = (0..8).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .first_use("client_assertion", &TokenHash::of("raced"), NOW.plus(60), NOW)
                .await
                .unwrap()
        })
    });
    let mut wins = 0;
    for r in racers {
        wins += usize::from(r.await.unwrap());
    }
    assert_eq!(wins, 1);
}

pub async fn a_pushed_request_is_found_until_it_expires_and_goes_with_its_client(store: Arc<dyn Store>) {
    store.create_client(&client("app")).await.unwrap();
    let pushed = PushedRequest {
        hash: TokenHash::of("urn:ietf:params:oauth:request_uri:abc"),
        client_id: ClientId::from_stored("app".into()),
        params: r#"[["scope","openid"]]"#.into(),
        expires_at: NOW.plus(60),
    };
    store.push_request(&pushed).await.unwrap();
    assert!(matches!(
        store.push_request(&pushed).await,
        Err(crate::StoreError::Conflict(_))
    ));
    assert_eq!(
        store.find_pushed_request(&pushed.hash, NOW.plus(59)).await.unwrap(),
        Some(pushed.clone())
    );
    assert_eq!(
        store.find_pushed_request(&pushed.hash, NOW.plus(60)).await.unwrap(),
        None
    );
    assert_eq!(
        store.find_pushed_request(&TokenHash::of("other"), NOW).await.unwrap(),
        None
    );
    assert_eq!(store.cleanup(NOW.plus(61), NOW, 100).await.unwrap().pushed_requests, 1);
    store.push_request(&pushed).await.unwrap();
    assert!(store.delete_client(&pushed.client_id).await.unwrap());
    assert_eq!(store.find_pushed_request(&pushed.hash, NOW).await.unwrap(), None);
}

pub async fn a_jwks_fetch_is_recorded_and_a_failure_keeps_the_last_good_keys(store: Arc<dyn Store>) {
    store.create_client(&client("app")).await.unwrap();
    let id = ClientId::from_stored("app".into());
    assert_eq!(store.last_jwks_fetch(&id).await.unwrap(), None);
    let good = JwksFetch {
        client_id: id.clone(),
        uri: "https://app.example.com/jwks".into(),
        fetched_at: NOW,
        key_ids: vec!["k1".into(), "k2".into()],
        error: None,
    };
    store.record_jwks_fetch(&good).await.unwrap();
    assert_eq!(store.last_jwks_fetch(&id).await.unwrap(), Some(good.clone()));
    let failed = JwksFetch {
        fetched_at: NOW.plus(60),
        key_ids: vec![],
        error: Some("status 500".into()),
        ..good.clone()
    };
    store.record_jwks_fetch(&failed).await.unwrap();
    assert_eq!(
        store.last_jwks_fetch(&id).await.unwrap(),
        Some(JwksFetch {
            key_ids: good.key_ids.clone(),
            ..failed
        })
    );
    assert!(store.delete_client(&id).await.unwrap());
    assert_eq!(store.last_jwks_fetch(&id).await.unwrap(), None);
}

pub async fn an_initial_access_token_is_used_up_once_per_use_even_when_raced(store: Arc<dyn Store>) {
    let token = InitialAccessToken {
        hash: TokenHash::of("iat"),
        policy: "partners".into(),
        expires_at: NOW.plus(3600),
        uses_left: Some(3),
        created_at: NOW,
    };
    store.put_initial_access_token(&token).await.unwrap();
    assert!(matches!(
        store.put_initial_access_token(&token).await,
        Err(crate::StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .find_initial_access_token(&token.hash, NOW)
            .await
            .unwrap()
            .as_deref(),
        Some("partners")
    );
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, hash) = (Arc::clone(&store), token.hash);
            tokio::spawn(async move { store.use_initial_access_token(&hash, NOW).await.unwrap() })
        })
        .collect();
    let mut used = 0;
    for t in tasks {
        used += usize::from(t.await.unwrap().is_some());
    }
    assert_eq!(used, 3, "three uses, however many race");
    assert_eq!(store.find_initial_access_token(&token.hash, NOW).await.unwrap(), None);
    // Unlimited until it expires.
    let open = InitialAccessToken {
        hash: TokenHash::of("open"),
        uses_left: None,
        ..token
    };
    store.put_initial_access_token(&open).await.unwrap();
    for _ in 0..5 {
        assert!(store.use_initial_access_token(&open.hash, NOW).await.unwrap().is_some());
    }
    assert_eq!(
        store
            .use_initial_access_token(&open.hash, NOW.plus(3600))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .use_initial_access_token(&TokenHash::of("nope"), NOW)
            .await
            .unwrap(),
        None
    );
}

fn described(id: &str) -> ClientRecord {
    let mut c = client(id);
    c.origin = ClientOrigin::Registration;
    c.registration_token_hash = Some(TokenHash::of("rat"));
    c.registration_policy = Some("default".into());
    c.about = gatehouse_protocol::registration::About {
        logo_uri: Some("https://app.example.com/logo.png".into()),
        contacts: vec!["ops@app.example.com".into()],
        ..Default::default()
    };
    c.userinfo_alg = Some(SigningAlg::Es256);
    c.default_max_age = Some(600);
    c.require_auth_time = true;
    c
}

pub async fn a_described_client_round_trips_and_replacing_it_can_forget_consents(store: Arc<dyn Store>) {
    seeded(&store).await;
    let c = described("dyn");
    store.create_client(&c).await.unwrap();
    assert_eq!(store.find_client(&c.id).await.unwrap(), Some(c.clone()));
    let scope = ScopeSet::from_static(&["openid"]);
    store.grant_consent("u1", &c.id, &scope, NOW).await.unwrap();
    let mut renamed = c.clone();
    renamed.name = "renamed".into();
    assert!(store.replace_client(&renamed, false, None).await.unwrap());
    assert_eq!(store.find_client(&c.id).await.unwrap(), Some(renamed.clone()));
    assert_eq!(store.find_consent("u1", &c.id).await.unwrap(), Some(scope));
    assert!(store.replace_client(&renamed, true, None).await.unwrap());
    assert_eq!(store.find_consent("u1", &c.id).await.unwrap(), None);
    assert!(!store.replace_client(&described("ghost"), true, None).await.unwrap());
    // Conditional on the registration access token: two replacements with one token, one wins.
    let old = TokenHash::of("rat");
    let first = ClientRecord {
        registration_token_hash: Some(TokenHash::of("rat2")),
        ..renamed.clone()
    };
    let second = ClientRecord {
        registration_token_hash: Some(TokenHash::of("rat3")),
        ..renamed.clone()
    };
    let (a, b) = tokio::join!(
        store.replace_client(&first, false, Some(&old)),
        store.replace_client(&second, false, Some(&old))
    );
    assert_eq!(
        u8::from(a.unwrap()) + u8::from(b.unwrap()),
        1,
        "exactly one replacement holds the token"
    );
    assert!(!store.replace_client(&renamed, false, Some(&old)).await.unwrap());
}

pub async fn uses_are_recorded_hourly_and_idle_dynamic_clients_are_listed(store: Arc<dyn Store>) {
    store.create_client(&client("operator")).await.unwrap();
    let fresh = ClientRecord {
        created_at: NOW.plus(200),
        ..described("fresh")
    };
    store.create_client(&fresh).await.unwrap();
    store.create_client(&described("old")).await.unwrap();
    let used = described("used");
    store.create_client(&used).await.unwrap();
    store.touch_client(&used.id, NOW.plus(200), NOW).await.unwrap();
    // A later use within the hour is not written.
    store
        .touch_client(&used.id, NOW.plus(300), UnixTime(NOW.0 + 300 - 3600))
        .await
        .unwrap();
    let found = store.find_client(&used.id).await.unwrap().unwrap();
    assert_eq!(found.last_used_at, Some(NOW.plus(200)));
    // update_client leaves the recorded use alone.
    assert!(store.update_client(&used).await.unwrap());
    assert_eq!(
        store.find_client(&used.id).await.unwrap().unwrap().last_used_at,
        Some(NOW.plus(200))
    );
    let idle = store.idle_clients(NOW.plus(150), 10).await.unwrap();
    assert_eq!(idle, vec![ClientId::from_stored("old".into())]);
    let idle = store.idle_clients(NOW.plus(250), 10).await.unwrap();
    assert_eq!(idle.len(), 3, "operator clients are never idle: {idle:?}");
    assert_eq!(store.idle_clients(NOW.plus(250), 1).await.unwrap().len(), 1);
}
