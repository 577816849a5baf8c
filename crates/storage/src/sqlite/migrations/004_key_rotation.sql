-- Key rotation: a key is published at once but signs only from activates_at; a replaced key stays
-- published until retires_at, when every token it signed has expired.
ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE signing_keys ADD COLUMN retires_at INTEGER;
