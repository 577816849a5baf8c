-- Issue 14: logout. Clients register where users go after signing out and where back-channel
-- logout tokens are posted.
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;

-- Which clients received a code in each browser session, so any instance can notify them when the
-- session ends. Rows go with the session (logout) or, for a session that expired, with cleanup.
CREATE TABLE session_clients (
    sid       TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    first_at  BIGINT NOT NULL,
    last_at   BIGINT NOT NULL,
    PRIMARY KEY (sid, client_id)
);

-- Back-channel logout notifications, written in the transaction that ends the session: a
-- notification that cannot be delivered at once waits here and any instance retries it. `id` is
-- sid and client_id; `next_attempt_at` doubles as a lease while a delivery is in flight.
CREATE TABLE logout_outbox (
    id              TEXT PRIMARY KEY,
    sid             TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    initiator       TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    gave_up_at      BIGINT
);
CREATE INDEX logout_outbox_due ON logout_outbox (next_attempt_at);

-- Logout revokes the refresh families of the session that ended (those without offline_access).
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
