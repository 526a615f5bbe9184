//! [`LongTermBackend`]: a [`Backend`] with multipart uploads and a blob listing, what the
//! long-term tier (and the storage service) needs.
//!
//! Invariants every implementation keeps (beyond the numbered contracts of
//! [`crate::backend`]): an upload's parts are invisible until `complete_multipart`, which
//! replaces the object atomically; a rejected complete changes nothing.

use async_trait::async_trait;
use objectstore_types::{Metadata, ObjectId};

use super::{Backend, BlobInfo, CompleteRejection, CompletedPart, PartsPage, ScanPage};
use crate::error::Result;
use crate::stream::PayloadStream;

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
