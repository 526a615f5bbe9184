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
//! * Listing: every row whose object has a listing key
//!   ([`objectstore_types::listing::listing_key`]; objects whose key would exceed 1024 bytes
//!   have none and are never listed) is found by [`HighVolumeBackend::list`] through an
//!   index of `(usecase, listing key)`: a page costs an index range read, never a scan of
//!   the usecase or the table.
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
    Component, Expected, ExpiredRow, ExpiryCursor, ExpiryTarget, ExtendOutcome, ListPage,
    ListQuery, RowInfo, ScanPage, TieredGet, TieredMetadata, TieredWrite, Tombstone,
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
        meta: &Metadata,
        payload: Bytes,
    ) -> Result<Option<Tombstone>>;

    /// Deletes the row unless it is a tombstone; then deletes nothing and returns it.
    async fn delete(&self, id: &ObjectId) -> Result<Option<Tombstone>>;

    /// Applies `write` if and only if the row meets `expected`: its revision is
    /// `expected.revision` (`Some(t)`: the row is a tombstone targeting `t`; `None`: the row
    /// is not a tombstone, i.e. absent or inline) and, when set, `expected.precondition`
    /// holds on the row at the backend's clock (an expired row counts as absent, inline or
    /// tombstone). Returns whether the row now holds the write.
    ///
    /// Atomic: the row is judged and written in one step, so of racing writers whose
    /// expectations exclude each other exactly one applies. **Idempotent:** when the
    /// expectation fails but the row is already in the written state (a tombstone with the
    /// same target; and, for unconditional writes only, no row for `Delete`, an inline object
    /// for `Object`), returns `true` without writing, so a retry after a lost response is not
    /// mistaken for a lost race. With a precondition only the tombstone rule applies (its
    /// target is a fresh revision nobody else writes): a conditional inline write or delete
    /// retried after a lost response reports a lost race.
    async fn compare_and_write(
        &self,
        id: &ObjectId,
        expected: &Expected,
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

    /// Lists the live rows (inline objects and tombstones) of `query.usecase` whose listing
    /// keys lie in the query's bounds, in ascending byte order of the key, at most
    /// `query.limit` (at least one) per page. Rows expired at the backend's clock are never
    /// listed (tombstones included); a listing is no access (no TTI bump). Served by an
    /// index of `(usecase, listing key)`, so a page never scans other usecases or keys
    /// outside the bounds (beyond expired rows inside them). Rows written or removed while
    /// a caller pages may or may not appear.
    async fn list(&self, query: &ListQuery) -> Result<ListPage>;
}
