//! The embedded high-volume backend: SQLite in WAL mode with group commit, the default for
//! a single machine.
//!
//! [`EmbeddedBackend`] implements [`HighVolumeBackend`] and [`ChangeLog`] (a
//! [`crate::backend::HighVolumeStore`]) on one SQLite file (`objectstore.sqlite3`) in its
//! directory. Inline objects, redirect tombstones, the tiered layer's change log and instance
//! leases share that file, so a change-log record and the data it protects live in one
//! durability domain.
//!
//! # Structure
//!
//! * `high_volume`: the [`HighVolumeBackend`] impl (the row contract).
//! * `log`: the [`ChangeLog`] impl (change log and leases).
//! * `writer`: one dedicated thread owns the only write connection. Every mutation is a job
//!   sent to it; it applies all queued jobs in one transaction, each inside a savepoint, and
//!   commits once: **group commit**, one fsync for many writes. The numbered protocol, with
//!   every outcome, is in that module.
//! * `checkpoint`: a thread with its own connection copies the WAL into the database file
//!   (passive checkpoints), so the writer does not stop for it between groups.
//! * `reader`: a few read-only connections. WAL lets them read the last committed state
//!   while the writer works. Scans run on the blocking pool; point lookups of one row run on
//!   the calling thread when a connection is free (see that module).
//! * `schema`: pragmas, the versioned schema (`PRAGMA user_version`), the row codec.
//! * `listing`: the ordered listing (an index of `(usecase, listing key)`) and its schema
//!   step.
//! * `sql`: the statements of every operation.
//! * [`vlog`]: the value log. Payloads above [`ValueLogSettings::value_log_threshold`]
//!   (8 KiB) live in append-only segment files in `vlog/` instead of SQLite's pages, their
//!   row holding a pointer; a compactor thread reclaims the space of overwritten and
//!   deleted ones. Its write, read, compaction and open protocols are in that module.
//!
//! # Durability argument
//!
//! A call that returns `Ok` has made its effect durable against `kill -9` and power loss:
//!
//! 1. Writes happen only on the writer thread, inside a transaction. The requester is
//!    answered only after `COMMIT` returned successfully (see `writer`, step 5).
//! 2. The database is in WAL mode with `synchronous = FULL`: SQLite fsyncs the WAL file as
//!    part of every commit, before `COMMIT` returns. So the acknowledged transaction's
//!    frames, including the commit frame, are on stable storage.
//! 3. A new WAL file's directory entry is fsynced by SQLite on its first sync; the database
//!    file's entry is fsynced by [`EmbeddedBackend::open`] after creating the schema. So the
//!    files themselves survive power loss.
//! 4. After a crash, the next open replays every WAL frame up to the last valid commit frame
//!    (frames carry checksums, so a torn tail is ignored, and only an unacknowledged
//!    transaction can be torn). Checkpoints copy frames into the database file and fsync it
//!    *before* the WAL is reset, so no acknowledged frame is dropped before it is durable
//!    elsewhere.
//! 5. `fullfsync` is enabled, which on macOS turns fsync into `F_FULLFSYNC` (a plain fsync
//!    there does not flush the drive cache); on Linux fsync already flushes it.
//! 6. A payload in the value log is appended and `fdatasync`ed (with the log's directory
//!    when a segment was created) before the `COMMIT` of the row that points at it (writer
//!    step 4), so a committed pointer never names bytes that were not durable first.
//!
//! The crash half is exercised by a test that SIGKILLs a writing child process; power loss
//! cannot be tested here and rests on SQLite's documented guarantees for this configuration.
//!
//! # Exclusivity
//!
//! [`EmbeddedBackend::open`] takes an exclusive lock on `LOCK` in the directory for the
//! lifetime of the backend (retrying for a moment, see `lock_exclusively`), so exactly one
//! process uses the store: [`is_exclusive`](ChangeLog::is_exclusive) is true and start-up
//! recovery may take over every record.
//!
//! # Semantics worth knowing
//!
//! * Expiry: an inline object whose deadline is earlier than the clock reads as absent. The
//!   row reads return tombstones even when expired; `extend_expiry` treats a tombstone as
//!   absent (the tiered layer extends tombstones by `compare_and_write`).
//! * TTI: a read that makes a bump due (see [`crate::expiry::tti_bump`]) queues a
//!   best-effort, conditional update (applied only if the metadata is still the one that was
//!   read) and does not wait for its fsync; until it is committed, later reads see the bump
//!   through an in-memory overlay (`tti` module). If the writer's queue is full the bump is
//!   skipped.
//! * Extensions and every conditional write run read-and-write inside one writer job, so they
//!   are atomic by construction; [`crate::backend::ExtendOutcome::Conflict`]
//!   therefore never happens here.
//! * Sizes: an inline payload of more than [`crate::backend::MAX_INLINE_BYTES`] is refused
//!   with [`Error::TooLarge`] (the tiered layer routes large objects to the long-term tier).
//! * Shutdown: [`Component::join`] lets the writer finish every queued job and stops it; later
//!   writes fail. Dropping the last handle does the same and (blocking the dropping thread)
//!   waits for the queued jobs' commits, then releases the lock file, so the directory can
//!   be reopened at once.
//! * Memory: the write queue holds at most `QUEUE` (4096) requests; their payloads are the ones
//!   their callers are waiting to store, so the queue adds no copy.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use objectstore_types::ObjectId;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::backend::Component;
#[cfg(doc)]
use crate::backend::{ChangeLog, HighVolumeBackend};
use crate::clock::SharedClock;
use crate::error::{Error, Result};

mod checkpoint;
mod high_volume;
mod listing;
mod log;
mod reader;
mod scan;
mod schema;
mod sql;
#[cfg(test)]
mod tests;
mod tti;
pub mod vlog;
mod writer;

use reader::ReaderPool;
use sql::Stored;
use tti::PendingBumps;
use vlog::{Compactor, OpenReport, ValueLog};
pub use vlog::{ValueLogSettings, ValueLogStats};
use writer::{Message, Pending};

/// The backend's name in logs and errors.
const NAME: &str = "embedded";
/// The database file inside the store's directory.
pub const DB_FILE: &str = "objectstore.sqlite3";
/// The lock file inside the store's directory.
pub const LOCK_FILE: &str = "LOCK";
/// How long [`EmbeddedBackend::open`] retries a taken lock before failing.
const LOCK_WAIT: Duration = Duration::from_secs(1);
/// Read-only connections in the pool.
const READERS: usize = 4;
/// Write requests that may wait for the writer thread before senders wait too.
const QUEUE: usize = 4096;

/// What the writer thread has done since the store was opened: for metrics and benchmarks.
///
/// `jobs / commits` is the average group size; `commit_time / commits` the average time of
/// one `COMMIT`, which is dominated by the WAL fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterStats {
    /// Transactions committed (or attempted).
    pub commits: u64,
    /// Write requests in those transactions.
    pub jobs: u64,
    /// Total time spent in `COMMIT` (the value-log sync before it included).
    pub commit_time: Duration,
    /// Of which syncing the value log (`fdatasync` of the segments appended to).
    pub value_log_sync_time: Duration,
}

/// The embedded SQLite backend. Cheap to clone; clones share the store. See the module docs.
#[derive(Clone)]
pub struct EmbeddedBackend {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    clock: SharedClock,
    readers: Arc<ReaderPool>,
    /// `None` only while dropping.
    sender: Option<mpsc::Sender<Message>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<writer::Counters>,
    bumps: Arc<PendingBumps>,
    vlog: Arc<ValueLog>,
    /// Stopped before the writer (it sends the writer moves).
    compactor: Mutex<Option<Compactor>>,
    /// What opening the value log found.
    opened: OpenReport,
    /// Held (locked) for the lifetime of the backend; dropped after the writer stopped.
    _lock: File,
}

impl fmt::Debug for EmbeddedBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedBackend")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The compactor holds a sender: stop it first.
        drop(
            self.compactor
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        // Closing the channel stops the writer after its current group; wait for that so the
        // store is closed (and unlocked) once the last handle is gone.
        drop(self.sender.take());
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("the embedded store's writer thread panicked");
        }
    }
}

fn io_error(operation: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |e| Error::backend(NAME, operation, e)
}

/// Takes the store's exclusive lock, retrying for up to [`LOCK_WAIT`].
///
/// The retry covers a lock that is only held for a moment: a child forked by the process
/// that held the store shares its lock until it calls `exec` (which closes the descriptor),
/// so a store closed and reopened while a child process is being spawned may find its lock
/// still taken for that short window. A store really used by another process fails after
/// the wait.
fn lock_exclusively(lock: &File, lock_path: &Path, dir: &Path) -> Result<()> {
    let give_up = Instant::now() + LOCK_WAIT;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) if Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(Error::backend(
                    NAME,
                    "lock its directory: another process is using the store",
                    format!(
                        "{} is locked; stop the other objectstore process using {}",
                        lock_path.display(),
                        dir.display()
                    ),
                ));
            }
            Err(TryLockError::Error(e)) => return Err(io_error("lock its directory")(e)),
        }
    }
}

fn stopped(operation: &'static str) -> Error {
    Error::backend(NAME, operation, "the embedded store's writer has stopped")
}

impl EmbeddedBackend {
    /// Opens (creating if needed) the store in `dir` with the default value-log settings.
    ///
    /// Fails if another process (or another open backend in this process) holds the store's
    /// lock file for longer than a second, if the database is from a newer schema version, or
    /// on I/O errors.
    pub fn open(dir: &Path, clock: SharedClock) -> Result<Self> {
        Self::open_with(dir, clock, ValueLogSettings::default())
    }

    /// [`Self::open`] with value-log settings.
    pub fn open_with(dir: &Path, clock: SharedClock, settings: ValueLogSettings) -> Result<Self> {
        settings
            .validate()
            .map_err(|e| Error::InvalidRequest(format!("embedded store settings: {e}")))?;
        std::fs::create_dir_all(dir).map_err(io_error("create its directory"))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_error("open its lock file"))?;
        lock_exclusively(&lock, &lock_path, dir)?;

        let db_path = dir.join(DB_FILE);
        let mut conn = schema::open_writer(&db_path)?;
        schema::migrate(&mut conn)?;
        // Make the database file's directory entry durable (durability argument, step 3).
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error("sync its directory"))?;
        let (vlog, opened) = ValueLog::open(dir, &conn, settings)?;
        let vlog = Arc::new(vlog);
        let readers = ReaderPool::open(&db_path, READERS)?;
        let checkpointer = checkpoint::Checkpointer::start(&db_path);
        if checkpointer.is_some() {
            conn.pragma_update(None, "wal_autocheckpoint", checkpoint::BACKSTOP_PAGES)
                .map_err(schema::db_error("configure the database"))?;
        }

        let (sender, receiver) = mpsc::channel(QUEUE);
        let counters = Arc::new(writer::Counters::default());
        let writer_counters = Arc::clone(&counters);
        let writer_vlog = Arc::clone(&vlog);
        let writer = std::thread::Builder::new()
            .name("objectstore-embedded-writer".into())
            .spawn(move || {
                writer::run(conn, receiver, &writer_counters, checkpointer, &writer_vlog);
            })
            .map_err(io_error("start its writer thread"))?;
        let compactor = Compactor::start(&vlog, &db_path, sender.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                clock,
                readers,
                sender: Some(sender),
                writer: Mutex::new(Some(writer)),
                counters,
                bumps: Arc::default(),
                vlog,
                compactor: Mutex::new(compactor),
                opened,
                _lock: lock,
            }),
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// What the writer thread has done so far.
    pub fn writer_stats(&self) -> WriterStats {
        self.inner.counters.snapshot()
    }

    fn sender(&self, operation: &'static str) -> Result<&mpsc::Sender<Message>> {
        self.inner.sender.as_ref().ok_or_else(|| stopped(operation))
    }

    /// Runs `f` on the writer thread in the next group and returns its result once the group
    /// is durably committed.
    async fn write<T, F>(&self, operation: &'static str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.write_weighted(operation, 0, f).await
    }

    /// [`Self::write`] for a job storing `weight` payload bytes.
    async fn write_weighted<T, F>(&self, operation: &'static str, weight: usize, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, response) = oneshot::channel();
        let job = Box::new(Pending::new(operation, weight, f, reply));
        self.sender(operation)?
            .send(Message::Job(job))
            .await
            .map_err(|_| stopped(operation))?;
        response.await.map_err(|_| stopped(operation))?
    }

    /// Runs `f` on a read-only connection.
    async fn read<T, F>(&self, operation: &'static str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.inner.readers.run(operation, f).await
    }

    /// Reads a row, hides an expired inline object and bumps TTI for a live one.
    async fn load(&self, id: &ObjectId, with_payload: bool) -> Result<Option<Stored>> {
        let path = id.as_storage_path();
        let now = self.inner.clock.now();
        // Before the read, so that a bump committed (and settled) in between is seen in the row.
        let bumps = &self.inner.bumps;
        let pending = bumps.snapshot(&path);
        let read_path = path.clone();
        let vlog = Arc::clone(&self.inner.vlog);
        let row = self
            .inner
            .readers
            .run_point("read an object", move |c| {
                sql::read_row_located(c, &vlog, &read_path, with_payload)
            })
            .await?;
        match row {
            Some(Stored::Object {
                metadata,
                json,
                payload,
                value,
            }) => {
                let metadata = match pending {
                    Some(p) => p.current(metadata, &json),
                    None => metadata,
                };
                if metadata.is_expired(now) {
                    return Ok(None);
                }
                bumps.bump(self.inner.sender.as_ref(), &path, &metadata, &json, now);
                Ok(Some(Stored::Object {
                    metadata,
                    json,
                    payload,
                    value,
                }))
            }
            other => Ok(other),
        }
    }
}

#[async_trait]
impl Component for EmbeddedBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn join(&self) {
        let compactor = self
            .inner
            .compactor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if compactor.is_some() {
            // Dropping it waits for the move in progress.
            let _ = tokio::task::spawn_blocking(move || drop(compactor)).await;
        }
        if let Ok(sender) = self.sender("shut down") {
            // Fails only if the writer already stopped.
            let _ = sender.send(Message::Shutdown).await;
        }
        let handle = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            match tokio::task::spawn_blocking(move || handle.join()).await {
                Ok(Ok(())) => {}
                _ => tracing::error!("the embedded store's writer thread panicked"),
            }
        }
    }
}
