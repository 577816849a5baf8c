-- Issue 15: values that may be used once (client assertion jti, later DPoP proof jti), keyed by
-- the SHA-256 of the purpose and the value's hash, kept until they could no longer be accepted
-- anyway. "Seen" is one statement, so two instances can never both accept one value.
CREATE TABLE seen_values (
    id         BYTEA PRIMARY KEY,
    purpose    TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX seen_values_expires ON seen_values (expires_at);
