//! The values that cross the backend contracts: what a read found, what a write applies
//! and what the store says it kept, change-log records, scan pages and multipart parts.
//!
//! Invariants: every [`Metadata`] a backend hands out has `size` set (contract 3 of
//! [`crate::backend`]); a [`Tombstone`]'s metadata is exactly that of the revision it names;
//! a receipt reports only what the store itself says ([`PutReceipt`], [`PartReceipt`]).

use std::fmt::Debug;
use std::time::SystemTime;

use bytes::Bytes;
use objectstore_types::{ContentRange, Metadata, ObjectId, Usecase};
use serde::{Deserialize, Serialize};

use crate::digest::{BodyDigest, Md5};
use crate::stream::PayloadStream;

/// What a backend says about an object it stored: its own account of the bytes it kept
/// (the caller compares it with what it sent, [`crate::integrity`]), and the ETag stored
/// with the object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutReceipt {
    /// Bytes kept, as the store reports them (the filesystem's fsynced file); `None` when
    /// it reports nothing (a caller that verifies reads the size back with `head`).
    pub size: Option<u64>,
    /// The MD5 of the bytes kept, as the store reports it (an S3 single-part ETag, the
    /// in-memory store's own hash); `None` when it gives none.
    pub md5: Option<Md5>,
    /// The ETag stored with the object's metadata and served on reads (the tiered engine's
    /// MD5); `None` when the backend stores none.
    pub etag: Option<String>,
}

/// One part to store, as [`LongTermBackend::upload_part_checked`](super::LongTermBackend::upload_part_checked)
/// takes it: which object, upload and part number, the declared length, the body and, for a
/// checked upload, the caller's digest of the body.
pub struct PartUpload<'a> {
    /// The object the upload assembles.
    pub id: &'a ObjectId,
    /// The upload the part belongs to.
    pub upload_id: &'a str,
    /// The part's number (from 1); a second upload of the number replaces the first.
    pub part_number: u32,
    /// The declared length: the body must be exactly this many bytes.
    pub content_length: u64,
    /// The part's bytes.
    pub body: PayloadStream,
    /// The caller's digest of `body`, complete once the body ended
    /// ([`crate::digest::digesting`]); `None` stores the part unchecked.
    pub sent: Option<BodyDigest>,
}

impl<'a> PartUpload<'a> {
    /// A part stored unchecked (`sent` unset; see [`PartUpload::checked`]).
    pub fn new(
        id: &'a ObjectId,
        upload_id: &'a str,
        part_number: u32,
        content_length: u64,
        body: PayloadStream,
    ) -> Self {
        Self {
            id,
            upload_id,
            part_number,
            content_length,
            body,
            sent: None,
        }
    }

    /// The same part, checked against the caller's digest `sent`.
    pub fn checked(self, sent: BodyDigest) -> Self {
        Self {
            sent: Some(sent),
            ..self
        }
    }
}

/// Which parts of an upload
/// [`LongTermBackend::list_parts`](super::LongTermBackend::list_parts) lists: those
/// numbered above `marker`, at most `max_parts`.
#[derive(Debug, Clone, Copy)]
pub struct PartsQuery<'a> {
    /// The object the upload assembles.
    pub id: &'a ObjectId,
    /// The upload.
    pub upload_id: &'a str,
    /// At most this many parts (at least 1); all when `None`.
    pub max_parts: Option<u32>,
    /// Only parts numbered above this; from the first when `None`.
    pub marker: Option<u32>,
}

impl<'a> PartsQuery<'a> {
    /// Every part of the upload.
    pub fn all(id: &'a ObjectId, upload_id: &'a str) -> Self {
        Self {
            id,
            upload_id,
            max_parts: None,
            marker: None,
        }
    }
}

/// What a long-term backend says about a part it stored
/// ([`LongTermBackend::upload_part_checked`](super::LongTermBackend::upload_part_checked)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartReceipt {
    /// The part's ETag: what a complete must name the part by (quoted).
    pub etag: String,
    /// Bytes kept.
    pub size: u64,
    /// Their MD5 by the store's account, when it has one.
    pub md5: Option<Md5>,
}

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

impl GetResponse {
    /// The same response with its body (if any) passed through `f`.
    pub fn map_body(self, f: impl FnOnce(PayloadStream) -> PayloadStream) -> Self {
        match self {
            Self::Found {
                metadata,
                range,
                body,
            } => Self::Found {
                metadata,
                range,
                body: f(body),
            },
            other => other,
        }
    }
}

/// The deadline a PATCH `extend_expiry` asks for (docs/http-api.md §7.1).
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
#[derive(Debug)]
pub enum TieredGet {
    /// No row, or an expired inline object.
    NotFound,
    /// An inline object (live), as a [`GetResponse`] that is never `NotFound`.
    Object(GetResponse),
    /// A redirect tombstone, returned even when expired (the tiered layer decides).
    Tombstone(Tombstone),
}

impl TieredGet {
    /// The inline object as a plain GET answers it: a tombstone reads as absent.
    pub fn into_object(self) -> GetResponse {
        match self {
            Self::Object(response) => response,
            Self::NotFound | Self::Tombstone(_) => GetResponse::NotFound,
        }
    }

    /// The same row with an inline object's body passed through `f`.
    pub fn map_body(self, f: impl FnOnce(PayloadStream) -> PayloadStream) -> Self {
        match self {
            Self::Object(response) => Self::Object(response.map_body(f)),
            other => other,
        }
    }
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

impl TieredMetadata {
    /// The inline object's metadata as a plain HEAD answers it: a tombstone reads as absent.
    pub fn into_object(self) -> Option<Metadata> {
        match self {
            Self::Object(metadata) => Some(metadata),
            Self::NotFound | Self::Tombstone(_) => None,
        }
    }
}

/// What a conditional write requires of the object's current state: S3's
/// `If-None-Match: *` and `If-Match: <etag>` on writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// No live object: the row is absent, or expired (inline object or tombstone alike).
    Absent,
    /// A live object whose entity tag ([`crate::digest::entity_tag`], unquoted) is this one.
    ETagMatches(String),
}

impl Precondition {
    /// Whether the precondition holds for a row with `metadata` (`None`: no row) at `now`.
    pub fn holds(&self, metadata: Option<&Metadata>, now: SystemTime) -> bool {
        let live = metadata.filter(|m| !m.is_expired(now));
        match self {
            Self::Absent => live.is_none(),
            Self::ETagMatches(etag) => live.is_some_and(|m| crate::digest::entity_tag(m) == *etag),
        }
    }
}

/// What [`HighVolumeBackend::compare_and_write`](super::HighVolumeBackend::compare_and_write)
/// expects of the row before it writes: its revision and, optionally, a [`Precondition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// `Some(t)`: the row is a tombstone targeting `t`; `None`: the row is not a tombstone
    /// (absent or inline).
    pub revision: Option<ObjectId>,
    /// When set, the precondition must hold on the row too, judged at the backend's clock.
    pub precondition: Option<Precondition>,
}

impl Expected {
    /// Only the revision (what every unconditional protocol step expects).
    pub fn revision(current: Option<&ObjectId>) -> Self {
        Self {
            revision: current.cloned(),
            precondition: None,
        }
    }

    /// The same expectation with `precondition` as well.
    pub fn and(mut self, precondition: Option<Precondition>) -> Self {
        self.precondition = precondition;
        self
    }

    /// Whether a row with revision `revision` and `metadata` (`None`: no row) meets the
    /// expectation at `now`.
    pub fn matches(
        &self,
        revision: Option<&ObjectId>,
        metadata: Option<&Metadata>,
        now: SystemTime,
    ) -> bool {
        self.revision.as_ref() == revision
            && self
                .precondition
                .as_ref()
                .is_none_or(|p| p.holds(metadata, now))
    }
}

/// The mutation a
/// [`HighVolumeBackend::compare_and_write`](super::HighVolumeBackend::compare_and_write)
/// applies.
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

/// One page of a scan
/// ([`HighVolumeBackend::scan_rows`](super::HighVolumeBackend::scan_rows),
/// [`LongTermBackend::list_blobs`](super::LongTermBackend::list_blobs)).
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

/// A high-volume row found by
/// [`HighVolumeBackend::scan_rows`](super::HighVolumeBackend::scan_rows) (possibly expired).
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

/// One page of the ordered listing of a usecase
/// ([`HighVolumeBackend::list`](super::HighVolumeBackend::list)).
///
/// Listing keys ([`objectstore_types::listing`]) are compared as bytes (UTF-8), which is
/// S3's key order. Both bounds are byte strings so that a caller can skip every key that
/// starts with some string `p` by passing `start_after = p + [0xff]` (no UTF-8 key has
/// that byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// The usecase listed; other usecases are never listed.
    pub usecase: Usecase,
    /// Only keys that start with these bytes (empty: every key).
    pub prefix: Vec<u8>,
    /// Only keys greater than these bytes.
    pub start_after: Option<Vec<u8>>,
    /// At most this many rows (at least one is asked for).
    pub limit: usize,
}

impl ListQuery {
    /// The first page of `usecase` under `prefix`, at most `limit` rows.
    pub fn new(usecase: Usecase, prefix: impl Into<Vec<u8>>, limit: usize) -> Self {
        Self {
            usecase,
            prefix: prefix.into(),
            start_after: None,
            limit,
        }
    }

    /// The same query starting after `key`.
    pub fn after(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.start_after = Some(key.into());
        self
    }

    /// Whether `key` lies inside the query's bounds (prefix and start-after).
    pub fn admits(&self, key: &[u8]) -> bool {
        key.starts_with(&self.prefix) && self.start_after.as_deref().is_none_or(|a| key > a)
    }

    /// The inclusive lower bound of the keys: the larger of the prefix and (just after)
    /// `start_after`, as `(bytes, exclusive)`.
    pub fn lower_bound(&self) -> (&[u8], bool) {
        match self.start_after.as_deref() {
            Some(after) if after >= self.prefix.as_slice() => (after, true),
            _ => (&self.prefix, false),
        }
    }

    /// The exclusive upper bound of the keys (`None`: unbounded), from the prefix.
    pub fn upper_bound(&self) -> Option<Vec<u8>> {
        objectstore_types::listing::prefix_end(&self.prefix)
    }
}

/// A live row found by [`HighVolumeBackend::list`](super::HighVolumeBackend::list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRow {
    /// The row's listing key.
    pub key: String,
    /// The object.
    pub id: ObjectId,
    /// Its metadata as stored (size and, when known, the ETag set): of the inline object,
    /// or of the tombstone (so a listing never reads the long-term tier).
    pub metadata: Metadata,
}

/// One page of [`HighVolumeBackend::list`](super::HighVolumeBackend::list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// At most `limit` rows in ascending key order.
    pub rows: Vec<ListedRow>,
    /// Whether more rows follow the last one (continue with `start_after` = its key).
    pub truncated: bool,
}

impl ListPage {
    /// A page from up to `limit + 1` rows in key order: the extra row only says that the
    /// page is truncated.
    pub fn cut(mut rows: Vec<ListedRow>, limit: usize) -> Self {
        let limit = limit.max(1);
        let truncated = rows.len() > limit;
        rows.truncate(limit);
        Self { rows, truncated }
    }
}

/// An instance lease, as listed by [`ChangeLog::list_leases`](super::ChangeLog::list_leases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The instance.
    pub instance: InstanceId,
    /// Until when the lease is live (inclusive).
    pub until: SystemTime,
}

/// A stored object found by [`LongTermBackend::list_blobs`](super::LongTermBackend::list_blobs).
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

/// A part reported by [`LongTermBackend::list_parts`](super::LongTermBackend::list_parts).
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
    /// The part's MD5 by the store's account, when it has one (parts uploaded before
    /// backends kept it have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<Md5>,
}

/// One page of [`LongTermBackend::list_parts`](super::LongTermBackend::list_parts).
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
/// body, docs/http-api.md §9.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteRejection {
    /// Machine-readable code, e.g. `InvalidPart`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}
