//! TTI bumps without making reads wait for an fsync.
//!
//! A read that makes a bump due (see [`crate::expiry::tti_bump`]) does not write itself: it
//! queues a [`BumpJob`] for the writer thread and answers at once. So that the *next* read
//! already sees the moved deadline (as the contract requires), the bump is also recorded
//! here, in memory, until its group is committed.
//!
//! **Invariants**
//!
//! * A pending bump applies to exactly one stored state of one row: the metadata JSON the
//!   bumping read saw (`expected`). Readers substitute the bumped metadata only while the row
//!   still holds that state, i.e. before the bump is committed; once it is committed (or the
//!   row was overwritten or deleted) the entry no longer matches and is ignored.
//! * Reads are monotonic: a reader takes its [`PendingBumps::snapshot`] *before* reading the
//!   row. An entry is settled only after its commit, so a reader that no longer finds the
//!   entry reads the committed bump, and a reader that found it reads either the old state
//!   (and substitutes the bump) or the bumped one.
//! * The job writes conditionally on the same `expected` state, so a bump never touches an
//!   object that was replaced after the read; it never shortens a deadline because
//!   [`crate::expiry::tti_bump`] only moves forward from the state it saw.
//! * An entry is removed when its job's group is settled (committed or failed), and only by
//!   its own job (sequence numbers), so memory is bounded by the writer's queue.
//! * Writer-side operations (extensions, expiry deletes) need no overlay: jobs run in queue
//!   order, so a bump queued before them is applied before them.
//! * Best effort: when the writer's queue is full the bump is skipped (the next read retries);
//!   a crash loses an uncommitted bump, like any unacknowledged write.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use objectstore_types::Metadata;
use rusqlite::Connection;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::expiry::tti_bump;

use super::sql;
use super::writer::{Job, Message};

/// Bumps queued but not yet settled, by storage path.
#[derive(Debug, Default)]
pub(super) struct PendingBumps {
    entries: Mutex<HashMap<String, Pending>>,
    /// `entries.len()`, readable without the lock (most reads find no pending bump).
    len: AtomicUsize,
    next_seq: AtomicU64,
}

/// One pending bump.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    seq: u64,
    /// The metadata column the bumping read saw.
    expected: String,
    /// The metadata the bump stores.
    bumped: Metadata,
}

impl PendingBumps {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bump pending for `path`, if any. Take it before reading the row.
    pub(super) fn snapshot(&self, path: &str) -> Option<Pending> {
        if self.len.load(Ordering::SeqCst) == 0 {
            return None;
        }
        self.lock().get(path).cloned()
    }

    /// Queues a bump of the row at `path` (holding `json`, read as `metadata` at `now`) if
    /// one is due and none is pending for this state.
    pub(super) fn bump(
        self: &Arc<Self>,
        sender: Option<&mpsc::Sender<Message>>,
        path: &str,
        metadata: &Metadata,
        json: &str,
        now: SystemTime,
    ) {
        let Some(deadline) = tti_bump(metadata, now) else {
            return;
        };
        let Some(sender) = sender else {
            return;
        };
        let mut bumped = metadata.clone();
        bumped.time_expires = Some(deadline);
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        {
            let mut entries = self.lock();
            if entries.get(path).is_some_and(|p| p.expected == json) {
                return; // Already pending for this state.
            }
            let pending = Pending {
                seq,
                expected: json.to_owned(),
                bumped: bumped.clone(),
            };
            entries.insert(path.to_owned(), pending);
            self.len.store(entries.len(), Ordering::SeqCst);
        }
        let job = BumpJob {
            pending: Arc::clone(self),
            seq,
            path: path.to_owned(),
            expected: json.to_owned(),
            bumped,
        };
        if sender.try_send(Message::Job(Box::new(job))).is_err() {
            tracing::debug!("skipped a TTI bump: the embedded writer is busy or stopped");
            self.settle(path, seq);
        }
    }

    /// Forgets the entry of bump `seq`, unless a later bump replaced it.
    fn settle(&self, path: &str, seq: u64) {
        let mut entries = self.lock();
        if entries.get(path).is_some_and(|p| p.seq == seq) {
            entries.remove(path);
            self.len.store(entries.len(), Ordering::SeqCst);
        }
    }
}

impl Pending {
    /// The current metadata of an object whose row holds `json` (read as `metadata`): the
    /// bumped one if this bump is still pending for exactly that state.
    pub(super) fn current(self, metadata: Metadata, json: &str) -> Metadata {
        if self.expected == json {
            self.bumped
        } else {
            metadata
        }
    }
}

/// The writer job of one bump: a conditional metadata update.
struct BumpJob {
    pending: Arc<PendingBumps>,
    seq: u64,
    path: String,
    expected: String,
    bumped: Metadata,
}

impl Job for BumpJob {
    fn apply(&mut self, conn: &Connection) -> bool {
        let outcome: Result<bool> =
            sql::update_metadata(conn, &self.path, &self.bumped, Some(&self.expected));
        outcome.is_ok()
    }

    fn finish(self: Box<Self>, commit: Result<(), &Error>) {
        if let Err(e) = commit {
            tracing::debug!(error = %e, "a TTI bump was not committed");
        }
        self.pending.settle(&self.path, self.seq);
    }
}
