//! Building and running the HTTP server.

use crate::clock::system_now;
use crate::config::Config;
use crate::http::params::MAX_FORM_BYTES;
use crate::http::routes::{not_found, operator_routes, routes};
use crate::keys::KeyRing;
use crate::metrics::METRICS;
use crate::passwords;
use crate::protect::{Limiter, Limiters};
use crate::random::random_token;
use crate::state::AppState;
use actix_web::{App, HttpServer, web};
use gatehouse_protocol::discovery::ProviderMetadata;
use gatehouse_storage::Store;
use std::sync::Arc;

/// Builds the state for `issuer` (keys loaded or created, discovery serialised).
///
/// # Errors
/// Store failures while loading keys or scopes.
pub async fn build_state(config: Config, issuer: String, store: Arc<dyn Store>) -> anyhow::Result<AppState> {
    crate::seal::seal_stored(store.as_ref()).await?;
    let keys = KeyRing::load_or_create(store.as_ref(), system_now()).await?;
    let scopes = store.list_scopes().await?.into_iter().map(|s| s.name).collect();
    let features = gatehouse_protocol::discovery::Features {
        require_par: config.require_par,
        dpop_rs256: config.dpop_rs256,
        registration: config.registration.mode != crate::config::RegistrationMode::Off,
        metadata_documents: config.registration.metadata_documents,
    };
    let discovery = web::Bytes::from(serde_json::to_vec(&ProviderMetadata::new(&issuer, scopes, features))?);
    let dummy_password_hash = tokio::task::spawn_blocking(|| passwords::hash(&random_token()))
        .await?
        .map_err(anyhow::Error::msg)?;
    let refresh_key = hmac_secret(store.as_ref(), "refresh_rotation").await?;
    let form_key = hmac_secret(store.as_ref(), "form_csrf").await?;
    let ca_pem = match &config.outbound_ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("GATEHOUSE_OUTBOUND_CA_FILE {}: cannot read it: {e}", path.display()))?,
        ),
        None => None,
    };
    let outbound = |allow: &[crate::outbound::Allowed], setting| {
        crate::outbound::Outbound::with_roots(
            crate::outbound::Policy::new(allow.to_vec()),
            config.outbound_timeout,
            ca_pem.as_deref(),
            setting,
        )
        .map_err(anyhow::Error::msg)
    };
    let outbounds = crate::outbound::Outbounds {
        operator: outbound(&config.outbound_allow, "GATEHOUSE_OUTBOUND_ALLOW")?,
        dynamic: outbound(
            &config.registration.outbound_allow,
            "GATEHOUSE_REGISTRATION_OUTBOUND_ALLOW",
        )?,
    };
    let backchannel = Arc::new(
        crate::logout::Backchannel::new(&config, issuer.clone(), Arc::clone(&store), outbounds.clone())
            .map_err(anyhow::Error::msg)?,
    );
    let client_keys = crate::client_keys::ClientKeySource::new(outbounds.clone(), Arc::clone(&store));
    let documents = crate::documents::Documents::new(
        outbounds.dynamic.clone(),
        Arc::clone(&store),
        config.registration.clone(),
    );
    let dpop_nonces = if config.dpop_nonce {
        Some(crate::nonces::Nonces::new(
            hmac_secret(store.as_ref(), "dpop_nonce").await?,
        ))
    } else {
        None
    };
    let limiters = Limiters {
        login_failures_per_ip: Limiter::new("login_failures_per_ip", config.limit_login_failures),
        client_auth_failures: Limiter::new("client_auth_failures", config.limit_client_auth_failures),
        token_requests: Limiter::new("token_requests", config.limit_token),
        login_requests: Limiter::new("login_requests", config.limit_login),
        registrations: Limiter::new("registrations", config.registration.limit),
        logins_in_flight: crate::protect::InFlight::default(),
    };
    for (alg, _) in keys.active_kids() {
        METRICS.signing_keys.with_label_values(&[alg, "active"]).set(1);
    }
    Ok(AppState {
        limiters,
        started: std::time::Instant::now(),
        health: crate::probe::HealthCache::default(),
        clock: crate::clock::Clock::system(),
        refresh_key,
        form_key,
        backchannel,
        client_keys,
        documents,
        outbounds,
        dpop_nonces,
        secure_cookies: issuer.starts_with("https://"),
        config,
        issuer,
        store,
        keys: std::sync::RwLock::new(std::sync::Arc::new(keys)),
        discovery,
        dummy_password_hash,
    })
}

/// An HMAC key from the server secret `name`, which the first instance to ask creates (sealed at
/// rest when a key-encryption key is configured).
async fn hmac_secret(store: &dyn Store, name: &str) -> anyhow::Result<aws_lc_rs::hmac::Key> {
    let mut candidate = [0u8; 32];
    aws_lc_rs::rand::fill(&mut candidate).map_err(|_| anyhow::anyhow!("the system random source failed"))?;
    let aad = crate::seal::server_secret_aad(name);
    let candidate = crate::seal::seal(&aad, &candidate).map_err(anyhow::Error::msg)?;
    let stored = store.server_secret(name, &candidate, system_now()).await?;
    let secret = crate::seal::open(&aad, &stored).map_err(anyhow::Error::msg)?;
    Ok(aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret))
}

/// Runs the server until it is stopped.
///
/// # Errors
/// Bind failures, store failures at start-up.
pub async fn serve(config: Config, store: Arc<dyn Store>) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(config.bind)
        .map_err(|e| anyhow::anyhow!("GATEHOUSE_BIND: cannot listen on {}: {e}", config.bind))?;
    let addr = listener.local_addr()?;
    let issuer = config.issuer.clone().unwrap_or_else(|| format!("http://{addr}"));
    let state = web::Data::new(build_state(config, issuer.clone(), Arc::clone(&store)).await?);
    let first_start = store.list_clients().await?.is_empty() && store.list_users().await?.is_empty();
    let _ = gatehouse_storage::postgres::POOL_WAIT_OBSERVER.set(|d| METRICS.pool_wait.observe(d.as_secs_f64()));
    METRICS.started.set(system_now().0);
    let shutdown = state.config.shutdown_timeout.as_secs();
    let config_data = web::Data::new(state.config.clone());
    let server = HttpServer::new({
        let state = state.clone();
        let config_data = config_data.clone();
        move || {
            let config = config_data.get_ref().clone();
            App::new()
                .app_data(state.clone())
                .app_data(config_data.clone())
                .app_data(web::PayloadConfig::new(MAX_FORM_BYTES))
                .wrap(actix_web::middleware::from_fn(crate::http::middleware::observe))
                .configure(|cfg| routes(cfg, &config))
                .default_service(web::to(not_found))
        }
    })
    .shutdown_timeout(shutdown)
    .listen(listener)?
    .run();
    let metrics_server = match state.config.metrics_bind {
        Some(bind) => {
            let listener = std::net::TcpListener::bind(bind)
                .map_err(|e| anyhow::anyhow!("GATEHOUSE_METRICS_BIND: cannot listen on {bind}: {e}"))?;
            println!("metrics:   http://{}/metrics", listener.local_addr()?);
            let config_data = config_data.clone();
            let state = state.clone();
            Some(
                HttpServer::new(move || {
                    App::new()
                        .app_data(config_data.clone())
                        .app_data(state.clone())
                        .configure(operator_routes)
                })
                .workers(1)
                .shutdown_timeout(shutdown)
                .listen(listener)?
                .run(),
            )
        }
        None => None,
    };
    println!("gatehouse listening on http://{addr}");
    println!("issuer:    {issuer}");
    println!("discovery: {issuer}/.well-known/openid-configuration");
    if first_start {
        println!(
            "\nThe store is empty. Create a client and a user (same GATEHOUSE_DATA_DIR) with:\n  \
             gatehouse client create --name \"My app\" --redirect-uri http://127.0.0.1:3000/callback --scope \"openid profile email offline_access\" --grant-type authorization_code --grant-type refresh_token\n  \
             gatehouse user create --username alice --email alice@example.com --password-stdin"
        );
    }
    tokio::spawn(crate::background::cleanup_loop(state.clone()));
    tokio::spawn(crate::background::key_loop(state.clone()));
    tokio::spawn(crate::background::outbox_loop(state.clone()));
    tracing::info!(%addr, %issuer, store = store.kind(), "gatehouse started");
    match metrics_server {
        Some(m) => {
            let (a, b) = tokio::join!(server, m);
            a?;
            b?;
        }
        None => server.await?,
    }
    // Actix has drained in-flight requests (up to GATEHOUSE_SHUTDOWN_TIMEOUT); dropping the state
    // closes the database pool.
    tracing::info!("gatehouse stopped");
    Ok(())
}
