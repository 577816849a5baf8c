-- Fewer index entries per access token: the indexes used only for revocation by grant, deletion
-- by user and cleanup of revoked rows become partial, so client-credentials tokens (no grant, no
-- subject) and live tokens add no entry to them.
DROP INDEX access_tokens_grant;
DROP INDEX access_tokens_subject;
DROP INDEX access_tokens_revoked;
CREATE INDEX access_tokens_grant ON access_tokens (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX access_tokens_subject ON access_tokens (subject) WHERE subject IS NOT NULL;
CREATE INDEX access_tokens_revoked ON access_tokens (revoked_at) WHERE revoked_at IS NOT NULL;

-- Client changes are announced, so servers can cache client records and drop an entry the moment
-- the CLI or another instance changes or deletes it (LISTEN gatehouse_clients).
CREATE FUNCTION gatehouse_client_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gatehouse_clients', CASE TG_OP WHEN 'DELETE' THEN OLD.id ELSE NEW.id END);
    RETURN NULL;
END
$$;
CREATE TRIGGER clients_changed AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION gatehouse_client_changed();
