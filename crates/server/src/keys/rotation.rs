//! The key-rotation policy, shared by the CLI (`gatehouse keys rotate|retire`) and the scheduled
//! rotation of the key loop ([`crate::background`]).

use super::{KeyRing, SigningKey};
use crate::clock::system_now;
use crate::config::Config;
use gatehouse_protocol::types::{SigningAlg, UnixTime};
use gatehouse_storage::{SigningKeyRecord, Store};

/// `active`, `pending`, `published` (replaced, still verifying) or `retired`, as of `now`.
#[must_use]
pub fn key_state(r: &SigningKeyRecord, ring: &KeyRing, now: UnixTime) -> &'static str {
    if r.retires_at.is_some_and(|t| t <= now) {
        "retired"
    } else if ring.signer(r.alg).is_some_and(|k| k.kid() == r.kid) {
        "active"
    } else if r.activates_at > now {
        "pending"
    } else {
        "published"
    }
}

/// Rotates every algorithm whose newest key is older than `every` at `now`
/// (`GATEHOUSE_KEY_ROTATION_INTERVAL`). Instances race safely: a rotation names the newest key it
/// saw, and only one succeeds.
pub async fn rotate_due_keys(store: &dyn Store, config: &Config, every: std::time::Duration, now: UnixTime) {
    let Ok(records) = store.list_keys().await else {
        return;
    };
    for alg in SigningAlg::ALL {
        let newest = records
            .iter()
            .filter(|r| r.alg == *alg)
            .max_by_key(|r| (r.created_at, r.kid.clone()));
        if let Some(n) = newest.filter(|n| n.created_at.plus(every.as_secs()) <= now) {
            match rotate_at(store, config, *alg, Some(&n.kid), now).await {
                Ok(Some(kid)) => {
                    tracing::info!(target: "gatehouse::audit", event = "key.rotated", alg = %alg, kid = %kid, actor = "schedule")
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "automatic key rotation failed"),
            }
        }
    }
}

/// Creates a new key for `alg` that signs at once (an emergency replacement, `keys retire --now`);
/// the current keys of `alg` retire on the usual schedule. Returns the new kid.
///
/// # Errors
/// Key generation or store failures.
pub async fn rotate_now(store: &dyn Store, config: &Config, alg: SigningAlg) -> anyhow::Result<String> {
    let now = system_now();
    let key = generate(alg, now).await?;
    let retire = now.plus(config.longest_signed_token().as_secs());
    let kid = key.kid.clone();
    store.rotate_key(&key, None, retire).await?;
    Ok(kid)
}

/// Creates a new key for `alg`, published now and signing after `GATEHOUSE_KEY_PUBLISH_DELAY`; the
/// current keys of `alg` retire once every token they may still sign has expired. Returns the new
/// kid, or `None` when `expected_newest` was no longer the newest key (another instance rotated).
///
/// # Errors
/// Key generation or store failures.
pub async fn rotate(
    store: &dyn Store,
    config: &Config,
    alg: SigningAlg,
    expected_newest: Option<&str>,
) -> anyhow::Result<Option<String>> {
    rotate_at(store, config, alg, expected_newest, system_now()).await
}

/// [`rotate`] as of `now`.
async fn rotate_at(
    store: &dyn Store,
    config: &Config,
    alg: SigningAlg,
    expected_newest: Option<&str>,
    now: UnixTime,
) -> anyhow::Result<Option<String>> {
    let mut key = generate(alg, now).await?;
    key.activates_at = now.plus(config.key_publish_delay.as_secs());
    let retire = key.activates_at.plus(config.longest_signed_token().as_secs());
    let kid = key.kid.clone();
    Ok(store.rotate_key(&key, expected_newest, retire).await?.then_some(kid))
}

/// Generates a key off the async threads (RSA generation takes a while).
async fn generate(alg: SigningAlg, now: UnixTime) -> anyhow::Result<SigningKeyRecord> {
    tokio::task::spawn_blocking(move || SigningKey::generate(alg, now))
        .await?
        .map_err(anyhow::Error::msg)
}
