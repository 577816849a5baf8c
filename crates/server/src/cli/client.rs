//! `gatehouse client ...`.

use super::parse::{client_id, dedup, key_ids, read_jwks};
use super::{audit, now, print, print_list};
use crate::random::random_token;
use anyhow::bail;
use gatehouse_protocol::types::{GrantType, ScopeSet, TokenEndpointAuthMethod, TokenHash};
use gatehouse_storage::{ClientOrigin, ClientRecord, Store};
use serde_json::json;
use std::sync::Arc;

mod args;
pub(super) use args::ClientCommand;
use args::{CreateArgs, UpdateArgs};

pub(super) async fn run(cmd: ClientCommand, store: Arc<dyn Store>) -> anyhow::Result<()> {
    match cmd {
        ClientCommand::Create(a) => create(*a, store).await,
        ClientCommand::List { dynamic, json } => {
            let mut clients = store.list_clients().await?;
            if dynamic {
                clients.retain(|c| c.origin.is_dynamic());
                let empty = "no self-registered clients (see GATEHOUSE_REGISTRATION and GATEHOUSE_CLIENT_ID_METADATA)";
                print_list(json, &clients, to_json, empty, |c| {
                    let used = c
                        .last_used_at
                        .map_or_else(|| "never used".to_owned(), |t| format!("last used {}", t.0));
                    format!("{:<40} {:<18} {:<22} {}", c.id, c.origin, used, c.name)
                });
                return Ok(());
            }
            print_list(
                json,
                &clients,
                to_json,
                "no clients; create one with gatehouse client create",
                |c| format!("{:<24} {:<20} {}", c.id, c.auth_method, c.name),
            );
            Ok(())
        }
        ClientCommand::Show { id, json } => {
            let c = find(&store, &id).await?;
            let mut value = to_json(&c);
            if c.jwks_uri.is_some() {
                value["jwks_uri_last_fetch"] = match store.last_jwks_fetch(&c.id).await? {
                    Some(f) => json!({
                        "uri": f.uri,
                        "fetched_at": f.fetched_at.0,
                        "key_ids": f.key_ids,
                        "error": f.error,
                    }),
                    None => json!(null),
                };
            }
            print(json, &value, || {
                serde_json::to_string_pretty(&value).unwrap_or_default()
            });
            Ok(())
        }
        ClientCommand::Update(a) => update(*a, store).await,
        ClientCommand::RotateSecret { id, json } => {
            let mut c = find(&store, &id).await?;
            if c.secret_hash.is_none() {
                bail!("client {id} is public and has no secret to rotate");
            }
            let secret = random_token();
            c.secret_hash = Some(TokenHash::of(&secret));
            c.secret_set_at = Some(now());
            store.update_client(&c).await?;
            audit("client.secret_rotated", &format!("client_id={id}"));
            print(json, &json!({ "client_id": id, "client_secret": secret }), || {
                format!("client_secret: {secret}\n(shown once: store it now)")
            });
            Ok(())
        }
        ClientCommand::Delete { id } => {
            if !store.delete_client(&client_id(&id)?).await? {
                bail!("no client with client_id {id}; see gatehouse client list");
            }
            audit("client.deleted", &format!("client_id={id}"));
            println!("deleted client {id}");
            Ok(())
        }
    }
}

async fn create(a: CreateArgs, store: Arc<dyn Store>) -> anyhow::Result<()> {
    let auth_method = match (a.auth_method, a.public) {
        (Some(TokenEndpointAuthMethod::None), _) | (None, true) => TokenEndpointAuthMethod::None,
        (Some(m), true) => bail!("--public conflicts with --token-endpoint-auth-method {m}: a public client uses none"),
        (Some(m), false) => m,
        (None, false) => TokenEndpointAuthMethod::ClientSecretBasic,
    };
    let grant_types = if a.grant_types.is_empty() {
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    } else {
        dedup(a.grant_types)
    };
    if grant_types.contains(&GrantType::AuthorizationCode) && a.redirect_uris.is_empty() {
        bail!("--redirect-uri is required for the authorization_code grant (repeat it for several URIs)");
    }
    if auth_method == TokenEndpointAuthMethod::None && grant_types.contains(&GrantType::ClientCredentials) {
        bail!("--grant-type client_credentials needs a confidential client: public clients have no secret");
    }
    let scope = match a.scope {
        Some(s) => s,
        None => ScopeSet::from_static(&["openid", "profile", "email", "offline_access"]),
    };
    check_scopes_exist(&store, &scope).await?;
    let id = match a.client_id {
        Some(id) => client_id(&id)?,
        None => crate::random::client_id(),
    };
    if a.introspect && auth_method == TokenEndpointAuthMethod::None {
        bail!("--introspect needs a confidential client: a resource server authenticates with a secret");
    }
    let jwks = a.jwks_file.as_deref().map(read_jwks).transpose()?;
    if a.require_signed_request_object && jwks.is_none() && a.jwks_uri.is_none() {
        bail!(
            "--require-signed-request-object needs the client's public keys to check them with: --jwks-file FILE or --jwks-uri URI"
        );
    }
    if auth_method == TokenEndpointAuthMethod::PrivateKeyJwt && jwks.is_none() && a.jwks_uri.is_none() {
        bail!(
            "--token-endpoint-auth-method private_key_jwt needs the client's public keys: --jwks-file FILE or --jwks-uri URI"
        );
    }
    let secret = auth_method.has_secret().then(random_token);
    let record = ClientRecord {
        id: id.clone(),
        name: a.name,
        secret_hash: secret.as_deref().map(TokenHash::of),
        auth_method,
        redirect_uris: a.redirect_uris,
        grant_types,
        scopes: scope,
        id_token_alg: a.id_token_alg,
        access_token_format: a.access_token_format,
        resources: a.resources,
        introspect: a.introspect,
        post_logout_redirect_uris: a.post_logout_redirect_uris,
        backchannel_logout_uri: a.backchannel_logout_uri,
        backchannel_logout_session_required: a.backchannel_logout_session_required,
        jwks,
        token_endpoint_auth_signing_alg: a.token_endpoint_auth_signing_alg,
        strict_assertion_audience: a.strict_assertion_audience,
        jwks_uri: a.jwks_uri,
        request_object_signing_alg: a.request_object_signing_alg,
        require_pushed_authorization_requests: a.require_pushed_authorization_requests,
        require_signed_request_object: a.require_signed_request_object,
        dpop_bound_access_tokens: a.dpop_bound_access_tokens,
        origin: ClientOrigin::Operator,
        registration_token_hash: None,
        registration_policy: None,
        about: Default::default(),
        userinfo_alg: a.userinfo_signed_response_alg,
        default_max_age: a.default_max_age,
        require_auth_time: false,
        created_at: now(),
        secret_set_at: secret.as_ref().map(|_| now()),
        last_used_at: None,
    };
    store.create_client(&record).await?;
    audit("client.created", &format!("client_id={id}"));
    let mut value = to_json(&record);
    if let Some(s) = &secret {
        value["client_secret"] = json!(s);
    }
    print(a.json, &value, || {
        let mut out = format!("client_id:     {id}\n");
        if let Some(s) = &secret {
            out.push_str(&format!("client_secret: {s}\n(the secret is shown once: store it now)"));
        } else if auth_method == TokenEndpointAuthMethod::PrivateKeyJwt {
            out.push_str("authenticates with private_key_jwt: a client_assertion signed with one of its keys");
        } else {
            out.push_str("public client: no secret; it must use PKCE (as every client does)");
        }
        out
    });
    Ok(())
}

async fn update(a: UpdateArgs, store: Arc<dyn Store>) -> anyhow::Result<()> {
    let mut c = find(&store, &a.id).await?;
    if let Some(n) = a.name {
        c.name = n;
    }
    if !a.redirect_uris.is_empty() {
        c.redirect_uris = a.redirect_uris;
    }
    if !a.grant_types.is_empty() {
        if c.auth_method == TokenEndpointAuthMethod::None && a.grant_types.contains(&GrantType::ClientCredentials) {
            bail!("--grant-type client_credentials needs a confidential client: public clients have no secret");
        }
        c.grant_types = dedup(a.grant_types);
    }
    if let Some(s) = a.scope {
        check_scopes_exist(&store, &s).await?;
        c.scopes = s;
    }
    if let Some(alg) = a.id_token_alg {
        c.id_token_alg = alg;
    }
    if let Some(f) = a.access_token_format {
        c.access_token_format = f;
    }
    if !a.resources.is_empty() {
        c.resources = a.resources;
    }
    if let Some(introspect) = a.introspect {
        if introspect && c.origin.is_dynamic() {
            bail!(
                "--introspect true: client {} registered itself, and self-registered clients never get operator-only powers; create a client for the resource server with gatehouse client create --introspect",
                c.id
            );
        }
        if introspect && c.auth_method == TokenEndpointAuthMethod::None {
            bail!("--introspect true needs a confidential client: a resource server authenticates with a secret");
        }
        c.introspect = introspect;
    }
    if !a.post_logout_redirect_uris.is_empty() {
        c.post_logout_redirect_uris = a.post_logout_redirect_uris.into_iter().flatten().collect();
    }
    if let Some(uri) = a.backchannel_logout_uri {
        c.backchannel_logout_uri = uri;
    }
    if let Some(required) = a.backchannel_logout_session_required {
        c.backchannel_logout_session_required = required;
    }
    // A client has keys in one place (RFC 7591 §2: never both jwks and jwks_uri).
    if let Some(path) = a.jwks_file {
        c.jwks = Some(read_jwks(&path)?);
        c.jwks_uri = None;
    }
    if let Some(uri) = a.jwks_uri {
        if uri.is_some() {
            c.jwks = None;
        }
        c.jwks_uri = uri;
    }
    if c.require_signed_request_object && c.jwks.is_none() && c.jwks_uri.is_none() {
        bail!(
            "client {} requires signed request objects but has no keys to check them with; give --jwks-file FILE or --jwks-uri URI",
            c.id
        );
    }
    if c.auth_method == TokenEndpointAuthMethod::PrivateKeyJwt && c.jwks.is_none() && c.jwks_uri.is_none() {
        bail!(
            "client {} authenticates with private_key_jwt and would be left without keys; give --jwks-file FILE or --jwks-uri URI",
            c.id
        );
    }
    if let Some(alg) = a.request_object_signing_alg {
        c.request_object_signing_alg = alg;
    }
    if let Some(required) = a.require_pushed_authorization_requests {
        c.require_pushed_authorization_requests = required;
    }
    if let Some(required) = a.require_signed_request_object {
        c.require_signed_request_object = required;
    }
    if let Some(required) = a.dpop_bound_access_tokens {
        c.dpop_bound_access_tokens = required;
    }
    if let Some(alg) = a.userinfo_signed_response_alg {
        c.userinfo_alg = alg;
    }
    if let Some(age) = a.default_max_age {
        c.default_max_age = age;
    }
    if let Some(alg) = a.token_endpoint_auth_signing_alg {
        c.token_endpoint_auth_signing_alg = Some(alg);
    }
    if let Some(strict) = a.strict_assertion_audience {
        c.strict_assertion_audience = strict;
    }
    store.update_client(&c).await?;
    audit("client.updated", &format!("client_id={}", c.id));
    let value = to_json(&c);
    print(a.json, &value, || format!("updated client {}", c.id));
    Ok(())
}

async fn check_scopes_exist(store: &Arc<dyn Store>, scope: &ScopeSet) -> anyhow::Result<()> {
    let known = store.list_scopes().await?;
    if let Some(missing) = scope.iter().find(|s| !known.iter().any(|k| k.name == s.as_str())) {
        bail!(
            "--scope: scope {} is not registered; create it first with gatehouse scope create --name {}",
            missing.as_str(),
            missing.as_str()
        );
    }
    Ok(())
}

async fn find(store: &Arc<dyn Store>, id: &str) -> anyhow::Result<ClientRecord> {
    store
        .find_client(&client_id(id)?)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no client with client_id {id}; see gatehouse client list"))
}

/// The client as RFC 7591 metadata (the shape registration answers with), then what only
/// Gatehouse has: how it was made, and the operator-only settings.
fn to_json(c: &ClientRecord) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    out.insert("client_id".into(), json!(c.id));
    out.insert("client_id_issued_at".into(), json!(c.created_at.0));
    out.extend(c.metadata().to_json());
    out.extend(
        [
            ("origin", json!(c.origin.as_str())),
            ("registration_policy", json!(c.registration_policy)),
            ("last_used_at", json!(c.last_used_at.map(|t| t.0))),
            ("secret_set_at", json!(c.secret_set_at.map(|t| t.0))),
            ("access_token_format", json!(c.access_token_format)),
            ("resources", json!(c.resources)),
            ("introspect", json!(c.introspect)),
            ("jwks_key_ids", json!(key_ids(c.jwks.as_deref()))),
            ("strict_assertion_audience", json!(c.strict_assertion_audience)),
            ("require_signed_request_object", json!(c.require_signed_request_object)),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    serde_json::Value::Object(out)
}
