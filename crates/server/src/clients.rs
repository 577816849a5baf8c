//! The one way request handlers find a client: a registered one from the store, or, when
//! `GATEHOUSE_CLIENT_ID_METADATA=on`, one whose `client_id` is the https URL of its metadata
//! document ([`crate::documents`]). Self-registered clients' uses are recorded here, at most once
//! an hour, for the idle-client cleanup.

use crate::http::error::{PageError, store_error};
use crate::state::AppState;
use gatehouse_protocol::Error;
use gatehouse_protocol::types::{ClientId, UnixTime};
use gatehouse_storage::{ClientOrigin, ClientRecord};

/// A use of a self-registered client is recorded when the last recorded one is this old.
const TOUCH_EVERY: i64 = 3600;

/// The client called `id`, if there is one.
///
/// # Errors
/// `invalid_client` naming the cause when a metadata document cannot be fetched or is invalid;
/// store errors.
pub async fn find(state: &AppState, id: &ClientId) -> Result<Option<ClientRecord>, Error> {
    let now = state.clock.now();
    let documents = state.config.registration.metadata_documents;
    let found = if documents && crate::documents::names_document(id.as_str()) {
        Some(state.documents.resolve(id, now).await?)
    } else {
        state.store.find_client(id).await.map_err(store_error)?
    };
    // A document client stays in the store when documents are switched off, unusable.
    let found = found.filter(|c| documents || c.origin != ClientOrigin::MetadataDocument);
    if let Some(c) = &found {
        touch(state, c, now);
    }
    Ok(found)
}

/// [`find`] for the page handlers: a store failure is a 503 page, anything else is shown.
///
/// # Errors
/// See [`find`].
pub async fn find_for_page(state: &AppState, id: &ClientId) -> Result<Option<ClientRecord>, PageError> {
    find(state, id).await.map_err(|e| match e {
        Error::TemporarilyUnavailable(_) | Error::Server(_) => PageError::Unavailable(e),
        other => PageError::InvalidRequest(other),
    })
}

/// Records a use of a self-registered client, off the request's path.
fn touch(state: &AppState, c: &ClientRecord, now: UnixTime) {
    let stale = c.last_used_at.is_none_or(|t| now.0 - t.0 >= TOUCH_EVERY);
    if !c.origin.is_dynamic() || !stale {
        return;
    }
    let store = std::sync::Arc::clone(&state.store);
    let id = c.id.clone();
    tokio::spawn(async move {
        if let Err(e) = store.touch_client(&id, now, UnixTime(now.0 - TOUCH_EVERY)).await {
            tracing::warn!(client_id = %id, error = %e, "could not record the client's use");
        }
    });
}
