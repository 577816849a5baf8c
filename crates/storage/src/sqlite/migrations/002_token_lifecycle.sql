-- Token lifecycle: JWT access tokens, resource indicators (audiences), refresh-family lifetimes,
-- the reuse grace period, and server secrets.
ALTER TABLE clients ADD COLUMN access_token_format TEXT NOT NULL DEFAULT 'opaque';
ALTER TABLE clients ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';   -- JSON array of URIs

ALTER TABLE access_tokens ADD COLUMN audience TEXT NOT NULL DEFAULT '[]'; -- JSON array
ALTER TABLE access_tokens ADD COLUMN format TEXT NOT NULL DEFAULT 'opaque';
CREATE INDEX access_tokens_revoked ON access_tokens (revoked_at);

ALTER TABLE refresh_tokens ADD COLUMN audience TEXT NOT NULL DEFAULT '[]';
ALTER TABLE refresh_tokens ADD COLUMN family_expires_at INTEGER NOT NULL DEFAULT 9223372036854775807;
ALTER TABLE refresh_tokens ADD COLUMN rotated_to BLOB;
CREATE INDEX refresh_tokens_revoked ON refresh_tokens (revoked_at);
CREATE INDEX refresh_tokens_family_expires ON refresh_tokens (family_expires_at);

CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
