//! `objectstore check`: an offline consistency check (and repair) of a tiered store.
//!
//! [`check`] scans the high-volume tier (rows, change log, leases) and the long-term tier
//! (blobs) through the backends' scan methods (contract 7 of [`crate::backend`]) and
//! reports, in a [`CheckReport`]:
//!
//! * **dangling tombstones**: a tombstone whose long-term revision is missing (the object
//!   is lost: HEAD answers, GET reports absent);
//! * **unreferenced blobs**: long-term blobs that no tombstone targets and no change record
//!   names, older than the grace period (younger ones are counted apart: they may belong to
//!   a write in flight when the store is live);
//! * **expired rows** still present (the sweeper has not reached them);
//! * the **change log**: records, the oldest record's age, and per owner whether its lease
//!   is live and how many of its records are **due** for recovery (deferred records count
//!   once their `not_before` passed; with an exclusive high-volume backend every record of
//!   a stopped server is due);
//! * for the embedded high-volume store, its **value log** ([`CheckReport::value_log`],
//!   filled by the caller with
//!   [`EmbeddedBackend::check_value_log`](crate::backend::embedded::EmbeddedBackend::check_value_log)):
//!   pointers that do not lead to their payload, wrong accounting, reclaimable bytes.
//! * with `deep`, **corrupt objects**: a tombstone whose blob's size differs from the
//!   recorded one, or whose bytes do not have the MD5 its ETag records (module `deep`).
//!   They are never repaired (nothing proves the data dead).
//!
//! # Procedure (with `repair`, steps 4 to 7)
//!
//! 1. Scan the change log (every record's `old` and `new` count as referenced) and leases.
//! 2. Scan the rows: tombstone targets, expired rows.
//! 3. List the blobs; a blob is unreferenced if no tombstone targets it and no record names
//!    it. Every candidate (dangling or unreferenced) is re-read individually before it is
//!    reported, so a write that landed during the scan is not reported. With `deep`, each
//!    tombstone's blob is compared with what the tombstone records (size from the listing,
//!    MD5 by reading it), re-read the same way.
//! 4. Recovery ([`TieredStorage::recover_now`], the same code the server runs): due records
//!    are claimed and cleaned (blobs no tombstone references are deleted).
//! 5. Expired rows: [`TieredStorage::sweep_expired`] (`delete_if_expired`; a tombstone's
//!    blob goes through the normal change-record cleanup), then waits for the cleanups.
//! 6. Unreferenced blobs older than the grace: re-checked against the current row and the
//!    change log, then deleted.
//! 7. Dangling tombstones: removed with `compare_and_write(target -> delete)` (a concurrent
//!    write wins); the object was lost before, and is reported as lost.
//!
//! Every finding says whether it was repaired; a failed repair is listed in
//! [`CheckReport::errors`] and leaves the finding unrepaired. Repairs are idempotent: a
//! second run repairs what a failed or interrupted one left. **A repair never deletes data
//! it cannot prove dead:** only blobs that nothing references (re-checked right before the
//! delete) and tombstones whose blob is gone; a corrupt object stays as it is.
//!
//! **Memory:** the tombstone targets and the referenced set of the change log are held in
//! memory (one storage path each); blobs are streamed page by page.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use objectstore_types::{ObjectId, ObjectKey};
use serde::Serialize;

use crate::backend::Expected;
use crate::backend::embedded::vlog::ValueLogCheck;
use crate::backend::{
    BlobInfo, ChangeRecord, HighVolumeBackend, HighVolumeStore, LongTermBackend, TieredMetadata,
    TieredWrite,
};
use crate::clock::SharedClock;
use crate::digest::Md5;
use crate::error::Result;
use crate::tiered::{TieredConfig, TieredStorage};

mod deep;
#[cfg(test)]
mod tests;

pub use deep::CorruptObject;

/// What [`check`] does.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Fix what is safe to fix (see the module docs).
    pub repair: bool,
    /// Unreferenced blobs younger than this are not reported as problems (they may belong
    /// to a write in flight). Default 1 h (the multipart grace).
    pub grace: Duration,
    /// Page size of the scans. Default 1000.
    pub page_size: usize,
    /// Also compare every tombstone's recorded size and MD5 with its long-term blob (reads
    /// every blob whose ETag is an MD5). Default `false`.
    pub deep: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            repair: false,
            grace: TieredConfig::default().multipart_grace,
            page_size: 1000,
            deep: false,
        }
    }
}

/// The result of [`check`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// Whether repairs were attempted.
    pub repair: bool,
    /// Whether blobs were compared with their tombstones (`deep`).
    pub deep: bool,
    /// High-volume rows seen (inline objects and tombstones).
    pub rows: u64,
    /// Of which tombstones.
    pub tombstones: u64,
    /// Long-term blobs seen.
    pub blobs: u64,
    /// Tombstones whose revision is missing.
    pub dangling_tombstones: Vec<DanglingTombstone>,
    /// Tombstones whose revision does not hold what they record (`deep` only; never
    /// repaired).
    pub corrupt_objects: Vec<CorruptObject>,
    /// Blobs nothing references, older than the grace period.
    pub unreferenced_blobs: Vec<UnreferencedBlob>,
    /// Unreferenced blobs younger than the grace period (not a problem).
    pub recent_unreferenced_blobs: u64,
    /// Expired rows still stored.
    pub expired_rows: Vec<ExpiredFinding>,
    /// The change log.
    pub change_log: ChangeLogSummary,
    /// The value log of an embedded high-volume store (`None` for other backends).
    pub value_log: Option<ValueLogCheck>,
    /// Repairs that failed.
    pub errors: Vec<String>,
}

/// A tombstone pointing at a missing long-term revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DanglingTombstone {
    /// The object (lost).
    pub id: String,
    /// The missing revision.
    pub target: String,
    /// Whether the tombstone was removed.
    pub repaired: bool,
}

/// A long-term blob nothing references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreferencedBlob {
    /// The blob.
    pub id: String,
    /// Its size.
    pub size: u64,
    /// Seconds since it was last modified.
    pub age_secs: u64,
    /// Whether it was deleted.
    pub repaired: bool,
}

/// An expired row still stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpiredFinding {
    /// The object.
    pub id: String,
    /// Whether the row is a tombstone.
    pub tombstone: bool,
    /// Seconds since the deadline.
    pub expired_secs: u64,
    /// Whether it is gone (or no longer expired) after the repair.
    pub repaired: bool,
}

/// The change log as found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChangeLogSummary {
    /// Records.
    pub records: u64,
    /// Deferred records (multipart uploads and their commit markers) not yet due.
    pub deferred: u64,
    /// Age of the oldest record (by its UUID v7 time), seconds.
    pub oldest_age_secs: Option<u64>,
    /// Per owner.
    pub owners: Vec<OwnerSummary>,
    /// Records due for recovery.
    pub due: u64,
    /// Records recovery cleaned (repair).
    pub recovered: u64,
    /// Records recovery failed to clean (repair).
    pub recovery_failed: u64,
}

/// The records of one owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnerSummary {
    /// The instance id.
    pub owner: String,
    /// Whether its lease is live.
    pub lease_live: bool,
    /// Its records.
    pub records: u64,
    /// Of which due for recovery.
    pub due: u64,
}

impl CheckReport {
    /// Problems found (dangling tombstones, corrupt objects, unreferenced blobs past the
    /// grace, expired rows, change records due for recovery, value-log problems).
    pub fn problems(&self) -> u64 {
        (self.dangling_tombstones.len()
            + self.corrupt_objects.len()
            + self.unreferenced_blobs.len()
            + self.expired_rows.len()) as u64
            + self.change_log.due
            + self.value_log.as_ref().map_or(0, ValueLogCheck::problems)
    }

    /// Problems not repaired.
    pub fn unrepaired(&self) -> u64 {
        let open = |repaired: bool| u64::from(!repaired);
        self.dangling_tombstones
            .iter()
            .map(|f| open(f.repaired))
            .chain(self.unreferenced_blobs.iter().map(|f| open(f.repaired)))
            .chain(self.expired_rows.iter().map(|f| open(f.repaired)))
            .sum::<u64>()
            + self.corrupt_objects.len() as u64
            + self
                .change_log
                .due
                .saturating_sub(self.change_log.recovered)
            + self.value_log.as_ref().map_or(0, ValueLogCheck::unrepaired)
    }

    /// Whether nothing is wrong (anymore): no problem, or every one repaired, and no
    /// repair failed.
    pub fn is_clean(&self) -> bool {
        self.unrepaired() == 0
            && self.errors.is_empty()
            && self.value_log.as_ref().is_none_or(|v| v.errors.is_empty())
    }
}

/// The logical object a revision `{key}/{uuid}` belongs to, if `blob` is one.
fn logical_id(blob: &ObjectId) -> Option<ObjectId> {
    let (key, suffix) = blob.key().as_str().rsplit_once('/')?;
    uuid::Uuid::try_parse(suffix).ok()?;
    let key = ObjectKey::new(key).ok()?;
    Some(ObjectId::new(blob.context.clone(), key))
}

fn age(now: SystemTime, then: SystemTime) -> u64 {
    now.duration_since(then).unwrap_or_default().as_secs()
}

/// Checks (and with `options.repair` repairs) the tiered store made of `hv` and `lt`. See
/// the module docs. Errors of the scans end the check; errors of repairs are collected in
/// the report. Must run inside a tokio runtime.
pub async fn check(
    hv: Arc<dyn HighVolumeStore>,
    lt: Arc<dyn LongTermBackend>,
    clock: SharedClock,
    options: &CheckOptions,
) -> Result<CheckReport> {
    let page = options.page_size.max(1);
    let now = clock.now();
    let mut report = CheckReport {
        repair: options.repair,
        deep: options.deep,
        ..CheckReport::default()
    };
    let ignore_leases = hv.is_exclusive();

    // 1. Change log and leases.
    let leases: BTreeMap<String, bool> = hv
        .list_leases()
        .await?
        .into_iter()
        .map(|l| (l.instance, l.until >= now))
        .collect();
    let mut referenced: HashSet<String> = HashSet::new();
    let mut owners: BTreeMap<String, OwnerSummary> = BTreeMap::new();
    let mut after: Option<uuid::Uuid> = None;
    loop {
        let records = hv.scan_records(after.as_ref(), page).await?;
        for record in &records {
            summarize(
                &mut report,
                &mut owners,
                &leases,
                record,
                now,
                ignore_leases,
            );
            referenced.extend(
                record
                    .old
                    .iter()
                    .chain(&record.new)
                    .map(ObjectId::as_storage_path),
            );
        }
        match records.last() {
            Some(last) if records.len() >= page => after = Some(last.change_id),
            _ => break,
        }
    }
    report.change_log.owners = owners.into_values().collect();

    // 2. Rows.
    let mut targets: HashSet<String> = HashSet::new();
    let mut tombstones: Vec<(ObjectId, ObjectId)> = Vec::new();
    let mut recorded: Vec<deep::Recorded> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let rows = hv.scan_rows(cursor.as_deref(), page).await?;
        for row in rows.items {
            report.rows += 1;
            if let Some(expires) = row.expires()
                && expires < now
            {
                report.expired_rows.push(ExpiredFinding {
                    id: row.id.as_storage_path(),
                    tombstone: row.target.is_some(),
                    expired_secs: age(now, expires),
                    repaired: false,
                });
            }
            if let Some(target) = row.target {
                report.tombstones += 1;
                targets.insert(target.as_storage_path());
                if options.deep {
                    recorded.push(deep::Recorded {
                        id: row.id.clone(),
                        target: target.clone(),
                        size: row.metadata.size,
                        md5: row.metadata.etag.as_deref().and_then(Md5::from_hex),
                    });
                }
                tombstones.push((row.id, target));
            }
        }
        match rows.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }

    // 3. Blobs, then the dangling tombstones (re-read one by one).
    let mut present: HashMap<String, u64> = HashMap::new();
    let mut unreferenced: Vec<BlobInfo> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let blobs = lt.list_blobs(cursor.as_deref(), page).await?;
        for blob in blobs.items {
            report.blobs += 1;
            let path = blob.id.as_storage_path();
            present.insert(path.clone(), blob.size);
            if !targets.contains(&path) && !referenced.contains(&path) {
                unreferenced.push(blob);
            }
        }
        match blobs.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    for (id, target) in &tombstones {
        if !present.contains_key(&target.as_storage_path())
            && is_dangling(&*hv, &*lt, id, target).await?
        {
            report.dangling_tombstones.push(DanglingTombstone {
                id: id.as_storage_path(),
                target: target.as_storage_path(),
                repaired: false,
            });
        }
    }
    if options.deep {
        report.corrupt_objects = deep::corrupt_objects(&*hv, &*lt, &recorded, &present).await?;
    }
    drop((present, targets, referenced, recorded));
    let mut old_blobs = Vec::new();
    for blob in unreferenced {
        if !still_unreferenced(&*hv, &blob.id).await? {
            continue;
        }
        if now.duration_since(blob.last_modified).unwrap_or_default() >= options.grace {
            old_blobs.push(blob);
        } else {
            report.recent_unreferenced_blobs += 1;
        }
    }
    report.unreferenced_blobs = old_blobs
        .iter()
        .map(|b| UnreferencedBlob {
            id: b.id.as_storage_path(),
            size: b.size,
            age_secs: age(now, b.last_modified),
            repaired: false,
        })
        .collect();

    if options.repair {
        repair(&mut report, hv, lt, clock, &old_blobs, &tombstones, page).await;
    }
    Ok(report)
}

/// Adds one record to the change-log summary.
fn summarize(
    report: &mut CheckReport,
    owners: &mut BTreeMap<String, OwnerSummary>,
    leases: &BTreeMap<String, bool>,
    record: &ChangeRecord,
    now: SystemTime,
    ignore_leases: bool,
) {
    let log = &mut report.change_log;
    log.records += 1;
    if let Some((secs, nanos)) = record.change_id.get_timestamp().map(|t| t.to_unix()) {
        let created = SystemTime::UNIX_EPOCH + Duration::new(secs, nanos);
        let age = age(now, created);
        log.oldest_age_secs = Some(log.oldest_age_secs.map_or(age, |a| a.max(age)));
    }
    let lease_live = leases.get(&record.owner).copied().unwrap_or(false);
    let due = match record.not_before {
        Some(not_before) => not_before <= now,
        None => ignore_leases || !lease_live,
    };
    if record.not_before.is_some() && !due {
        log.deferred += 1;
    }
    let owner = owners
        .entry(record.owner.clone())
        .or_insert_with(|| OwnerSummary {
            owner: record.owner.clone(),
            lease_live,
            records: 0,
            due: 0,
        });
    owner.records += 1;
    if due {
        owner.due += 1;
        log.due += 1;
    }
}

/// Whether the row of `id` still is a tombstone of `target` and `target` is missing.
async fn is_dangling(
    hv: &dyn HighVolumeBackend,
    lt: &dyn LongTermBackend,
    id: &ObjectId,
    target: &ObjectId,
) -> Result<bool> {
    let still = matches!(
        hv.head(id).await?,
        TieredMetadata::Tombstone(t) if t.target == *target
    );
    Ok(still && lt.head(target).await?.is_none())
}

/// Whether no row targets `blob` and no change record names it (re-read now).
async fn still_unreferenced(hv: &dyn HighVolumeStore, blob: &ObjectId) -> Result<bool> {
    if let Some(logical) = logical_id(blob)
        && let TieredMetadata::Tombstone(t) = hv.head(&logical).await?
        && t.target == *blob
    {
        return Ok(false);
    }
    // A deferred multipart record is keyed by the revision's UUID.
    if let Some((_, suffix)) = blob.key().as_str().rsplit_once('/')
        && let Ok(uuid) = uuid::Uuid::try_parse(suffix)
        && let Some(record) = hv.get_record(&uuid).await?
        && record.new.as_ref() == Some(blob)
    {
        return Ok(false);
    }
    Ok(true)
}

/// Steps 4 to 7 of the module docs.
async fn repair(
    report: &mut CheckReport,
    hv: Arc<dyn HighVolumeStore>,
    lt: Arc<dyn LongTermBackend>,
    clock: SharedClock,
    old_blobs: &[BlobInfo],
    tombstones: &[(ObjectId, ObjectId)],
    page: usize,
) {
    let config = TieredConfig {
        instance_id: format!("objectstore-check-{}", uuid::Uuid::new_v4()),
        background: false,
        sweep_rows_per_second: u32::MAX,
        ..TieredConfig::default()
    };
    let tiered = TieredStorage::new(hv.clone(), lt.clone(), clock.clone(), config);

    // 4. Recovery of due records.
    if report.change_log.due > 0 {
        match tiered.recover_now(hv.is_exclusive()).await {
            Ok(r) => {
                report.change_log.recovered = r.cleaned as u64;
                report.change_log.recovery_failed = r.failed as u64;
            }
            Err(e) => report.errors.push(format!("recovery: {e}")),
        }
    }
    // 5. Expired rows.
    if !report.expired_rows.is_empty()
        && let Err(e) = tiered.sweep_expired().await
    {
        report.errors.push(format!("expiry sweep: {e}"));
    }
    // Wait for the cleanups, but keep the backends open (no `join`: it closes them).
    tiered.settle().await;
    if let Err(e) = hv.release_lease(tiered.instance_id()).await {
        report
            .errors
            .push(format!("release the check's lease: {e}"));
    }
    if !report.expired_rows.is_empty() {
        match expired_paths(&*hv, clock.now(), page).await {
            Ok(still) => {
                for finding in &mut report.expired_rows {
                    finding.repaired = !still.contains(&finding.id);
                }
            }
            Err(e) => report.errors.push(format!("re-scan of expired rows: {e}")),
        }
    }
    // 6. Unreferenced blobs.
    for (blob, finding) in old_blobs.iter().zip(report.unreferenced_blobs.iter_mut()) {
        let result = async {
            if still_unreferenced(&*hv, &blob.id).await? {
                lt.delete(&blob.id).await?;
            }
            Ok::<_, crate::Error>(())
        };
        match result.await {
            Ok(()) => finding.repaired = true,
            Err(e) => report
                .errors
                .push(format!("delete blob {}: {e}", finding.id)),
        }
    }
    // 7. Dangling tombstones.
    for finding in &mut report.dangling_tombstones {
        let Some((id, target)) = tombstones
            .iter()
            .find(|(id, _)| id.as_storage_path() == finding.id)
        else {
            continue;
        };
        match hv
            .compare_and_write(id, &Expected::revision(Some(target)), TieredWrite::Delete)
            .await
        {
            Ok(_) => finding.repaired = true,
            Err(e) => report
                .errors
                .push(format!("remove tombstone {}: {e}", finding.id)),
        }
    }
}

/// The storage paths of the rows that are expired at `now`.
async fn expired_paths(
    hv: &dyn HighVolumeBackend,
    now: SystemTime,
    page: usize,
) -> Result<HashSet<String>> {
    let mut out = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let rows = hv.scan_rows(cursor.as_deref(), page).await?;
        out.extend(
            rows.items
                .iter()
                .filter(|r| r.expires().is_some_and(|e| e < now))
                .map(|r| r.id.as_storage_path()),
        );
        match rows.next {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}
