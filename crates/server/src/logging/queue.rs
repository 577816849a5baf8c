//! The queue between the threads that log and the writer thread.

use super::{GATHER, QUEUE_BYTES};
use std::sync::Arc;

/// The queue between the threads that log and the writer thread: lines appended, in order, to one
/// buffer the writer takes whole.
pub(super) struct Queue {
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
    pub(super) fn start(out: impl std::io::Write + Send + 'static) -> (Lines, Flush) {
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
    pub(super) fn push(&self, line: &[u8]) {
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
