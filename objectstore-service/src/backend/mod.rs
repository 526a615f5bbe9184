//! Backend contracts: what every storage engine behind the tiered layer must do.
//!
//! Three object-safe traits, each a superset of the previous one's abilities:
//!
//! * [`Backend`]: a complete object store on its own (put, get, metadata, delete, expiry
//!   extension, join). Every backend can serve standalone.
//! * [`HighVolumeBackend`]: adds the tiering primitives the tiered layer builds on (redirect
//!   tombstones, the atomic and idempotent [`HighVolumeBackend::compare_and_write`]) and the
//!   storage of the durable change log and instance leases.
//! * [`LongTermBackend`]: adds multipart uploads. [`crate::tiered::TieredStorage`] implements
//!   it too, so the storage service holds one `dyn LongTermBackend` whatever the layout.
//!
//! # Contracts every implementation keeps
//!
//! 1. **Durability:** a call that returns `Ok` has made its effect durable (survives a crash
//!    of the process and, for embedded engines, of the machine).
//! 2. **Expiry:** an object whose `time_expires` is earlier than the backend's clock reads as
//!    absent at once. GET and HEAD count as an access for TTI objects: when
//!    [`crate::expiry::tti_bump`] says so, the stored deadline is moved (best effort); the
//!    response reports the metadata as it was *before* the access.
//! 3. **Sizes:** every stored object's metadata carries `size = Some(stored bytes)`.
//! 4. **Deleting a missing object succeeds.**
//! 5. **Streams:** a put consumes the body stream; if the stream yields an error, nothing is
//!    stored and the previous object (if any) stays as it was. Memory stays bounded: a backend
//!    buffers at most what its own format requires (the high-volume tier at most 1 MiB).
//! 6. **No path escapes:** backends may use [`ObjectId::as_storage_path`] as a name; it is
//!    validated. A filesystem backend still must never produce a path outside its root.
//!
//! 7. **Scans** (`scan_rows`, `log_scan`, `lease_list`, `list_blobs`) see the store as
//!    stored, expired entries included, and page with an opaque cursor: a scan that pages
//!    to the end reports every entry that existed throughout it exactly once (entries
//!    written or removed meanwhile may or may not appear). They serve `objectstore check`
//!    and other offline tools, never the request path.
//!
//! The shared conformance suite ([`crate::conformance`]) checks these for every
//! implementation.

use std::fmt::Debug;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use objectstore_types::{ContentRange, Metadata, ObjectId, range::ByteRange};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::stream::PayloadStream;

#[cfg(feature = "bigtable")]
pub mod bigtable;
#[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
pub mod cloud;
pub mod embedded;
pub mod filesystem;
#[cfg(any(test, feature = "testing"))]
pub mod hooks;
#[cfg(any(test, feature = "testing", feature = "postgres", feature = "bigtable"))]
mod inline;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;

/// The result of a GET.
pub enum GetResponse {
    /// Nothing (live) is stored under the id.
    NotFound,
    /// The object exists but the requested range lies outside it (HTTP 416). The metadata
    /// carries the size.
    RangeNotSatisfiable(Metadata),
    /// The object, or the requested range of it.
    Found {
        /// Metadata as stored before this access (size set).
        metadata: Metadata,
        /// The resolved range when one was requested.
        range: Option<ContentRange>,
        /// The bytes (the whole object, or exactly the range).
        body: PayloadStream,
    },
}

impl Debug for GetResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => f.write_str("NotFound"),
            Self::RangeNotSatisfiable(m) => f.debug_tuple("RangeNotSatisfiable").field(m).finish(),
            Self::Found {
                metadata, range, ..
            } => f
                .debug_struct("Found")
                .field("metadata", metadata)
                .field("range", range)
                .finish_non_exhaustive(),
        }
    }
}

/// The deadline a PATCH `extend_expiry` asks for (spec 18.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryTarget {
    /// An absolute instant.
    At(SystemTime),
    /// This long after the request started.
    AfterNow(std::time::Duration),
    /// This long after the object's creation time.
    AfterCreation(std::time::Duration),
}

/// What an expiry extension did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtendOutcome {
    /// Absent or expired (HTTP 404).
    NotFound,
    /// The object has no deadline (manual policy) or no creation time for `AfterCreation`
    /// (HTTP 409).
    Rejected,
    /// The deadline already was at least the requested one, or was moved there (HTTP 204).
    Satisfied,
    /// The object changed concurrently (HTTP 409).
    Conflict,
}

/// An object store. See the module docs for the contract.
#[async_trait]
pub trait Backend: Debug + Send + Sync + 'static {
    /// A short name for logs and metrics (`embedded`, `filesystem`, `tiered`, ...).
    fn name(&self) -> &'static str;

    /// Stores the object, replacing any previous one (payload and all metadata). The
    /// metadata is already stamped by the caller; the backend sets `size`.
    async fn put_object(
        &self,
        id: &ObjectId,
        metadata: &Metadata,
        body: PayloadStream,
    ) -> Result<()>;

    /// Reads the object, or a range of it.
    async fn get_object(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<GetResponse>;

    /// Reads the metadata only. Counts as an access for TTI.
    async fn get_metadata(&self, id: &ObjectId) -> Result<Option<Metadata>>;

    /// Deletes the object. Deleting a missing object succeeds.
    async fn delete_object(&self, id: &ObjectId) -> Result<()>;

    /// Moves the object's deadline to at least the target (spec 18.4.2), atomically with
    /// respect to concurrent writes: if the object changes between read and write the
    /// outcome is [`ExtendOutcome::Conflict`]. `now` is the request-start time.
    async fn extend_expiry(
        &self,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome>;

    /// Waits for background work (cleanup, sweeps) to finish. Called once at shutdown.
    async fn join(&self) {}
}

/// A redirect tombstone: the high-volume row of an object whose bytes live in the long-term
/// tier at `target`.
///
/// **Invariant:** `metadata` is the metadata of exactly the revision at `target` (written by
/// the same operation), with the deadline kept current by TTI bumps and extensions, so a HEAD
/// of a large object needs no long-term call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// The long-term revision holding the bytes (`{key}/{uuid_v7}` in the same context).
    pub target: ObjectId,
    /// The object's metadata (size set).
    pub metadata: Metadata,
}

/// A high-volume row as the tiered layer sees it.
pub enum TieredGet {
    /// No row, or an expired inline object.
    NotFound,
    /// An inline object (live), as a [`GetResponse`] that is never `NotFound`.
    Object(GetResponse),
    /// A redirect tombstone, returned even when expired (the tiered layer decides).
    Tombstone(Tombstone),
}

/// A high-volume row's metadata as the tiered layer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TieredMetadata {
    /// No row, or an expired inline object.
    NotFound,
    /// A live inline object.
    Object(Metadata),
    /// A redirect tombstone, returned even when expired.
    Tombstone(Tombstone),
}

/// The mutation a [`HighVolumeBackend::compare_and_write`] applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TieredWrite {
    /// Store inline data (replacing a tombstone).
    Object(Metadata, Bytes),
    /// Store a tombstone (new revision, or the same revision with new metadata).
    Tombstone(Tombstone),
    /// Remove the row.
    Delete,
}

/// Identifies an instance of the server process for change-log ownership.
pub type InstanceId = String;

/// One durable change-log record: a tiered operation that may leave an unreferenced
/// long-term blob behind if it does not finish.
///
/// Recovery of a record (see [`crate::tiered`]) reads the current tombstone of `id` and
/// deletes `old` and `new` unless the tombstone references them, then removes the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// Unique id (UUID v7; for deferred multipart records, the revision's UUID).
    pub change_id: uuid::Uuid,
    /// The instance that owns (is executing or recovering) this record.
    pub owner: InstanceId,
    /// The logical object.
    pub id: ObjectId,
    /// The revision referenced before the operation, if any.
    pub old: Option<ObjectId>,
    /// The revision the operation writes, if any.
    pub new: Option<ObjectId>,
    /// The long-term multipart upload behind `new`, to abort on cleanup.
    pub upload_id: Option<String>,
    /// Deferred records must not be recovered before this instant (multipart retry window).
    pub not_before: Option<SystemTime>,
}

/// Where an expiry scan continues: `(deadline, storage path)` of the last row seen.
pub type ExpiryCursor = (SystemTime, String);

/// An expired high-volume row found by a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredRow {
    /// The object.
    pub id: ObjectId,
    /// Its deadline.
    pub expires: SystemTime,
    /// The tombstone, when the row is one.
    pub tombstone: Option<Tombstone>,
}

/// Where a paginated scan continues: an opaque, backend-defined token taken from
/// [`ScanPage::next`]. Callers never build or compare cursors.
pub type ScanCursor = String;

/// One page of a scan ([`HighVolumeBackend::scan_rows`], [`LongTermBackend::list_blobs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanPage<T> {
    /// At most `limit` entries, in the backend's stable scan order.
    pub items: Vec<T>,
    /// Pass this as `after` to continue; `None` once the scan is complete. A page may be
    /// empty while `next` is still set.
    pub next: Option<ScanCursor>,
}

impl<T> ScanPage<T> {
    /// A page cut at `limit`: `next` is the cursor of the last item when the page is full.
    pub fn cut(items: Vec<T>, limit: usize, cursor: impl Fn(&T) -> ScanCursor) -> Self {
        let next = if items.len() >= limit.max(1) {
            items.last().map(cursor)
        } else {
            None
        };
        Self { items, next }
    }
}

/// A high-volume row found by [`HighVolumeBackend::scan_rows`] (possibly expired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowInfo {
    /// The object.
    pub id: ObjectId,
    /// The row's metadata as stored (size set; of the inline object, or of the tombstone).
    pub metadata: Metadata,
    /// The long-term revision, when the row is a redirect tombstone; `None` for inline data.
    pub target: Option<ObjectId>,
}

impl RowInfo {
    /// The row's deadline, if any.
    pub fn expires(&self) -> Option<SystemTime> {
        self.metadata.time_expires
    }

    /// The row as a tombstone, if it is one.
    pub fn tombstone(&self) -> Option<Tombstone> {
        self.target.clone().map(|target| Tombstone {
            target,
            metadata: self.metadata.clone(),
        })
    }
}

/// An instance lease, as listed by [`HighVolumeBackend::lease_list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The instance.
    pub instance: InstanceId,
    /// Until when the lease is live (inclusive).
    pub until: SystemTime,
}

/// A stored object found by [`LongTermBackend::list_blobs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// The object (for the long-term tier of a tiered store: a revision `{key}/{uuid_v7}`).
    pub id: ObjectId,
    /// Stored payload bytes.
    pub size: u64,
    /// When the object was last written, by the backend's clock or the storage system's
    /// own (a filesystem's mtime, a cloud store's last-modified).
    pub last_modified: SystemTime,
}

/// The tiering primitives and the change-log storage. See the module docs.
///
/// Expiry: the tiered primitives return tombstones *even when expired* (so that writers can
/// swap them and clean their blobs); inline objects are filtered by expiry as everywhere.
#[async_trait]
pub trait HighVolumeBackend: Backend {
    /// Writes inline data unless the row is a tombstone; then writes nothing and returns the
    /// tombstone.
    async fn put_non_tombstone(
        &self,
        id: &ObjectId,
        metadata: &Metadata,
        payload: Bytes,
    ) -> Result<Option<Tombstone>>;

    /// Reads the row: inline object (with range handling and TTI as in [`Backend::get_object`]),
    /// tombstone (raw, no TTI bump: the tiered layer bumps through `compare_and_write`), or
    /// nothing.
    async fn get_tiered(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<TieredGet>;

    /// Reads the row's metadata, like [`HighVolumeBackend::get_tiered`].
    async fn get_tiered_metadata(&self, id: &ObjectId) -> Result<TieredMetadata>;

    /// Deletes the row unless it is a tombstone; then deletes nothing and returns it.
    async fn delete_non_tombstone(&self, id: &ObjectId) -> Result<Option<Tombstone>>;

    /// Applies `write` if and only if the row's current revision is `current` (`Some(t)`: the
    /// row is a tombstone targeting `t`; `None`: the row is not a tombstone, i.e. absent or
    /// inline). Returns whether the row now holds the write.
    ///
    /// Atomic. **Idempotent:** when the precondition fails but the row is already in the
    /// written state (a tombstone with the same target; no row for `Delete`; an inline object
    /// for `Object`), returns `true` without writing, so a retry after a lost response is not
    /// mistaken for a lost race.
    async fn compare_and_write(
        &self,
        id: &ObjectId,
        current: Option<&ObjectId>,
        write: TieredWrite,
    ) -> Result<bool>;

    /// Deletes the row only if it is still expired at `now`; returns the tombstone if the
    /// deleted row was one. Atomic.
    async fn delete_if_expired(&self, id: &ObjectId, now: SystemTime) -> Result<Option<Tombstone>>;

    /// Lists rows (objects and tombstones) whose deadline is earlier than `now`, ordered by
    /// `(deadline, path)`, starting after `after`, at most `limit`.
    async fn scan_expired(
        &self,
        now: SystemTime,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<Vec<ExpiredRow>>;

    /// Durably appends a change-log record. Must be durable before any long-term side effect
    /// of the operation starts.
    async fn log_append(&self, record: &ChangeRecord) -> Result<()>;

    /// Reads one record.
    async fn log_get(&self, change_id: &uuid::Uuid) -> Result<Option<ChangeRecord>>;

    /// Removes a record (missing is fine).
    async fn log_remove(&self, change_id: &uuid::Uuid) -> Result<()>;

    /// Atomically takes ownership (sets `owner = claimant`) of up to `limit` records that are
    /// due for recovery and returns them. A record is due when `not_before` is unset or
    /// passed, and either it is deferred (`not_before` set) or its owner is another instance
    /// whose lease has expired (or, with `ignore_leases`, any other instance: only for
    /// backends that are [`HighVolumeBackend::is_exclusive`]). Never hands one record to two
    /// claimants whose leases are live.
    async fn log_claim(
        &self,
        claimant: &str,
        now: SystemTime,
        ignore_leases: bool,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>>;

    /// Number of records in the log (for metrics and `check`).
    async fn log_len(&self) -> Result<u64>;

    /// Creates or extends the lease of `instance` until `until`.
    async fn lease_renew(&self, instance: &str, until: SystemTime) -> Result<()>;

    /// Drops the lease of `instance` (clean shutdown), making its leftover records
    /// recoverable at once.
    async fn lease_release(&self, instance: &str) -> Result<()>;

    /// Whether this backend is used by exactly one process (an embedded store that locks its
    /// files). Then start-up recovery may take over every other instance's records at once.
    fn is_exclusive(&self) -> bool {
        false
    }

    /// Lists rows (inline objects and tombstones, expired or not) in a stable order,
    /// starting after the cursor `after` (from an earlier page's [`ScanPage::next`]), at
    /// most `limit` (at least one) per page. Never bumps TTI. See contract 7.
    async fn scan_rows(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<RowInfo>>;

    /// Lists change-log records in `change_id` order, starting after `after`, at most
    /// `limit` (at least one). Reads only: ownership and deferral stay as they are.
    async fn log_scan(&self, after: Option<&uuid::Uuid>, limit: usize)
    -> Result<Vec<ChangeRecord>>;

    /// Lists every stored lease (live or expired; released ones are gone), in instance
    /// order.
    async fn lease_list(&self) -> Result<Vec<Lease>>;
}

/// A part reported by [`LongTermBackend::list_parts`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    /// Part number, >= 1.
    pub part_number: u32,
    /// The ETag returned when the part was uploaded.
    pub etag: String,
    /// When the part was uploaded.
    pub last_modified: SystemTime,
    /// Size in bytes.
    pub size: u64,
}

/// One page of [`LongTermBackend::list_parts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartsPage {
    /// Parts in ascending number, all greater than the marker.
    pub parts: Vec<PartInfo>,
    /// The marker for the next page, when truncated.
    pub next_marker: Option<u32>,
}

/// A part named in a complete request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedPart {
    /// Part number, >= 1.
    pub part_number: u32,
    /// The ETag the client got for it.
    pub etag: String,
}

/// Why the backend refused to assemble an upload (reported to the client in the complete
/// body, spec 8.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteRejection {
    /// Machine-readable code, e.g. `InvalidPart`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

/// Multipart uploads on top of a [`Backend`].
///
/// Upload ids are opaque, non-empty strings made only of `[A-Za-z0-9_-]`. Unknown upload ids
/// yield [`crate::Error::NotFound`], except `abort`, which succeeds.
#[async_trait]
pub trait LongTermBackend: Backend {
    /// Starts an upload; `metadata` (already stamped) is what the assembled object carries.
    async fn initiate_multipart(&self, id: &ObjectId, metadata: &Metadata) -> Result<String>;

    /// Stores one part, replacing an earlier upload of the same number. The body must be
    /// exactly `content_length` bytes, else [`crate::Error::InvalidRequest`]. Returns the
    /// ETag (a content hash, quoted).
    async fn upload_part(
        &self,
        id: &ObjectId,
        upload_id: &str,
        part_number: u32,
        content_length: u64,
        body: PayloadStream,
    ) -> Result<String>;

    /// Lists parts with numbers greater than `marker`, at most `max_parts` (all if `None`).
    async fn list_parts(
        &self,
        id: &ObjectId,
        upload_id: &str,
        max_parts: Option<u32>,
        marker: Option<u32>,
    ) -> Result<PartsPage>;

    /// Discards the upload and its parts. Unknown uploads succeed.
    async fn abort_multipart(&self, id: &ObjectId, upload_id: &str) -> Result<()>;

    /// Assembles the listed parts, in the given order, into the object at `id` (atomically:
    /// readers see the old object or the whole new one) and ends the upload.
    /// `Ok(Some(rejection))` when the parts do not match (missing part, ETag mismatch, not
    /// ascending); nothing is changed then and the upload stays open.
    async fn complete_multipart(
        &self,
        id: &ObjectId,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<Option<CompleteRejection>>;

    /// Lists stored objects (expired or not; not the parts of open multipart uploads) in a
    /// stable order, starting after the cursor `after` (from an earlier page's
    /// [`ScanPage::next`]), at most `limit` (at least one) per page. See contract 7.
    async fn list_blobs(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<BlobInfo>>;
}
