//! Protocol errors to HTTP responses: the one place that decides status codes, headers and bodies.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use gatehouse_protocol::Error;
use gatehouse_storage::StoreError;

/// Which authentication challenge accompanies a 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// Client authentication at the token endpoint (RFC 6749 §5.2).
    Basic,
    /// A protected resource (RFC 6750 §3).
    Bearer,
    /// A protected resource asked without any credentials: the challenge carries no error code
    /// (RFC 6750 §3.1).
    BearerBare,
}

/// An OAuth error answered as JSON.
#[derive(Debug)]
pub struct ApiError {
    /// The error.
    pub error: Error,
    /// The challenge for a 401.
    pub challenge: Challenge,
}

impl ApiError {
    /// An error at `endpoint`, counted in `gatehouse_oauth_errors_total`.
    #[must_use]
    pub fn at(endpoint: &'static str, error: Error, challenge: Challenge) -> Self {
        crate::metrics::oauth_error(endpoint, error.code());
        Self { error, challenge }
    }

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
        StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        if let Error::Server(detail) = &self.error {
            tracing::error!(detail = %detail, "server_error");
        }
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        let description = self.error.description();
        if self.error.status() == 401 {
            let value = match self.challenge {
                Challenge::Basic => "Basic realm=\"gatehouse\"".to_owned(),
                Challenge::BearerBare => "Bearer realm=\"gatehouse\"".to_owned(),
                Challenge::Bearer => {
                    format!(
                        "Bearer realm=\"gatehouse\", error=\"{}\", error_description=\"{description}\"",
                        self.error.code()
                    )
                }
            };
            if let Ok(v) = HeaderValue::from_str(&value) {
                res.insert_header((header::WWW_AUTHENTICATE, v));
            }
        }
        match &self.error {
            Error::TemporarilyUnavailable(_) => {
                res.insert_header((header::RETRY_AFTER, "5"));
            }
            Error::RateLimited { retry_after } => {
                res.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            _ => {}
        }
        res.json(serde_json::json!({ "error": self.error.code(), "error_description": description }))
    }
}

/// A store failure as a protocol error: unavailability is retryable, the rest is a server error
/// whose detail is logged but never sent.
#[must_use]
pub fn store_error(e: StoreError) -> Error {
    let kind = match &e {
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Conflict(_) => "conflict",
        StoreError::Internal(_) => "internal",
    };
    crate::metrics::METRICS.store_errors.with_label_values(&[kind]).inc();
    match e {
        StoreError::Unavailable(detail) => {
            tracing::warn!(detail = %detail, "store unavailable");
            Error::TemporarilyUnavailable("the data store is unavailable; retry shortly".into())
        }
        StoreError::Conflict(detail) | StoreError::Internal(detail) => Error::Server(detail),
    }
}
