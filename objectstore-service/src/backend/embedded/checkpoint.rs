//! WAL checkpoints off the commit path.
//!
//! SQLite's automatic checkpoint runs on the connection that commits, right after its
//! commit: the writer thread would copy the WAL into the database file and fsync it while
//! every queued write waits. Instead a dedicated thread with its own connection runs a
//! `PASSIVE` checkpoint whenever the writer has committed about [`EVERY_BYTES`] since the
//! last signal, so the copy and its fsync overlap with the next groups.
//!
//! **Invariants**
//!
//! * The checkpointer's connection uses the writer's durable settings (`synchronous = FULL`,
//!   `checkpoint_fullfsync`): a checkpoint fsyncs the database file before SQLite may reuse
//!   the WAL, so no acknowledged frame is lost (durability argument in [`super`], step 4).
//! * A `PASSIVE` checkpoint never blocks the writer or the readers; it copies the frames
//!   committed when it started.
//! * The writer keeps an automatic checkpoint at [`BACKSTOP_PAGES`] on its own connection:
//!   under sustained writes the checkpointer never catches up completely, and only a
//!   checkpoint that did (run by the writer, between its groups) lets the next transaction
//!   restart the WAL from its beginning. The backstop then has only the frames since the
//!   checkpointer's last run left to copy.
//! * The writer thread starts the checkpointer and joins it before it exits, so a joined
//!   writer means every connection that writes is closed.
//! * A failing checkpoint is logged when the failures start, after 10, 100, 1000, … in a
//!   row ([`worth_logging`]), and once when one succeeds again: a full disk fails every
//!   checkpoint (tens per second under load) until space returns, and must not flood the
//!   log.

use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use rusqlite::Connection;

use crate::error::Result;

use super::schema::{db_error, open_writer};

/// Committed bytes (payloads plus a page per job) after which the writer signals a checkpoint:
/// the size at which SQLite's automatic checkpoint would run (1000 pages of 4 KiB).
pub(super) const EVERY_BYTES: usize = 4 * 1000 * 4096;
/// The writer connection's own automatic checkpoint, in WAL pages (16 MiB of 4 KiB pages).
/// Payloads above the value-log threshold never enter the WAL, so its traffic is rows and
/// small payloads; a 16 MiB cycle keeps the WAL file (which never shrinks below its
/// largest use up to `journal_size_limit`) from holding 64 MiB of a store's disk for good
/// (docs/benchmarks/value-log.md, soak).
pub(super) const BACKSTOP_PAGES: i64 = 4 * 1024;

/// The writer's handle on the checkpointer thread.
pub(super) struct Checkpointer {
    signal: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Bytes committed since the last signal.
    pending: usize,
}

impl Checkpointer {
    /// Starts the checkpointer on its own connection to `path`. `None` when that fails; the
    /// writer then keeps SQLite's automatic checkpoint (a warning is logged).
    pub(super) fn start(path: &Path) -> Option<Self> {
        let conn = match open_writer(path) {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "embedded store: no background checkpointer");
                return None;
            }
        };
        // One pending signal is enough: signals that arrive while a checkpoint runs coalesce.
        let (signal, wake) = sync_channel(1);
        match std::thread::Builder::new()
            .name("objectstore-embedded-checkpoint".into())
            .spawn(move || run(conn, &wake))
        {
            Ok(thread) => Some(Self {
                signal: Some(signal),
                thread: Some(thread),
                pending: 0,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "embedded store: no background checkpointer");
                None
            }
        }
    }

    /// Records a committed group of `bytes`; signals a checkpoint every [`EVERY_BYTES`].
    pub(super) fn committed(&mut self, bytes: usize) {
        self.pending += bytes;
        if self.pending < EVERY_BYTES {
            return;
        }
        self.pending = 0;
        if let Some(signal) = &self.signal {
            match signal.try_send(()) {
                // Full: a checkpoint is already due and will copy these frames too.
                Ok(()) | Err(TrySendError::Full(())) => {}
                Err(TrySendError::Disconnected(())) => self.signal = None,
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.signal.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the embedded store's checkpoint thread panicked");
        }
    }
}

/// Runs a passive checkpoint per signal until the writer drops its sender.
fn run(conn: Connection, wake: &Receiver<()>) {
    let mut failures: u64 = 0;
    while wake.recv().is_ok() {
        match checkpoint(&conn) {
            Ok(()) if failures > 0 => {
                tracing::info!(
                    failures,
                    "embedded store: background checkpoints work again"
                );
                failures = 0;
            }
            Ok(()) => {}
            Err(e) => {
                failures += 1;
                if worth_logging(failures) {
                    tracing::warn!(
                        error = %e,
                        failures,
                        "embedded store: background checkpoint failed (logged again after \
                         10, 100, 1000, ... failures in a row)"
                    );
                }
            }
        }
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the embedded store's checkpoint connection failed");
    }
}

/// Whether the `failures`-th failure in a row is logged: the first, then the 10th, 100th,
/// 1000th, … (a power of ten).
fn worth_logging(failures: u64) -> bool {
    let mut n = failures;
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

fn checkpoint(conn: &Connection) -> Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        .map_err(db_error("checkpoint the WAL"))
}

#[cfg(test)]
mod tests {
    use super::worth_logging;

    #[test]
    fn repeated_failures_are_logged_at_powers_of_ten() {
        let logged: Vec<u64> = (0..=20_000).filter(|&n| worth_logging(n)).collect();
        assert_eq!(logged, [1, 10, 100, 1000, 10_000]);
    }
}
