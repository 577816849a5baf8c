//! Browser sessions and pending interactions.

use super::{Sql, Value, insert, interaction_cols, select, session_cols, values};
use crate::codec::to_json;
use crate::model::{BrowserSession, Interaction};
use crate::traits::StoreResult;

pub(crate) static INSERT_SESSION: Sql = insert!("browser_sessions", session_cols);
/// `(token_hash, now)`.
pub(crate) static FIND_SESSION: Sql = select!(
    session_cols,
    " FROM browser_sessions WHERE token_hash = ?1 AND expires_at > ?2"
);
pub(crate) static DELETE_SESSION: Sql = Sql::new("DELETE FROM browser_sessions WHERE token_hash = ?1");

pub(crate) static INSERT_INTERACTION: Sql = insert!("interactions", interaction_cols);
/// `(id, now)`.
pub(crate) static FIND_INTERACTION: Sql =
    select!(interaction_cols, " FROM interactions WHERE id = ?1 AND expires_at > ?2");
/// `(id, now)`: one statement, so exactly one caller gets the interaction.
pub(crate) static TAKE_INTERACTION: Sql = Sql::new(concat!(
    "DELETE FROM interactions WHERE id = ?1 AND expires_at > ?2 RETURNING ",
    interaction_cols!()
));
pub(crate) static SET_CSRF: Sql = Sql::new("UPDATE interactions SET csrf_hash = ?2 WHERE id = ?1");
pub(crate) static SET_LOGIN: Sql = Sql::new("UPDATE interactions SET login = ?2 WHERE id = ?1");

/// The columns of a session, in [`session_cols!`] order.
pub(crate) fn session_params(s: &BrowserSession) -> [Value<'_>; 5] {
    values![&s.token_hash, &s.sid, &s.user_id, s.auth_time, s.expires_at]
}

/// The columns of an interaction, in [`interaction_cols!`] order.
pub(crate) fn interaction_params(i: &Interaction) -> StoreResult<[Value<'_>; 6]> {
    Ok(values![
        &i.id,
        &i.csrf_hash,
        &i.browser_hash,
        to_json(&i.request)?,
        i.login.as_ref().map(to_json).transpose()?,
        i.expires_at,
    ])
}
