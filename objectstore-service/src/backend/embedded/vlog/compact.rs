//! Compaction: space comes back.
//!
//! Overwritten, deleted and expired values, and tails left by crashes, are garbage in their
//! segment. A background thread (the compactor) picks the sealed segment with the largest
//! share of garbage once that share reaches [`ValueLogSettings::compaction_garbage_ratio`]
//! (or any segment without a live value), moves its live values to the active segment and
//! deletes it. The active segment is sealed on request once it has as much garbage and at
//! least an eighth of the segment size, so a small working set that is overwritten all the
//! time is reclaimed too.
//!
//! # Protocol (one segment `S`)
//!
//! 1. List the rows pointing into `S` (a read connection; a snapshot, possibly stale).
//! 2. For each: read its record from `S` and verify header and CRC (rate-limited, see
//!    below), then send the writer a move job: if the row **still** points at the same
//!    place, append the payload to the active segment and swap the row's pointer
//!    (compare-and-swap, [`rows::move_value`]); otherwise do nothing (an overwrite or delete
//!    won). The move commits with its group, after the group's value-log sync (write
//!    protocol, step 2): the new copy is durable before the row points at it. A damaged
//!    record is not moved (logged; `check` reports it) and keeps `S` alive.
//! 3. Send the writer a drop job: if no row points into `S` any more, delete `S`'s
//!    accounting row. **The commit point**: from here on `S` is garbage as a whole. No
//!    pointer into `S` can appear later, because only the active segment is appended to
//!    and `S` is sealed. If a row still points into `S` (a move failed), stop here; a later
//!    pass retries.
//! 4. Remove `S` from the segment table (no new read can locate it; reads holding its file
//!    keep reading it, see the read protocol), delete its file, sync the directory.
//!
//! Crash at any step: before 3, some values are moved (each move is atomic and durable),
//! the others still point into `S`, which stays; its accounting shows the garbage, so it is
//! picked again. Between 3 and 4, `S`'s file has no accounting row and no row points into
//! it: the next open deletes it (open, step 2). A move appended but not committed leaves
//! unreferenced bytes in the active segment, garbage like any other.
//!
//! # Bounds
//!
//! * I/O: the compactor reads at most [`ValueLogSettings::compaction_bytes_per_second`]
//!   (a budget that starts afresh with every segment; each read byte of a live value is
//!   written once more by the writer thread).
//! * Memory: at most [`IN_FLIGHT_BYTES`] of moved payloads are waiting for their commit.
//! * The writer sees moves as ordinary jobs of its groups, weighted by their payload.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

use super::super::schema::open_reader;
use super::super::writer::{Message, Pending};
use super::super::{EmbeddedBackend, NAME};
use super::segment::{RECORD_HEADER, Segment};
use super::{ValueLog, ValueLogSettings, ValueLogStats, rows, sync_dir};

/// How long the compactor sleeps when there is nothing to do.
const IDLE: Duration = Duration::from_secs(1);
/// Moved payloads that may wait for their commit at once.
const IN_FLIGHT_BYTES: u64 = 8 * 1024 * 1024;

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CompactionReport {
    /// Segments deleted (their live values moved first).
    pub segments_deleted: u64,
    /// Bytes of live values moved to the active segment.
    pub moved_bytes: u64,
    /// Values not moved because they changed meanwhile.
    pub raced_values: u64,
    /// Values not moved because their record is damaged (their segment stays).
    pub damaged_values: u64,
    /// Segment bytes given back to the filesystem.
    pub reclaimed_bytes: u64,
}

impl CompactionReport {
    fn add(&mut self, other: Self) {
        self.segments_deleted += other.segments_deleted;
        self.moved_bytes += other.moved_bytes;
        self.raced_values += other.raced_values;
        self.damaged_values += other.damaged_values;
        self.reclaimed_bytes += other.reclaimed_bytes;
    }
}

/// A stop signal the compactor can sleep on.
#[derive(Debug, Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    fn set(&self) {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.wake.notify_all();
    }

    fn is_set(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sleeps for `d` or until stopped; returns whether stopped.
    fn sleep(&self, d: Duration) -> bool {
        let guard = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .wake
            .wait_timeout_while(guard, d, |stopped| !*stopped)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }
}

/// The I/O budget of one segment's compaction.
struct Limiter {
    bytes_per_second: u64,
    started: Instant,
    spent: u64,
}

impl Limiter {
    fn new(bytes_per_second: u64) -> Self {
        Self {
            bytes_per_second,
            started: Instant::now(),
            spent: 0,
        }
    }

    /// Spends `n` bytes, sleeping until the budget allows them; false if stopped.
    fn spend(&mut self, n: u64, stop: &Stop) -> bool {
        self.spent += n;
        if self.bytes_per_second == 0 || self.bytes_per_second == u64::MAX {
            return !stop.is_set();
        }
        let due = Duration::from_secs_f64(self.spent as f64 / self.bytes_per_second as f64);
        match due.checked_sub(self.started.elapsed()) {
            Some(wait) if !wait.is_zero() => !stop.sleep(wait),
            _ => !stop.is_set(),
        }
    }
}

/// Sends jobs to the writer thread from a thread outside the runtime.
struct Writer<'a>(&'a mpsc::Sender<Message>);

impl Writer<'_> {
    fn submit<T, F>(
        &self,
        operation: &'static str,
        weight: usize,
        f: F,
    ) -> Result<oneshot::Receiver<Result<T>>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, response) = oneshot::channel();
        let job = Box::new(Pending::new(operation, weight, f, reply));
        self.0
            .blocking_send(Message::Job(job))
            .map_err(|_| stopped(operation))?;
        Ok(response)
    }

    fn run<T, F>(&self, operation: &'static str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        wait(operation, self.submit(operation, 0, f)?)
    }
}

fn wait<T>(operation: &'static str, response: oneshot::Receiver<Result<T>>) -> Result<T> {
    response.blocking_recv().map_err(|_| stopped(operation))?
}

fn stopped(operation: &'static str) -> Error {
    Error::backend(NAME, operation, "the embedded store's writer has stopped")
}

/// One sealed or active segment as compaction sees it.
#[derive(Debug)]
struct Candidate {
    segment: Arc<Segment>,
    live: u64,
}

impl Candidate {
    fn garbage_ratio(&self) -> f64 {
        let len = self.segment.len().max(1);
        len.saturating_sub(self.live) as f64 / len as f64
    }
}

/// The segments with their accounting, and the log's stats.
fn survey(vlog: &ValueLog, conn: &Connection) -> Result<(Vec<Candidate>, ValueLogStats)> {
    let live: BTreeMap<u64, u64> = rows::segment_rows(conn)?;
    let mut stats = ValueLogStats::default();
    let candidates: Vec<Candidate> = vlog
        .all_segments()
        .into_iter()
        .map(|segment| {
            let live = live.get(&segment.id()).copied().unwrap_or(0);
            stats.segments += 1;
            stats.bytes += segment.len();
            stats.live_bytes += live;
            Candidate { segment, live }
        })
        .collect();
    stats.reclaimable_bytes = stats.bytes.saturating_sub(stats.live_bytes);
    Ok((candidates, stats))
}

/// Publishes the sizes and makes sure every compaction metric exists (counters at 0 until
/// something happens), so dashboards and alerts see them from the start.
fn publish(stats: &ValueLogStats) {
    metrics::gauge!("objectstore_embedded_value_log_segments").set(stats.segments as f64);
    metrics::gauge!("objectstore_embedded_value_log_bytes").set(stats.bytes as f64);
    metrics::gauge!("objectstore_embedded_value_log_reclaimable_bytes")
        .set(stats.reclaimable_bytes as f64);
    for counter in [
        "objectstore_embedded_compaction_moved_bytes_total",
        "objectstore_embedded_compaction_reclaimed_bytes_total",
        "objectstore_embedded_compaction_errors_total",
    ] {
        metrics::counter!(counter).increment(0);
    }
}

/// Compacts segment `candidate` (protocol steps 1 to 4).
fn compact_segment(
    vlog: &Arc<ValueLog>,
    conn: &Connection,
    writer: &Writer<'_>,
    candidate: &Candidate,
    limiter: &mut Limiter,
    stop: &Stop,
) -> Result<CompactionReport> {
    let segment = &candidate.segment;
    let id = segment.id();
    let mut report = CompactionReport::default();
    // 1.
    let values = rows::live_values(conn, id)?;
    // 2.
    let mut pending: Vec<(u64, oneshot::Receiver<Result<bool>>)> = Vec::new();
    let mut in_flight = 0;
    let settle = |pending: &mut Vec<(u64, oneshot::Receiver<Result<bool>>)>,
                  report: &mut CompactionReport|
     -> Result<()> {
        for (len, response) in pending.drain(..) {
            if wait("move a value-log payload", response)? {
                report.moved_bytes += len;
            } else {
                report.raced_values += 1;
            }
        }
        Ok(())
    };
    for (path, pointer) in values {
        let record = RECORD_HEADER as u64 + path.len() as u64 + pointer.len;
        if !limiter.spend(record, stop) {
            settle(&mut pending, &mut report)?;
            return Ok(report);
        }
        let payload = match segment
            .read_verified(&path, pointer.offset, pointer.len)
            .map_err(|e| Error::backend(NAME, "read a value-log record", e))?
        {
            Ok(payload) => payload,
            Err(fault) => {
                tracing::error!(
                    segment = id,
                    offset = pointer.offset,
                    path = %path,
                    %fault,
                    "embedded store: a damaged value-log record was not moved (run `objectstore check`)"
                );
                report.damaged_values += 1;
                continue;
            }
        };
        let log = Arc::clone(vlog);
        let weight = payload.len();
        let response = writer.submit("move a value-log payload", weight, move |c| {
            rows::move_value(c, &log, &path, pointer, &payload)
        })?;
        pending.push((pointer.len, response));
        in_flight += pointer.len;
        if in_flight >= IN_FLIGHT_BYTES {
            settle(&mut pending, &mut report)?;
            in_flight = 0;
        }
    }
    settle(&mut pending, &mut report)?;
    if report.moved_bytes > 0 {
        metrics::counter!("objectstore_embedded_compaction_moved_bytes_total")
            .increment(report.moved_bytes);
    }
    #[cfg(test)]
    vlog.faults
        .fail_at(super::faults::Step::AfterMoves)
        .map_err(|e| Error::backend(NAME, "compact the value log", e))?;
    // 3.
    if !writer.run("drop a value-log segment", move |c| {
        rows::drop_segment(c, id)
    })? {
        return Ok(report);
    }
    #[cfg(test)]
    vlog.faults
        .fail_at(super::faults::Step::AfterDrop)
        .map_err(|e| Error::backend(NAME, "compact the value log", e))?;
    // 4.
    let len = segment.len();
    vlog.forget(id);
    // Another compaction (`compact_now` next to the background one) may have been first.
    match std::fs::remove_file(segment.path()) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        other => other
            .and_then(|()| sync_dir(&vlog.dir))
            .map_err(|e| Error::backend(NAME, "delete a value-log segment", e))?,
    }
    report.segments_deleted = 1;
    report.reclaimed_bytes = len;
    metrics::counter!("objectstore_embedded_compaction_reclaimed_bytes_total").increment(len);
    tracing::debug!(
        segment = id,
        moved = report.moved_bytes,
        reclaimed = len,
        "embedded store: compacted a value-log segment"
    );
    Ok(report)
}

/// What one pass decided.
enum Pass {
    /// Nothing to do, or no progress.
    Idle,
    /// A segment was compacted or sealed; look again at once.
    Worked,
}

/// One pass of the compactor: publish the stats, then compact the worst segment, or seal
/// the active one when it is the worst. Segments in `damaged` (a record there failed its
/// checks; `check` reports it) are left alone until the next open, so one damaged record
/// does not make the compactor re-read its segment forever.
fn pass(
    vlog: &Arc<ValueLog>,
    conn: &Connection,
    writer: &Writer<'_>,
    stop: &Stop,
    damaged: &mut HashSet<u64>,
) -> Result<Pass> {
    let settings: &ValueLogSettings = vlog.settings();
    let (candidates, stats) = survey(vlog, conn)?;
    publish(&stats);
    let ratio = settings.compaction_garbage_ratio;
    let active = vlog.active_id();
    let worst = candidates
        .iter()
        .filter(|c| Some(c.segment.id()) != active && !damaged.contains(&c.segment.id()))
        .filter(|c| c.live == 0 || c.garbage_ratio() >= ratio)
        .max_by(|a, b| a.garbage_ratio().total_cmp(&b.garbage_ratio()));
    if let Some(candidate) = worst {
        let mut limiter = Limiter::new(settings.compaction_bytes_per_second);
        let done = compact_segment(vlog, conn, writer, candidate, &mut limiter, stop)?;
        if done.damaged_values > 0 {
            damaged.insert(candidate.segment.id());
        }
        // A segment that could not go yet (a value committed into it after the list was
        // taken) is retried after the idle pause, not in a busy loop.
        return Ok(if done.segments_deleted > 0 || done.moved_bytes > 0 {
            Pass::Worked
        } else {
            Pass::Idle
        });
    }
    let seal_active = candidates.iter().any(|c| {
        Some(c.segment.id()) == active
            && c.segment.len() >= settings.value_log_segment_bytes / 8
            && c.garbage_ratio() >= ratio
    });
    if seal_active {
        let log = Arc::clone(vlog);
        writer.run("seal the active value-log segment", move |_| {
            log.seal();
            Ok(())
        })?;
        return Ok(Pass::Worked);
    }
    Ok(Pass::Idle)
}

/// The background compactor thread. Stopping it (drop) waits for the move in progress.
pub(in super::super) struct Compactor {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

impl Compactor {
    /// Starts the compactor with its own read connection to the database at `db_path`,
    /// sending moves to the writer through `sender`. `None` when compaction is disabled or
    /// cannot start (logged).
    pub(in super::super) fn start(
        vlog: &Arc<ValueLog>,
        db_path: &Path,
        sender: mpsc::Sender<Message>,
    ) -> Option<Self> {
        if vlog.settings().compaction_bytes_per_second == 0 {
            return None;
        }
        let conn = match open_reader(db_path) {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "embedded store: no value-log compaction");
                return None;
            }
        };
        let stop = Arc::new(Stop::default());
        let thread_stop = Arc::clone(&stop);
        let vlog = Arc::clone(vlog);
        let spawned = std::thread::Builder::new()
            .name("objectstore-embedded-compactor".into())
            .spawn(move || run(&vlog, &conn, &sender, &thread_stop));
        match spawned {
            Ok(thread) => Some(Self {
                stop,
                thread: Some(thread),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "embedded store: no value-log compaction");
                None
            }
        }
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        self.stop.set();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the embedded store's compactor thread panicked");
        }
    }
}

fn run(vlog: &Arc<ValueLog>, conn: &Connection, sender: &mpsc::Sender<Message>, stop: &Stop) {
    let writer = Writer(sender);
    let mut damaged = HashSet::new();
    while !stop.is_set() {
        match pass(vlog, conn, &writer, stop, &mut damaged) {
            Ok(Pass::Worked) => {}
            Ok(Pass::Idle) => {
                stop.sleep(IDLE);
            }
            Err(e) => {
                metrics::counter!("objectstore_embedded_compaction_errors_total").increment(1);
                tracing::warn!(error = %e, "embedded store: value-log compaction failed");
                stop.sleep(IDLE);
            }
        }
    }
}

impl EmbeddedBackend {
    /// The sizes of the value log (segments, bytes, live and reclaimable bytes).
    pub async fn value_log_stats(&self) -> Result<ValueLogStats> {
        let vlog = Arc::clone(&self.inner.vlog);
        self.read("read the value-log accounting", move |c| vlog.stats(c))
            .await
    }

    /// Compacts now, without the I/O bound: seals the active segment, then compacts every
    /// sealed segment present at the start whose garbage share is at least
    /// `min_garbage_ratio` (`None`: the configured ratio; `Some(0.0)`: every one), whether
    /// or not a background compactor runs. For `objectstore check --repair` and tests.
    pub async fn compact_now(&self, min_garbage_ratio: Option<f64>) -> Result<CompactionReport> {
        let vlog = Arc::clone(&self.inner.vlog);
        let sender = self.sender("compact the value log")?.clone();
        let db_path = self.inner.dir.join(super::super::DB_FILE);
        tokio::task::spawn_blocking(move || {
            let conn = open_reader(&db_path)?;
            let writer = Writer(&sender);
            let ratio = min_garbage_ratio.unwrap_or(vlog.settings().compaction_garbage_ratio);
            let log = Arc::clone(&vlog);
            writer.run("seal the active value-log segment", move |_| {
                log.seal();
                Ok(())
            })?;
            let (candidates, _) = survey(&vlog, &conn)?;
            // Writes since the seal may have started a new active segment: not that one.
            let active = vlog.active_id();
            let stop = Stop::default();
            let mut report = CompactionReport::default();
            for candidate in candidates {
                if Some(candidate.segment.id()) == active {
                    continue;
                }
                if candidate.live == 0 || candidate.garbage_ratio() >= ratio {
                    let mut limiter = Limiter::new(u64::MAX);
                    let done =
                        compact_segment(&vlog, &conn, &writer, &candidate, &mut limiter, &stop)?;
                    report.add(done);
                }
            }
            publish(&survey(&vlog, &conn)?.1);
            Ok(report)
        })
        .await
        .map_err(|e| Error::Internal(format!("value-log compaction failed: {e}")))?
    }
}
