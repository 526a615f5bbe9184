//! The value log: payloads above [`ValueLogSettings::value_log_threshold`] live in
//! append-only segment files next to the database (`vlog/{id:010}.seg`) instead of SQLite's
//! pages; their row keeps a pointer (`vseg`, `voff`, `vlen`: segment, payload offset, length).
//!
//! Small payloads stay inline, where SQLite is at its best. A mid-size payload inline costs
//! a bind copy, a copy into 4 KiB overflow pages, the WAL write, the checkpoint's second
//! write, and on every read one `pread` per overflow page plus a copy out of SQLite's
//! buffer. In the log it is written once and read with one `pread` of exactly the payload
//! (or the requested range) into a buffer that becomes the response's `Bytes`.
//!
//! # Write protocol (group commit, see `super::writer`)
//!
//! 1. A job that stores an object above the threshold appends a record (header with path,
//!    length and CRC-32C, then the payload) to the **active segment** with `pwrite`, on the
//!    writer thread, and writes the row with the pointer and the segment's accounting,
//!    inside the group's transaction.
//!    Outcomes: an append error fails the job (its savepoint rolls back; the active
//!    segment is sealed, see below); a failed row write leaves the appended bytes
//!    unreferenced.
//! 2. Before `COMMIT`, the writer calls `ValueLog::sync`: `fdatasync` of every segment
//!    appended to since the last sync, and of the log's directory when a segment was
//!    created. A failed sync fails the whole group (rolled back, every job gets the error,
//!    the segment is sealed, because after a failed `fsync` its unsynced bytes cannot be
//!    trusted).
//! 3. `COMMIT` (the WAL fsync): **the commit point**. The row now points at bytes that were
//!    durable before the row was. A crash before it leaves only unreferenced bytes at the
//!    segment's tail, which no row names; compaction reclaims them.
//!
//! So an acknowledged write survives a machine crash (its payload was fsynced in step 2, its
//! row in step 3), and no committed row ever points at bytes that were not durable first.
//! Bytes below a segment's length never change, so a pointer stays valid until its row
//! changes.
//!
//! Accounting: `vlog_segments.live` (bytes referenced per segment) is kept exact by the
//! statements that change a row's pointer, in the same writer job as the change (see
//! `rows`).
//!
//! # Read protocol and the handshake with compaction
//!
//! 1. On a read connection: read the row; for a value-log object take the pointer.
//! 2. Look the segment up in the in-memory table of segments (`ValueLog::locate`) and
//!    hold its open file (`Arc`). If the segment is not there, compaction deleted it after
//!    moving the value (compaction step 4 comes after its pointer swap committed): read
//!    the row again (a new read transaction sees the new pointer), a few times at most
//!    (`sql::read_row_located`).
//! 3. `pread` the payload or the range from the held file, on the calling thread (like the
//!    point lookups of the reader pool: from the page cache this takes microseconds). An
//!    unlinked file stays readable while it is open, so a read that got its file in step 2
//!    never fails because compaction deleted the segment meanwhile.
//!
//! Every segment stays open while it exists: one file descriptor per segment (64 per GiB of
//! log at the default segment size).
//!
//! # Segments
//!
//! Only the writer thread appends, and only to the active segment. It is sealed (never
//! appended to again) when the next record would make it larger than
//! [`ValueLogSettings::value_log_segment_bytes`], after an I/O error, on a request of
//! compaction, and at every open (a new process starts a new segment, so the tail of the
//! previous one, possibly torn by a crash, is never appended to). Segment ids only grow.
//!
//! # Open (reconciliation, before the writer starts)
//!
//! 1. List the segment files; read `vlog_segments`.
//! 2. A file without a `vlog_segments` row and without any row pointing into it is deleted
//!    (a segment whose first pointer never committed, or one whose deletion by compaction
//!    was cut short after its commit point). A referenced file without an accounting row
//!    is kept (and reported by `check`, which repairs the accounting).
//! 3. A `vlog_segments` row without its file means lost values: logged as an error, reported
//!    by `check` (the rows pointing into it are listed as lost).
//! 4. The next segment id is one above every id seen, in files or rows.
//!
//! Compaction (moving live values out of segments with much garbage, then deleting them) is
//! in `compact`; `objectstore check`'s verification of pointers and segments in `check`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use bytes::Bytes;
use objectstore_types::Metadata;
use objectstore_types::range::ByteRange;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::backend::GetResponse;
use crate::error::{Error, Result};
use crate::stream;

use super::NAME;

mod check;
mod compact;
pub(super) mod rows;
mod segment;

pub use check::{AccountingError, LostValue, ValueLogCheck};
pub use compact::CompactionReport;
pub(super) use compact::Compactor;
use segment::Segment;

/// The directory of the segments inside the store's directory.
pub const VLOG_DIR: &str = "vlog";

/// Settings of the value log (`storage.high_volume.*` of an embedded store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValueLogSettings {
    /// Payloads larger than this many bytes go to the value log; smaller ones stay inline in
    /// SQLite. Default 8 KiB: the smallest size at which the log costs less CPU per get and
    /// per put than inline storage (docs/benchmarks/value-log.md).
    pub value_log_threshold: usize,
    /// A segment file is sealed once it would grow beyond this many bytes. Default 16 MiB.
    pub value_log_segment_bytes: u64,
    /// Compaction reads at most this many bytes per second (each read byte is written once
    /// more if it is live). `0` disables compaction. Default 128 MiB/s: enough to keep a
    /// store under constant overwrites within 1.5 times its live bytes in the soak of
    /// docs/benchmarks/value-log.md (64 MiB/s was not).
    pub compaction_bytes_per_second: u64,
    /// A sealed segment is compacted once this share of its bytes is garbage (overwritten,
    /// deleted or expired values, and unreferenced tails). Default 0.3, which bounds the
    /// value log at 1/(1-0.3) = 1.43 times its live bytes.
    pub compaction_garbage_ratio: f64,
}

impl Default for ValueLogSettings {
    fn default() -> Self {
        Self {
            value_log_threshold: 8 * 1024,
            value_log_segment_bytes: 16 * 1024 * 1024,
            compaction_bytes_per_second: 128 * 1024 * 1024,
            compaction_garbage_ratio: 0.3,
        }
    }
}

impl ValueLogSettings {
    /// Refuses values that cannot work, naming the key.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.value_log_segment_bytes < 1024 * 1024 {
            return Err("`value_log_segment_bytes` must be at least 1 MiB (1048576)".into());
        }
        if !(self.compaction_garbage_ratio > 0.0 && self.compaction_garbage_ratio < 1.0) {
            return Err("`compaction_garbage_ratio` must be between 0 and 1 (exclusive)".into());
        }
        Ok(())
    }
}

/// Where a value-log payload is: segment, offset of its first byte, length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pointer {
    pub(super) segment: u64,
    pub(super) offset: u64,
    pub(super) len: u64,
}

/// A value-log payload of a row that was read: its pointer and, once located (read
/// protocol, step 2), its segment's open file.
#[derive(Debug, Clone)]
pub(super) struct Value {
    pointer: Pointer,
    segment: Option<Arc<Segment>>,
}

impl Value {
    /// A value not located yet.
    pub(super) fn unlocated(pointer: Pointer) -> Self {
        Self {
            pointer,
            segment: None,
        }
    }

    /// The answer to a GET (read protocol, step 3): the whole payload or the range, read
    /// with one `pread`; 416 for an unsatisfiable range.
    pub(super) fn respond(
        self,
        metadata: Metadata,
        range: Option<ByteRange>,
    ) -> Result<GetResponse> {
        let total = self.pointer.len;
        let (start, len, resolved) = match range {
            None => (0, total, None),
            Some(range) => match range.resolve(total) {
                None => return Ok(GetResponse::RangeNotSatisfiable(metadata)),
                // `resolve` keeps `start <= end < total`.
                Some(r) => (r.start, r.end - r.start + 1, Some(r)),
            },
        };
        let body = self.read(start, len)?;
        Ok(GetResponse::Found {
            metadata,
            range: resolved,
            body: stream::single(body),
        })
    }

    /// `len` bytes from `start` (relative to the payload).
    fn read(&self, start: u64, len: u64) -> Result<Bytes> {
        let segment = self.segment.as_ref().ok_or_else(|| {
            Error::Internal("a value-log payload was read before it was located".into())
        })?;
        let len = usize::try_from(len)
            .map_err(|_| Error::Internal("a value-log payload too large to read".into()))?;
        segment
            .read(self.pointer.offset + start, len)
            .map_err(|e| Error::backend(NAME, "read a value-log payload", e))
    }
}

/// What opening the value log found and did (reconciliation steps 2 and 3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OpenReport {
    /// Segment files deleted because nothing referenced them.
    pub removed_segments: Vec<u64>,
    /// Segments with live values whose file is missing.
    pub missing_segments: Vec<u64>,
}

/// Sizes of the value log, from its segment table and accounting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ValueLogStats {
    /// Segment files.
    pub segments: u64,
    /// Bytes in them.
    pub bytes: u64,
    /// Bytes of payloads rows point at.
    pub live_bytes: u64,
    /// `bytes - live_bytes`: what compaction can give back (headers included).
    pub reclaimable_bytes: u64,
}

/// The active segment and what the next sync must cover. Writer thread only.
#[derive(Debug, Default)]
struct Appender {
    active: Option<Arc<Segment>>,
    /// Segments appended to since the last sync (the active one, and any sealed meanwhile).
    unsynced: Vec<Arc<Segment>>,
    /// A segment file was created since the last sync: its directory entry must be synced.
    dir_dirty: bool,
    /// Bytes appended since the last sync.
    appended: usize,
    next_id: u64,
}

/// The value log of one store. Shared by the writer thread (appends, syncs), readers
/// (locate and `pread`) and the compactor.
#[derive(Debug)]
pub(super) struct ValueLog {
    dir: PathBuf,
    settings: ValueLogSettings,
    /// Every segment that may be read, by id.
    segments: RwLock<BTreeMap<u64, Arc<Segment>>>,
    appender: Mutex<Appender>,
    #[cfg(test)]
    faults: faults::Faults,
}

impl ValueLog {
    /// Opens the log of the store in `store_dir` (reconciliation, see the module docs) with
    /// the store's write connection, before the writer thread starts.
    pub(super) fn open(
        store_dir: &Path,
        conn: &Connection,
        settings: ValueLogSettings,
    ) -> Result<(Self, OpenReport)> {
        let io = |operation| move |e| Error::backend(NAME, operation, e);
        let dir = store_dir.join(VLOG_DIR);
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir).map_err(io("create the value-log directory"))?;
            sync_dir(store_dir).map_err(io("sync its directory"))?;
        }
        // Step 1.
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io("list the value log"))? {
            let entry = entry.map_err(io("list the value log"))?;
            if let Some(id) = entry.file_name().to_str().and_then(segment::parse_name) {
                files.push(id);
            }
        }
        files.sort_unstable();
        let accounted = rows::segment_rows(conn)?;
        let mut report = OpenReport::default();
        let mut segments = BTreeMap::new();
        // Step 2.
        for &id in &files {
            if !accounted.contains_key(&id) && !rows::is_referenced(conn, id)? {
                let path = dir.join(segment::file_name(id));
                std::fs::remove_file(&path).map_err(io("remove an unreferenced segment"))?;
                tracing::info!(
                    segment = id,
                    "embedded store: removed an unreferenced value-log segment"
                );
                report.removed_segments.push(id);
                continue;
            }
            let opened = Segment::open(&dir, id).map_err(io("open a value-log segment"))?;
            segments.insert(id, Arc::new(opened));
        }
        if !report.removed_segments.is_empty() {
            sync_dir(&dir).map_err(io("sync the value-log directory"))?;
        }
        // Step 3.
        for (&id, &live) in &accounted {
            if !segments.contains_key(&id) && (live > 0 || rows::is_referenced(conn, id)?) {
                tracing::error!(
                    segment = id,
                    "embedded store: a value-log segment with live values is missing; \
                     `objectstore check` lists the objects that lost their payload"
                );
                report.missing_segments.push(id);
            }
        }
        // Step 4.
        let next_id = files
            .iter()
            .chain(accounted.keys())
            .max()
            .map_or(1, |max| max + 1);
        let log = Self {
            dir,
            settings,
            segments: RwLock::new(segments),
            appender: Mutex::new(Appender {
                next_id,
                ..Appender::default()
            }),
            #[cfg(test)]
            faults: faults::Faults::default(),
        };
        Ok((log, report))
    }

    /// The settings.
    pub(super) fn settings(&self) -> &ValueLogSettings {
        &self.settings
    }

    fn appender(&self) -> MutexGuard<'_, Appender> {
        self.appender.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn table(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<u64, Arc<Segment>>> {
        self.segments.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Write protocol, step 1: appends `payload` of the row `path` if it is above the
    /// threshold (`None`: store it inline). Writer thread only, inside the group's
    /// transaction.
    pub(super) fn append(&self, path: &str, payload: &[u8]) -> Result<Option<Pointer>> {
        if payload.len() <= self.settings.value_log_threshold {
            return Ok(None);
        }
        self.append_always(path, payload).map(Some)
    }

    /// Appends `payload` whatever its size (compaction moves values as they are).
    pub(super) fn append_always(&self, path: &str, payload: &[u8]) -> Result<Pointer> {
        let io = |operation| move |e| Error::backend(NAME, operation, e);
        let mut appender = self.appender();
        let record = (segment::RECORD_HEADER + path.len() + payload.len()) as u64;
        let full = appender.active.as_ref().is_some_and(|s| {
            s.len() > segment::FILE_HEADER
                && s.len() + record > self.settings.value_log_segment_bytes
        });
        if full {
            appender.active = None;
        }
        let active = match &appender.active {
            Some(active) => Arc::clone(active),
            None => {
                let id = appender.next_id;
                appender.next_id += 1;
                let created = Arc::new(
                    Segment::create(&self.dir, id).map_err(io("create a value-log segment"))?,
                );
                self.segments
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(id, Arc::clone(&created));
                appender.dir_dirty = true;
                appender.active = Some(Arc::clone(&created));
                created
            }
        };
        if !appender.unsynced.iter().any(|s| Arc::ptr_eq(s, &active)) {
            appender.unsynced.push(Arc::clone(&active));
        }
        appender.appended += record as usize;
        match active.append(path, payload) {
            Ok(offset) => Ok(Pointer {
                segment: active.id(),
                offset,
                len: payload.len() as u64,
            }),
            Err(e) => {
                // The tail is undefined now: never append to this segment again.
                appender.active = None;
                Err(io("append to the value log")(e))
            }
        }
    }

    /// Write protocol, step 2: makes every byte appended since the last call durable and
    /// returns how many there were. Writer thread only, right before `COMMIT`. On failure
    /// the active segment is sealed.
    pub(super) fn sync(&self) -> Result<usize> {
        let mut appender = self.appender();
        let appended = std::mem::take(&mut appender.appended);
        if appender.unsynced.is_empty() && !appender.dir_dirty {
            return Ok(appended);
        }
        let result = self.sync_locked(&mut appender);
        if result.is_err() {
            appender.active = None;
        }
        appender.unsynced.clear();
        result
            .map(|()| appended)
            .map_err(|e| Error::backend(NAME, "sync the value log", e))
    }

    fn sync_locked(&self, appender: &mut Appender) -> std::io::Result<()> {
        #[cfg(test)]
        self.faults.fail_at(faults::Step::Sync)?;
        for segment in &appender.unsynced {
            segment.sync()?;
        }
        if appender.dir_dirty {
            sync_dir(&self.dir)?;
            appender.dir_dirty = false;
        }
        Ok(())
    }

    /// Seals the active segment (compaction asks for it; writer thread only, so an append
    /// never races it).
    pub(super) fn seal(&self) {
        self.appender().active = None;
    }

    /// The id of the active segment, if any.
    pub(super) fn active_id(&self) -> Option<u64> {
        self.appender().active.as_ref().map(|s| s.id())
    }

    /// Read protocol, step 2: the segment of `value`, if it still exists.
    pub(super) fn locate(&self, mut value: Value) -> Option<Value> {
        let segment = self.table().get(&value.pointer.segment).cloned()?;
        value.segment = Some(segment);
        Some(value)
    }

    /// Every segment, in id order.
    fn all_segments(&self) -> Vec<Arc<Segment>> {
        self.table().values().cloned().collect()
    }

    /// Removes segment `id` from the table, so no new read can locate it (compaction step 4).
    fn forget(&self, id: u64) -> Option<Arc<Segment>> {
        self.segments
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id)
    }

    /// The sizes of the log, from the segment table and the accounting of `conn`.
    pub(super) fn stats(&self, conn: &Connection) -> Result<ValueLogStats> {
        let live = rows::segment_rows(conn)?;
        let mut stats = ValueLogStats::default();
        for segment in self.all_segments() {
            stats.segments += 1;
            stats.bytes += segment.len();
            stats.live_bytes += live.get(&segment.id()).copied().unwrap_or(0);
        }
        stats.reclaimable_bytes = stats.bytes.saturating_sub(stats.live_bytes);
        Ok(stats)
    }
}

/// `fsync` of a directory (makes created and removed entries durable).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir).and_then(|d| d.sync_all())
}

#[cfg(test)]
pub(super) mod faults {
    //! Fault injection for the crash matrix: a step fails once, leaving what a crash there
    //! would leave.

    use std::sync::Mutex;

    /// A step of the write or compaction protocol.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Step {
        /// Write step 2: the sync before `COMMIT` (the group is rolled back).
        Sync,
        /// Compaction, after the pointer swaps committed, before the segment's row is dropped.
        AfterMoves,
        /// Compaction, after the segment's row was dropped, before its file is deleted.
        AfterDrop,
    }

    /// The armed step, if any.
    #[derive(Debug, Default)]
    pub(crate) struct Faults(Mutex<Option<Step>>);

    impl Faults {
        /// Makes `step` fail the next time it runs.
        pub(crate) fn arm(&self, step: Step) {
            *self.0.lock().unwrap() = Some(step);
        }

        /// Fails (once) if `step` is armed.
        pub(crate) fn fail_at(&self, step: Step) -> std::io::Result<()> {
            let mut armed = self.0.lock().unwrap();
            if *armed == Some(step) {
                *armed = None;
                return Err(std::io::Error::other(format!("injected crash at {step:?}")));
            }
            Ok(())
        }
    }

    impl super::ValueLog {
        /// The fault injection of this log.
        pub(crate) fn faults(&self) -> &Faults {
            &self.faults
        }
    }
}
