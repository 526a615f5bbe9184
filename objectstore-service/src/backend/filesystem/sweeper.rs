//! The expiry sweeper: reclaims the space of expired objects, stale sidecars and abandoned
//! multipart uploads. Expired objects already read as absent, so sweeping is about disk
//! space only and may lag behind.
//!
//! A **pass** walks `objects/` in file-name order. [`Store::sweep_once`] does one bounded step
//! of a pass: it examines at most `limit` entries after the cursor and remembers the last one,
//! so the next step continues where this one stopped (also across a busy period; the cursor
//! lives in memory and a restart begins a new pass). When a step reaches the end of the
//! directory, the pass is complete and the cursor resets. Each pass starts by removing
//! multipart staging directories older than the configured age.
//!
//! For each entry:
//!
//! * an object file that is expired at the clock's time is deleted together with its sidecar,
//!   under the object's commit lock and only if it is still the same write and still expired
//!   (a concurrent overwrite or extension wins);
//! * a sidecar whose object is gone or is another write is removed;
//! * anything else (unknown names, corrupt files) is logged and left alone.
//!
//! The background task ([`spawn`]) calls `sweep_once(files_per_second)` once a second while a
//! pass is running and waits `interval` between passes, so it never examines more than
//! `files_per_second` entries per second. It holds only a weak reference to the store, so
//! dropping every backend handle ends it; `join` stops it explicitly.

use std::fs;
use std::io;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::format::UploadJson;
use super::layout::{self, SIDECAR_SUFFIX, UPLOAD_FILE};
use super::store::{Store, io_error};
use crate::error::Result;
use objectstore_types::time;

/// What one sweep step (`FilesystemBackend::sweep_once`) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepStats {
    /// Entries of `objects/` examined (object files and sidecars).
    pub examined: usize,
    /// Expired objects deleted.
    pub objects_deleted: usize,
    /// Stale sidecars removed.
    pub sidecars_removed: usize,
    /// Abandoned multipart uploads removed.
    pub uploads_removed: usize,
    /// Whether this step finished the pass (the next step starts a new one).
    pub pass_complete: bool,
}

/// Whether `name` is a two-digit lowercase hex shard directory name.
fn is_shard(name: &str) -> bool {
    name.len() == 2 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The sorted names in `dir` accepted by `keep` (a missing directory is empty).
fn sorted_names(dir: &std::path::Path, keep: impl Fn(&str) -> bool) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        if let Ok(name) = entry?.file_name().into_string()
            && keep(&name)
        {
            names.push(name);
        }
    }
    names.sort_unstable();
    Ok(names)
}

impl Store {
    /// One bounded sweep step: see the module docs.
    pub(super) fn sweep_once(
        &self,
        cursor: &mut Option<String>,
        limit: usize,
        multipart_max_age: Duration,
    ) -> Result<SweepStats> {
        let mut stats = SweepStats::default();
        if cursor.is_none() {
            stats.uploads_removed = self.sweep_uploads(multipart_max_age)?;
        }
        let names = self
            .entries_after(cursor.as_deref(), limit)
            .map_err(io_error("list objects"))?;
        let now = self.clock.now();
        for name in &names {
            stats.examined += 1;
            if let Err(e) = self.sweep_entry(name, now, &mut stats) {
                tracing::warn!(name, error = %e, "sweeper skipped an entry");
            }
        }
        stats.pass_complete = names.len() < limit;
        for (kind, n) in [
            ("examined", stats.examined),
            ("object_deleted", stats.objects_deleted),
            ("sidecar_removed", stats.sidecars_removed),
            ("upload_removed", stats.uploads_removed),
        ] {
            metrics::counter!("objectstore_filesystem_sweep_entries_total", "result" => kind)
                .increment(n as u64);
        }
        if stats.pass_complete {
            metrics::counter!("objectstore_filesystem_sweep_passes_total").increment(1);
        }
        *cursor = if stats.pass_complete {
            None
        } else {
            names.last().cloned()
        };
        Ok(stats)
    }

    fn sweep_entry(&self, name: &str, now: SystemTime, stats: &mut SweepStats) -> io::Result<()> {
        if let Some(object) = name.strip_suffix(SIDECAR_SUFFIX) {
            if layout::is_object_name(object) && self.remove_stale_sidecar(object)? {
                stats.sidecars_removed += 1;
            }
            return Ok(());
        }
        if !layout::is_object_name(name) {
            tracing::warn!(name, "unknown file in the objects directory");
            return Ok(());
        }
        let Some(loaded) = self.load_name(name)? else {
            return Ok(());
        };
        if loaded.metadata.is_expired(now) {
            drop(loaded.file);
            if self.delete_if_expired(name, &loaded.header.write_id, now)? {
                tracing::debug!(path = loaded.header.path, "swept an expired object");
                stats.objects_deleted += 1;
            }
        }
        Ok(())
    }

    /// Up to `limit` entry names of `objects/*/*/` after `cursor`, in name order. Because
    /// shard directories are prefixes of the names they hold, name order is walk order.
    pub(super) fn entries_after(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let cursor = cursor.unwrap_or("");
        let root = self.layout.objects_dir();
        for a in sorted_names(&root, is_shard)? {
            if cursor.get(..2).is_some_and(|c| a.as_str() < c) {
                continue;
            }
            for b in sorted_names(&root.join(&a), is_shard)? {
                let prefix = format!("{a}{b}");
                if cursor.get(..4).is_some_and(|c| prefix.as_str() < c) {
                    continue;
                }
                for name in sorted_names(&root.join(&a).join(&b), |n| n > cursor)? {
                    out.push(name);
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Removes staging directories of uploads initiated more than `max_age` ago (by the
    /// store's clock; a directory without a readable description goes by its mtime).
    fn sweep_uploads(&self, max_age: Duration) -> Result<usize> {
        let dir = self.layout.multipart_dir();
        let now = self.clock.now();
        let mut removed = 0;
        for upload_id in
            sorted_names(&dir, layout::valid_upload_id).map_err(io_error("list uploads"))?
        {
            let staging = dir.join(&upload_id);
            let created = match fs::read(staging.join(UPLOAD_FILE)) {
                Ok(bytes) => UploadJson::decode(&bytes)
                    .ok()
                    .map(|u| time::from_unix_secs(u.created)),
                Err(_) => None,
            };
            let created = match created {
                Some(c) => c,
                None => match fs::metadata(&staging).and_then(|m| m.modified()) {
                    Ok(m) => m,
                    Err(_) => continue,
                },
            };
            if now.duration_since(created).unwrap_or_default() > max_age {
                match layout::remove_dir_if_exists(&staging) {
                    Ok(true) => removed += 1,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(upload_id, error = %e, "failed to remove an upload"),
                }
            }
        }
        if removed > 0 {
            layout::sync_dir(&dir).map_err(io_error("sync the multipart directory"))?;
        }
        Ok(removed)
    }
}

/// Settings of the background sweeper.
#[derive(Debug, Clone, Copy)]
pub(super) struct SweepSchedule {
    pub interval: Duration,
    pub files_per_second: usize,
    pub multipart_max_age: Duration,
}

/// Spawns the background sweeper on the current tokio runtime. It stops when `stop` turns
/// true (or its sender is dropped) or when the store is dropped.
pub(super) fn spawn(
    store: Weak<Store>,
    cursor: Arc<std::sync::Mutex<Option<String>>>,
    schedule: SweepSchedule,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut delay = Duration::ZERO;
        loop {
            tokio::select! {
                biased;
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        return;
                    }
                    continue;
                }
                () = tokio::time::sleep(delay) => {}
            }
            let Some(store) = store.upgrade() else {
                return;
            };
            let cursor = cursor.clone();
            let step = tokio::task::spawn_blocking(move || {
                let mut cursor = cursor
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                store.sweep_once(
                    &mut cursor,
                    schedule.files_per_second,
                    schedule.multipart_max_age,
                )
            })
            .await;
            delay = match step {
                Ok(Ok(stats)) if stats.pass_complete => schedule.interval,
                Ok(Ok(_)) => Duration::from_secs(1),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "expiry sweep failed");
                    schedule.interval
                }
                Err(e) => {
                    tracing::error!(error = %e, "expiry sweep panicked");
                    schedule.interval
                }
            };
        }
    })
}
