//! [`MemoryBackend`]: an in-memory implementation of every backend contract, for tests.
//!
//! It plays the high-volume tier, the long-term tier, or a standalone store, and is the
//! reference the conformance suite ([`crate::conformance`]) is checked against. Clones share
//! their state, so a test keeps one handle to inspect ([`MemoryBackend::entry`],
//! [`MemoryBackend::log_records`], ...) while the code under test owns another.
//!
//! * this module: the state, test inspection, [`Backend`];
//! * `high_volume`: [`HighVolumeBackend`] (the row contract);
//! * `log`: [`ChangeLog`](crate::backend::ChangeLog) (change log and leases);
//! * `long_term`: [`LongTermBackend`](crate::backend::LongTermBackend) (multipart uploads,
//!   the blob listing).
//!
//! **Invariants**
//!
//! * Every call takes the state lock once and never holds it across an `.await`: each call
//!   is atomic, so `compare_and_write`, `delete_if_expired`, `extend_expiry` and
//!   `claim_records` need no further concurrency control (and `extend_expiry` never reports
//!   a conflict).
//! * Bodies are read completely *before* the lock is taken; a body stream that fails stores
//!   nothing ([`Error::ClientStream`]) and leaves the previous row as it was.
//! * Rows are keyed by [`ObjectId::as_storage_path`] and hold either an inline object (its
//!   metadata always has `size` set) or a [`Tombstone`].
//!
//! **Expiry:** an inline object whose deadline is earlier than the backend's clock reads as
//! absent everywhere (it stays stored until deleted, so [`HighVolumeBackend::scan_expired`]
//! finds it). Reads of a live TTI object move its deadline as [`crate::expiry::tti_bump`]
//! says and answer with the metadata from before the access. The row reads return
//! tombstones raw, even when expired, and never bump them.
//!
//! **Tombstones through the plain [`Backend`] API:** `get`, `head` and `extend_expiry` treat
//! a tombstone row as absent (a standalone store never has tombstones; a tiered layer never
//! reads its high-volume tier through these calls), while `put` and `delete` replace or
//! remove whatever the row holds.
//!
//! **Change log:** `append_record` inserts or replaces by `change_id`; `claim_records` walks
//! the records in `change_id` order (time order for UUID v7). A lease is live while its
//! `until` is not earlier than `now`. A claimed record gets `owner = claimant` and loses its
//! deferral (`not_before = None`): from then on it is an ordinary record of the claimant, so
//! another claimant can take it over only once the claimant's lease expired.
//!
//! **Multipart** ([`crate::backend::LongTermBackend`]): parts are kept in memory per upload;
//! ETags are the quoted hex SHA-256 of the part; upload ids are UUID v7 in simple (32 hex
//! digits) form.
//!
//! **Receipts:** like an S3 store, this store hashes what it receives: a put reports the
//! size and MD5 of the bytes it kept (and stores no ETag of its own), a part its size and
//! MD5 (checked against the caller's digest before the part is stored).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};
use sha2::{Digest, Sha256};

#[cfg(doc)]
use super::HighVolumeBackend;
use super::{
    Backend, ChangeRecord, Component, ExpiryTarget, ExtendOutcome, GetResponse, PutReceipt,
    Tombstone,
};
use crate::backend::inline::{Access, read_body, sized};
use crate::clock::SharedClock;
use crate::digest::Md5;
use crate::error::{Error, Result};
use crate::expiry::{ExtendPlan, plan_extension, tti_bump};
use crate::stream::PayloadStream;

mod high_volume;
mod log;
mod long_term;

/// An in-memory store implementing every backend contract. Clones share state. See the
/// module docs.
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

impl State {
    /// Stores `value` as the row of `id`, written at `modified`.
    fn insert(&mut self, id: &ObjectId, value: Stored, modified: SystemTime) {
        let row = Row {
            id: id.clone(),
            value,
            modified,
        };
        self.rows.insert(id.as_storage_path(), row);
    }
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
    md5: Md5,
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

    /// This handle reports [`ChangeLog::is_exclusive`](crate::backend::ChangeLog::is_exclusive)
    /// as `exclusive` (default `false`; the state is shared with the original either way).
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
        self.put_row(id, value);
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
                Access::Object(before, Some(b.clone()))
            }
        }
    }

    fn put_row(&self, id: &ObjectId, value: Stored) {
        let now = self.clock.now();
        self.lock().insert(id, value, now);
    }

    /// `extend_expiry` of both the plain and the row contract: only a live inline object
    /// has a deadline to move here (a tombstone reads as absent).
    fn extend_inline(&self, id: &ObjectId, target: ExpiryTarget, now: SystemTime) -> ExtendOutcome {
        let clock_now = self.clock.now();
        let mut state = self.lock();
        let row = state.rows.get_mut(&id.as_storage_path());
        let Some(Stored::Object(metadata, _)) = row.map(|r| &mut r.value) else {
            return ExtendOutcome::NotFound;
        };
        let live = Some(&*metadata).filter(|m| !m.is_expired(clock_now));
        match plan_extension(live, target, now) {
            ExtendPlan::Done(outcome) => outcome,
            ExtendPlan::Update(updated) => {
                *metadata = updated;
                ExtendOutcome::Satisfied
            }
        }
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

/// The quoted hex SHA-256 of `bytes`.
fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Sha256::digest(bytes)))
}

#[async_trait]
impl Component for MemoryBackend {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn join(&self) {}
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn put(&self, id: &ObjectId, meta: &Metadata, body: PayloadStream) -> Result<PutReceipt> {
        let bytes = read_body(body, None).await?;
        let receipt = PutReceipt {
            size: Some(bytes.len() as u64),
            md5: Some(Md5::of(&bytes)),
            etag: None,
        };
        self.put_row(id, Stored::Object(sized(meta, bytes.len()), bytes));
        Ok(receipt)
    }

    async fn get(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<GetResponse> {
        Ok(self.access(id).into_get(range).into_object())
    }

    async fn head(&self, id: &ObjectId) -> Result<Option<Metadata>> {
        Ok(self.access(id).into_head().into_object())
    }

    async fn delete(&self, id: &ObjectId) -> Result<()> {
        self.lock().rows.remove(&id.as_storage_path());
        Ok(())
    }

    async fn extend_expiry(
        &self,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        Ok(self.extend_inline(id, target, now))
    }
}

#[cfg(test)]
mod tests;
