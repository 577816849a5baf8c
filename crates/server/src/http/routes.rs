//! The route table: every path Gatehouse serves, its methods (others get 405 with `Allow`), the
//! 404 for everything else, and the endpoint label each route's errors are counted under.

use crate::config::Config;
use crate::endpoints::{
    assets, authorize, consent, device, device_authorization, discovery, health, introspection, jwks, login, logout,
    metrics, par, register, revocation, token, userinfo,
};
use crate::http::error;
use crate::http::operator::OperatorListener;
use actix_web::http::header;
use actix_web::middleware::Condition;
use actix_web::{HttpRequest, HttpResponse, web};

/// Registers every route on an actix `App`. The endpoints browsers call from other origins get
/// CORS from `GATEHOUSE_CORS_ORIGINS`; the HTML pages never do.
pub fn routes(cfg: &mut web::ServiceConfig, config: &Config) {
    let cors = |r: actix_web::Resource| {
        let enabled = !config.cors_origins.is_empty();
        let mut c = actix_cors::Cors::default()
            .allowed_methods(["GET", "POST"])
            .allowed_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                header::HeaderName::from_static("dpop"),
            ])
            .expose_headers([
                header::WWW_AUTHENTICATE,
                header::RETRY_AFTER,
                header::HeaderName::from_static("dpop-nonce"),
            ])
            .max_age(600);
        for origin in &config.cors_origins {
            c = c.allowed_origin(origin);
        }
        r.wrap(Condition::new(enabled, c))
    };
    cfg.service(cors(
        resource("/.well-known/openid-configuration", "GET").route(web::get().to(discovery::metadata)),
    ))
    .service(cors(
        resource("/.well-known/oauth-authorization-server", "GET").route(web::get().to(discovery::metadata)),
    ))
    .service(cors(
        resource("/.well-known/jwks.json", "GET").route(web::get().to(jwks::jwks)),
    ))
    .service(
        resource("/oauth/authorize", "GET, POST")
            .route(web::get().to(authorize::get))
            .route(web::post().to(authorize::post)),
    )
    .service(cors(
        resource("/oauth/token", "POST").route(web::post().to(token::token)),
    ))
    // RFC 9126 §2: POST only; GET gets 405.
    .service(cors(resource("/oauth/par", "POST").route(web::post().to(par::push))))
    .service(cors(
        resource("/oauth/device_authorization", "POST")
            .route(web::post().to(device_authorization::device_authorization)),
    ))
    .service(
        resource("/device", "GET, POST")
            .route(web::get().to(device::page))
            .route(web::post().to(device::submit)),
    )
    .service(cors(
        resource("/oauth/revoke", "POST").route(web::post().to(revocation::revoke)),
    ))
    .service(cors(
        resource("/oauth/introspect", "POST").route(web::post().to(introspection::introspect)),
    ))
    .service(cors(
        resource("/oauth/userinfo", "GET, POST")
            .route(web::get().to(userinfo::get))
            .route(web::post().to(userinfo::post)),
    ))
    // RP-Initiated Logout 1.0 §2: GET and POST. A page, like /login: no CORS.
    .service(
        resource("/oauth/logout", "GET, POST")
            .route(web::get().to(logout::get))
            .route(web::post().to(logout::post)),
    )
    .service(
        resource("/login", "GET, POST")
            .route(web::get().to(login::login_page))
            .route(web::post().to(login::login_submit)),
    )
    .service(
        resource("/consent", "GET, POST")
            .route(web::get().to(consent::consent_page))
            .route(web::post().to(consent::consent_submit)),
    )
    .service(resource("/assets/gatehouse.css", "GET").route(web::get().to(assets::css)))
    .service(resource("/health", "GET").route(web::get().to(health::health)))
    .service(resource("/ready", "GET").route(web::get().to(health::ready)))
    .service(resource("/health/detailed", "GET").route(web::get().to(health::detailed)));
    if config.registration.mode != crate::config::RegistrationMode::Off {
        // RFC 7591 §3 and RFC 7592 §2; off, both paths are unknown (404).
        cfg.service(cors(
            resource("/oauth/register", "POST").route(web::post().to(register::register)),
        ))
        .service(
            resource("/oauth/register/{client_id}", "GET, PUT, DELETE")
                .route(web::get().to(register::read))
                .route(web::put().to(register::replace))
                .route(web::delete().to(register::delete)),
        );
    }
    if config.metrics_bind.is_none() {
        cfg.service(resource("/metrics", "GET").route(web::get().to(metrics::metrics)));
    }
}

/// The routes of the operator listener (`GATEHOUSE_METRICS_BIND`), where every caller is the
/// operator.
pub fn operator_routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::Data::new(OperatorListener))
        .route("/metrics", web::get().to(metrics::metrics))
        .route("/health/detailed", web::get().to(health::detailed));
}

/// The label `gatehouse_oauth_errors_total` counts a route's errors under: the endpoint's name
/// (a small fixed set, whatever path was asked).
#[must_use]
pub fn endpoint(route: &str) -> &'static str {
    match route {
        "/oauth/authorize" => "authorize",
        "/oauth/token" => "token",
        "/oauth/revoke" => "revoke",
        "/oauth/introspect" => "introspect",
        "/oauth/userinfo" => "userinfo",
        "/oauth/logout" => "logout",
        "/oauth/device_authorization" => "device_authorization",
        "/oauth/par" => "par",
        "/oauth/register" | "/oauth/register/{client_id}" => "register",
        "/device" => "device",
        "/login" => "login",
        "/consent" => "consent",
        "/.well-known/openid-configuration" | "/.well-known/oauth-authorization-server" => "discovery",
        "/.well-known/jwks.json" => "jwks",
        "/health" | "/ready" | "/health/detailed" => "health",
        "/metrics" => "metrics",
        "/assets/gatehouse.css" => "assets",
        _ => "unmatched",
    }
}

/// A resource whose other methods get 405 with `Allow`, carrying its [`Route`].
fn resource(path: &'static str, allow: &'static str) -> actix_web::Resource {
    web::resource(path)
        .app_data(Route::new(path))
        .default_service(web::to(move || async move { error::method_not_allowed(allow) }))
}

/// The route a request took, in its resource's app data for the middleware to read after the
/// call: the template (the label of the HTTP metrics and the access log), the endpoint its errors
/// count under, and its metric series. Reading it costs a lookup; `match_pattern` would match
/// the path against every route again.
pub struct Route {
    pub template: &'static str,
    pub endpoint: &'static str,
    pub metrics: crate::metrics::RouteMetrics,
}

impl Route {
    fn new(template: &'static str) -> Self {
        Self {
            template,
            endpoint: endpoint(template),
            metrics: crate::metrics::RouteMetrics::new(template),
        }
    }
}

/// The answer for a path no route serves (the app's default service).
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    error::not_found(req.path())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error::tests::counted_once;
    use actix_web::{App, test};

    fn app() -> App<
        impl actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
            InitError = (),
        >,
    > {
        App::new()
            .service(resource("/oauth/revoke", "POST").route(web::post().to(HttpResponse::Ok)))
            .default_service(web::to(not_found))
    }

    #[actix_web::test]
    async fn a_path_not_served_is_an_invalid_request_naming_it() {
        let req = test::TestRequest::get().uri("/oauth/tokne");
        let res = counted_once(app(), req, ("unmatched", "invalid_request")).await;
        assert_eq!(res.status(), 404);
        assert_eq!(res.headers().get(header::CACHE_CONTROL).unwrap(), "no-store");
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(body["error"], "invalid_request");
        assert!(
            body["error_description"].as_str().unwrap().contains("/oauth/tokne"),
            "{body}"
        );
    }

    /// Requests are counted under their route template, whether a resource took them (its
    /// [`Route`]) or none did (`unmatched`), with the method and status class as labels.
    #[actix_web::test]
    async fn requests_are_counted_under_their_route_template() {
        use actix_web::dev::Service;
        let requests = |route: &str, method: &str| {
            crate::metrics::METRICS
                .http_requests
                .with_label_values(&[route, method, "4xx"])
                .get()
        };
        let app =
            test::init_service(app().wrap(actix_web::middleware::from_fn(crate::http::middleware::observe))).await;
        let before = (requests("/oauth/revoke", "PUT"), requests("unmatched", "PATCH"));
        let res = app
            .call(test::TestRequest::put().uri("/oauth/revoke").to_request())
            .await
            .unwrap();
        assert_eq!(res.status(), 405);
        let res = app
            .call(test::TestRequest::patch().uri("/oauth/tokne").to_request())
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
        assert_eq!(
            (requests("/oauth/revoke", "PUT"), requests("unmatched", "PATCH")),
            (before.0 + 1, before.1 + 1)
        );
    }

    #[actix_web::test]
    async fn a_method_not_served_lists_the_allowed_ones() {
        let req = test::TestRequest::get().uri("/oauth/revoke");
        let res = counted_once(app(), req, ("revoke", "invalid_request")).await;
        assert_eq!(res.status(), 405);
        assert_eq!(res.headers().get(header::ALLOW).unwrap(), "POST");
    }

    #[::core::prelude::v1::test]
    fn every_oauth_route_has_its_own_endpoint_label() {
        for route in [
            "/oauth/authorize",
            "/oauth/token",
            "/oauth/revoke",
            "/oauth/introspect",
            "/oauth/userinfo",
            "/oauth/logout",
            "/oauth/device_authorization",
            "/device",
            "/login",
            "/consent",
        ] {
            assert_ne!(endpoint(route), "unmatched", "{route}");
        }
    }
}
