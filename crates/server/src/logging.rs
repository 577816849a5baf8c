//! Logs: one line per event, formatted on the thread that logs it into a buffer that thread reuses,
//! and appended to a bounded queue that a writer thread empties, many lines per write(2). Logging
//! never wakes that thread per line: it wakes at the first line after a quiet spell, lets lines
//! gather for [`GATHER`], and takes them all (waking it per line, as tracing-appender's
//! non-blocking writer does, cost a context switch per request: 20% of discovery's throughput).
//!
//! The request id every line of a request carries is a task-local value set by the middleware
//! ([`in_request`]), not a tracing span: a span per request (created, entered and left at every
//! poll, its fields formatted as JSON when created, closed) cost more than the line itself. Lines
//! keep the shape tracing-subscriber's JSON layer gave them (`timestamp`, `level`, `fields`,
//! `target`, and in a request `span` and `spans` naming `request` with its `request_id`), so log
//! pipelines see no change. The access line, one per request and the hottest log path, skips the
//! tracing machinery altogether ([`access`]).
//!
//! When the queue is full (stderr slower than the requests for a long while) the thread that logs
//! waits for room: no line, access or audit, is ever dropped, and lines keep their order. A short
//! wait under an overload is cheaper than an audit trail with holes in it.

use crate::config::{Config, LogFormat};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};
use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Bytes the writer thread may have waiting before a thread that logs waits for it.
const QUEUE_BYTES: usize = 8 << 20;
/// How long the writer thread lets lines gather after the first one arrives: one write(2) then
/// carries many lines, and a request that logs never wakes a thread.
const GATHER: std::time::Duration = std::time::Duration::from_millis(2);

tokio::task_local! {
    /// The request being answered, on every line logged while answering it.
    static REQUEST_ID: Arc<str>;
}

/// Where access lines go, and in which format; set once by [`init`].
static ACCESS: OnceLock<(Lines, bool)> = OnceLock::new();

thread_local! {
    static LINE: RefCell<String> = RefCell::new(String::with_capacity(512));
}

/// Runs `f` (a request's handling) with `id` on every line it logs.
pub async fn in_request<F: Future>(id: Arc<str>, f: F) -> F::Output {
    REQUEST_ID.scope(id, f).await
}

/// Installs the subscriber: `GATEHOUSE_LOG`'s filter (and never a library below `info`, see
/// [`may_log`]), lines as JSON or text (`GATEHOUSE_LOG_FORMAT`). The returned guard writes out
/// what is queued when dropped.
pub fn init(config: &Config) -> Flush {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::filter::{FilterExt, filter_fn};
    use tracing_subscriber::prelude::*;
    // Validated by the config loader.
    let filter = EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = filter.and(filter_fn(may_log));
    let json = match config.log_format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let (writer, guard) = Queue::start(std::io::stderr());
    let _ = ACCESS.set((writer.clone(), json));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .event_format(Format { json });
    tracing_subscriber::registry().with(layer.with_filter(filter)).init();
    guard
}

/// Whether an event may be written: below `info`, only Gatehouse's own targets. Libraries log
/// what passes through them at debug and trace (tokio-postgres logs every bound parameter: keys,
/// secrets, password hashes; HTTP libraries log headers), so no value of `GATEHOUSE_LOG` may turn
/// them on.
fn may_log(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() <= tracing::Level::INFO || meta.target().starts_with("gatehouse")
}

/// One request's access line (target `gatehouse::access`, message `request`), if that target is
/// on at `info`. Formatted here, not through tracing; the same shape as every other line.
/// `method`, `route` and `request_id` are plain (fixed labels, route templates, well-formed ids).
pub fn access(method: &str, route: &str, status: u16, duration_ms: f64, request_id: &str) {
    if !tracing::enabled!(target: "gatehouse::access", tracing::Level::INFO) {
        return;
    }
    let Some((writer, json)) = ACCESS.get() else {
        return;
    };
    LINE.with(|line| {
        let mut line = line.borrow_mut();
        line.clear();
        let fields = Fields::of([
            ("method", Val::Str(method)),
            ("route", Val::Str(route)),
            ("status", Val::Int(i64::from(status))),
            ("duration_ms", Val::Float(duration_ms)),
        ]);
        let head = Head {
            level: tracing::Level::INFO,
            target: "gatehouse::access",
            request_id: Some(request_id),
        };
        if *json {
            head.json(&mut line, |line| {
                line.push_str("\"message\":\"request\"");
                fields.json(line);
            });
        } else {
            head.text(&mut line, |line| {
                line.push_str("request");
                fields.text(line);
            });
        }
        writer.push(line.as_bytes());
    });
}

/// The queue between the threads that log and the writer thread: lines appended, in order, to one
/// buffer the writer takes whole.
struct Queue {
    state: std::sync::Mutex<Pending>,
    /// Signalled when the buffer gets its first line, when it is full, and at shutdown.
    work: std::sync::Condvar,
    /// Signalled when the writer took the buffer.
    room: std::sync::Condvar,
}

#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    closed: bool,
}

/// A handle on the queue: every line written to it is appended whole.
#[derive(Clone)]
pub struct Lines(Arc<Queue>);

/// Writes out what is queued and stops the writer thread when dropped.
pub struct Flush {
    queue: Arc<Queue>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Queue {
    fn start(out: impl std::io::Write + Send + 'static) -> (Lines, Flush) {
        let queue = Arc::new(Queue {
            state: std::sync::Mutex::default(),
            work: std::sync::Condvar::new(),
            room: std::sync::Condvar::new(),
        });
        let writer = Arc::clone(&queue);
        let thread = std::thread::Builder::new()
            .name("gatehouse-log".into())
            .spawn(move || writer.drain(out))
            .ok();
        (Lines(Arc::clone(&queue)), Flush { queue, thread })
    }

    /// The writer thread: waits for a first line, lets more gather, takes them all, writes them.
    fn drain(&self, mut out: impl std::io::Write) {
        let mut spare = Vec::new();
        loop {
            let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            while state.buf.is_empty() && !state.closed {
                state = self.work.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            if !state.closed && state.buf.len() < QUEUE_BYTES {
                drop(state);
                std::thread::sleep(GATHER);
                state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            let batch = std::mem::replace(&mut state.buf, std::mem::take(&mut spare));
            let closed = state.closed;
            drop(state);
            self.room.notify_all();
            // Nowhere else to say that stderr failed.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            spare = batch;
            spare.clear();
            if closed && self.state.lock().map(|s| s.buf.is_empty()).unwrap_or(true) {
                return;
            }
        }
    }
}

impl Lines {
    /// Appends a line (or lines) whole; waits while the queue is full.
    fn push(&self, line: &[u8]) {
        let queue = &*self.0;
        let mut state = queue.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while state.buf.len() >= QUEUE_BYTES && !state.closed {
            queue.work.notify_one();
            state = queue
                .room
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        let first = state.buf.is_empty();
        state.buf.extend_from_slice(line);
        drop(state);
        if first {
            queue.work.notify_one();
        }
    }
}

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.push(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Lines {
    type Writer = Lines;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        if let Ok(mut state) = self.queue.state.lock() {
            state.closed = true;
        }
        self.queue.work.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The formatter of every line but the access line.
struct Format {
    json: bool,
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
struct Head<'a> {
    level: tracing::Level,
    target: &'a str,
    request_id: Option<&'a str>,
}

impl Head<'_> {
    /// `{"timestamp":…,"level":…,"fields":{…},"target":…[,"span":…,"spans":[…]]}` and a newline.
    fn json(&self, out: &mut String, fields: impl FnOnce(&mut String)) {
        out.push_str("{\"timestamp\":\"");
        timestamp(out);
        let _ = write!(out, "\",\"level\":\"{}\",\"fields\":{{", self.level);
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
    fn text(&self, out: &mut String, fields: impl FnOnce(&mut String)) {
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
enum Val<'a> {
    Str(&'a str),
    Int(i64),
    Float(f64),
}

/// The access line's fields (after its message).
struct Fields<'a, const N: usize>([(&'a str, Val<'a>); N]);

impl<'a, const N: usize> Fields<'a, N> {
    fn of(fields: [(&'a str, Val<'a>); N]) -> Self {
        Self(fields)
    }

    fn json(&self, out: &mut String) {
        for (name, value) in &self.0 {
            let _ = write!(out, ",\"{name}\":");
            match value {
                Val::Str(s) => {
                    out.push('"');
                    json_str(out, s);
                    out.push('"');
                }
                Val::Int(i) => {
                    let _ = write!(out, "{i}");
                }
                Val::Float(f) => json_f64(out, *f),
            }
        }
    }

    fn text(&self, out: &mut String) {
        for (name, value) in &self.0 {
            let _ = match value {
                Val::Str(s) => write!(out, " {name}={}", Escaped(s)),
                Val::Int(i) => write!(out, " {name}={i}"),
                Val::Float(f) => write!(out, " {name}={f}"),
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
        json_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, "a\\\"b\\\\c\\nd\\u0001é");
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
                ("ms", Val::Float(f64::NAN)),
            ])
            .json(out);
        });
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["target"], "gatehouse::audit");
        assert_eq!(v["fields"]["event"], "x\"y");
        assert_eq!(v["fields"]["n"], 3);
        assert!(v["fields"]["ms"].is_null());
        assert_eq!(v["span"]["request_id"], "r-1");
        assert_eq!(v["spans"][0]["name"], "request");
        let mut line = String::new();
        head(None).json(&mut line, |_| {});
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert!(v.get("span").is_none());
    }
}
