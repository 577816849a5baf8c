-- Issue 20: introspection and userinfo ask whether a JWT access token was revoked (those tokens
-- are not stored, what revokes them is: migration 0014). Servers cache "not revoked" answers and
-- drop them all when anything that can revoke one happens, whichever process does it (the CLI,
-- another instance): LISTEN gatehouse_revocations. Deleting records (expired revocations)
-- un-revokes nothing still valid, so is not announced. One notification per statement; PostgreSQL
-- folds the identical ones of a transaction into one.
CREATE FUNCTION gatehouse_revocation_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gatehouse_revocations', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER revoked_access_changed AFTER INSERT ON revoked_access
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_revocation_changed();
CREATE TRIGGER revoked_grants_changed AFTER INSERT OR UPDATE ON revoked_grants
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_revocation_changed();
CREATE TRIGGER revoked_subjects_changed AFTER INSERT OR UPDATE ON revoked_subjects
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_revocation_changed();
-- JWT access tokens stored before migration 0014 are revoked in `access_tokens`.
CREATE TRIGGER access_tokens_revoked AFTER UPDATE OF revoked_at ON access_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_revocation_changed();
-- A token of a deleted user or client is inactive.
CREATE TRIGGER users_deleted_revoke AFTER DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_revocation_changed();
CREATE TRIGGER clients_deleted_revoke AFTER DELETE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_revocation_changed();
