//! The consent page (`/consent`) of a pending interaction whose user has signed in: it lists what
//! the client asks for, and the user's decision either issues the code or sends `access_denied`
//! back to the client (OIDC Core §3.1.2.4).

use crate::http::error::{PageError, store_error};
use crate::http::pages::{self, ConsentPage};
use crate::http::redirect::see_other;
use crate::interaction::{Back, fresh_csrf, issue_code, open, submitted};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_protocol::Error;
use gatehouse_protocol::request::authorize::AuthorizationRequest;
use gatehouse_protocol::types::UnixTime;
use gatehouse_storage::{ClientRecord, InteractionLogin};

/// `GET /consent?interaction=ID`.
///
/// # Errors
/// An error page when the interaction is gone or not this browser's, or the store fails.
pub async fn consent_page(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let (interaction, client) = open(&state, &req, now).await?;
    let Some(login) = &interaction.login else {
        return Ok(see_other(&format!(
            "{}/login?interaction={}",
            state.issuer, interaction.id
        )));
    };
    let user = state.store.find_user(&login.user_id).await?.ok_or(PageError::Expired)?;
    let registry = state.store.list_scopes().await?;
    // Scopes asked for, and the scopes covering claims asked for individually: the user decides
    // on everything that will be released (OIDC Core §3.1.2.4).
    let scopes = pages::scope_lines(&registry, interaction.request.consent_scope().iter());
    let csrf = fresh_csrf(&state, &interaction).await?;
    let redirect = &interaction.request.redirect.uri;
    let shown = client.origin.is_dynamic().then(|| asserted_host(&client, redirect));
    let page = ConsentPage {
        client_name: &client.name,
        answer_goes_to: shown
            .as_ref()
            .and_then(|host| host_of(redirect.as_str()).filter(|to| to != host)),
        self_asserted_at: shown,
        username: &user.username,
        scopes,
        interaction: &interaction.id,
        csrf_token: &csrf,
    };
    Ok(pages::render(
        &page,
        StatusCode::OK,
        Some(interaction.request.redirect.uri.as_str()),
    )?)
}

/// `POST /consent`.
///
/// # Errors
/// An error page when the form fails its checks or the store fails; the decision's own errors
/// are redirected to the client.
pub async fn consent_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let (form, interaction, client) = submitted(&state, &req, &body, now).await?;
    let login = interaction.login.clone().ok_or(PageError::Expired)?;
    // Atomic: a double submit or a second tab cannot turn one consent into two codes.
    state
        .store
        .take_interaction(&interaction.id, now)
        .await?
        .ok_or(PageError::Expired)?;
    let back = Back::of(&interaction.request);
    let result = if form.get("decision").ok().flatten() == Some("allow") {
        allow(&state, &client, &interaction.request, &login, now).await
    } else {
        tracing::info!(target: "gatehouse::audit", event = "consent.denied", client_id = %client.id, sub = %login.user_id);
        Err(Error::AccessDenied("the user denied the request".into()))
    };
    Ok(result.unwrap_or_else(|e| back.error(&state.issuer, &e)))
}

/// The user allowed: the consent is remembered and the code issued.
async fn allow(
    state: &AppState,
    client: &ClientRecord,
    request: &AuthorizationRequest,
    login: &InteractionLogin,
    now: UnixTime,
) -> Result<HttpResponse, Error> {
    // Submitted together, the two writes share one commit (the store's group commit).
    let remember = async {
        let scope = request.consent_scope();
        state
            .store
            .grant_consent(&login.user_id, &client.id, &scope, now)
            .await
            .map_err(store_error)?;
        tracing::info!(target: "gatehouse::audit", event = "consent.granted", client_id = %client.id, sub = %login.user_id, scope = %scope.to_param());
        Ok(())
    };
    let ((), response) = tokio::try_join!(remember, issue_code(state, request, login, now))?;
    Ok(response)
}

/// The host a self-described client is shown with: its metadata document's (the `client_id`),
/// else the redirect URI's, where the user's answer goes.
fn asserted_host(client: &ClientRecord, redirect_uri: &gatehouse_protocol::types::RedirectUri) -> String {
    host_of(client.id.as_str())
        .or_else(|| host_of(redirect_uri.as_str()))
        .unwrap_or_else(|| redirect_uri.as_str().to_owned())
}

/// The host of a URL (a private-use scheme has none).
fn host_of(u: &str) -> Option<String> {
    url::Url::parse(u).ok().and_then(|u| u.host_str().map(str::to_owned))
}
