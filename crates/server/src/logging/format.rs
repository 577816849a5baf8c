//! Formatting a line: JSON in the shape tracing-subscriber's JSON layer gave, or text.

use super::{LINE, REQUEST_ID};
use std::fmt::Write as _;
use std::sync::Arc;
use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The formatter of every line but the access line.
pub(super) struct Format {
    pub(super) json: bool,
}

impl<S, N> FormatEvent<S, N> for Format
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let request_id = REQUEST_ID.try_with(Arc::clone).ok();
        let meta = event.metadata();
        let head = Head {
            level: *meta.level(),
            target: meta.target(),
            request_id: request_id.as_deref(),
        };
        LINE.with(|line| {
            // An event logged while formatting another (a `Debug` impl that logs) gets a buffer
            // of its own.
            let mut own = String::new();
            let mut borrowed = line.try_borrow_mut();
            let line = match borrowed.as_deref_mut() {
                Ok(line) => line,
                Err(_) => &mut own,
            };
            line.clear();
            if self.json {
                head.json(line, |line| {
                    let mut visitor = JsonFields { out: line, first: true };
                    event.record(&mut visitor);
                });
            } else {
                head.text(line, |line| {
                    let start = line.len();
                    let mut visitor = TextFields { out: line, start };
                    event.record(&mut visitor);
                });
            }
            // tracing-subscriber adds nothing: the newline is ours.
            writer.write_str(line)
        })
    }
}

/// What every line starts with.
pub(super) struct Head<'a> {
    pub(super) level: tracing::Level,
    pub(super) target: &'a str,
    pub(super) request_id: Option<&'a str>,
}

impl Head<'_> {
    /// `{"timestamp":…,"level":…,"fields":{…},"target":…[,"span":…,"spans":[…]]}` and a newline.
    pub(super) fn json(&self, out: &mut String, fields: impl FnOnce(&mut String)) {
        out.push_str("{\"timestamp\":\"");
        timestamp(out);
        out.push_str("\",\"level\":\"");
        out.push_str(self.level.as_str());
        out.push_str("\",\"fields\":{");
        fields(out);
        out.push_str("},\"target\":\"");
        json_str(out, self.target);
        out.push('"');
        if let Some(id) = self.request_id {
            out.push_str(",\"span\":{\"request_id\":\"");
            json_str(out, id);
            out.push_str("\",\"name\":\"request\"},\"spans\":[{\"request_id\":\"");
            json_str(out, id);
            out.push_str("\",\"name\":\"request\"}]");
        }
        out.push_str("}\n");
    }

    /// `timestamp  LEVEL request{request_id=…}: target: message k=v …` and a newline.
    pub(super) fn text(&self, out: &mut String, fields: impl FnOnce(&mut String)) {
        timestamp(out);
        let _ = write!(out, " {:>5} ", self.level);
        if let Some(id) = self.request_id {
            let _ = write!(out, "request{{request_id={}}}: ", Escaped(id));
        }
        out.push_str(self.target);
        out.push_str(": ");
        fields(out);
        out.push('\n');
    }
}

/// A field value of the access line.
pub(super) enum Val<'a> {
    Str(&'a str),
    Int(i64),
    Millis(std::time::Duration),
}

/// The access line's fields (after its message).
pub(super) struct Fields<'a, const N: usize>([(&'a str, Val<'a>); N]);

impl<'a, const N: usize> Fields<'a, N> {
    pub(super) fn of(fields: [(&'a str, Val<'a>); N]) -> Self {
        Self(fields)
    }

    pub(super) fn json(&self, out: &mut String) {
        for (name, value) in &self.0 {
            out.push_str(",\"");
            out.push_str(name);
            out.push_str("\":");
            match value {
                Val::Str(s) => {
                    out.push('"');
                    json_str(out, s);
                    out.push('"');
                }
                Val::Int(i) => {
                    if *i < 0 {
                        out.push('-');
                    }
                    digits(out, i.unsigned_abs(), 1);
                }
                Val::Millis(d) => millis(out, *d),
            }
        }
    }

    pub(super) fn text(&self, out: &mut String) {
        for (name, value) in &self.0 {
            let _ = match value {
                Val::Str(s) => write!(out, " {name}={}", Escaped(s)),
                Val::Int(i) => write!(out, " {name}={i}"),
                Val::Millis(d) => {
                    let _ = write!(out, " {name}=");
                    millis(out, *d);
                    Ok(())
                }
            };
        }
    }
}

/// An event's fields as JSON members, in the order they were recorded; `message` among them.
struct JsonFields<'a> {
    out: &'a mut String,
    first: bool,
}

impl JsonFields<'_> {
    fn name(&mut self, field: &Field) {
        if !std::mem::take(&mut self.first) {
            self.out.push(',');
        }
        self.out.push('"');
        json_str(self.out, field.name());
        self.out.push_str("\":");
    }
}

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field);
        self.out.push('"');
        json_str(self.out, value);
        self.out.push('"');
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.name(field);
        let _ = write!(self.out, "{value}");
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.name(field);
        let _ = write!(self.out, "{value}");
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.name(field);
        let _ = write!(self.out, "{value}");
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.name(field);
        json_f64(self.out, value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.name(field);
        self.out.push('"');
        let _ = write!(JsonEscape(self.out), "{value:?}");
        self.out.push('"');
    }
}

/// An event's fields as text: the message as is, the others `name=value`, separated by spaces.
struct TextFields<'a> {
    out: &'a mut String,
    /// Where the fields begin.
    start: usize,
}

impl TextFields<'_> {
    fn separate(&mut self) {
        if self.out.len() > self.start {
            self.out.push(' ');
        }
    }
}

impl Visit for TextFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.separate();
        if field.name() == "message" {
            self.out.push_str(value);
        } else {
            let _ = write!(self.out, "{}={}", field.name(), Escaped(value));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.separate();
        if field.name() == "message" {
            let _ = write!(self.out, "{value:?}");
        } else {
            let _ = write!(self.out, "{}={value:?}", field.name());
        }
    }
}

/// A text value as is when plain, quoted and escaped otherwise (a line is one line).
struct Escaped<'a>(&'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.0.is_empty() && self.0.bytes().all(|b| b.is_ascii_graphic() && b != b'"') {
            f.write_str(self.0)
        } else {
            write!(f, "{:?}", self.0)
        }
    }
}

/// Writes what it is given as the inside of a JSON string.
struct JsonEscape<'a>(&'a mut String);

impl std::fmt::Write for JsonEscape<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        json_str(self.0, s);
        Ok(())
    }
}

/// A JSON string's contents: quotes, backslashes and controls escaped.
fn json_str(out: &mut String, s: &str) {
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(s);
        return;
    }
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        if b == b'"' || b == b'\\' || b < 0x20 {
            out.push_str(&s[plain..i]);
            match b {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                b'\n' => out.push_str("\\n"),
                _ => {
                    let _ = write!(out, "\\u{b:04x}");
                }
            }
            plain = i + 1;
        }
    }
    out.push_str(&s[plain..]);
}

/// A number JSON can carry: non-finite values are `null`.
fn json_f64(out: &mut String, f: f64) {
    if f.is_finite() {
        let _ = write!(out, "{f}");
    } else {
        out.push_str("null");
    }
}

/// Now, as RFC 3339 UTC with microseconds (`2026-12-02T18:17:23.222519Z`), like tracing's.
/// Written digit by digit (`write!` with widths was the largest part of formatting a line), and
/// the date and time to the second once per second per thread.
fn timestamp(out: &mut String) {
    thread_local! {
        /// The second last formatted, and its `YYYY-MM-DDTHH:MM:SS`.
        static SECOND: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != secs {
            text.clear();
            let (days, rest) = (secs / 86_400, secs % 86_400);
            let (y, m, d) = civil(i64::try_from(days).unwrap_or(0));
            digits(text, u64::try_from(y).unwrap_or(0), 4);
            for (sep, n) in [
                ('-', u64::from(m)),
                ('-', u64::from(d)),
                ('T', rest / 3600),
                (':', rest % 3600 / 60),
                (':', rest % 60),
            ] {
                text.push(sep);
                digits(text, n, 2);
            }
            *second = secs;
        }
        out.push_str(text);
    });
    out.push('.');
    digits(out, u64::from(now.subsec_micros()), 6);
    out.push('Z');
}

/// `n` in decimal, zero-padded to at least `width` digits.
fn digits(out: &mut String, mut n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut at = buf.len();
    while n > 0 || buf.len() - at < width.max(1) {
        at -= 1;
        buf[at] = b'0' + u8::try_from(n % 10).unwrap_or(0);
        n /= 10;
    }
    out.extend(buf[at..].iter().map(|&b| char::from(b)));
}

/// A duration in milliseconds with three decimals (`12.345`), a JSON number.
fn millis(out: &mut String, d: std::time::Duration) {
    let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    digits(out, micros / 1000, 1);
    out.push('.');
    digits(out, micros % 1000, 3);
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
        digits(&mut s, 7, 2);
        digits(&mut s, 0, 1);
        digits(&mut s, 123_456, 3);
        millis(&mut s, std::time::Duration::from_micros(12_045));
        s.push(' ');
        millis(&mut s, std::time::Duration::from_nanos(999));
        assert_eq!(s, "07012345612.045 0.000");
        let mut t = String::new();
        timestamp(&mut t);
        assert_eq!(t.len(), "2026-12-02T18:17:23.222519Z".len(), "{t}");
        assert!(
            t.starts_with("20") && t.ends_with('Z') && t.as_bytes()[10] == b'T',
            "{t}"
        );
        // The second's text is kept per thread: it still names the current second.
        for _ in 0..3 {
            let before = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let (mut cached, mut fresh) = (String::new(), String::new());
            timestamp(&mut cached);
            let (y, m, d) = civil(i64::try_from(before / 86_400).unwrap());
            let rest = before % 86_400;
            let _ = write!(
                fresh,
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
                rest / 3600,
                rest % 3600 / 60,
                rest % 60
            );
            if cached.starts_with(&fresh) {
                break;
            }
            let after = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            assert_ne!(before, after, "{cached} is not of {fresh}");
        }
        let mut s = String::new();
        json_str(&mut s, "plain");
        json_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, "plaina\\\"b\\\\c\\nd\\u0001é");
        assert_eq!(Escaped("plain").to_string(), "plain");
        assert_eq!(Escaped("two words").to_string(), "\"two words\"");
    }

    /// A line is one JSON object in the shape tracing-subscriber's JSON layer gave, with the
    /// request id when logged in a request, and without a span outside one.
    #[test]
    fn lines_are_json_objects_with_the_request_id() {
        let head = |request_id| Head {
            level: tracing::Level::WARN,
            target: "gatehouse::audit",
            request_id,
        };
        let mut line = String::new();
        head(Some("r-1")).json(&mut line, |out| {
            out.push_str("\"message\":\"m\"");
            Fields::of([
                ("event", Val::Str("x\"y")),
                ("n", Val::Int(3)),
                ("ms", Val::Millis(std::time::Duration::from_micros(1_500))),
            ])
            .json(out);
        });
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["target"], "gatehouse::audit");
        assert_eq!(v["fields"]["event"], "x\"y");
        assert_eq!(v["fields"]["n"], 3);
        assert_eq!(v["fields"]["ms"], 1.5);
        assert_eq!(v["span"]["request_id"], "r-1");
        assert_eq!(v["spans"][0]["name"], "request");
        let mut line = String::new();
        head(None).json(&mut line, |_| {});
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert!(v.get("span").is_none());
    }
}
