-- Issue 15: clients whose keys are fetched from their jwks_uri, that sign their request objects,
-- and that push their authorization requests (PAR, RFC 9126).
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
ALTER TABLE clients ADD COLUMN request_object_signing_alg TEXT;
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN require_signed_request_object INTEGER NOT NULL DEFAULT 0;

-- The last fetch of each client's jwks_uri, for `gatehouse client show`: when, which keys it gave,
-- and why it failed if it did.
CREATE TABLE jwks_fetches (
    client_id  TEXT PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
    uri        TEXT NOT NULL,
    fetched_at INTEGER NOT NULL,
    key_ids    TEXT NOT NULL,
    error      TEXT
);

-- Pushed authorization requests, by the SHA-256 of their request_uri, until they expire. Single
-- use is enforced when a code is issued, through seen_values.
CREATE TABLE pushed_requests (
    hash       BLOB PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    params     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX pushed_requests_expires ON pushed_requests (expires_at);
