//! The scope registry.

use super::Sql;

/// `(name, description, builtin)`.
pub(crate) static INSERT: Sql = Sql::new("INSERT INTO scopes (name, description, builtin) VALUES (?1, ?2, ?3)");
pub(crate) static LIST: Sql = Sql::new("SELECT name, description, builtin FROM scopes ORDER BY name");
pub(crate) static DELETE: Sql = Sql::new("DELETE FROM scopes WHERE name = ?1 AND builtin = FALSE");
