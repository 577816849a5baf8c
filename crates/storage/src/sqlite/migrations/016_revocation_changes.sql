-- Issue 20: introspection and userinfo ask whether a JWT access token was revoked (those tokens
-- are not stored, what revokes them is: migration 014). The server caches "not revoked"; this
-- count goes up with everything that can revoke one, whichever process does it (the CLI, another
-- server on the same file), and a server reads it before each check and drops its answers when it
-- moved. Deleting records (expired revocations) un-revokes nothing still valid, so is not counted.
-- PostgreSQL does the same with LISTEN/NOTIFY (migration 0015).
CREATE TABLE revocation_changes (n INTEGER NOT NULL);
INSERT INTO revocation_changes (n) VALUES (0);
CREATE TRIGGER revoked_access_inserted AFTER INSERT ON revoked_access
    BEGIN UPDATE revocation_changes SET n = n + 1; END;
CREATE TRIGGER revoked_grants_inserted AFTER INSERT ON revoked_grants
    BEGIN UPDATE revocation_changes SET n = n + 1; END;
CREATE TRIGGER revoked_grants_updated AFTER UPDATE ON revoked_grants
    BEGIN UPDATE revocation_changes SET n = n + 1; END;
CREATE TRIGGER revoked_subjects_inserted AFTER INSERT ON revoked_subjects
    BEGIN UPDATE revocation_changes SET n = n + 1; END;
CREATE TRIGGER revoked_subjects_updated AFTER UPDATE ON revoked_subjects
    BEGIN UPDATE revocation_changes SET n = n + 1; END;
-- JWT access tokens stored before migration 014 are revoked in `access_tokens`.
CREATE TRIGGER access_tokens_revoked AFTER UPDATE OF revoked_at ON access_tokens
    WHEN NEW.revoked_at IS NOT NULL
    BEGIN UPDATE revocation_changes SET n = n + 1; END;
-- A token of a deleted user or client is inactive.
CREATE TRIGGER users_deleted_revoke AFTER DELETE ON users
    BEGIN UPDATE revocation_changes SET n = n + 1; END;
CREATE TRIGGER clients_deleted_revoke AFTER DELETE ON clients
    BEGIN UPDATE revocation_changes SET n = n + 1; END;
