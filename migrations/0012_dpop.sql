-- Issue 16: DPoP (RFC 9449). Tokens bound to a key carry its RFC 7638 thumbprint; clients may
-- require that their access tokens are bound.
ALTER TABLE access_tokens ADD COLUMN dpop_jkt TEXT;
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT FALSE;
