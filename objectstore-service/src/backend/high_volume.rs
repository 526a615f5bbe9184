//! [`HighVolumeBackend`]: the row contract of the high-volume tier (inline objects and
//! redirect tombstones), what [`crate::tiered::TieredStorage`] builds its protocols on.
//!
//! Invariants every implementation keeps (beyond the numbered contracts of
//! [`crate::backend`]):
//!
//! * One row per [`ObjectId`]: absent, an inline object (its metadata has `size` set) or a
//!   [`Tombstone`]. Every method reads or writes exactly that row.
//! * Expiry: reads ([`HighVolumeBackend::get`], [`HighVolumeBackend::head`]) return
//!   tombstones *even when expired* (so that writers can swap them and clean their blobs)
//!   and never bump them; inline objects are filtered by expiry and bumped for TTI as
//!   everywhere.
//! * Size: an inline payload is at most [`MAX_INLINE_BYTES`]; a larger one is refused with
//!   [`crate::Error::TooLarge`] and nothing is written.
//! * Writes are atomic; the conditional ones ([`HighVolumeBackend::put`],
//!   [`HighVolumeBackend::delete`], [`HighVolumeBackend::compare_and_write`],
//!   [`HighVolumeBackend::delete_if_expired`]) decide on the row as it is when they apply.

use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};

#[cfg(doc)]
use super::MAX_INLINE_BYTES;
use super::{
    Component, ExpiredRow, ExpiryCursor, ExpiryTarget, ExtendOutcome, RowInfo, ScanPage, TieredGet,
    TieredMetadata, TieredWrite, Tombstone,
};
use crate::error::Result;

/// The row storage of the high-volume tier. See the module docs.
#[async_trait]
pub trait HighVolumeBackend: Component {
    /// Reads the row: inline object (with range handling and TTI as in
    /// [`super::Backend::get`]), tombstone (raw, no TTI bump: the tiered layer bumps through
    /// `compare_and_write`), or nothing.
    async fn get(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<TieredGet>;

    /// Reads the row's metadata, like [`HighVolumeBackend::get`].
    async fn head(&self, id: &ObjectId) -> Result<TieredMetadata>;

    /// Writes inline data unless the row is a tombstone; then writes nothing and returns the
    /// tombstone. The metadata is already stamped by the caller; the backend sets `size`.
    async fn put(
        &self,
        id: &ObjectId,
        metadata: &Metadata,
        payload: Bytes,
    ) -> Result<Option<Tombstone>>;

    /// Deletes the row unless it is a tombstone; then deletes nothing and returns it.
    async fn delete(&self, id: &ObjectId) -> Result<Option<Tombstone>>;

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

    /// Moves the deadline of the live *inline* object to at least the target, as
    /// [`super::Backend::extend_expiry`] does (atomic with respect to concurrent writes). A
    /// tombstone row reads as absent here ([`ExtendOutcome::NotFound`]): the tiered layer
    /// extends tombstones through `compare_and_write`.
    async fn extend_expiry(
        &self,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome>;

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

    /// Lists rows (inline objects and tombstones, expired or not) in a stable order,
    /// starting after the cursor `after` (from an earlier page's [`ScanPage::next`]), at
    /// most `limit` (at least one) per page. Never bumps TTI. See contract 7.
    async fn scan_rows(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<RowInfo>>;
}
