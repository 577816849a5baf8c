-- Issue 12: resource servers are explicitly permitted to introspect other clients' tokens (RFC 7662 §4).
ALTER TABLE clients ADD COLUMN introspect INTEGER NOT NULL DEFAULT 0;

-- Issue 12: a revoked grant (code replay, refresh reuse, family revocation) is remembered, and every
-- token read checks it, so tokens written concurrently with the revocation are dead too.
CREATE TABLE revoked_grants (
    grant_id   TEXT PRIMARY KEY,
    revoked_at INTEGER NOT NULL
);

-- Issue 12: login attempts are reserved before the password is checked. `pending` counts attempts
-- being verified; `last_attempt` names the attempt a reservation granted (one statement tells the
-- caller whether it got the place).
ALTER TABLE login_failures ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE login_failures ADD COLUMN last_attempt TEXT;
