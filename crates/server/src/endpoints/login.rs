//! The login page (`/login`) of a pending interaction: the form, and its submission checked
//! against every defence ([`crate::signin`]) before the password is verified. A success starts a
//! browser session and continues the flow.

use crate::http::cookies;
use crate::http::error::{PageError, login_refused};
use crate::http::pages::{self, LoginPage};
use crate::interaction::{Back, after_login, fresh_csrf, open, submitted};
use crate::metrics::METRICS;
use crate::signin::{Refusal, check_password, start_session};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use gatehouse_storage::{ClientRecord, Interaction, InteractionLogin};

/// `GET /login?interaction=ID`.
///
/// # Errors
/// An error page when the interaction is gone or not this browser's, or the store fails.
pub async fn login_page(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let (interaction, client) = open(&state, &req, now).await?;
    let username = interaction.request.login_hint.clone().unwrap_or_default();
    render_login(&state, &interaction, &client, &username, None).await
}

/// `POST /login`.
///
/// # Errors
/// An error page when the form fails its checks, a limit refuses the sign-in, or the store fails;
/// a wrong password gets the form again.
pub async fn login_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let (form, interaction, client) = submitted(&state, &req, &body, now).await?;
    let username = form.get("username").ok().flatten().unwrap_or("").trim().to_owned();
    let password = form.get("password").ok().flatten().unwrap_or("").to_owned();
    let user = match check_password(&state, &req, &client, &username, password).await {
        Ok(user) => user,
        Err(Refusal::Page(e)) => return Err(e),
        Err(Refusal::Form(message)) => {
            return render_login(&state, &interaction, &client, &username, Some(message)).await;
        }
    };
    METRICS.logins.with_label_values(&["success"]).inc();
    tracing::info!(target: "gatehouse::audit", event = "login.success", client_id = %client.id, sub = %user.id);
    let (session, cookie) = start_session(&state, &req, user.id, now).await?;
    let login = InteractionLogin {
        user_id: session.user_id,
        auth_time: now,
        sid: session.sid,
    };
    if !state.store.set_interaction_login(&interaction.id, &login).await? {
        return Err(PageError::Expired);
    }
    let back = Back::of(&interaction.request);
    let mut res = after_login(
        &state,
        &req,
        &client,
        interaction.request,
        login,
        Some(&interaction.id),
        now,
    )
    .await
    .unwrap_or_else(|e| back.error(&state.issuer, &e));
    cookies::set_session(&mut res, &state, cookie);
    Ok(res)
}

async fn render_login(
    state: &AppState,
    interaction: &Interaction,
    client: &ClientRecord,
    username: &str,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let csrf = fresh_csrf(state, interaction).await?;
    let name = crate::http::pages::display_name(client);
    let page = LoginPage {
        client_name: &name,
        action: "/login",
        hidden: vec![("interaction", &interaction.id), ("csrf_token", &csrf)],
        username,
        error,
    };
    let redirect_to = interaction.request.redirect.uri.as_str();
    if error.is_some() {
        return login_refused(&page, Some(redirect_to));
    }
    Ok(pages::render(&page, StatusCode::OK, Some(redirect_to))?)
}
