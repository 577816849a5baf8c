-- Issue 18: clients that register themselves (RFC 7591/7592) or are described by a Client ID
-- Metadata Document. `origin` says which: operator, registration or metadata_document.
ALTER TABLE clients ADD COLUMN origin TEXT NOT NULL DEFAULT 'operator';
ALTER TABLE clients ADD COLUMN registration_token_hash BYTEA;
ALTER TABLE clients ADD COLUMN registration_policy TEXT;
-- Self-asserted display members (logo_uri, client_uri, policy_uri, tos_uri, contacts), as JSON.
ALTER TABLE clients ADD COLUMN about TEXT NOT NULL DEFAULT '{}';
ALTER TABLE clients ADD COLUMN userinfo_signed_response_alg TEXT;
ALTER TABLE clients ADD COLUMN default_max_age BIGINT;
ALTER TABLE clients ADD COLUMN require_auth_time BOOLEAN NOT NULL DEFAULT FALSE;
-- When the client secret was last set (creation or rotation), for gatehouse doctor.
ALTER TABLE clients ADD COLUMN secret_set_at BIGINT;
-- Set for self-registered clients only, at most once an hour, for the idle-client cleanup.
ALTER TABLE clients ADD COLUMN last_used_at BIGINT;
CREATE INDEX clients_idle ON clients (origin, last_used_at);

-- Initial access tokens (RFC 7591 §3): by hash, with the registration policy they grant, until
-- they expire or their uses run out (NULL: unlimited).
CREATE TABLE initial_access_tokens (
    hash       BYTEA PRIMARY KEY,
    policy     TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    uses_left  BIGINT,
    created_at BIGINT NOT NULL
);
