-- Gatehouse embedded schema, version 1. Hashes are raw 32-byte SHA-256 blobs; times are Unix seconds.
CREATE TABLE clients (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_hash   BLOB,
    auth_method   TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,  -- JSON array
    grant_types   TEXT NOT NULL,  -- JSON array
    scopes        TEXT NOT NULL,  -- space-delimited
    id_token_alg  TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    email          TEXT,
    email_verified INTEGER NOT NULL DEFAULT 0,
    name           TEXT,
    password_hash  TEXT NOT NULL,
    locked         INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE scopes (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    builtin     INTEGER NOT NULL DEFAULT 0
);
INSERT INTO scopes (name, description, builtin) VALUES
    ('openid', 'Sign you in', 1),
    ('profile', 'See your name and username', 1),
    ('email', 'See your email address', 1),
    ('offline_access', 'Stay signed in when you are away', 1);

CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE browser_sessions (
    token_hash BLOB PRIMARY KEY,
    sid        TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX browser_sessions_expires ON browser_sessions (expires_at);

CREATE TABLE interactions (
    id           TEXT PRIMARY KEY,
    csrf_hash    BLOB NOT NULL,
    browser_hash BLOB NOT NULL,
    request      TEXT NOT NULL,   -- JSON AuthorizationRequest
    login        TEXT,            -- JSON InteractionLogin
    expires_at   INTEGER NOT NULL
);
CREATE INDEX interactions_expires ON interactions (expires_at);

CREATE TABLE codes (
    hash        BLOB PRIMARY KEY,
    grant_id    TEXT NOT NULL,
    client_id   TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    grant_data  TEXT NOT NULL,    -- JSON CodeGrant
    expires_at  INTEGER NOT NULL,
    consumed_at INTEGER
);
CREATE INDEX codes_expires ON codes (expires_at);

CREATE TABLE access_tokens (
    hash       BLOB PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    grant_id   TEXT,
    subject    TEXT,
    scope      TEXT NOT NULL,
    claims     TEXT NOT NULL,     -- JSON ClaimsRequest
    auth_time  INTEGER,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX access_tokens_grant ON access_tokens (grant_id);
CREATE INDEX access_tokens_subject ON access_tokens (subject);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);

CREATE TABLE refresh_tokens (
    hash       BLOB PRIMARY KEY,
    family_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    subject    TEXT NOT NULL,
    scope      TEXT NOT NULL,
    claims     TEXT NOT NULL,
    auth_time  INTEGER NOT NULL,
    session_id TEXT,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_subject ON refresh_tokens (subject);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_der BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
-- Unlike the PostgreSQL schema, no index on client_id (consents, codes, access and refresh tokens)
-- nor on browser_sessions.user_id: each would cost every insert an index write on the single
-- writer, for rare administrative deletes that a table scan serves well enough on one node.
