//! [`LongTermBackend`]: a [`Backend`] with multipart uploads and a blob listing, what the
//! long-term tier (and the storage service) needs.
//!
//! Invariants every implementation keeps (beyond the numbered contracts of
//! [`crate::backend`]): an upload's parts are invisible until `complete_multipart`, which
//! replaces the object atomically; a rejected complete changes nothing; a part that fails
//! the caller's integrity check ([`LongTermBackend::upload_part_checked`]) is never stored.

use async_trait::async_trait;
use objectstore_types::{Metadata, ObjectId};

use super::{
    Backend, BlobInfo, CompleteRejection, CompletedPart, PartReceipt, PartUpload, PartsPage,
    PartsQuery, ScanPage,
};
use crate::error::Result;
use crate::stream::PayloadStream;

/// A [`Backend`] with multipart uploads and a blob listing. Calls naming an unknown upload
/// yield [`crate::Error::NotFound`], except `abort`, which succeeds.
#[async_trait]
pub trait LongTermBackend: Backend {
    /// Starts an upload; `metadata` (already stamped) is what the assembled object carries.
    async fn initiate_multipart(&self, id: &ObjectId, metadata: &Metadata) -> Result<String>;

    /// Stores one part, replacing an earlier upload of the same number. The body must be
    /// exactly `content_length` bytes, else [`crate::Error::InvalidRequest`]. Returns the
    /// ETag (a content hash, quoted): [`LongTermBackend::upload_part_checked`] without a
    /// check.
    async fn upload_part(
        &self,
        id: &ObjectId,
        upload_id: &str,
        part_number: u32,
        content_length: u64,
        body: PayloadStream,
    ) -> Result<String> {
        let part = PartUpload::new(id, upload_id, part_number, content_length, body);
        Ok(self.upload_part_checked(part).await?.etag)
    }

    /// Stores one part like [`LongTermBackend::upload_part`] and answers the backend's own
    /// account of it (ETag, size, MD5). With `part.sent` (the caller's digest of the body,
    /// complete once the body ended, [`crate::digest::digesting`]) the backend reads the
    /// body to its end and, **before the part becomes visible**, compares the bytes it
    /// read (size and MD5) with `sent`: a mismatch stores nothing and fails with an
    /// [`crate::integrity::IntegrityError`] (a part cannot be removed once stored, so this
    /// check cannot wait for the caller).
    async fn upload_part_checked(&self, part: PartUpload<'_>) -> Result<PartReceipt>;

    /// Lists the upload's parts with numbers greater than `query.marker`, at most
    /// `query.max_parts` (all if `None`).
    async fn list_parts(&self, query: PartsQuery<'_>) -> Result<PartsPage>;

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

/// Why the listed `parts` cannot complete an upload, if they cannot: none listed, numbers
/// not strictly ascending, a part not uploaded, or an ETag that differs from the uploaded
/// part's (`etag_of(n)`: the ETag of uploaded part `n`, `None` when it was not uploaded).
#[cfg(any(
    test,
    feature = "testing",
    feature = "s3",
    feature = "azure",
    feature = "gcs"
))]
pub(crate) fn check_parts(
    parts: &[CompletedPart],
    etag_of: impl Fn(u32) -> Option<String>,
) -> Option<CompleteRejection> {
    let reject = |code: &str, message: String| {
        Some(CompleteRejection {
            code: code.into(),
            message,
        })
    };
    if parts.is_empty() {
        return reject("InvalidPart", "at least one part is required".into());
    }
    let mut previous = 0;
    for p in parts {
        if p.part_number <= previous {
            return reject(
                "InvalidPartOrder",
                format!(
                    "parts must be listed in strictly ascending order; part {} follows part {previous}",
                    p.part_number
                ),
            );
        }
        previous = p.part_number;
        match etag_of(p.part_number) {
            None => {
                return reject(
                    "InvalidPart",
                    format!("part {} was not uploaded", p.part_number),
                );
            }
            Some(etag) if etag != p.etag => {
                return reject(
                    "InvalidPart",
                    format!(
                        "etag mismatch for part {}: expected {etag}, got {}",
                        p.part_number, p.etag
                    ),
                );
            }
            Some(_) => {}
        }
    }
    None
}
