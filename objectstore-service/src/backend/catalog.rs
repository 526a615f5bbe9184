//! [`Catalog`]: what a store with an index of its objects adds to [`LongTermBackend`]:
//! the ordered listing, conditional writes and the listing of open multipart uploads.
//!
//! It is a capability, not part of the core contracts: the tiered engine has it (its
//! high-volume tier indexes every object), a standalone long-term store does not, and the
//! storage service answers [`crate::Error::Unsupported`] for these calls without one
//! ([`crate::service::StorageService::with_catalog`]).
//!
//! Invariants every implementation keeps:
//!
//! * **Conditional writes are atomic.** A write with a [`Precondition`] applies only if the
//!   precondition holds on the object it replaces, judged in the same atomic step that
//!   commits it (the high-volume compare-and-write), so of racing writers exactly the ones
//!   whose precondition still holds win. A refused write stores nothing and reports
//!   [`crate::Error::PreconditionFailed`]; a write that lost a race to a concurrent change
//!   while its precondition still held reports [`crate::Error::Conflict`] (retryable).
//!   Expired objects count as absent.
//! * **Listings come from the index**, never from the long-term tier: a listed object carries
//!   its metadata (size, ETag) as indexed; expired objects are never listed.

use std::time::SystemTime;

use async_trait::async_trait;
use objectstore_types::{Metadata, ObjectId, Usecase};

use super::{
    CompleteRejection, CompletedPart, ListPage, ListQuery, LongTermBackend, Precondition,
    PutReceipt,
};
use crate::error::Result;
use crate::stream::PayloadStream;

/// What [`Catalog::list_uploads`] asks for: the open multipart uploads of one usecase whose
/// objects' listing keys start with `prefix`, ordered by `(listing key, initiation)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadQuery {
    /// The usecase.
    pub usecase: Usecase,
    /// Only objects whose listing key starts with these bytes.
    pub prefix: Vec<u8>,
    /// Only uploads after this `(listing key, upload id)` (S3's key and upload-id markers:
    /// with no upload id, every upload of the key is skipped).
    pub after: Option<(Vec<u8>, Option<String>)>,
    /// At most this many uploads (at least one is asked for).
    pub limit: usize,
}

/// An open multipart upload found by [`Catalog::list_uploads`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenUpload {
    /// The object's listing key.
    pub key: String,
    /// The object the upload completes.
    pub id: ObjectId,
    /// The upload id clients use.
    pub upload_id: String,
    /// When the upload was initiated.
    pub initiated: SystemTime,
}

/// One page of [`Catalog::list_uploads`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadPage {
    /// At most `limit` uploads in `(key, initiation)` order.
    pub uploads: Vec<OpenUpload>,
    /// Whether more uploads follow the last one.
    pub truncated: bool,
}

/// A long-term backend with an index of its objects. See the module docs.
#[async_trait]
pub trait Catalog: LongTermBackend {
    /// Stores the object if `precondition` holds on the current one (atomically, at the
    /// commit point; answers the write's receipt as [`super::Backend::put`] does), else
    /// stores nothing: [`crate::Error::PreconditionFailed`], or
    /// [`crate::Error::Conflict`] when a concurrent change won although the precondition
    /// still holds.
    async fn put_if(
        &self,
        id: &ObjectId,
        metadata: &Metadata,
        body: PayloadStream,
        precondition: &Precondition,
    ) -> Result<PutReceipt>;

    /// Deletes the object if `precondition` holds on it (outcomes as [`Catalog::put_if`]).
    async fn delete_if(&self, id: &ObjectId, precondition: &Precondition) -> Result<()>;

    /// Completes a multipart upload if `precondition` holds on the object it replaces
    /// (outcomes as [`Catalog::put_if`]; a refused complete leaves the upload open). A
    /// retried complete that already committed succeeds whatever the precondition.
    async fn complete_multipart_if(
        &self,
        id: &ObjectId,
        upload_id: &str,
        parts: &[CompletedPart],
        precondition: &Precondition,
    ) -> Result<Option<CompleteRejection>>;

    /// One page of the live objects of a usecase in listing-key order (see
    /// [`super::HighVolumeBackend::list`]).
    async fn list(&self, query: &ListQuery) -> Result<ListPage>;

    /// One page of the open multipart uploads of a usecase (module docs of the
    /// implementation for its cost).
    async fn list_uploads(&self, query: &UploadQuery) -> Result<UploadPage>;
}
