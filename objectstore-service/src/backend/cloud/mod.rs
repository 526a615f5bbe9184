//! Long-term backends on cloud object stores: Amazon S3 and S3-compatible stores (Ceph,
//! MinIO, ...), Azure Blob Storage and Google Cloud Storage, through the `object_store`
//! crate. Cargo features `s3`, `azure`, `gcs`.
//!
//! One implementation, [`CloudBackend`], serves every store: it holds an
//! `Arc<dyn object_store::ObjectStore>` (plus the store's `MultipartStore` and `Signer` for
//! multipart uploads) built by [`CloudBackend::s3`], [`CloudBackend::azure`] or
//! [`CloudBackend::gcs`] from a serde config ([`config`]: credentials, endpoint, retries,
//! timeouts, upload sizes). [`CloudBackend::with_store`] wraps any other `object_store`
//! store, without multipart uploads.
//!
//! # Layout and encoding (module `codec` has the details and the disjointness proof)
//!
//! * An object is one blob named by its [`ObjectId::as_storage_path`] (below the configured
//!   prefix). Its [`Metadata`] and a random *revision* token travel with the blob as one
//!   user-metadata attribute, so a GET or HEAD is one request. The size is the blob's length.
//! * Expiry records (`.objectstore/expiry/<path>`) hold deadlines moved after the write.
//! * Multipart bookkeeping lives under `.objectstore/multipart/<upload id>/` (see
//!   module `multipart`).
//!
//! # Operations
//!
//! * **Put** reads the body up to `part_size` (8 MiB). A body that ends before is stored with
//!   one PUT; a longer one is streamed as the store's multipart upload of `part_size` parts,
//!   at most `max_parts_in_flight` in flight (bounded memory). If the body stream fails, the
//!   upload is aborted: the store never assembles it, so nothing is stored and a previous
//!   object stays as it was. (Azure has no abort: the uncommitted blocks are discarded by the
//!   store after a week, or by the next write of that name.) Commit point: the single PUT, or
//!   the multipart completion. **Receipt:** the store's ETag of a single PUT as its MD5 when
//!   the store's ETags are MD5s ([`S3Config::etags_are_md5`]); otherwise (Azure, GCS, a
//!   streamed put, whose ETag is a multipart one) nothing, and the tiered layer reads the
//!   size back. The backend stores no ETag of its own.
//! * **Get** is one request, with the range passed to the store (`GetOptions::range`). The
//!   backend resolves the range against the size itself: an unsatisfiable range answers
//!   [`GetResponse::RangeNotSatisfiable`] with the metadata; if the store rejects a range
//!   request, a HEAD tells the size and a satisfiable range is asked for again explicitly,
//!   pinned to the revision the HEAD saw (`If-Match`).
//! * **Delete** deletes the blob and its expiry record (at once); missing ones are fine.
//!
//! # Expiry
//!
//! Expired objects read as absent by the backend's clock. They are not deleted by this
//! backend: behind [`crate::tiered::TieredStorage`] the sweeper deletes revisions, and a
//! standalone deployment needs a store lifecycle rule (or deletes) to reclaim space.
//!
//! Blobs cannot be re-labelled in place through `object_store` (S3 copy-in-place, Azure
//! `Set Blob Metadata` and GCS metadata patches are not exposed, and a re-upload of a large
//! object is out of the question), so **TTI bumps and [`Backend::extend_expiry`] write an
//! expiry record** bound to the blob's revision:
//!
//! 1. Read the blob's attributes (the GET or HEAD itself). Without a deadline (manual
//!    policy, and every revision the tiered layer writes, since the tombstone holds the
//!    authoritative deadline there) this is the only request.
//! 2. Read the expiry record; if its revision is the blob's, its deadline and policy replace
//!    the blob's (a record of another revision is stale: the object was overwritten).
//! 3. Decide (expired → absent; [`crate::expiry::tti_bump`] / [`crate::expiry::plan_extension`]).
//! 4. Write the new record conditionally: `If-Match` the record read in step 2, or
//!    `If-None-Match: *` when there was none. **Commit point.** A failed precondition means
//!    a concurrent bump or extension won: a TTI bump ignores it (best effort), an extension
//!    reports [`ExtendOutcome::Conflict`]. If the blob was overwritten between steps 1 and
//!    4, the record names the old revision and has no effect: the extension is ordered
//!    before the overwrite, which replaced all metadata anyway.
//!
//! Stale records are small and bounded by one per key; deleting the object removes its
//! record.
//!
//! # Stores
//!
//! Tested against moto (S3 emulator), a real single-node Ceph radosgw 16 and Azurite
//! (`scripts/services/{moto,ceph,azurite}.sh`; `tests.rs`): the backend and long-term
//! conformance suites, on their own and as the long-term tier of
//! [`crate::tiered::TieredStorage`]. Store quirks the backend absorbs or passes on:
//!
//! * Ceph radosgw compares `If-Match` with its unquoted ETag: set
//!   [`S3Config::unquoted_if_match`].
//! * Ceph radosgw 16 only assembles the uploaded parts from the first on, without gaps;
//!   completing another selection is reported as its `InvalidPart` rejection.
//! * S3 keeps 2 KiB of user metadata per object: larger metadata is refused as too large.
//!
//! **GCS has no local emulator that works with `object_store`'s client** (the available one
//! lacks the XML multipart API): only its configuration and builder are unit-tested.

use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, GetResult, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    UpdateVersion, WriteMultipart,
};
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};

use self::codec::{ExpiryRecord, Stored};
use self::native::Native;
use crate::backend::{Backend, Component, ExpiryTarget, ExtendOutcome, GetResponse, PutReceipt};
use crate::clock::SharedClock;
use crate::digest::Md5;
use crate::error::{Error, Result};
use crate::expiry::{ExtendPlan, plan_extension, tti_bump};
use crate::stream::PayloadStream;

mod cleanup;
mod codec;
pub mod config;
mod multipart;
mod native;
mod scan;
mod stores;
#[cfg(test)]
mod tests;

pub use config::{AzureConfig, ClientSettings, GcsConfig, S3Config, Secret, UploadSettings};

/// Largest expiry record we read (they are about 100 bytes).
const MAX_RECORD_BYTES: usize = 64 * 1024;

/// A long-term backend on a cloud object store. See the module docs.
#[derive(Debug, Clone)]
pub struct CloudBackend {
    name: &'static str,
    store: Arc<dyn ObjectStore>,
    native: Option<Native>,
    clock: SharedClock,
    uploads: UploadSettings,
    limits: Limits,
}

/// What the store allows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Longest encoded metadata attribute value (S3 keeps 2 KiB of user metadata).
    pub metadata_bytes: usize,
    /// Highest part number of the multipart API.
    pub max_part_number: u32,
    /// Whether `If-Match` preconditions must carry the ETag without quotes (Ceph radosgw
    /// compares the raw header with its unquoted ETag).
    pub unquoted_if_match: bool,
    /// Whether the store's ETag of a single-part object or a part is the MD5 of its bytes
    /// (S3 without KMS/SSE-C encryption): then it is the store's account in receipts.
    pub md5_etags: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            metadata_bytes: 8 * 1024,
            max_part_number: 10_000,
            unquoted_if_match: false,
            md5_etags: false,
        }
    }
}

impl CloudBackend {
    /// A backend over any `object_store` store, e.g. `object_store::memory::InMemory` in
    /// tests. Multipart uploads need a store's native multipart API and are refused as
    /// unsupported; everything else works as with the cloud stores.
    pub fn with_store(
        name: &'static str,
        store: Arc<dyn ObjectStore>,
        clock: SharedClock,
    ) -> CloudBackend {
        CloudBackend {
            name,
            store,
            native: None,
            clock,
            uploads: UploadSettings::default(),
            limits: Limits::default(),
        }
    }

    /// Changes the upload settings (part size and concurrency). Mainly for tests.
    pub fn with_uploads(mut self, uploads: UploadSettings) -> Self {
        self.uploads = uploads;
        self
    }

    fn fail(&self, operation: &'static str, e: object_store::Error) -> Error {
        Error::backend(self.name, operation, e)
    }

    /// The blob's attributes without its bytes; `None` when absent.
    async fn head_path(&self, path: &Path) -> Result<Option<(Stored, UpdateVersion)>> {
        let options = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        match self.store.get_opts(path, options).await {
            Ok(result) => {
                let version = UpdateVersion {
                    e_tag: result.meta.e_tag.clone(),
                    version: result.meta.version.clone(),
                };
                let stored = codec::decode_attributes(&result.attributes, result.meta.size)?;
                Ok(Some((stored, version)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail("read object metadata", e)),
        }
    }

    /// The object's expiry record and its version (for a conditional rewrite).
    async fn read_expiry(&self, id: &ObjectId) -> Result<Option<(ExpiryRecord, UpdateVersion)>> {
        let path = codec::expiry_path(id)?;
        let result = match self.store.get_opts(&path, GetOptions::default()).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.fail("read an expiry record", e)),
        };
        let version = UpdateVersion {
            e_tag: result.meta.e_tag.clone(),
            version: result.meta.version.clone(),
        };
        if result.meta.size > MAX_RECORD_BYTES as u64 {
            return Err(Error::Internal(format!(
                "expiry record {path} is too large"
            )));
        }
        let bytes = result
            .bytes()
            .await
            .map_err(|e| self.fail("read an expiry record", e))?;
        let record = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Internal(format!("expiry record {path} is unreadable: {e}")))?;
        Ok(Some((record, version)))
    }

    /// Writes the expiry record of `metadata` for `revision`, if the record is still the one
    /// read (`previous`; `None`: there was none). Returns whether it was written.
    async fn write_expiry(
        &self,
        id: &ObjectId,
        revision: &str,
        metadata: &Metadata,
        previous: Option<UpdateVersion>,
    ) -> Result<bool> {
        let Some(record) = ExpiryRecord::new(revision, metadata) else {
            return Ok(true);
        };
        let path = codec::expiry_path(id)?;
        let json = serde_json::to_vec(&record)
            .map_err(|e| Error::Internal(format!("cannot encode an expiry record: {e}")))?;
        let mode = match previous {
            Some(version) => PutMode::Update(self.precondition(version)),
            None => PutMode::Create,
        };
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        match self.store.put_opts(&path, json.into(), options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::Precondition { .. })
            | Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.fail("write an expiry record", e)),
        }
    }

    /// The version to send in an `If-Match` precondition.
    fn precondition(&self, mut version: UpdateVersion) -> UpdateVersion {
        if self.limits.unquoted_if_match {
            version.e_tag = version.e_tag.map(|e| e.trim_matches('"').to_owned());
        }
        version
    }

    /// Steps 2 and 3 of the expiry protocol for a read (module docs): applies the expiry
    /// record, hides expired objects and bumps TTI deadlines (best effort). Returns the
    /// metadata as it was before this access; `None` when expired.
    async fn access(&self, id: &ObjectId, mut stored: Stored) -> Result<Option<Metadata>> {
        if stored.metadata.time_expires.is_none() || stored.revision.is_empty() {
            return Ok(Some(stored.metadata));
        }
        let record = self.read_expiry(id).await?;
        if let Some((record, _)) = &record {
            record.apply(&mut stored);
        }
        let now = self.clock.now();
        if stored.metadata.is_expired(now) {
            return Ok(None);
        }
        if let Some(deadline) = tti_bump(&stored.metadata, now) {
            let bumped = Metadata {
                time_expires: Some(deadline),
                ..stored.metadata.clone()
            };
            let previous = record.map(|(_, version)| version);
            match self
                .write_expiry(id, &stored.revision, &bumped, previous)
                .await
            {
                Ok(true) => {}
                Ok(false) => tracing::debug!(%id, "TTI bump lost to a concurrent update"),
                Err(e) => {
                    tracing::warn!(%id, error = &e as &dyn std::error::Error, "TTI bump failed");
                }
            }
        }
        Ok(Some(stored.metadata))
    }

    /// Stores a body that needs more than one part as the store's multipart upload.
    async fn put_streamed(
        &self,
        path: &Path,
        attributes: object_store::Attributes,
        head: Vec<bytes::Bytes>,
        mut body: PayloadStream,
    ) -> Result<()> {
        let options = object_store::PutMultipartOptions {
            attributes,
            ..Default::default()
        };
        let upload = self
            .store
            .put_multipart_opts(path, options)
            .await
            .map_err(|e| self.fail("start a multipart upload", e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.uploads.part_size);
        for chunk in head {
            writer.put(chunk);
        }
        let failure = loop {
            if let Err(e) = writer
                .wait_for_capacity(self.uploads.max_parts_in_flight)
                .await
            {
                break self.fail("upload a part", e);
            }
            match body.next().await {
                Some(Ok(chunk)) => writer.put(chunk),
                Some(Err(e)) => break Error::body(e),
                None => {
                    return writer
                        .finish()
                        .await
                        .map(drop)
                        .map_err(|e| self.fail("complete a multipart upload", e));
                }
            }
        };
        if let Err(e) = writer.abort().await {
            tracing::warn!(%path, error = &e as &dyn std::error::Error, "aborting a failed upload failed");
        }
        Err(failure)
    }

    /// The body of a GET as a payload stream.
    fn body(result: GetResult) -> PayloadStream {
        result
            .into_stream()
            .map(|chunk| chunk.map_err(io::Error::other))
            .boxed()
    }

    /// A ranged GET the store refused: find the size with a HEAD, answer 416 or ask for the
    /// resolved range explicitly, pinned to the revision the HEAD saw.
    async fn get_range_fallback(
        &self,
        id: &ObjectId,
        path: &Path,
        range: ByteRange,
        refused: object_store::Error,
    ) -> Result<GetResponse> {
        let Some((stored, version)) = self.head_path(path).await? else {
            return Ok(GetResponse::NotFound);
        };
        let size = stored.metadata.size.unwrap_or_default();
        let Some(metadata) = self.access(id, stored).await? else {
            return Ok(GetResponse::NotFound);
        };
        let Some(resolved) = range.resolve(size) else {
            return Ok(GetResponse::RangeNotSatisfiable(metadata));
        };
        let options = GetOptions {
            range: Some(GetRange::Bounded(resolved.start..resolved.end + 1)),
            if_match: self.precondition(version).e_tag,
            ..GetOptions::default()
        };
        let result = match self.store.get_opts(path, options).await {
            Ok(result) => result,
            Err(
                object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. },
            ) => {
                return Err(Error::Conflict(format!("{id} changed while it was read")));
            }
            Err(e) => {
                tracing::warn!(%id, error = &refused as &dyn std::error::Error, "the store refused a range");
                return Err(self.fail("read a range", e));
            }
        };
        if result.range != (resolved.start..resolved.end + 1) {
            return Err(Error::Internal(format!(
                "the store returned bytes {:?} of {id} for {resolved}",
                result.range
            )));
        }
        Ok(GetResponse::Found {
            metadata,
            range: Some(resolved),
            body: Self::body(result),
        })
    }
}

/// The `object_store` form of a range.
fn get_range(range: ByteRange) -> GetRange {
    match range {
        ByteRange::Bounded(a, b) => GetRange::Bounded(a..b.saturating_add(1)),
        ByteRange::From(a) => GetRange::Offset(a),
        ByteRange::Suffix(n) => GetRange::Suffix(n),
    }
}

#[async_trait]
impl Component for CloudBackend {
    fn name(&self) -> &'static str {
        self.name
    }
}

#[async_trait]
impl Backend for CloudBackend {
    async fn put(
        &self,
        id: &ObjectId,
        meta: &Metadata,
        mut body: PayloadStream,
    ) -> Result<PutReceipt> {
        let path = codec::object_path(id)?;
        let attributes =
            codec::encode_attributes(meta, &codec::new_revision(), self.limits.metadata_bytes)?;
        // Read up to one part: a body that ends before is one PUT.
        let mut head = Vec::new();
        let mut buffered = 0;
        while buffered < self.uploads.part_size {
            match body.next().await {
                Some(Ok(chunk)) => {
                    buffered += chunk.len();
                    head.push(chunk);
                }
                Some(Err(e)) => return Err(Error::body(e)),
                None => {
                    let options = PutOptions {
                        attributes,
                        ..PutOptions::default()
                    };
                    let payload: PutPayload = head.into_iter().collect();
                    let stored = self
                        .store
                        .put_opts(&path, payload, options)
                        .await
                        .map_err(|e| self.fail("store an object", e))?;
                    let md5 = stored
                        .e_tag
                        .as_deref()
                        .filter(|_| self.limits.md5_etags)
                        .and_then(Md5::from_etag);
                    return Ok(PutReceipt {
                        md5,
                        ..PutReceipt::default()
                    });
                }
            }
        }
        self.put_streamed(&path, attributes, head, body).await?;
        Ok(PutReceipt::default())
    }

    async fn get(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<GetResponse> {
        let path = codec::object_path(id)?;
        let options = GetOptions {
            range: range.map(get_range),
            ..GetOptions::default()
        };
        let result = match (self.store.get_opts(&path, options).await, range) {
            (Ok(result), _) => result,
            (Err(object_store::Error::NotFound { .. }), _) => return Ok(GetResponse::NotFound),
            (Err(e), Some(range)) => return self.get_range_fallback(id, &path, range, e).await,
            (Err(e), None) => return Err(self.fail("read an object", e)),
        };
        let size = result.meta.size;
        let stored = codec::decode_attributes(&result.attributes, size)?;
        let Some(metadata) = self.access(id, stored).await? else {
            return Ok(GetResponse::NotFound);
        };
        let Some(range) = range else {
            return Ok(GetResponse::Found {
                metadata,
                range: None,
                body: Self::body(result),
            });
        };
        match range.resolve(size) {
            None => Ok(GetResponse::RangeNotSatisfiable(metadata)),
            Some(resolved) if result.range == (resolved.start..resolved.end + 1) => {
                Ok(GetResponse::Found {
                    metadata,
                    range: Some(resolved),
                    body: Self::body(result),
                })
            }
            Some(resolved) => Err(Error::Internal(format!(
                "the store returned bytes {:?} of {id} for {resolved}",
                result.range
            ))),
        }
    }

    async fn head(&self, id: &ObjectId) -> Result<Option<Metadata>> {
        let path = codec::object_path(id)?;
        match self.head_path(&path).await? {
            Some((stored, _)) => self.access(id, stored).await,
            None => Ok(None),
        }
    }

    async fn delete(&self, id: &ObjectId) -> Result<()> {
        let (blob, record) = (codec::object_path(id)?, codec::expiry_path(id)?);
        let (blob, record) = tokio::join!(self.store.delete(&blob), self.store.delete(&record));
        for result in [blob, record] {
            match result {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.fail("delete an object", e)),
            }
        }
        Ok(())
    }

    async fn extend_expiry(
        &self,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        let path = codec::object_path(id)?;
        let Some((mut stored, _)) = self.head_path(&path).await? else {
            return Ok(ExtendOutcome::NotFound);
        };
        let record = match stored.metadata.time_expires {
            Some(_) if !stored.revision.is_empty() => self.read_expiry(id).await?,
            _ => None,
        };
        if let Some((record, _)) = &record {
            record.apply(&mut stored);
        }
        match plan_extension(Some(&stored.metadata), target, now) {
            ExtendPlan::Done(outcome) => Ok(outcome),
            ExtendPlan::Update(updated) => {
                let previous = record.map(|(_, version)| version);
                if self
                    .write_expiry(id, &stored.revision, &updated, previous)
                    .await?
                {
                    Ok(ExtendOutcome::Satisfied)
                } else {
                    Ok(ExtendOutcome::Conflict)
                }
            }
        }
    }
}
