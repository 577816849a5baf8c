-- Issue 17: device authorizations (RFC 8628). Stored by the SHA-256 of the device code; found by
-- the user code while pending; polled in one statement that enforces the interval (slow_down).
CREATE TABLE device_codes (
    hash           BLOB PRIMARY KEY,
    user_code      TEXT NOT NULL UNIQUE,
    client_id      TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    scope          TEXT NOT NULL,
    resources      TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    interval_secs  INTEGER NOT NULL,
    last_poll_at   INTEGER,
    too_fast       INTEGER NOT NULL DEFAULT 0,
    status         TEXT NOT NULL,
    subject        TEXT,
    auth_time      INTEGER,
    requested_from TEXT
);
CREATE INDEX device_codes_expires ON device_codes (expires_at);

-- Wrong user codes per client address, in fixed windows, shared by every instance.
CREATE TABLE device_guesses (
    address      TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    failures     INTEGER NOT NULL
);
