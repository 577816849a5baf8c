//! Gathering: the calls of one kind that wait together go to PostgreSQL as one statement (issue
//! 20). In the benchmark PostgreSQL shares the server's core, and a statement's fixed cost
//! (parse, plan, snapshot, commit, a backend's wake-up) was most of a request: one
//! statement for 30 tokens costs little more than one for a single token.
//!
//! One task per kind takes every call waiting (up to [`MOST`]), runs them as one statement, and
//! answers each caller. While one statement runs the next batch gathers, so batches grow with the
//! load and a lone call is not delayed. What a batch does, and what it does when the batch fails,
//! is the kind's: `inserts.rs`, `lookups.rs`.

use crate::error::StoreError;
use crate::traits::StoreResult;
use tokio::sync::{mpsc, oneshot};

/// Most calls in one statement.
pub(super) const MOST: usize = 64;
/// Most calls waiting for the task; past this, callers wait to hand theirs over.
const WAITING: usize = 4096;

/// One kind of call that can be answered in batches.
pub(super) trait Batch: Send + Sync + 'static {
    type Call: Send + 'static;
    type Answer: Send + 'static;
    /// Answers every call, in order.
    fn run(&self, calls: &[Self::Call]) -> impl Future<Output = Vec<StoreResult<Self::Answer>>> + Send;
}

/// A call waiting for the task, and where its answer goes.
type Waiting<B> = (<B as Batch>::Call, oneshot::Sender<StoreResult<<B as Batch>::Answer>>);

/// The callers' side of one kind of batch; the task starts with the first call (it needs the
/// runtime), and again if it ever stopped (a panic in a batch), so one bad batch does not leave
/// every later call failing.
pub(super) struct Gather<B: Batch> {
    sender: std::sync::Mutex<Option<mpsc::Sender<Waiting<B>>>>,
    /// Statements of more than one call, and the calls they answered. The task holds these and
    /// not the `Gather`, whose sender would otherwise keep its channel, and so the task and the
    /// store it holds, open forever.
    pub(super) counts: std::sync::Arc<Counts>,
}

#[derive(Default)]
pub(super) struct Counts {
    pub(super) batches: std::sync::atomic::AtomicU64,
    pub(super) batched: std::sync::atomic::AtomicU64,
}

impl<B: Batch> Default for Gather<B> {
    fn default() -> Self {
        Self {
            sender: std::sync::Mutex::new(None),
            counts: std::sync::Arc::default(),
        }
    }
}

impl<B: Batch> Gather<B> {
    /// Hands `call` to the task (started with `batch` when this is the first) and awaits its
    /// answer.
    pub(super) async fn call(
        self: &std::sync::Arc<Self>,
        call: B::Call,
        batch: impl FnOnce() -> B,
    ) -> StoreResult<B::Answer> {
        let gone = || StoreError::Unavailable("a PostgreSQL batching task stopped".into());
        let sender = {
            let mut slot = self.sender.lock().map_err(|_| gone())?;
            match slot.as_ref() {
                Some(sender) if !sender.is_closed() => sender.clone(),
                _ => {
                    let (sender, receiver) = mpsc::channel(WAITING);
                    tokio::spawn(run(batch(), std::sync::Arc::clone(&self.counts), receiver));
                    slot.insert(sender).clone()
                }
            }
        };
        let (done, answer) = oneshot::channel();
        sender.send((call, done)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The task: takes what is waiting, runs it, answers, and again, until every sender is gone.
async fn run<B: Batch>(batch: B, counts: std::sync::Arc<Counts>, mut receiver: mpsc::Receiver<Waiting<B>>) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut waiting = Vec::with_capacity(MOST);
    let mut calls = Vec::with_capacity(MOST);
    while receiver.recv_many(&mut waiting, MOST).await > 0 {
        let answers: Vec<_> = waiting
            .drain(..)
            .map(|(call, done)| {
                calls.push(call);
                done
            })
            .collect();
        if calls.len() > 1 {
            counts.batches.fetch_add(1, Relaxed);
            counts.batched.fetch_add(calls.len() as u64, Relaxed);
        }
        let results = batch.run(&calls).await;
        calls.clear();
        for (done, result) in answers.into_iter().zip(results) {
            // A caller that gave up (its request was cancelled) needs no answer.
            let _ = done.send(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Doubles each number; panics on a batch holding 0.
    struct Double;

    impl Batch for Double {
        type Call = u64;
        type Answer = u64;
        async fn run(&self, calls: &[u64]) -> Vec<StoreResult<u64>> {
            assert!(!calls.contains(&0), "a bad batch");
            calls.iter().map(|n| Ok(n * 2)).collect()
        }
    }

    #[tokio::test]
    async fn each_caller_gets_its_own_answer_and_a_stopped_task_is_started_again() {
        let gather = std::sync::Arc::new(Gather::<Double>::default());
        let calls: Vec<_> = (1..=200)
            .map(|n| {
                let gather = std::sync::Arc::clone(&gather);
                tokio::spawn(async move { (n, gather.call(n, || Double).await.unwrap()) })
            })
            .collect();
        for call in calls {
            let (n, answer) = call.await.unwrap();
            assert_eq!(answer, n * 2);
        }
        assert!(
            gather.counts.batches.load(std::sync::atomic::Ordering::Relaxed) >= 1,
            "no batch"
        );
        assert!(matches!(
            gather.call(0, || Double).await,
            Err(StoreError::Unavailable(_))
        ));
        assert_eq!(
            gather.call(21, || Double).await.unwrap(),
            42,
            "the task was not started again"
        );
        // The task ends with its store's queue: it holds no handle that keeps the channel open.
        let counts = std::sync::Arc::clone(&gather.counts);
        drop(gather);
        for _ in 0..200 {
            if std::sync::Arc::strong_count(&counts) == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(std::sync::Arc::strong_count(&counts), 1, "the task outlived its queue");
    }
}
