//! The access line, written without the tracing machinery when logs are JSON: one line per
//! request is the hottest log path (at 90k requests a second, formatting each line through
//! tracing-subscriber's JSON layer cost more than the request). The line has exactly the shape
//! that layer gives every other event (`timestamp`, `level`, `fields`, `target`, `span`, `spans`),
//! is formatted into a buffer reused by each thread, and goes to the same queue and writer thread
//! as every other line, so lines keep their order and none is dropped.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;

static WRITER: OnceLock<tracing_appender::non_blocking::NonBlocking> = OnceLock::new();

thread_local! {
    static LINE: RefCell<String> = RefCell::new(String::with_capacity(512));
}

/// Takes the access lines off the tracing path (JSON logs only); called once at start.
pub fn install(writer: tracing_appender::non_blocking::NonBlocking) {
    let _ = WRITER.set(writer);
}

/// One request's line. The caller has checked that the access target is enabled at `info`.
/// Returns `false` when the fast path is not installed (text logs): log it through tracing then.
/// `method`, `route` and `request_id` are plain (fixed labels, route templates, well-formed ids).
pub fn write(method: &str, route: &str, status: u16, duration_ms: f64, request_id: &str) -> bool {
    let Some(writer) = WRITER.get() else {
        return false;
    };
    LINE.with(|line| {
        let mut line = line.borrow_mut();
        line.clear();
        line.push_str("{\"timestamp\":\"");
        timestamp(&mut line);
        line.push_str("\",\"level\":\"INFO\",\"fields\":{\"message\":\"request\",\"method\":\"");
        json_str(&mut line, method);
        line.push_str("\",\"route\":\"");
        json_str(&mut line, route);
        let _ = write!(line, "\",\"status\":{status},\"duration_ms\":{duration_ms}}},\"target\":\"gatehouse::access\",\"span\":{{\"request_id\":\"");
        json_str(&mut line, request_id);
        line.push_str("\",\"name\":\"request\"},\"spans\":[{\"request_id\":\"");
        json_str(&mut line, request_id);
        line.push_str("\",\"name\":\"request\"}]}\n");
        // One write is one queued line (tracing-appender's contract).
        let _ = writer.clone().write_all(line.as_bytes());
    });
    true
}

/// A JSON string's contents: quotes, backslashes and controls escaped.
fn json_str(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Now, as RFC 3339 UTC with microseconds (`2026-12-02T18:17:23.222519Z`), like tracing's.
fn timestamp(out: &mut String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil(i64::try_from(days).unwrap_or(0));
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        now.subsec_micros()
    );
}

/// Days since 1970-01-01 to (year, month, day) (H. Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_escapes() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(20_789), (2026, 12, 2));
        assert_eq!(civil(11_016), (2000, 2, 29));
        let mut s = String::new();
        json_str(&mut s, "a\"b\\c\n");
        assert_eq!(s, "a\\\"b\\\\c\\u000a");
    }
}
