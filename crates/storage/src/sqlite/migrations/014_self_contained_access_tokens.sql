-- Issue 20: JWT access tokens are no longer stored at issuance. What revokes one is recorded
-- where it happens instead, and introspection and userinfo consult these records.
-- A JWT revoked by its `jti` (RFC 7009), kept until the token would have expired.
CREATE TABLE revoked_access (
    hash       BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX revoked_access_expiry ON revoked_access (expires_at);
-- Every token of a user issued up to this moment (milliseconds) is revoked: the account was
-- locked, its password changed, or the operator ended its sessions.
CREATE TABLE revoked_subjects (
    subject       TEXT PRIMARY KEY,
    revoked_at_ms INTEGER NOT NULL
);
