//! [`Catalog`] for [`TieredStorage`]: conditional writes (their protocol is in the
//! [module docs](super#conditional-writes)), the ordered listing (the high-volume tier's
//! index, never the long-term tier) and the listing of open uploads (module `uploads`).

use std::sync::Arc;

use async_trait::async_trait;
use objectstore_types::{Metadata, ObjectId};

use super::{Inner, TieredStorage};
use crate::backend::catalog::{Catalog, UploadPage, UploadQuery};
use crate::backend::{
    CompleteRejection, CompletedPart, ListPage, ListQuery, Precondition, PutReceipt,
    TieredMetadata, Tombstone,
};
use crate::error::{Error, Result};
use crate::stream::PayloadStream;

fn refused(id: &ObjectId, pre: &Precondition) -> Error {
    let what = match pre {
        Precondition::Absent => "the object exists (If-None-Match: *)".to_owned(),
        Precondition::ETagMatches(etag) => {
            format!("the object is absent or its ETag is not \"{etag}\" (If-Match)")
        }
    };
    Error::PreconditionFailed(format!("{}: {what}", id.as_storage_path()))
}

impl Inner {
    /// Judges `pre` on the row as read (at the engine's clock): refused →
    /// [`Error::PreconditionFailed`]; else the row's tombstone, if it is one (expired or
    /// not: an expired tombstone is replaced like any other, its blob cleaned up).
    pub(crate) fn judge_row(
        &self,
        id: &ObjectId,
        row: &TieredMetadata,
        pre: &Precondition,
    ) -> Result<Option<Tombstone>> {
        let (metadata, tombstone) = match row {
            TieredMetadata::NotFound => (None, None),
            TieredMetadata::Object(m) => (Some(m), None),
            TieredMetadata::Tombstone(t) => (Some(&t.metadata), Some(t)),
        };
        if !pre.holds(metadata, self.clock.now()) {
            return Err(refused(id, pre));
        }
        Ok(tombstone.cloned())
    }

    /// Reads the row of `id` and judges `pre` on it ([`Inner::judge_row`]): the early
    /// refusal of a conditional write, before anything is stored.
    pub(crate) async fn judge(
        &self,
        id: &ObjectId,
        pre: &Precondition,
    ) -> Result<Option<Tombstone>> {
        let row = self.hv.head(id).await?;
        self.judge_row(id, &row, pre)
    }

    /// The result of a conditional write whose commit `written` or not: written → `Ok`;
    /// not written → read the row again: the precondition fails on it →
    /// [`Error::PreconditionFailed`]; it still holds (a concurrent write replaced the row
    /// the commit expected, e.g. another revision with the same ETag) →
    /// [`Error::Conflict`], which the client may retry.
    pub(crate) async fn conditional_outcome(
        &self,
        id: &ObjectId,
        pre: &Precondition,
        written: bool,
    ) -> Result<()> {
        if written {
            return Ok(());
        }
        self.judge(id, pre).await?;
        Err(Error::Conflict(format!(
            "{}: a concurrent write changed the object; retry",
            id.as_storage_path()
        )))
    }
}

impl TieredStorage {
    fn shared(&self) -> &Arc<Inner> {
        &self.inner
    }
}

#[async_trait]
impl Catalog for TieredStorage {
    async fn put_if(
        &self,
        id: &ObjectId,
        metadata: &Metadata,
        body: PayloadStream,
        precondition: &Precondition,
    ) -> Result<PutReceipt> {
        self.shared()
            .put(id, metadata, body, Some(precondition))
            .await
    }

    async fn delete_if(&self, id: &ObjectId, precondition: &Precondition) -> Result<()> {
        self.shared().delete(id, Some(precondition)).await
    }

    async fn complete_multipart_if(
        &self,
        id: &ObjectId,
        upload_id: &str,
        parts: &[CompletedPart],
        precondition: &Precondition,
    ) -> Result<Option<CompleteRejection>> {
        self.shared()
            .complete(id, upload_id, parts, Some(precondition))
            .await
    }

    async fn list(&self, query: &ListQuery) -> Result<ListPage> {
        self.inner.hv.list(query).await
    }

    async fn list_uploads(&self, query: &UploadQuery) -> Result<UploadPage> {
        self.inner.list_uploads(query).await
    }
}
