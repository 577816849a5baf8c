-- Gatehouse PostgreSQL schema, version 1. Hashes are raw 32-byte SHA-256 values (BYTEA); times are
-- Unix seconds (BIGINT), as in the embedded store, so both backends share one record format.

CREATE TABLE clients (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_hash   BYTEA,
    auth_method   TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,  -- JSON array
    grant_types   TEXT NOT NULL,  -- JSON array
    scopes        TEXT NOT NULL,  -- space-delimited
    id_token_alg  TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    email          TEXT,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    name           TEXT,
    password_hash  TEXT NOT NULL,
    locked         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE scopes (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    builtin     BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO scopes (name, description, builtin) VALUES
    ('openid', 'Sign you in', TRUE),
    ('profile', 'See your name and username', TRUE),
    ('email', 'See your email address', TRUE),
    ('offline_access', 'Stay signed in when you are away', TRUE);

CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX consents_client ON consents (client_id);

CREATE TABLE browser_sessions (
    token_hash BYTEA PRIMARY KEY,
    sid        TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX browser_sessions_user ON browser_sessions (user_id);
CREATE INDEX browser_sessions_expires ON browser_sessions (expires_at);

CREATE TABLE interactions (
    id           TEXT PRIMARY KEY,
    csrf_hash    BYTEA NOT NULL,
    browser_hash BYTEA NOT NULL,
    request      TEXT NOT NULL,   -- JSON AuthorizationRequest
    login        TEXT,            -- JSON InteractionLogin
    expires_at   BIGINT NOT NULL
);
CREATE INDEX interactions_expires ON interactions (expires_at);

CREATE TABLE codes (
    hash        BYTEA PRIMARY KEY,
    grant_id    TEXT NOT NULL,
    client_id   TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    grant_data  TEXT NOT NULL,    -- JSON CodeGrant
    expires_at  BIGINT NOT NULL,
    consumed_at BIGINT
);
CREATE INDEX codes_client ON codes (client_id);
CREATE INDEX codes_expires ON codes (expires_at);

CREATE TABLE access_tokens (
    hash       BYTEA PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    grant_id   TEXT,
    subject    TEXT,
    scope      TEXT NOT NULL,
    claims     TEXT NOT NULL,     -- JSON ClaimsRequest
    auth_time  BIGINT,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX access_tokens_client ON access_tokens (client_id);
CREATE INDEX access_tokens_grant ON access_tokens (grant_id);
CREATE INDEX access_tokens_subject ON access_tokens (subject);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);

CREATE TABLE refresh_tokens (
    hash       BYTEA PRIMARY KEY,
    family_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    subject    TEXT NOT NULL,
    scope      TEXT NOT NULL,
    claims     TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    session_id TEXT,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    rotated_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_subject ON refresh_tokens (subject);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_der BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);
