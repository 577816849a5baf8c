//! `gatehouse export` / `gatehouse import`: the move path between stores, as JSON lines. Secrets
//! stay hashed; signing keys move so that existing ID tokens keep verifying under the same `kid`,
//! and live refresh tokens move so that clients stay signed in.

mod line;

use anyhow::{Context, bail};
use gatehouse_protocol::types::{RedirectUri, TokenHash, b64url, b64url_decode};
use gatehouse_storage::{ClientRecord, RefreshTokenRecord, ScopeRecord, SigningKeyRecord, Store, UserRecord};
use line::Line;
use std::io::{BufRead, Write};
use std::sync::Arc;

const FORMAT: &str = "gatehouse-export";
const VERSION: u32 = 1;

pub(super) async fn export(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let mut lines = vec![Line::Header {
        format: FORMAT.into(),
        version: VERSION,
    }];
    for s in store.list_scopes().await?.into_iter().filter(|s| !s.builtin) {
        lines.push(Line::Scope {
            name: s.name,
            description: s.description,
        });
    }
    for c in store.list_clients().await? {
        lines.push(Line::Client {
            client_id: c.id,
            name: c.name,
            secret_hash: c.secret_hash.map(|h| b64url(h.as_bytes())),
            token_endpoint_auth_method: c.auth_method,
            redirect_uris: c.redirect_uris,
            grant_types: c.grant_types,
            scope: c.scopes,
            id_token_alg: c.id_token_alg,
            access_token_format: c.access_token_format,
            resources: c.resources,
            introspect: c.introspect,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            backchannel_logout_uri: c.backchannel_logout_uri,
            backchannel_logout_session_required: c.backchannel_logout_session_required,
            jwks: c.jwks,
            token_endpoint_auth_signing_alg: c.token_endpoint_auth_signing_alg,
            strict_assertion_audience: c.strict_assertion_audience,
            jwks_uri: c.jwks_uri,
            request_object_signing_alg: c.request_object_signing_alg,
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            require_signed_request_object: c.require_signed_request_object,
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
            origin: c.origin.as_str().to_owned(),
            registration_token_hash: c.registration_token_hash.map(|h| b64url(h.as_bytes())),
            registration_policy: c.registration_policy,
            about: c.about,
            userinfo_alg: c.userinfo_alg,
            default_max_age: c.default_max_age,
            require_auth_time: c.require_auth_time,
            created_at: c.created_at,
            secret_set_at: c.secret_set_at,
            last_used_at: c.last_used_at,
        });
    }
    for u in store.list_users().await? {
        lines.push(Line::User {
            sub: u.id,
            username: u.username,
            email: u.email,
            email_verified: u.email_verified,
            name: u.name,
            password_hash: u.password_hash,
            locked: u.locked,
            created_at: u.created_at,
            updated_at: u.updated_at,
        });
    }
    for (user_id, client_id, scope, granted_at) in store.list_consents().await? {
        lines.push(Line::Consent {
            user_id,
            client_id,
            scope,
            granted_at,
        });
    }
    for k in store.list_keys().await? {
        lines.push(Line::Key {
            kid: k.kid,
            alg: k.alg,
            private_der: b64url(&k.private_der),
            created_at: k.created_at,
            activates_at: k.activates_at,
            retires_at: k.retires_at,
        });
    }
    for t in store.list_refresh_tokens(crate::clock::system_now()).await? {
        lines.push(Line::RefreshToken {
            hash: b64url(t.hash.as_bytes()),
            family_id: t.family_id,
            client_id: t.client_id,
            subject: t.subject,
            scope: t.scope,
            claims: t.claims,
            auth_time: t.auth_time,
            session_id: t.session_id,
            issued_at: t.issued_at,
            expires_at: t.expires_at,
            family_expires_at: t.family_expires_at,
            audience: t.audience,
            dpop_jkt: t.dpop_jkt,
        });
    }
    let mut out = std::io::stdout().lock();
    for line in &lines {
        serde_json::to_writer(&mut out, line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    eprintln!("exported {} records", lines.len() - 1);
    Ok(())
}

pub(super) async fn import(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let clients = store.list_clients().await?.len();
    let users = store.list_users().await?.len();
    let keys = store.list_keys().await?.len();
    if clients + users + keys > 0 {
        bail!(
            "the target store is not empty ({clients} clients, {users} users, {keys} keys); import only into a new store, and do not start `serve` on it first"
        );
    }
    // Everything is read and checked before anything is written: a bad line leaves the store empty.
    let stdin = std::io::stdin().lock();
    let mut lines = Vec::new();
    for (i, text) in stdin.lines().enumerate() {
        let text = text?;
        if text.trim().is_empty() {
            continue;
        }
        let line: Line =
            serde_json::from_str(&text).with_context(|| format!("line {}: not an export record", i + 1))?;
        if i == 0 && !matches!(&line, Line::Header { format, version } if format == FORMAT && *version == VERSION) {
            bail!("line 1: expected a {FORMAT} version {VERSION} header; is this the output of gatehouse export?");
        }
        check(&line).with_context(|| format!("line {}", i + 1))?;
        lines.push((i, line));
    }
    let mut count = 0usize;
    for (i, line) in lines {
        apply(&store, line).await.with_context(|| format!("line {}", i + 1))?;
        count += 1;
    }
    eprintln!("imported {} records", count.saturating_sub(1));
    Ok(())
}

fn hash(text: &str) -> anyhow::Result<TokenHash> {
    b64url_decode(text)
        .as_deref()
        .and_then(TokenHash::from_bytes)
        .context("a hash is not 32 base64url bytes")
}

/// An export file is input like any other: what `client create` refuses, import refuses too.
fn check(line: &Line) -> anyhow::Result<()> {
    if let Line::Client {
        client_id,
        redirect_uris,
        ..
    } = line
    {
        // No fragment, no plain http off loopback, no dangerous scheme (the type deserialises
        // without checks, as the store's own values do).
        for uri in redirect_uris {
            RedirectUri::parse(uri.as_str()).map_err(|e| anyhow::anyhow!("client {client_id}: {}", e.description()))?;
        }
    }
    Ok(())
}

async fn apply(store: &Arc<dyn Store>, line: Line) -> anyhow::Result<()> {
    match line {
        Line::Header { .. } => {}
        Line::Scope { name, description } => {
            store
                .create_scope(&ScopeRecord {
                    name,
                    description,
                    builtin: false,
                })
                .await?
        }
        Line::Client {
            client_id,
            name,
            secret_hash,
            token_endpoint_auth_method,
            redirect_uris,
            grant_types,
            scope,
            id_token_alg,
            access_token_format,
            resources,
            introspect,
            post_logout_redirect_uris,
            backchannel_logout_uri,
            backchannel_logout_session_required,
            jwks,
            token_endpoint_auth_signing_alg,
            strict_assertion_audience,
            jwks_uri,
            request_object_signing_alg,
            require_pushed_authorization_requests,
            require_signed_request_object,
            dpop_bound_access_tokens,
            origin,
            registration_token_hash,
            registration_policy,
            about,
            userinfo_alg,
            default_max_age,
            require_auth_time,
            created_at,
            secret_set_at,
            last_used_at,
        } => {
            store
                .create_client(&ClientRecord {
                    id: client_id,
                    name,
                    secret_hash: secret_hash.as_deref().map(hash).transpose()?,
                    auth_method: token_endpoint_auth_method,
                    redirect_uris,
                    grant_types,
                    scopes: scope,
                    id_token_alg,
                    access_token_format,
                    resources,
                    introspect,
                    post_logout_redirect_uris,
                    backchannel_logout_uri,
                    backchannel_logout_session_required,
                    jwks,
                    token_endpoint_auth_signing_alg,
                    strict_assertion_audience,
                    jwks_uri,
                    request_object_signing_alg,
                    require_pushed_authorization_requests,
                    require_signed_request_object,
                    dpop_bound_access_tokens,
                    origin: origin
                        .parse()
                        .map_err(|e: String| anyhow::anyhow!("a client line: {e}"))?,
                    registration_token_hash: registration_token_hash.as_deref().map(hash).transpose()?,
                    registration_policy,
                    about,
                    userinfo_alg,
                    default_max_age,
                    require_auth_time,
                    created_at,
                    secret_set_at,
                    last_used_at,
                })
                .await?;
        }
        Line::User {
            sub,
            username,
            email,
            email_verified,
            name,
            password_hash,
            locked,
            created_at,
            updated_at,
        } => {
            store
                .create_user(&UserRecord {
                    id: sub,
                    username,
                    email,
                    email_verified,
                    name,
                    password_hash,
                    locked,
                    created_at,
                    updated_at,
                })
                .await?;
        }
        Line::Consent {
            user_id,
            client_id,
            scope,
            granted_at,
        } => {
            store.grant_consent(&user_id, &client_id, &scope, granted_at).await?;
        }
        Line::Key {
            kid,
            alg,
            private_der,
            created_at,
            activates_at,
            retires_at,
        } => {
            let der = b64url_decode(&private_der).context("private_der is not base64url")?;
            // An unencrypted export imported where a key-encryption key is set is sealed on the way in.
            let der = if crate::seal::is_sealed(&der) {
                der
            } else {
                crate::seal::seal(&crate::seal::signing_key_aad(&kid), &der).map_err(anyhow::Error::msg)?
            };
            store
                .put_key(&SigningKeyRecord {
                    kid,
                    alg,
                    private_der: der,
                    created_at,
                    activates_at,
                    retires_at,
                })
                .await?;
        }
        Line::RefreshToken {
            hash: h,
            family_id,
            client_id,
            subject,
            scope,
            claims,
            auth_time,
            session_id,
            issued_at,
            expires_at,
            family_expires_at,
            audience,
            dpop_jkt,
        } => {
            store
                .put_refresh_token(&RefreshTokenRecord {
                    hash: hash(&h)?,
                    family_id,
                    client_id,
                    subject,
                    scope,
                    claims,
                    auth_time,
                    session_id,
                    issued_at,
                    expires_at,
                    family_expires_at,
                    audience,
                    dpop_jkt,
                })
                .await?;
        }
    }
    Ok(())
}
