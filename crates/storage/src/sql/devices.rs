//! Device authorizations (RFC 8628): stored by the hash of the device code, found by the user
//! code, decided by the user, and polled by the device.

use super::{Sql, Value, values};
use crate::codec::to_json;
use crate::model::{DeviceDecision, DeviceRecord, DeviceState};
use crate::traits::StoreResult;
use gatehouse_protocol::types::UnixTime;

macro_rules! device_cols {
    () => {
        "hash, user_code, client_id, scope, resources, created_at, expires_at, interval_secs, status, subject, auth_time, requested_from"
    };
}

/// Parameters: [`params`].
pub(crate) static INSERT: Sql = Sql::new(concat!(
    "INSERT INTO device_codes (",
    device_cols!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
));
/// `(user_code, now)`: a live authorization nobody has decided yet.
pub(crate) static FIND_PENDING: Sql = Sql::new(concat!(
    "SELECT ",
    device_cols!(),
    " FROM device_codes WHERE user_code = ?1 AND status = 'pending' AND expires_at > ?2"
));
/// `(user_code, now, status, subject, auth_time)`: the user's decision, once.
pub(crate) static DECIDE: Sql = Sql::new(
    "UPDATE device_codes SET status = ?3, subject = ?4, auth_time = ?5
     WHERE user_code = ?1 AND status = 'pending' AND expires_at > ?2",
);
/// `(hash, now, client_id)`: one poll, in one statement so that instances agree (RFC 8628 §3.5).
/// Every SET expression reads the row as it was: a poll sooner than the interval after the
/// previous one is `too_fast` and adds 5 seconds to the interval for good; an approved, live
/// authorization becomes `redeemed` (exactly one poll gets it). A redeemed one is never found
/// again, nor another client's.
pub(crate) static POLL: Sql = Sql::new(
    "UPDATE device_codes SET
        too_fast = CASE WHEN last_poll_at IS NOT NULL AND ?2 - last_poll_at < interval_secs THEN 1 ELSE 0 END,
        interval_secs = CASE WHEN last_poll_at IS NOT NULL AND ?2 - last_poll_at < interval_secs
                             THEN interval_secs + 5 ELSE interval_secs END,
        last_poll_at = ?2,
        status = CASE WHEN status = 'approved' AND expires_at > ?2 THEN 'redeemed' ELSE status END
     WHERE hash = ?1 AND client_id = ?3 AND status <> 'redeemed'
     RETURNING status, too_fast, interval_secs, expires_at, subject, auth_time, scope, resources",
);
/// `(now)`: live authorizations nobody has decided yet, oldest first.
pub(crate) static LIST_PENDING: Sql = Sql::new(concat!(
    "SELECT ",
    device_cols!(),
    " FROM device_codes WHERE status = 'pending' AND expires_at > ?1 ORDER BY created_at"
));

/// `(address, now, window_seconds)`: counts a wrong user code from an address, starting a new
/// window when the last one is over; returns `window_start, failures`.
pub(crate) static COUNT_GUESS: Sql = Sql::new(
    "INSERT INTO device_guesses (address, window_start, failures) VALUES (?1, CAST(?2 AS BIGINT), 1)
     ON CONFLICT (address) DO UPDATE SET
       window_start = CASE WHEN device_guesses.window_start <= CAST(?2 AS BIGINT) - CAST(?3 AS BIGINT)
                           THEN CAST(?2 AS BIGINT) ELSE device_guesses.window_start END,
       failures = CASE WHEN device_guesses.window_start <= CAST(?2 AS BIGINT) - CAST(?3 AS BIGINT)
                       THEN 1 ELSE device_guesses.failures + 1 END
     RETURNING window_start, failures",
);
/// `(address)`: `window_start, failures`.
pub(crate) static GUESSES: Sql = Sql::new("SELECT window_start, failures FROM device_guesses WHERE address = ?1");

/// The parameters of [`DECIDE`].
pub(crate) fn decide_params<'a>(user_code: &'a str, decision: &'a DeviceDecision, now: UnixTime) -> [Value<'a>; 5] {
    match decision {
        DeviceDecision::Approve { subject, auth_time } => {
            values![
                user_code,
                now,
                DeviceState::Approved.as_str(),
                subject.as_str(),
                Some(*auth_time)
            ]
        }
        DeviceDecision::Deny => values![
            user_code,
            now,
            DeviceState::Denied.as_str(),
            None::<&str>,
            None::<UnixTime>
        ],
    }
}

/// The columns of a device authorization, in [`device_cols!`] order.
pub(crate) fn params(d: &DeviceRecord) -> StoreResult<[Value<'_>; 12]> {
    Ok(values![
        &d.hash,
        d.user_code.as_str(),
        d.client_id.as_str(),
        d.scope.to_param(),
        to_json(&d.resources)?,
        d.created_at,
        d.expires_at,
        d.interval,
        d.state.as_str(),
        &d.subject,
        d.auth_time,
        &d.requested_from,
    ])
}
