-- Issue 18: clients that register themselves (RFC 7591/7592) or are described by a Client ID
-- Metadata Document. `origin` says which: operator, registration or metadata_document.
ALTER TABLE clients ADD COLUMN origin TEXT NOT NULL DEFAULT 'operator';
ALTER TABLE clients ADD COLUMN registration_token_hash BLOB;
ALTER TABLE clients ADD COLUMN registration_policy TEXT;
-- Self-asserted display members (logo_uri, client_uri, policy_uri, tos_uri, contacts), as JSON.
ALTER TABLE clients ADD COLUMN about TEXT NOT NULL DEFAULT '{}';
ALTER TABLE clients ADD COLUMN userinfo_signed_response_alg TEXT;
ALTER TABLE clients ADD COLUMN default_max_age INTEGER;
ALTER TABLE clients ADD COLUMN require_auth_time INTEGER NOT NULL DEFAULT 0;
-- When the client secret was last set (creation or rotation), for gatehouse doctor.
ALTER TABLE clients ADD COLUMN secret_set_at INTEGER;
-- Set for self-registered clients only, at most once an hour, for the idle-client cleanup.
ALTER TABLE clients ADD COLUMN last_used_at INTEGER;
CREATE INDEX clients_idle ON clients (origin, last_used_at);

-- Initial access tokens (RFC 7591 §3): by hash, with the registration policy they grant, until
-- they expire or their uses run out (NULL: unlimited).
CREATE TABLE initial_access_tokens (
    hash       BLOB PRIMARY KEY,
    policy     TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    uses_left  INTEGER,
    created_at INTEGER NOT NULL
);
