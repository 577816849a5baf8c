-- Issue 12: resource servers are explicitly permitted to introspect other clients' tokens (RFC 7662 §4).
ALTER TABLE clients ADD COLUMN introspect INTEGER NOT NULL DEFAULT 0;
