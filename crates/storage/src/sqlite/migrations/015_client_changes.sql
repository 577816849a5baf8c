-- Issue 20: the server keeps client records in memory (every token, introspection and revocation
-- request authenticates a client). This count goes up with every change to `clients`, whichever
-- process makes it (the CLI, another server on the same file); a server reads it first on each
-- lookup and drops what it has cached when it moved. PostgreSQL does the same with LISTEN/NOTIFY.
CREATE TABLE client_changes (n INTEGER NOT NULL);
INSERT INTO client_changes (n) VALUES (0);
CREATE TRIGGER clients_inserted AFTER INSERT ON clients BEGIN UPDATE client_changes SET n = n + 1; END;
CREATE TRIGGER clients_updated AFTER UPDATE ON clients BEGIN UPDATE client_changes SET n = n + 1; END;
CREATE TRIGGER clients_deleted AFTER DELETE ON clients BEGIN UPDATE client_changes SET n = n + 1; END;
