-- Issue 15: clients that authenticate with a key pair (private_key_jwt): their public keys (a JWKS,
-- validated when registered) and the one algorithm they sign assertions with, if they registered one.
ALTER TABLE clients ADD COLUMN jwks TEXT;
ALTER TABLE clients ADD COLUMN token_endpoint_auth_signing_alg TEXT;
-- Accept only the issuer identifier as a client assertion's aud (no legacy endpoint URL or array).
ALTER TABLE clients ADD COLUMN strict_assertion_audience INTEGER NOT NULL DEFAULT 0;
