//! [`MemoryBackend`]: an in-memory implementation of all three backend contracts, for tests.
//!
//! It plays the high-volume tier, the long-term tier, or a standalone store, and is the
//! reference the conformance suite ([`crate::conformance`]) is checked against. Clones share
//! their state, so a test keeps one handle to inspect ([`MemoryBackend::entry`],
//! [`MemoryBackend::log_records`], ...) while the code under test owns another.
//!
//! **Invariants**
//!
//! * Every call takes the state lock once and never holds it across an `.await`: each call
//!   is atomic, so `compare_and_write`, `delete_if_expired`, `extend_expiry` and `log_claim`
//!   need no further concurrency control (and `extend_expiry` never reports a conflict).
//! * Bodies are read completely *before* the lock is taken; a body stream that fails stores
//!   nothing ([`Error::ClientStream`]) and leaves the previous row as it was.
//! * Rows are keyed by [`ObjectId::as_storage_path`] and hold either an inline object (its
//!   metadata always has `size` set) or a [`Tombstone`].
//!
//! **Expiry:** an inline object whose deadline is earlier than the backend's clock reads as
//! absent everywhere (it stays stored until deleted, so [`HighVolumeBackend::scan_expired`]
//! finds it). Reads of a live TTI object move its deadline as [`crate::expiry::tti_bump`]
//! says and answer with the metadata from before the access. The tiered primitives return
//! tombstones raw, even when expired, and never bump them.
//!
//! **Tombstones through the plain [`Backend`] API:** `get_object`, `get_metadata` and
//! `extend_expiry` treat a tombstone row as absent (a standalone store never has
//! tombstones; a tiered layer never reads its high-volume tier through these calls), while
//! `put_object` and `delete_object` replace or remove whatever the row holds.
//!
//! **Change log:** `log_append` inserts or replaces by `change_id`; `log_claim` walks the
//! records in `change_id` order (time order for UUID v7). A lease is live while its `until`
//! is not earlier than `now`. A claimed record gets `owner = claimant` and loses its
//! deferral (`not_before = None`): from then on it is an ordinary record of the claimant, so
//! another claimant can take it over only once the claimant's lease expired.
//!
//! **Multipart** ([`crate::backend::LongTermBackend`]): parts are kept in memory per upload; ETags are the quoted hex SHA-256 of
//! the part; upload ids are UUID v7 in simple (32 hex digits) form.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};
use sha2::{Digest, Sha256};

use super::{
    Backend, ChangeRecord, ExpiredRow, ExpiryCursor, ExpiryTarget, ExtendOutcome, GetResponse,
    HighVolumeBackend, Lease, RowInfo, ScanPage, TieredGet, TieredMetadata, TieredWrite, Tombstone,
};
use crate::backend::inline::respond;
use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::expiry::{ExtendPlan, plan_extension, tti_bump};
use crate::stream::PayloadStream;

mod multipart;
mod scan;

/// An in-memory store implementing [`Backend`], [`HighVolumeBackend`] and
/// [`LongTermBackend`](crate::backend::LongTermBackend). Clones share state. See the module docs.
#[derive(Clone)]
pub struct MemoryBackend {
    name: &'static str,
    clock: SharedClock,
    exclusive: bool,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    rows: BTreeMap<String, Row>,
    uploads: BTreeMap<String, Upload>,
    log: BTreeMap<uuid::Uuid, ChangeRecord>,
    leases: HashMap<String, SystemTime>,
}

struct Row {
    id: ObjectId,
    value: Stored,
    /// When the row was last written (by the backend's clock), for `list_blobs`.
    modified: SystemTime,
}

#[derive(Clone)]
enum Stored {
    Object(Metadata, Bytes),
    Tombstone(Tombstone),
}

impl Stored {
    fn deadline(&self) -> Option<SystemTime> {
        match self {
            Self::Object(m, _) => m.time_expires,
            Self::Tombstone(t) => t.metadata.time_expires,
        }
    }
}

struct Upload {
    id: ObjectId,
    metadata: Metadata,
    parts: BTreeMap<u32, Part>,
}

struct Part {
    bytes: Bytes,
    etag: String,
    last_modified: SystemTime,
}

/// A row as stored, ignoring expiry: what test inspection sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// No row.
    NotFound,
    /// An inline object (possibly expired).
    Object(Metadata, Bytes),
    /// A redirect tombstone (possibly expired).
    Tombstone(Tombstone),
}

impl Entry {
    /// The inline object; panics otherwise (test helper).
    #[track_caller]
    pub fn expect_object(self) -> (Metadata, Bytes) {
        match self {
            Self::Object(m, b) => (m, b),
            other => panic!("expected an inline object, found {other:?}"),
        }
    }

    /// The tombstone; panics otherwise (test helper).
    #[track_caller]
    pub fn expect_tombstone(self) -> Tombstone {
        match self {
            Self::Tombstone(t) => t,
            other => panic!("expected a tombstone, found {other:?}"),
        }
    }

    /// Panics unless there is no row (test helper).
    #[track_caller]
    pub fn expect_not_found(self) {
        if self != Self::NotFound {
            panic!("expected no row, found {self:?}");
        }
    }
}

/// What a read found under the lock, after expiry and TTI handling.
enum Access {
    Absent,
    /// A live inline object: metadata from before the access, and the bytes.
    Object(Metadata, Bytes),
    Tombstone(Tombstone),
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("MemoryBackend");
        d.field("name", &self.name);
        if let Ok(state) = self.state.try_lock() {
            d.field("rows", &state.rows.len())
                .field("uploads", &state.uploads.len())
                .field("log", &state.log.len());
        }
        d.finish_non_exhaustive()
    }
}

impl MemoryBackend {
    /// An empty store named `name` that reads expiry deadlines from `clock`.
    pub fn new(name: &'static str, clock: SharedClock) -> Self {
        Self {
            name,
            clock,
            exclusive: false,
            state: Arc::default(),
        }
    }

    /// This handle reports [`HighVolumeBackend::is_exclusive`] as `exclusive` (default
    /// `false`; the state is shared with the original either way).
    pub fn with_exclusive(mut self, exclusive: bool) -> Self {
        self.exclusive = exclusive;
        self
    }

    /// The clock this store reads.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // --- Test inspection -----------------------------------------------------------------

    /// Whether a row (object or tombstone, expired or not) is stored under `id`.
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.lock().rows.contains_key(&id.as_storage_path())
    }

    /// The raw row under `id`, ignoring expiry and without a TTI bump.
    pub fn entry(&self, id: &ObjectId) -> Entry {
        match self.lock().rows.get(&id.as_storage_path()) {
            None => Entry::NotFound,
            Some(row) => match &row.value {
                Stored::Object(m, b) => Entry::Object(m.clone(), b.clone()),
                Stored::Tombstone(t) => Entry::Tombstone(t.clone()),
            },
        }
    }

    /// Alias of [`MemoryBackend::entry`].
    pub fn get(&self, id: &ObjectId) -> Entry {
        self.entry(id)
    }

    /// Removes the row under `id` behind the contracts' back (to simulate lost data);
    /// returns whether there was one.
    pub fn remove(&self, id: &ObjectId) -> bool {
        self.lock().rows.remove(&id.as_storage_path()).is_some()
    }

    /// Stores a row directly (no size stamping, no checks), to seed a test.
    pub fn insert_raw(&self, id: &ObjectId, entry: Entry) {
        let value = match entry {
            Entry::NotFound => {
                self.remove(id);
                return;
            }
            Entry::Object(m, b) => Stored::Object(m, b),
            Entry::Tombstone(t) => Stored::Tombstone(t),
        };
        let row = Row {
            id: id.clone(),
            value,
            modified: self.clock.now(),
        };
        self.lock().rows.insert(id.as_storage_path(), row);
    }

    /// Whether no rows are stored (uploads and the change log are not counted).
    pub fn is_empty(&self) -> bool {
        self.lock().rows.is_empty()
    }

    /// Number of rows (objects and tombstones, expired or not).
    pub fn len(&self) -> usize {
        self.lock().rows.len()
    }

    /// The ids of all rows, in storage-path order.
    pub fn ids(&self) -> Vec<ObjectId> {
        self.lock().rows.values().map(|r| r.id.clone()).collect()
    }

    /// All change-log records in `change_id` order.
    pub fn log_records(&self) -> Vec<ChangeRecord> {
        self.lock().log.values().cloned().collect()
    }

    /// The lease deadline of `instance`, if it holds one.
    pub fn lease(&self, instance: &str) -> Option<SystemTime> {
        self.lock().leases.get(instance).copied()
    }

    /// Number of multipart uploads that are neither completed nor aborted.
    pub fn pending_uploads(&self) -> usize {
        self.lock().uploads.len()
    }

    // --- Internals -------------------------------------------------------------------------

    /// Reads the row under `path` at the backend's clock: expired inline objects are absent,
    /// a live TTI object gets its deadline bumped (the pre-access metadata is returned).
    fn access(&self, id: &ObjectId) -> Access {
        let now = self.clock.now();
        let mut state = self.lock();
        let Some(row) = state.rows.get_mut(&id.as_storage_path()) else {
            return Access::Absent;
        };
        match &mut row.value {
            Stored::Tombstone(t) => Access::Tombstone(t.clone()),
            Stored::Object(m, _) if m.is_expired(now) => Access::Absent,
            Stored::Object(m, b) => {
                let before = m.clone();
                if let Some(deadline) = tti_bump(m, now) {
                    m.time_expires = Some(deadline);
                }
                Access::Object(before, b.clone())
            }
        }
    }

    fn put_row(&self, id: &ObjectId, value: Stored) {
        let row = Row {
            id: id.clone(),
            value,
            modified: self.clock.now(),
        };
        self.lock().rows.insert(id.as_storage_path(), row);
    }

    fn upload_not_found(id: &ObjectId, upload_id: &str) -> Error {
        Error::NotFound(format!("multipart upload {upload_id:?} of {id}"))
    }

    /// Checks that `upload_id` is an open upload of `id`.
    fn check_upload(&self, id: &ObjectId, upload_id: &str) -> Result<()> {
        match self.lock().uploads.get(upload_id) {
            Some(u) if u.id == *id => Ok(()),
            _ => Err(Self::upload_not_found(id, upload_id)),
        }
    }
}

/// `metadata` with `size` set to `len`.
fn sized(metadata: &Metadata, len: usize) -> Metadata {
    let mut m = metadata.clone();
    m.size = Some(len as u64);
    m
}

/// Reads a whole body; a failing stream becomes [`Error::ClientStream`]. With `expected`,
/// the body must be exactly that long ([`Error::InvalidRequest`] otherwise).
async fn read_body(mut body: PayloadStream, expected: Option<u64>) -> Result<Bytes> {
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.map_err(Error::ClientStream)?);
        if let Some(n) = expected
            && out.len() as u64 > n
        {
            return Err(Error::InvalidRequest(format!(
                "the body is longer than its content length of {n} bytes"
            )));
        }
    }
    if let Some(n) = expected
        && out.len() as u64 != n
    {
        return Err(Error::InvalidRequest(format!(
            "the body has {} bytes but its content length is {n}",
            out.len()
        )));
    }
    Ok(out.freeze())
}

/// The quoted hex SHA-256 of `bytes`.
fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Sha256::digest(bytes)))
}

#[async_trait]
impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn put_object(
        &self,
        id: &ObjectId,
        metadata: &Metadata,
        body: PayloadStream,
    ) -> Result<()> {
        let bytes = read_body(body, None).await?;
        self.put_row(id, Stored::Object(sized(metadata, bytes.len()), bytes));
        Ok(())
    }

    async fn get_object(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<GetResponse> {
        Ok(match self.access(id) {
            Access::Absent | Access::Tombstone(_) => GetResponse::NotFound,
            Access::Object(m, b) => respond(m, b, range),
        })
    }

    async fn get_metadata(&self, id: &ObjectId) -> Result<Option<Metadata>> {
        Ok(match self.access(id) {
            Access::Absent | Access::Tombstone(_) => None,
            Access::Object(m, _) => Some(m),
        })
    }

    async fn delete_object(&self, id: &ObjectId) -> Result<()> {
        self.lock().rows.remove(&id.as_storage_path());
        Ok(())
    }

    async fn extend_expiry(
        &self,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        let clock_now = self.clock.now();
        let mut state = self.lock();
        let row = state.rows.get_mut(&id.as_storage_path());
        let Some(Stored::Object(metadata, _)) = row.map(|r| &mut r.value) else {
            return Ok(ExtendOutcome::NotFound);
        };
        let live = Some(&*metadata).filter(|m| !m.is_expired(clock_now));
        Ok(match plan_extension(live, target, now) {
            ExtendPlan::Done(outcome) => outcome,
            ExtendPlan::Update(updated) => {
                *metadata = updated;
                ExtendOutcome::Satisfied
            }
        })
    }

    async fn join(&self) {}
}

#[async_trait]
impl HighVolumeBackend for MemoryBackend {
    async fn put_non_tombstone(
        &self,
        id: &ObjectId,
        metadata: &Metadata,
        payload: Bytes,
    ) -> Result<Option<Tombstone>> {
        let mut state = self.lock();
        let path = id.as_storage_path();
        if let Some(Row {
            value: Stored::Tombstone(t),
            ..
        }) = state.rows.get(&path)
        {
            return Ok(Some(t.clone()));
        }
        let value = Stored::Object(sized(metadata, payload.len()), payload);
        state.rows.insert(
            path,
            Row {
                id: id.clone(),
                value,
                modified: self.clock.now(),
            },
        );
        Ok(None)
    }

    async fn get_tiered(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<TieredGet> {
        Ok(match self.access(id) {
            Access::Absent => TieredGet::NotFound,
            Access::Tombstone(t) => TieredGet::Tombstone(t),
            Access::Object(m, b) => TieredGet::Object(respond(m, b, range)),
        })
    }

    async fn get_tiered_metadata(&self, id: &ObjectId) -> Result<TieredMetadata> {
        Ok(match self.access(id) {
            Access::Absent => TieredMetadata::NotFound,
            Access::Tombstone(t) => TieredMetadata::Tombstone(t),
            Access::Object(m, _) => TieredMetadata::Object(m),
        })
    }

    async fn delete_non_tombstone(&self, id: &ObjectId) -> Result<Option<Tombstone>> {
        let mut state = self.lock();
        let path = id.as_storage_path();
        if let Some(Row {
            value: Stored::Tombstone(t),
            ..
        }) = state.rows.get(&path)
        {
            return Ok(Some(t.clone()));
        }
        state.rows.remove(&path);
        Ok(None)
    }

    async fn compare_and_write(
        &self,
        id: &ObjectId,
        current: Option<&ObjectId>,
        write: TieredWrite,
    ) -> Result<bool> {
        let mut state = self.lock();
        let path = id.as_storage_path();
        let row = state.rows.get(&path).map(|r| &r.value);
        let revision = match row {
            Some(Stored::Tombstone(t)) => Some(&t.target),
            _ => None,
        };
        if revision != current {
            // Idempotency: the row may already hold what we were asked to write.
            let done = match (&write, row) {
                (TieredWrite::Tombstone(new), Some(Stored::Tombstone(old))) => {
                    new.target == old.target
                }
                (TieredWrite::Delete, None)
                | (TieredWrite::Object(..), Some(Stored::Object(..))) => true,
                _ => false,
            };
            return Ok(done);
        }
        let value = match write {
            TieredWrite::Delete => {
                state.rows.remove(&path);
                return Ok(true);
            }
            TieredWrite::Object(m, b) => Stored::Object(sized(&m, b.len()), b),
            TieredWrite::Tombstone(t) => Stored::Tombstone(t),
        };
        state.rows.insert(
            path,
            Row {
                id: id.clone(),
                value,
                modified: self.clock.now(),
            },
        );
        Ok(true)
    }

    async fn delete_if_expired(&self, id: &ObjectId, now: SystemTime) -> Result<Option<Tombstone>> {
        let mut state = self.lock();
        let path = id.as_storage_path();
        let expired = state
            .rows
            .get(&path)
            .and_then(|r| r.value.deadline())
            .is_some_and(|d| d < now);
        if !expired {
            return Ok(None);
        }
        Ok(match state.rows.remove(&path).map(|r| r.value) {
            Some(Stored::Tombstone(t)) => Some(t),
            _ => None,
        })
    }

    async fn scan_expired(
        &self,
        now: SystemTime,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<Vec<ExpiredRow>> {
        let state = self.lock();
        let mut found: Vec<(SystemTime, &String, &Row)> = state
            .rows
            .iter()
            .filter_map(|(path, row)| Some((row.value.deadline()?, path, row)))
            .filter(|(deadline, path, _)| {
                *deadline < now
                    && after.is_none_or(|(at, ap)| (*deadline, path.as_str()) > (*at, ap.as_str()))
            })
            .collect();
        found.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        Ok(found
            .into_iter()
            .take(limit)
            .map(|(expires, _, row)| ExpiredRow {
                id: row.id.clone(),
                expires,
                tombstone: match &row.value {
                    Stored::Tombstone(t) => Some(t.clone()),
                    Stored::Object(..) => None,
                },
            })
            .collect())
    }

    async fn log_append(&self, record: &ChangeRecord) -> Result<()> {
        self.lock().log.insert(record.change_id, record.clone());
        Ok(())
    }

    async fn log_get(&self, change_id: &uuid::Uuid) -> Result<Option<ChangeRecord>> {
        Ok(self.lock().log.get(change_id).cloned())
    }

    async fn log_remove(&self, change_id: &uuid::Uuid) -> Result<()> {
        self.lock().log.remove(change_id);
        Ok(())
    }

    async fn log_claim(
        &self,
        claimant: &str,
        now: SystemTime,
        ignore_leases: bool,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>> {
        let mut state = self.lock();
        let State { log, leases, .. } = &mut *state;
        let lease_live = |owner: &str| leases.get(owner).is_some_and(|until| *until >= now);
        let mut claimed = Vec::new();
        for record in log.values_mut() {
            if claimed.len() >= limit {
                break;
            }
            let due = match record.not_before {
                Some(not_before) => not_before <= now,
                None => record.owner != claimant && (ignore_leases || !lease_live(&record.owner)),
            };
            if due {
                record.owner = claimant.to_owned();
                record.not_before = None;
                claimed.push(record.clone());
            }
        }
        Ok(claimed)
    }

    async fn log_len(&self) -> Result<u64> {
        Ok(self.lock().log.len() as u64)
    }

    async fn lease_renew(&self, instance: &str, until: SystemTime) -> Result<()> {
        self.lock().leases.insert(instance.to_owned(), until);
        Ok(())
    }

    async fn lease_release(&self, instance: &str) -> Result<()> {
        self.lock().leases.remove(instance);
        Ok(())
    }

    fn is_exclusive(&self) -> bool {
        self.exclusive
    }

    async fn scan_rows(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<RowInfo>> {
        Ok(self.scan_rows_page(after, limit))
    }

    async fn log_scan(
        &self,
        after: Option<&uuid::Uuid>,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>> {
        Ok(self.log_scan_page(after, limit))
    }

    async fn lease_list(&self) -> Result<Vec<Lease>> {
        Ok(self.lease_list_all())
    }
}

#[cfg(test)]
mod tests;
