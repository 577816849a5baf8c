//! The loops every instance runs beside the server: cleanup of expired rows, reloading (and, when
//! scheduled, rotating) the signing keys, and delivering the back-channel logout outbox. Each reads
//! the clock once per tick.

use crate::keys::{KeyRing, key_state, rotate_due_keys};
use crate::metrics::METRICS;
use crate::state::AppState;
use actix_web::web;
use gatehouse_protocol::types::UnixTime;

/// Deletes expired codes, sessions and interactions and expired or long-revoked tokens, in small
/// batches, every `GATEHOUSE_CLEANUP_INTERVAL`. Each instance runs it; the deletes are idempotent.
pub async fn cleanup_loop(state: web::Data<AppState>) {
    let mut tick = ticker(state.config.cleanup_interval);
    loop {
        tick.tick().await;
        let now = state.clock.now();
        let revoked_before = UnixTime(
            now.0
                .saturating_sub(i64::try_from(state.config.revoked_retention.as_secs()).unwrap_or(i64::MAX)),
        );
        match state
            .store
            .cleanup(now, revoked_before, state.config.cleanup_batch)
            .await
        {
            Ok(r) if r.total() > 0 => tracing::info!(
                codes = r.codes,
                access_tokens = r.access_tokens,
                refresh_tokens = r.refresh_tokens,
                sessions = r.sessions,
                interactions = r.interactions,
                login_failures = r.login_failures,
                revoked_grants = r.revoked_grants,
                "cleanup deleted expired rows"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cleanup failed; will retry"),
        }
        if let Some(idle) = state.config.registration.idle {
            delete_idle_clients(&state, now, idle).await;
        }
    }
}

/// Deletes self-registered and metadata-document clients unused for `idle`
/// (`GATEHOUSE_DYNAMIC_CLIENT_IDLE`), with their tokens and consents; one batch per tick.
async fn delete_idle_clients(state: &AppState, now: UnixTime, idle: std::time::Duration) {
    let before = UnixTime(now.0.saturating_sub(i64::try_from(idle.as_secs()).unwrap_or(i64::MAX)));
    let ids = match state.store.idle_clients(before, state.config.cleanup_batch).await {
        Ok(ids) => ids,
        Err(e) => return tracing::warn!(error = %e, "cannot list idle self-registered clients; will retry"),
    };
    for id in ids {
        match state.store.delete_client(&id).await {
            Ok(_) => tracing::info!(target: "gatehouse::audit", event = "client.deleted_idle", client_id = %id),
            Err(e) => tracing::warn!(client_id = %id, error = %e, "cannot delete an idle client; will retry"),
        }
    }
}

/// Reloads the keys every `GATEHOUSE_KEY_POLL_INTERVAL` when the store's keys changed (a rotation by
/// the CLI or another instance) or a scheduled activation or retirement came; and, with
/// `GATEHOUSE_KEY_ROTATION_INTERVAL`, rotates keys that have grown old.
pub async fn key_loop(state: web::Data<AppState>) {
    let mut tick = ticker(state.config.key_poll_interval);
    loop {
        tick.tick().await;
        let now = state.clock.now();
        if let Some(every) = state.config.key_rotation_interval {
            rotate_due_keys(state.store.as_ref(), &state.config, every, now).await;
        }
        let records = match state.store.list_keys().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read signing keys; keeping the current ones");
                continue;
            }
        };
        if !state.keys().stale(&records, now) {
            continue;
        }
        match KeyRing::from_records(&records, now) {
            Ok(ring) => {
                METRICS.signing_keys.reset();
                for r in &records {
                    let st = key_state(r, &ring, now);
                    METRICS.signing_keys.with_label_values(&[r.alg.as_str(), st]).inc();
                }
                tracing::info!(active = ?ring.active_kids(), published = ring.kids().len(), "signing keys reloaded");
                if let Ok(mut k) = state.keys.write() {
                    *k = std::sync::Arc::new(ring);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot parse stored signing keys; keeping the current ones"),
        }
    }
}

/// Delivers due back-channel logout notifications from the outbox every
/// [`Backchannel::poll_interval`](crate::logout::Backchannel::poll_interval). Every
/// instance runs it; claims keep two instances from delivering one notification at once.
pub async fn outbox_loop(state: web::Data<AppState>) {
    let mut tick = ticker(state.backchannel.poll_interval());
    loop {
        tick.tick().await;
        let keys = state.keys();
        if let Err(e) = state.backchannel.drain(&keys, state.clock.now()).await {
            tracing::warn!(error = %e, "cannot read the back-channel logout outbox; will retry");
        }
    }
}

/// A tick every `period` that, after a slow round, waits a whole period again rather than
/// catching up with a burst.
fn ticker(period: std::time::Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}
