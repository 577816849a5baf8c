//! Server-rendered pages (askama): login, consent and error. No JavaScript; labelled fields.

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use askama::Template;

/// How a page names a client in a sentence ("to continue to ..."): an operator's client by its
/// name; a client that described itself as what it says it is, never as a fact.
#[must_use]
pub fn display_name(client: &gatehouse_storage::ClientRecord) -> String {
    match (client.origin.is_dynamic(), client.name.is_empty()) {
        (false, _) => client.name.clone(),
        (true, true) => "an application that registered itself".to_owned(),
        (true, false) => format!("an application that says it is “{}”", client.name),
    }
}

/// The login form.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    /// Shown as "to continue to ...".
    pub client_name: &'a str,
    /// Where the form posts.
    pub action: &'a str,
    /// Hidden fields: what the form belongs to and its CSRF token.
    pub hidden: Vec<(&'static str, &'a str)>,
    /// Prefilled username (`login_hint` or the previous attempt).
    pub username: &'a str,
    /// A message after a failed attempt.
    pub error: Option<&'a str>,
}

/// One scope line on the consent page.
pub struct ScopeLine {
    /// The scope token.
    pub name: String,
    /// What it allows.
    pub description: String,
}

/// The consent form.
#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    /// The client asking.
    pub client_name: &'a str,
    /// The client described itself (registration or metadata document): its name is what it
    /// says it is, shown with this host (of its metadata document, or its redirect URI).
    pub self_asserted_at: Option<String>,
    /// For such a client, the redirect URI's host when it differs from the host shown: where the
    /// code really goes (a document on a shared host may name anyone's redirect URI).
    pub answer_goes_to: Option<String>,
    /// Who is signed in.
    pub username: &'a str,
    /// What it asks for.
    pub scopes: Vec<ScopeLine>,
    /// The interaction id.
    pub interaction: &'a str,
    /// The CSRF token.
    pub csrf_token: &'a str,
}

/// The logout confirmation form (RP-Initiated Logout 1.0 §2: the OP asks the user).
#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
    /// Who is signed in.
    pub username: &'a str,
    /// The client asking, if one was identified.
    pub client_name: Option<&'a str>,
    /// The request's parameters, carried to the confirmation post.
    pub fields: Vec<(&'static str, &'a str)>,
    /// The CSRF token, bound to the browser session.
    pub csrf_token: &'a str,
}

/// The page after a logout with nowhere to return to.
#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOutPage;

/// The device code form (`/device`).
#[derive(Template)]
#[template(path = "device.html")]
pub struct DevicePage<'a> {
    /// What was typed (or came in `verification_uri_complete`).
    pub user_code: &'a str,
    /// The CSRF token.
    pub csrf_token: &'a str,
    /// Why the last code was refused.
    pub error: Option<&'a str>,
}

/// The confirmation of a device authorization (RFC 8628 §5.4: the user sees what they approve).
#[derive(Template)]
#[template(path = "device_confirm.html")]
pub struct DeviceConfirmPage<'a> {
    /// The client (the device's application).
    pub client_name: &'a str,
    /// The client described itself: its name is only its own claim.
    pub self_asserted: bool,
    /// Who is signed in.
    pub username: &'a str,
    /// When the device asked.
    pub requested_at: String,
    /// From which address.
    pub requested_from: Option<&'a str>,
    /// The code, as stored (hidden field).
    pub user_code: &'a str,
    /// The code as the device shows it.
    pub user_code_shown: String,
    /// What it gets.
    pub scopes: Vec<ScopeLine>,
    /// The CSRF token.
    pub csrf_token: &'a str,
}

/// After the decision: back to the device.
#[derive(Template)]
#[template(path = "device_done.html")]
pub struct DeviceDonePage<'a> {
    /// Allowed or denied.
    pub approved: bool,
    /// The client.
    pub client_name: &'a str,
}

/// The scope lines of a consent or confirmation page: each scope with the registry's
/// description (its name when it has none).
#[must_use]
pub fn scope_lines<'a>(
    registry: &[gatehouse_storage::ScopeRecord],
    scopes: impl Iterator<Item = &'a gatehouse_protocol::types::Scope>,
) -> Vec<ScopeLine> {
    scopes
        .map(|s| ScopeLine {
            name: s.as_str().to_owned(),
            description: registry
                .iter()
                .find(|r| r.name == s.as_str())
                .map_or_else(|| s.as_str().to_owned(), |r| r.description.clone()),
        })
        .collect()
}

/// A plain error page, for errors that must not be redirected (rendered by
/// [`PageError`](crate::http::error::PageError)).
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    /// Heading.
    pub title: &'a str,
    /// What went wrong and what to do.
    pub message: &'a str,
    /// The OAuth error code, for the developer.
    pub code: Option<&'a str>,
}

/// Renders a page with the headers every HTML page carries. `redirect_to` is where a form on the
/// page may end up after the server's redirect: browsers apply `form-action` to that redirect too,
/// so its origin is allowed next to `'self'`.
///
/// # Errors
/// The template failed to render (a [`PageError`](crate::http::error::PageError) converts it).
pub fn render(
    page: &impl Template,
    status: StatusCode,
    redirect_to: Option<&str>,
) -> Result<HttpResponse, askama::Error> {
    let target = redirect_to
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| match u.origin() {
            url::Origin::Tuple(..) => u.origin().ascii_serialization(),
            url::Origin::Opaque(_) => format!("{}:", u.scheme()),
        });
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'{}; frame-ancestors 'none'; base-uri 'none'",
        target.map(|t| format!(" {t}")).unwrap_or_default()
    );
    let html = page.render()?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Content-Security-Policy", csp))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(html))
}

/// The stylesheet, served at `/assets/gatehouse.css` (a file, so the CSP needs no inline style).
pub const CSS: &str = include_str!("../../assets/gatehouse.css");
