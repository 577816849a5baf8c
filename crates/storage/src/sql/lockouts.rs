//! Login attempts and account lockout.

use super::Sql;

pub(crate) static LOCKED_UNTIL: Sql = Sql::new("SELECT locked_until FROM login_failures WHERE username = ?1");

/// `(username, now, window, threshold, token)`. One statement (see [`crate::Lockouts`]): SQLite
/// evaluates every SET expression on the old row, and on PostgreSQL the row lock of ON CONFLICT
/// serialises concurrent attempts.
pub(crate) static RESERVE: Sql = Sql::new(
    "INSERT INTO login_failures (username, failures, window_start, locked_until, pending, last_attempt)
     VALUES (?1, 0, CAST(?2 AS BIGINT), NULL, 1, ?5)
     ON CONFLICT (username) DO UPDATE SET
       failures = CASE
         WHEN login_failures.locked_until > CAST(?2 AS BIGINT) THEN login_failures.failures
         WHEN login_failures.window_start + CAST(?3 AS BIGINT) <= CAST(?2 AS BIGINT) THEN 0
         ELSE login_failures.failures END,
       pending = CASE
         WHEN login_failures.locked_until > CAST(?2 AS BIGINT) THEN login_failures.pending
         WHEN login_failures.window_start + CAST(?3 AS BIGINT) <= CAST(?2 AS BIGINT) THEN 1
         WHEN login_failures.failures + login_failures.pending >= CAST(?4 AS BIGINT) THEN login_failures.pending
         ELSE login_failures.pending + 1 END,
       last_attempt = CASE
         WHEN login_failures.locked_until > CAST(?2 AS BIGINT) THEN login_failures.last_attempt
         WHEN login_failures.window_start + CAST(?3 AS BIGINT) <= CAST(?2 AS BIGINT) THEN ?5
         WHEN login_failures.failures + login_failures.pending >= CAST(?4 AS BIGINT) THEN login_failures.last_attempt
         ELSE ?5 END,
       window_start = CASE
         WHEN login_failures.locked_until > CAST(?2 AS BIGINT) THEN login_failures.window_start
         WHEN login_failures.window_start + CAST(?3 AS BIGINT) <= CAST(?2 AS BIGINT) THEN CAST(?2 AS BIGINT)
         ELSE login_failures.window_start END,
       locked_until = CASE
         WHEN login_failures.locked_until > CAST(?2 AS BIGINT) THEN login_failures.locked_until
         ELSE NULL END
     RETURNING last_attempt, locked_until",
);

/// `(username, now, window, threshold)`: the `threshold`-th failure of the window locks the account.
pub(crate) static RECORD_FAILURE: Sql = Sql::new(
    "INSERT INTO login_failures (username, failures, window_start, locked_until, pending)
     VALUES (?1, 1, CAST(?2 AS BIGINT),
             CASE WHEN CAST(?4 AS BIGINT) <= 1 THEN CAST(?2 AS BIGINT) + CAST(?3 AS BIGINT) END, 0)
     ON CONFLICT (username) DO UPDATE SET
       pending = CASE WHEN login_failures.pending > 0 THEN login_failures.pending - 1 ELSE 0 END,
       failures = login_failures.failures + 1,
       locked_until = CASE
         WHEN login_failures.locked_until > CAST(?2 AS BIGINT) THEN login_failures.locked_until
         WHEN login_failures.failures + 1 >= CAST(?4 AS BIGINT) THEN CAST(?2 AS BIGINT) + CAST(?3 AS BIGINT)
         ELSE login_failures.locked_until END
     RETURNING locked_until",
);

/// `(username, now)`.
pub(crate) static RELEASE: Sql = Sql::new(
    "UPDATE login_failures SET
       pending = CASE WHEN pending > 0 THEN pending - 1 ELSE 0 END,
       failures = CASE WHEN locked_until > CAST(?2 AS BIGINT) THEN failures ELSE 0 END
     WHERE username = ?1",
);
pub(crate) static CLEAR: Sql = Sql::new("DELETE FROM login_failures WHERE username = ?1");
