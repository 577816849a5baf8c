//! A statement parameter either driver can bind, so each parameter list is written once.
//!
//! Integers are always 64-bit: every integer parameter meets a `BIGINT` column, or a
//! `CAST(? AS BIGINT)` where PostgreSQL could not infer its type.

use gatehouse_protocol::types::{TokenHash, UnixTime};
use std::borrow::Cow;
use tokio_postgres::types::ToSql as PgToSql;

/// One parameter.
#[derive(Debug, Clone)]
pub(crate) enum Value<'a> {
    Int(i64),
    OptInt(Option<i64>),
    Bool(bool),
    Text(Cow<'a, str>),
    OptText(Option<Cow<'a, str>>),
    Bytes(&'a [u8]),
    OptBytes(Option<&'a [u8]>),
}

impl Value<'_> {
    /// The parameter for tokio-postgres.
    pub(crate) fn pg(&self) -> &(dyn PgToSql + Sync) {
        match self {
            Value::Int(v) => v,
            Value::OptInt(v) => v,
            Value::Bool(v) => v,
            Value::Text(v) => v,
            Value::OptText(v) => v,
            Value::Bytes(v) => v,
            Value::OptBytes(v) => v,
        }
    }
}

/// A parameter tokio-postgres binds as what it holds, so a column of them can be bound as an
/// array (`postgres/inserts.rs`); the holder's own type check applies.
impl PgToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.pg().to_sql_checked(ty, out)
    }

    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Int(v) | Value::OptInt(Some(v)) => ValueRef::Integer(*v),
            Value::Bool(v) => ValueRef::Integer(i64::from(*v)),
            Value::Text(v) | Value::OptText(Some(v)) => ValueRef::Text(v.as_bytes()),
            Value::Bytes(v) | Value::OptBytes(Some(v)) => ValueRef::Blob(v),
            Value::OptInt(None) | Value::OptText(None) | Value::OptBytes(None) => ValueRef::Null,
        }))
    }
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<Option<u64>> for Value<'_> {
    fn from(v: Option<u64>) -> Self {
        Value::OptInt(v.map(|n| i64::try_from(n).unwrap_or(i64::MAX)))
    }
}

impl From<u32> for Value<'_> {
    fn from(v: u32) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<UnixTime> for Value<'_> {
    fn from(v: UnixTime) -> Self {
        Value::Int(v.0)
    }
}

impl From<Option<UnixTime>> for Value<'_> {
    fn from(v: Option<UnixTime>) -> Self {
        Value::OptInt(v.map(|t| t.0))
    }
}

impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(Cow::Borrowed(v))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(Cow::Borrowed(v))
    }
}

impl From<String> for Value<'_> {
    fn from(v: String) -> Self {
        Value::Text(Cow::Owned(v))
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Value::OptText(v.map(Cow::Borrowed))
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Value::OptText(v.as_deref().map(Cow::Borrowed))
    }
}

impl From<Option<String>> for Value<'_> {
    fn from(v: Option<String>) -> Self {
        Value::OptText(v.map(Cow::Owned))
    }
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(v: &'a [u8]) -> Self {
        Value::Bytes(v)
    }
}

impl<'a> From<&'a Vec<u8>> for Value<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}

impl<'a> From<&'a TokenHash> for Value<'a> {
    fn from(v: &'a TokenHash) -> Self {
        Value::Bytes(v.as_bytes())
    }
}

impl<'a> From<Option<&'a TokenHash>> for Value<'a> {
    fn from(v: Option<&'a TokenHash>) -> Self {
        Value::OptBytes(v.map(|h| h.as_bytes().as_slice()))
    }
}
