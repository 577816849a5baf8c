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

mod format;
mod queue;

use crate::config::{Config, LogFormat};
use format::{Fields, Format, Head, Val};
pub use queue::Flush;
use queue::{Lines, Queue};
use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

/// Bytes the writer thread may have waiting before a thread that logs waits for it.
const QUEUE_BYTES: usize = 8 << 20;
/// How long the writer thread lets lines gather after the first one arrives: one write(2) then
/// carries many lines, and a request that logs never wakes a thread.
const GATHER: std::time::Duration = std::time::Duration::from_millis(2);

tokio::task_local! {
    /// The request being answered, on every line logged while answering it.
    pub(crate) static REQUEST_ID: Arc<str>;
}

/// Where access lines go, and in which format; set once by [`init`].
static ACCESS: OnceLock<(Lines, bool)> = OnceLock::new();

thread_local! {
    pub(crate) static LINE: RefCell<String> = RefCell::new(String::with_capacity(512));
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
pub fn access(method: &str, route: &str, status: u16, duration: std::time::Duration, request_id: &str) {
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
            ("duration_ms", Val::Millis(duration)),
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
