//! The writer thread: the only owner of the write connection, committing in groups.
//!
//! # Group commit
//!
//! Requesters send a [`Job`] over a bounded channel and await a oneshot reply. The thread
//! loops:
//!
//! 1. Block for the first job of the group.
//! 2. `BEGIN IMMEDIATE`.
//! 3. For each job: `SAVEPOINT`, apply it, then `RELEASE` on success or `ROLLBACK TO` +
//!    `RELEASE` on failure, so a failing job leaves no trace and does not disturb the others.
//!    A panicking job counts as failed. Then take the next job already waiting in the
//!    channel, without blocking; the group ends when none is waiting or it holds
//!    [`MAX_GROUP`] jobs or [`MAX_GROUP_BYTES`] of payload. (While the previous group was being fsynced and while this one is
//!    being applied, new requests pile up in the channel: the more concurrent writers, the
//!    larger the group. A lone writer gets one job per group.) If SQLite rolled the whole
//!    transaction back on its own (it does so on some I/O and out-of-memory errors), every
//!    job applied so far in this group fails with that error and a fresh transaction starts
//!    for the rest.
//! 4. Sync the value log (payloads the jobs appended, see [`super::vlog`]), then `COMMIT`:
//!    **the commit point** of every job in the group, made durable by one fsync of the WAL
//!    (`synchronous = FULL`). A failed value-log sync counts as a failed commit.
//! 5. Reply: on commit success each job gets its own result (a failed job its error); on
//!    commit failure the transaction is rolled back and every job gets the commit error (its
//!    effect may or may not be durable, like any lost response; callers retry idempotently).
//!
//! A job's result is only delivered after step 4, so no caller ever sees `Ok` for a write
//! that is not durable. Jobs are applied strictly one after another, which is what makes
//! every read-then-write job (conditional writes, compare-and-write, claims) atomic.
//!
//! # Shutdown
//!
//! [`Message::Shutdown`] closes the channel: jobs already queued still run, later sends fail,
//! then the thread drops its connection and exits. Dropping every sender has the same effect.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

use super::checkpoint::Checkpointer;
use super::vlog::ValueLog;
use super::{NAME, WriterStats};

/// The most jobs committed in one transaction (bounds the transaction's size and latency).
pub(super) const MAX_GROUP: usize = 512;
/// A group takes no further job once its jobs carry this many payload bytes (bounds the WAL
/// growth of one transaction).
pub(super) const MAX_GROUP_BYTES: usize = 32 * 1024 * 1024;

/// The WAL bytes a job writes besides its payload (its leaf page, roughly).
const PAGE_ESTIMATE: usize = 4096;

/// What the writer thread has done since open (see [`WriterStats`]).
#[derive(Debug, Default)]
pub(super) struct Counters {
    commits: AtomicU64,
    jobs: AtomicU64,
    commit_nanos: AtomicU64,
    sync_nanos: AtomicU64,
}

impl Counters {
    /// A snapshot.
    pub(super) fn snapshot(&self) -> WriterStats {
        WriterStats {
            commits: self.commits.load(Ordering::Relaxed),
            jobs: self.jobs.load(Ordering::Relaxed),
            commit_time: Duration::from_nanos(self.commit_nanos.load(Ordering::Relaxed)),
            value_log_sync_time: Duration::from_nanos(self.sync_nanos.load(Ordering::Relaxed)),
        }
    }

    fn record(&self, jobs: usize, took: Duration, sync: Duration) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.jobs.fetch_add(jobs as u64, Ordering::Relaxed);
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.commit_nanos.fetch_add(nanos(took), Ordering::Relaxed);
        self.sync_nanos.fetch_add(nanos(sync), Ordering::Relaxed);
    }
}

/// What requesters send to the writer thread.
pub(super) enum Message {
    /// Apply a job in the next group.
    Job(Box<dyn Job>),
    /// Stop accepting jobs, finish the queued ones, exit.
    Shutdown,
}

/// One write request.
pub(super) trait Job: Send {
    /// Applies the job inside the open transaction. Returns `false` when it failed (its
    /// savepoint is then rolled back).
    fn apply(&mut self, conn: &Connection) -> bool;

    /// The payload bytes the job writes (for [`MAX_GROUP_BYTES`]).
    fn weight(&self) -> usize {
        0
    }

    /// Delivers the outcome once the group's commit is known.
    fn finish(self: Box<Self>, commit: Result<(), &Error>);
}

/// A job computing a `T` with a closure; replies through a oneshot.
pub(super) struct Pending<T, F> {
    operation: &'static str,
    weight: usize,
    op: Option<F>,
    outcome: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
{
    /// A job writing `weight` payload bytes that replies on `reply`.
    pub(super) fn new(
        operation: &'static str,
        weight: usize,
        op: F,
        reply: oneshot::Sender<Result<T>>,
    ) -> Self {
        Self {
            operation,
            weight,
            op: Some(op),
            outcome: None,
            reply,
        }
    }
}

impl<T, F> Job for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
{
    fn apply(&mut self, conn: &Connection) -> bool {
        let Some(op) = self.op.take() else {
            return false;
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| op(conn))).unwrap_or_else(|_| {
            Err(Error::Internal(format!(
                "the embedded store panicked while trying to {}",
                self.operation
            )))
        });
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn weight(&self) -> usize {
        self.weight
    }

    fn finish(self: Box<Self>, commit: Result<(), &Error>) {
        let result = match (self.outcome, commit) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (_, Err(e)) => Err(e.restated(NAME, self.operation)),
            (None, Ok(())) => Err(Error::Internal(format!(
                "the embedded store skipped a request to {}",
                self.operation
            ))),
        };
        // The requester may have gone away; the write stands regardless.
        let _ = self.reply.send(result);
    }
}

/// Runs the writer loop until shutdown. Owns the connection and the checkpointer (stopped
/// and joined before the connection is closed).
pub(super) fn run(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Message>,
    counters: &Counters,
    mut checkpointer: Option<Checkpointer>,
    vlog: &ValueLog,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut queue = Queue { rx: &mut rx };
        let first = match first {
            Message::Job(job) => job,
            Message::Shutdown => {
                queue.close();
                continue;
            }
        };
        let written = commit_group(&mut conn, first, &mut queue, counters, vlog);
        if let Some(checkpointer) = &mut checkpointer {
            checkpointer.committed(written);
        }
    }
    drop(checkpointer);
    // Close the write connection (a final passive checkpoint) before the thread is joined.
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the embedded store's write connection failed");
    }
}

/// The jobs already waiting in the channel.
struct Queue<'a> {
    rx: &'a mut mpsc::Receiver<Message>,
}

impl Queue<'_> {
    /// The next waiting job, without blocking.
    fn next(&mut self) -> Option<Box<dyn Job>> {
        loop {
            match self.rx.try_recv().ok()? {
                Message::Job(job) => return Some(job),
                Message::Shutdown => self.close(),
            }
        }
    }

    /// Refuses new sends; jobs already queued are still received (and run).
    fn close(&mut self) {
        self.rx.close();
    }
}

fn exec(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(drop)
        .map_err(|e| Error::backend(NAME, "commit a group of writes", e))
}

/// Steps 1 (after the first job) to 5 of the group commit protocol (see the module docs).
/// Returns an estimate of the bytes the group wrote to the WAL (payloads plus a page per job,
/// without the payloads that went to the value log).
fn commit_group(
    conn: &mut Connection,
    first: Box<dyn Job>,
    queue: &mut Queue<'_>,
    counters: &Counters,
    vlog: &ValueLog,
) -> usize {
    // Jobs whose outcome is settled, ready for their reply.
    let mut done: Vec<(Box<dyn Job>, Option<Error>)> = Vec::new();
    // Jobs applied in the currently open transaction.
    let mut applied: Vec<Box<dyn Job>> = Vec::new();
    let mut open = false;
    let mut in_value_log = 0;
    let mut next = Some(first);
    let (mut taken, mut bytes) = (0, 0);
    while let Some(mut job) = next.take() {
        taken += 1;
        bytes += job.weight();
        // Jobs that arrive while this group is being applied join it.
        if taken < MAX_GROUP && bytes < MAX_GROUP_BYTES {
            next = queue.next();
        }
        if !open {
            if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
                done.push((job, Some(e)));
                continue;
            }
            open = true;
        }
        let ok = match exec(conn, "SAVEPOINT job") {
            Ok(()) => {
                let ok = job.apply(conn);
                let end = if ok {
                    exec(conn, "RELEASE job")
                } else {
                    exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"))
                };
                end.map(|()| ok)
            }
            Err(e) => Err(e),
        };
        applied.push(job);
        if let Err(e) = ok
            && conn.is_autocommit()
        {
            // SQLite aborted the whole transaction: nothing applied so far survives.
            tracing::warn!(error = %e, "the embedded store's group transaction was aborted");
            let message = e.to_string();
            done.extend(applied.drain(..).map(|j| {
                (
                    j,
                    Some(Error::backend(
                        NAME,
                        "commit a group of writes",
                        message.clone(),
                    )),
                )
            }));
            open = false;
        }
    }
    if open {
        let started = Instant::now();
        let synced = vlog.sync();
        let sync_time = started.elapsed();
        let commit = synced.and_then(|appended| {
            in_value_log = appended;
            exec(conn, "COMMIT")
        });
        counters.record(applied.len(), started.elapsed(), sync_time);
        if let Err(e) = &commit {
            tracing::error!(error = %e, "the embedded store failed to commit a group of writes");
            if !conn.is_autocommit() {
                let _ = exec(conn, "ROLLBACK");
            }
        }
        let error = commit.err();
        done.extend(
            applied
                .drain(..)
                .map(|j| (j, error.as_ref().map(clone_error))),
        );
    }
    for (job, error) in done {
        match error {
            None => job.finish(Ok(())),
            Some(e) => job.finish(Err(&e)),
        }
    }
    bytes.saturating_sub(in_value_log) + taken * PAGE_ESTIMATE
}

fn clone_error(e: &Error) -> Error {
    e.restated(NAME, "commit a group of writes")
}
