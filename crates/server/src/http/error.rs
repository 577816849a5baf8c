//! Every error response Gatehouse sends is built here, in one of three shapes:
//!
//! - JSON (RFC 6749 §5.2, RFC 6750 §3.1): [`ApiError`] for the API endpoints, and the same body
//!   for a path not served ([`not_found`]), a method not served ([`method_not_allowed`]) and an
//!   operator endpoint refused to an address ([`address_refused`]).
//! - [`PageError`]: an HTML page, for the browser pages (`/oauth/authorize` before its redirect URI
//!   is trusted, `/login`, `/consent`). Page handlers return `Result<HttpResponse, PageError>`.
//! - [`redirect_error`]: the authorization error sent back to the client's redirect URI (through
//!   [`Back`](crate::interaction::Back)).
//!
//! Two answers that are not OAuth errors have their status decided here too, so every non-2xx
//! answer is found in this file: the login form after a refused sign-in ([`login_refused`]) and a
//! failing health check ([`unhealthy`]).
//!
//! Each shape goes through `mark`, which logs a server error's private detail once (it is never
//! sent) and tags the response with its RFC code. The request middleware counts every tagged
//! response in `gatehouse_oauth_errors_total`, labelled with the endpoint of the route that
//! answered ([`crate::http::routes::endpoint`]): an error is counted however it was built, and
//! exactly once.

use crate::http::pages::{self, ErrorPage, LoginPage};
use crate::http::redirect::{see_other, with_query};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use gatehouse_protocol::Error;
use gatehouse_protocol::error::invalid_request;
use gatehouse_protocol::types::RedirectUri;
use gatehouse_storage::StoreError;

pub use super::store_error::store_error;
use std::borrow::Cow;

/// Which authentication challenge accompanies a 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// Client authentication at the token endpoint (RFC 6749 §5.2).
    Basic,
    /// A protected resource (RFC 6750 §3).
    Bearer,
    /// A protected resource asked without any credentials: the challenge carries no error code
    /// (RFC 6750 §3.1); a `DPoP` challenge names the accepted proof algorithms (RFC 9449 §7.1).
    BearerBare(&'static str),
    /// A protected resource asked with the `DPoP` scheme or a DPoP-bound token (RFC 9449 §7.1):
    /// `DPoP` errors are 401; the challenge names the accepted proof algorithms.
    Dpop(&'static str),
}

/// An OAuth error answered as JSON. However it is built, the response is counted once in
/// `gatehouse_oauth_errors_total` under the endpoint of the route that answered.
#[derive(Debug)]
pub struct ApiError {
    /// The error.
    pub error: Error,
    /// The challenge for a 401.
    pub challenge: Challenge,
}

impl ApiError {
    /// An error at an endpoint that authenticates clients.
    #[must_use]
    pub fn client(error: Error) -> Self {
        Self {
            error,
            challenge: Challenge::Basic,
        }
    }

    /// An error at a bearer-protected endpoint.
    #[must_use]
    pub fn bearer(error: Error) -> Self {
        Self {
            error,
            challenge: Challenge::Bearer,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error.code())
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self::client(error)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match (&self.error, self.challenge) {
            (Error::InvalidDpopProof(_) | Error::UseDpopNonce { .. }, Challenge::Dpop(_)) => StatusCode::UNAUTHORIZED,
            _ => status_of(&self.error),
        }
    }

    fn error_response(&self) -> HttpResponse {
        json(self.status_code(), &self.error, self.challenge)
    }
}

/// The refusal of a request that reached the trusted proxy over plain http, or whose proxy did
/// not say (`proto`: its `X-Forwarded-Proto`, if any).
#[must_use]
pub fn plain_http_refused(proto: Option<&str>) -> HttpResponse {
    let said = proto.map_or_else(
        || "no X-Forwarded-Proto header".to_owned(),
        |p| format!("X-Forwarded-Proto: {p}"),
    );
    let error = invalid_request(format!(
        "this server's issuer is https, and the proxy in front of it sent this request with {said}: requests must reach the proxy over https, and the proxy must say so (nginx: proxy_set_header X-Forwarded-Proto $scheme; and redirect http to https)"
    ));
    ApiError::client(error).error_response()
}

/// The 404 for a path that serves nothing; the description names the path, so a typo is visible.
#[must_use]
pub fn not_found(path: &str) -> HttpResponse {
    let error = invalid_request(format!(
        "{path} is not an endpoint of this server; see /.well-known/openid-configuration for the endpoints"
    ));
    json(StatusCode::NOT_FOUND, &error, Challenge::Basic)
}

/// The 405 for a method a path does not serve; `Allow` lists the ones it does (RFC 9110 §15.5.6).
#[must_use]
pub fn method_not_allowed(allow: &'static str) -> HttpResponse {
    let error = invalid_request(format!("method not allowed here; use {allow}"));
    let mut res = json(StatusCode::METHOD_NOT_ALLOWED, &error, Challenge::Basic);
    res.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    res
}

/// The 403 for an operator endpoint (`what`) asked from an address not allowed to see it.
#[must_use]
pub fn address_refused(what: &str) -> HttpResponse {
    let error = Error::AccessDenied(
        format!(
            "{what} is not available to this address; allow it with GATEHOUSE_METRICS_ALLOW or use the operator listener GATEHOUSE_METRICS_BIND"
        )
        .into(),
    );
    json(StatusCode::FORBIDDEN, &error, Challenge::Basic)
}

fn status_of(error: &Error) -> StatusCode {
    StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A JSON error: the RFC code and a description that says what to fix, never cached, with a
/// challenge on a 401 and `Retry-After` where waiting helps.
fn json(status: StatusCode, error: &Error, challenge: Challenge) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    let description = error.description();
    if status == StatusCode::UNAUTHORIZED {
        let value = match challenge {
            Challenge::Basic => "Basic realm=\"gatehouse\"".to_owned(),
            Challenge::BearerBare(algs) => format!("Bearer realm=\"gatehouse\", DPoP algs=\"{algs}\""),
            Challenge::Bearer => format!(
                "Bearer realm=\"gatehouse\", error=\"{}\", error_description=\"{description}\"",
                error.code()
            ),
            Challenge::Dpop(algs) => format!(
                "DPoP algs=\"{algs}\", error=\"{}\", error_description=\"{description}\"",
                error.code()
            ),
        };
        if let Ok(v) = HeaderValue::from_str(&value) {
            res.insert_header((header::WWW_AUTHENTICATE, v));
        }
    }
    match error {
        Error::UseDpopNonce { nonce } => {
            res.insert_header(("DPoP-Nonce", nonce.as_str()));
        }
        Error::TemporarilyUnavailable(_) => {
            res.insert_header((header::RETRY_AFTER, "5"));
        }
        Error::RateLimited { retry_after } => {
            res.insert_header((header::RETRY_AFTER, retry_after.to_string()));
        }
        _ => {}
    }
    let res = res.json(serde_json::json!({ "error": error.code(), "error_description": description }));
    mark(res, error.code(), Some(error), None)
}

/// An error answered with an HTML page: a browser is on the other end, and nothing may go back
/// to the client (the request is broken, or it is the user's own form that failed).
#[derive(Debug)]
pub enum PageError {
    /// An authorization request that cannot be redirected, because its client or redirect URI did
    /// not check out (RFC 6749 §4.1.2.1): shown, never sent back.
    InvalidRequest(Error),
    /// An authorization request from a client_id that is not registered.
    UnknownClient,
    /// A login or consent form (or its query) that could not be read.
    BadForm,
    /// The interaction is gone: expired, already used, or its client or user deleted.
    Expired,
    /// The form does not come from the page this browser was shown (browser binding or CSRF).
    Forbidden,
    /// A sign-in refused by a rate limit: 429 with `Retry-After`. `message` says which one.
    TooMany {
        /// Seconds until a retry may succeed.
        retry_after: u64,
        /// What was refused and what to do.
        message: &'static str,
    },
    /// Every password verification place is taken (the Argon2 queue is full): 503.
    Busy,
    /// The store failed ([`store_error`]): 503 when it is unavailable, else 500.
    Unavailable(Error),
    /// A logout request that is not followed (RP-Initiated Logout 1.0 §2, §3): what was wrong and
    /// how to fix it. Nobody is signed out and nobody is redirected.
    Logout(String),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(store_error(e))
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        Self::Unavailable(Error::Server(format!("page render failed: {e}")))
    }
}

/// What a [`PageError`] shows: status, title, message, the code printed for the developer (if any),
/// and the nearest RFC code it is counted under (pages without a code of their own count too).
type Shown<'a> = (
    StatusCode,
    &'static str,
    Cow<'a, str>,
    Option<&'static str>,
    &'static str,
);

const UNKNOWN_CLIENT: &str = "The application that sent you here is not registered with this server (unknown client_id). Nothing was sent back to it.";
const BAD_FORM: &str = "The form could not be read. Go back to the application and sign in again.";
const EXPIRED: &str = "This sign-in link has expired or was already used. Go back to the application and start again.";
const FORBIDDEN: &str = "The form was not sent from the page this browser opened, or it has been replaced by a newer one (CSRF check failed). Go back to the application and sign in again.";
const BUSY: &str = "The server is checking many sign-ins right now. Wait a moment and try again.";
const UNAVAILABLE: &str = "The server cannot handle this request right now. Please try again in a moment.";
const INVALID: &str = "invalid_request";
const WAIT: &str = "temporarily_unavailable";

impl PageError {
    #[rustfmt::skip] // a table, one row per page
    fn shown(&self) -> Shown<'_> {
        use StatusCode as S;
        let fixed = |status, title, message: &'static str, code, counted| (status, title, message.into(), code, counted);
        match self {
            Self::InvalidRequest(e) => (S::BAD_REQUEST, "This sign-in request is invalid",
                format!("{} Nothing was sent back to the application.", e.description()).into(), Some(e.code()), e.code()),
            Self::UnknownClient => fixed(S::BAD_REQUEST, "Unknown application", UNKNOWN_CLIENT, Some(INVALID), INVALID),
            Self::BadForm => fixed(S::BAD_REQUEST, "Invalid form", BAD_FORM, Some(INVALID), INVALID),
            Self::Expired => fixed(S::BAD_REQUEST, "This sign-in has expired", EXPIRED, None, INVALID),
            Self::Forbidden => fixed(S::FORBIDDEN, "This form cannot be accepted", FORBIDDEN, None, "access_denied"),
            Self::TooMany { message, .. } => fixed(S::TOO_MANY_REQUESTS, "Too many attempts", message, None, WAIT),
            Self::Busy => fixed(S::SERVICE_UNAVAILABLE, "Too busy", BUSY, None, WAIT),
            Self::Unavailable(e) => fixed(status_of(e), "Something went wrong", UNAVAILABLE, Some(e.code()), e.code()),
            Self::Logout(why) => (S::BAD_REQUEST, "This sign-out request was refused",
                format!("{why} Nothing was changed and you were not redirected.").into(), Some(INVALID), INVALID),
        }
    }

    /// Seconds after which a retry may succeed, for `Retry-After`.
    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TooMany { retry_after, .. } => Some(*retry_after),
            Self::Busy => Some(1),
            _ => None,
        }
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (_, title, _, _, counted) = self.shown();
        write!(f, "{counted}: {title}")
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.shown().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, title, message, code, counted) = self.shown();
        let page = ErrorPage {
            title,
            message: &message,
            code,
        };
        let mut res = pages::render(&page, status, None).unwrap_or_else(|e| {
            tracing::error!(error = %e, "error page render failed");
            HttpResponse::InternalServerError().body("internal error")
        });
        if let Some(v) = self
            .retry_after()
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        let error = match self {
            Self::InvalidRequest(e) | Self::Unavailable(e) => Some(e),
            _ => None,
        };
        mark(res, counted, error, None)
    }
}

/// The login form shown again after a refused sign-in (wrong password, locked account), with the
/// form's message: 401, so a script posting the form sees the refusal. Counted in
/// `gatehouse_logins_total` by the caller, not as an OAuth error.
///
/// # Errors
/// The page failed to render.
pub fn login_refused(form: &LoginPage<'_>, redirect_to: Option<&str>) -> Result<HttpResponse, PageError> {
    Ok(pages::render(form, StatusCode::UNAUTHORIZED, redirect_to)?)
}

/// A form shown again because what was typed was not accepted (a wrong device code): 400.
///
/// # Errors
/// The page failed to render.
pub fn form_refused(form: &impl askama::Template) -> Result<HttpResponse, PageError> {
    Ok(pages::render(form, StatusCode::BAD_REQUEST, None)?)
}

/// A health check's 503 with its JSON report, so a load balancer takes this instance out. Not an
/// OAuth error, so not counted.
#[must_use]
pub fn unhealthy(report: &serde_json::Value) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(report)
}

/// Redirects an authorization error to the client's validated `redirect_uri`, with the request's
/// `state` (RFC 6749 §4.1.2.1) and `iss` (RFC 9207). Counted at `authorize` wherever the flow ends
/// (the login or consent form included): it is the authorization endpoint's answer.
#[must_use]
pub fn redirect_error(issuer: &str, redirect_uri: &RedirectUri, state: Option<&str>, error: &Error) -> HttpResponse {
    let description = error.description();
    let mut pairs = vec![("error", error.code()), ("error_description", description.as_str())];
    if let Some(s) = state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", issuer));
    let res = see_other(&with_query(redirect_uri.as_str(), &pairs));
    mark(res, error.code(), Some(error), Some("authorize"))
}

/// The tag [`mark`] leaves on an error response, for [`count`].
#[derive(Debug, Clone, Copy)]
struct Counted {
    /// Overrides the route's endpoint label.
    endpoint: Option<&'static str>,
    code: &'static str,
    /// [`Error::cause`], when the response carries an [`Error`].
    cause: Option<&'static str>,
}

/// The one path every error response takes: a server error's detail is logged here, once, and
/// never sent; the response is tagged for [`count`].
fn mark(
    mut res: HttpResponse,
    code: &'static str,
    error: Option<&Error>,
    endpoint: Option<&'static str>,
) -> HttpResponse {
    if let Some(Error::Server(detail)) = error {
        tracing::error!(detail = %detail, "server_error");
    }
    let cause = error.map(Error::cause);
    res.extensions_mut().insert(Counted { endpoint, code, cause });
    res
}

/// Counts the error a response carries, if any, in `gatehouse_oauth_errors_total`: called once per
/// response by the request middleware, with the endpoint of the route that answered.
pub fn count<B>(res: &HttpResponse<B>, endpoint: &'static str) {
    if let Some(c) = res.extensions().get::<Counted>().copied() {
        crate::metrics::oauth_error(c.endpoint.unwrap_or(endpoint), c.code, c.cause);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use actix_web::body::MessageBody;
    use actix_web::dev::{Service, ServiceResponse};
    use actix_web::middleware::from_fn;
    use actix_web::{App, test, web};

    /// Answers `req` with `app` behind the real request middleware, and checks that the answer was
    /// counted in `gatehouse_oauth_errors_total` exactly once, as `(endpoint, code)`. Counters are
    /// process-wide and tests run in parallel, so each test counts its own pair.
    pub(crate) async fn counted_once<S, B>(
        app: App<S>,
        req: test::TestRequest,
        (endpoint, code): (&str, &str),
    ) -> ServiceResponse<impl MessageBody>
    where
        S: actix_web::dev::ServiceFactory<
                actix_web::dev::ServiceRequest,
                Config = (),
                Response = ServiceResponse<B>,
                Error = actix_web::Error,
                InitError = (),
            > + 'static,
        B: MessageBody + 'static,
    {
        let counter = crate::metrics::METRICS
            .oauth_errors
            .with_label_values(&[endpoint, code]);
        let before = counter.get();
        let app = test::init_service(app.wrap(from_fn(crate::http::middleware::observe))).await;
        let res = app.call(req.to_request()).await.unwrap();
        assert_eq!(counter.get(), before + 1, "{endpoint} {code}");
        res
    }

    /// `GET path`, answered by `handler`; see [`counted_once`].
    async fn answer<F, Fut, R>(path: &str, handler: F, counted: (&str, &str)) -> ServiceResponse<impl MessageBody>
    where
        F: Fn() -> Fut + Clone + 'static,
        Fut: Future<Output = R> + 'static,
        R: actix_web::Responder + 'static,
    {
        let app = App::new().route(path, web::get().to(handler));
        counted_once(app, test::TestRequest::get().uri(path), counted).await
    }

    fn header_of(res: &ServiceResponse<impl MessageBody>, name: header::HeaderName) -> &str {
        res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    async fn text(res: ServiceResponse<impl MessageBody>) -> String {
        String::from_utf8_lossy(&test::read_body(res).await).into_owned()
    }

    #[actix_web::test]
    async fn an_api_error_built_without_an_endpoint_is_counted_under_its_route() {
        let error =
            || async { Err::<HttpResponse, ApiError>(Error::InvalidClient("wrong client_secret".into()).into()) };
        let res = answer("/oauth/introspect", error, ("introspect", "invalid_client")).await;
        assert_eq!(res.status(), 401);
        assert_eq!(header_of(&res, header::WWW_AUTHENTICATE), "Basic realm=\"gatehouse\"");
    }

    #[actix_web::test]
    async fn an_api_error_at_the_token_endpoint_is_counted_once() {
        let error = || async {
            let error = Error::InvalidGrant("the code has expired".into());
            Err::<HttpResponse, ApiError>(ApiError::client(error))
        };
        let res = answer("/oauth/token", error, ("token", "invalid_grant")).await;
        assert_eq!(res.status(), 400);
    }

    #[actix_web::test]
    async fn a_server_error_is_counted_and_its_detail_never_sent() {
        let error = || async {
            let error = store_error(StoreError::Internal("disk I/O error at page 7".into()));
            Err::<HttpResponse, ApiError>(ApiError::bearer(error))
        };
        let res = answer("/oauth/userinfo", error, ("userinfo", "server_error")).await;
        assert_eq!(res.status(), 500);
        let body = text(res).await;
        assert!(body.contains("server_error") && !body.contains("page 7"), "{body}");
    }

    #[actix_web::test]
    async fn a_page_error_is_an_html_page_and_is_counted() {
        let error = || async { Err::<HttpResponse, PageError>(PageError::Expired) };
        let res = answer("/login", error, ("login", "invalid_request")).await;
        assert_eq!(res.status(), 400);
        assert!(header_of(&res, header::CONTENT_TYPE).starts_with("text/html"));
        assert_eq!(header_of(&res, header::CACHE_CONTROL), "no-store");
        assert!(text(res).await.contains("This sign-in has expired"));
    }

    #[actix_web::test]
    async fn a_refused_sign_in_page_says_when_to_retry_and_is_counted() {
        let error = || async {
            let message = "Too many sign-ins came from this address.";
            Err::<HttpResponse, PageError>(PageError::TooMany {
                retry_after: 42,
                message,
            })
        };
        let res = answer("/consent", error, ("consent", "temporarily_unavailable")).await;
        assert_eq!(res.status(), 429);
        assert_eq!(header_of(&res, header::RETRY_AFTER), "42");
    }

    #[actix_web::test]
    async fn a_store_failure_on_a_page_is_counted_and_its_detail_never_shown() {
        let error = || async {
            let failure = StoreError::Conflict("unique constraint interactions_pkey".into());
            Err::<HttpResponse, PageError>(failure.into())
        };
        let res = answer("/oauth/authorize", error, ("authorize", "server_error")).await;
        assert_eq!(res.status(), 500);
        let body = text(res).await;
        assert!(
            body.contains("Something went wrong") && !body.contains("interactions_pkey"),
            "{body}"
        );
    }

    #[actix_web::test]
    async fn a_redirected_error_is_counted_at_authorize_wherever_the_flow_ends() {
        let denied = || async {
            let uri = RedirectUri::parse("https://app.example/cb?x=1").unwrap();
            let error = Error::AccessDenied("the user denied the request".into());
            redirect_error("https://id.example", &uri, Some("s1"), &error)
        };
        let res = answer("/consent", denied, ("authorize", "access_denied")).await;
        assert_eq!(res.status(), 303);
        let location = header_of(&res, header::LOCATION);
        assert!(
            location.starts_with("https://app.example/cb?x=1&error=access_denied&"),
            "{location}"
        );
        assert!(location.contains("state=s1") && location.contains("iss=https%3A%2F%2Fid.example"));
        let at_consent = crate::metrics::METRICS
            .oauth_errors
            .with_label_values(&["consent", "access_denied"]);
        assert_eq!(at_consent.get(), 0);
    }

    #[actix_web::test]
    async fn an_operator_refusal_is_json_and_counted() {
        let res = answer(
            "/metrics",
            || async { address_refused("/metrics") },
            ("metrics", "access_denied"),
        )
        .await;
        assert_eq!(res.status(), 403);
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(body["error"], "access_denied");
    }
}
