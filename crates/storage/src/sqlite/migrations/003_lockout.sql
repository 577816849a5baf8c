-- Failed-login counters and account lockout, shared by every instance.
CREATE TABLE login_failures (
    username     TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    locked_until INTEGER
);
CREATE INDEX login_failures_window ON login_failures (window_start);
