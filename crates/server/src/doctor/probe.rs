//! The client and user `--flow` signs in with: a probe client (and user) made for the run, or a
//! registered public client named with `--client`.

use crate::random::random_token;
use gatehouse_protocol::types::{
    AccessTokenFormat, ClientId, GrantType, RedirectUri, ScopeSet, SigningAlg, TokenEndpointAuthMethod, TokenHash,
};
use gatehouse_storage::{ClientOrigin, ClientRecord, Store, UserRecord};
use std::sync::Arc;

/// Who signs in: an existing user with their password, or a probe user made for the run.
pub struct Who {
    /// `--user`.
    pub username: Option<String>,
    /// Read from stdin with `--password-stdin`.
    pub password: Option<String>,
    /// `--client`: a registered public client to run the flow as, instead of a probe client.
    pub client: Option<String>,
}

/// Where the probe's authorization responses go; never fetched (the Location header is read).
pub(super) const REDIRECT: &str = "http://127.0.0.1:9/gatehouse-doctor";

/// The client the flow runs as.
pub(super) struct As {
    pub(super) id: String,
    /// `None` for a public client.
    pub(super) secret: Option<String>,
    pub(super) redirect: String,
    /// It may get refresh tokens (and so `offline_access` is asked for).
    pub(super) refresh: bool,
}

/// A registered client the flow can act as: public (its secret, stored hashed, is unknown here),
/// allowed the code grant, with a redirect URI.
pub(super) async fn named_client(store: &Arc<dyn Store>, id: &str) -> Result<As, String> {
    let id = ClientId::parse(id).map_err(|e| e.description())?;
    let c = store
        .find_client(&id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no such client (gatehouse client list)")?;
    if c.auth_method != TokenEndpointAuthMethod::None {
        return Err("it is confidential: its secret is stored hashed, so the doctor cannot act as it".into());
    }
    let redirect = c
        .redirect_uris
        .first()
        .ok_or("it has no redirect URI")?
        .as_str()
        .to_owned();
    if !c.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err("it may not use the authorization_code grant".into());
    }
    Ok(As {
        id: c.id.as_str().to_owned(),
        secret: None,
        redirect,
        refresh: c.grant_types.contains(&GrantType::RefreshToken) && c.scopes.contains("offline_access"),
    })
}

pub(super) async fn setup(
    store: &Arc<dyn Store>,
    probe_client: Option<&(ClientId, String)>,
    who: &Who,
    suffix: &str,
    now: gatehouse_protocol::types::UnixTime,
) -> anyhow::Result<Option<(UserRecord, String)>> {
    if let Some((id, secret)) = probe_client {
        create_probe_client(store, id, secret, now).await?;
    }
    if who.username.is_some() {
        return Ok(None);
    }
    let password = random_token();
    let user = UserRecord {
        id: crate::random::random_b64(16),
        username: format!("gatehouse-doctor-{suffix}"),
        email: None,
        email_verified: false,
        name: None,
        password_hash: crate::passwords::hash(&password).map_err(anyhow::Error::msg)?,
        locked: false,
        created_at: now,
        updated_at: now,
    };
    store.create_user(&user).await?;
    Ok(Some((user, password)))
}

async fn create_probe_client(
    store: &Arc<dyn Store>,
    id: &ClientId,
    secret: &str,
    now: gatehouse_protocol::types::UnixTime,
) -> anyhow::Result<()> {
    let mut client = ClientRecord::described(
        id.clone(),
        gatehouse_protocol::registration::ClientMetadata {
            redirect_uris: vec![RedirectUri::parse(REDIRECT).map_err(|e| anyhow::anyhow!(e.description()))?],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            auth_signing_alg: None,
            jwks: None,
            jwks_uri: None,
            client_name: Some("gatehouse doctor --flow".into()),
            about: Default::default(),
            scope: ScopeSet::from_static(&["openid", "offline_access"]),
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            id_token_alg: SigningAlg::Rs256,
            userinfo_alg: None,
            request_object_signing_alg: None,
            default_max_age: None,
            require_auth_time: false,
            require_pushed_authorization_requests: false,
            dpop_bound_access_tokens: false,
        },
        ClientOrigin::Operator,
        now,
    );
    client.secret_hash = Some(TokenHash::of(secret));
    client.access_token_format = AccessTokenFormat::Opaque;
    store.create_client(&client).await?;
    Ok(())
}
