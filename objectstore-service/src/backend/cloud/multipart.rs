//! Multipart uploads of the API ([`LongTermBackend`]) on the store's native multipart API
//! (`object_store::multipart::MultipartStore`), with our own bookkeeping, since
//! `object_store` has no "list parts".
//!
//! Bookkeeping (names in [`super::codec`]) under `.objectstore/multipart/<upload id>/`:
//! `upload` holds the [`UploadRecord`] (object path, the store's upload id, metadata,
//! revision); `parts/<number>/<entry>` is one empty object per uploaded part whose name
//! encodes number, upload time, size, content hash and the store's part id ([`PartEntry`]).
//! Upload ids we hand out are UUID v7 in simple form (`[0-9a-f]{32}`); the store's own id
//! (arbitrary text for S3, none for Azure) stays in the record.
//!
//! Native parts: S3 and GCS store API part `n` as native part `n` (so part numbers are at
//! most 10,000 there); Azure stages each upload of a part as a block with a fresh random id.
//!
//! # Protocols
//!
//! **Initiate:** 1. create the native upload with the object's attributes (S3, GCS; Azure
//! has nothing to create); 2. write the record (**commit point**; on failure the native
//! upload is aborted).
//!
//! **Upload part:** 1. read the record (absent → `NotFound`); 2. read the body, exactly
//! `content_length` bytes (at most `max_api_part_size`, buffered: the store needs the
//! length and a retry needs the bytes), hashing it (SHA-256 for the ETag, MD5); a failing
//! stream, bytes other than the caller's digest says it sent, or a wrong length store
//! nothing; 3. `put_part` (a replaced S3 part is overwritten natively); where the store's
//! ETags are MD5s, the part's ETag must be the MD5 of the bytes sent, else the part is
//! refused as not stored intact (the native part stays unreferenced: no entry names it, and
//! completion only assembles parts named by entries); 4. write the entry (**commit point**:
//! the part is listed from now on); 5. delete the other entries of the same number (if a
//! crash leaves several, the latest upload time wins); 6. re-check the record: if the
//! upload ended meanwhile, the entry is removed again and the answer is `NotFound`.
//!
//! **Complete:** 1. read the record and the entries (latest per number); 2. validate the
//! listed parts (non-empty, strictly ascending, uploaded, ETag matches) → rejection, nothing
//! changed; 3. assemble natively: S3/GCS `complete_multipart` when the list is exactly parts
//! `1..=k`, else a signed `CompleteMultipartUpload` with the real numbers; Azure a signed
//! `Put Block List` carrying the metadata (see `native`). **Commit point.** The store
//! refusing the parts (`InvalidPart`, `EntityTooSmall`, `InvalidBlockList`, ...) is a
//! rejection and the upload stays open. If the store no longer knows the upload, the
//! object's revision decides: ours means an earlier attempt completed it (success), else
//! `NotFound`. 4. Remove the bookkeeping (record first: the upload has ended), best effort.
//!
//! **Abort:** 1. read the record (absent: success); 2. abort natively (S3/GCS; Azure
//! discards uncommitted blocks by itself after a week or on the next write of the name);
//! 3. remove the bookkeeping.
//!
//! **Azure caveat:** uncommitted blocks belong to the blob name, and any write of that name
//! (a put, another upload's completion) discards them; a later completion of the upload is
//! then rejected (`InvalidBlockList`). Behind the tiered layer every upload has its own
//! revision name, so this cannot happen there.

use std::collections::BTreeMap;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use object_store::multipart::PartId;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload};
use objectstore_types::{Metadata, ObjectId};
use sha2::{Digest, Sha256};

use super::CloudBackend;
use super::codec::{self, PartEntry, UploadRecord};
use super::native::{Assembled, Flavor, Native};
use crate::backend::long_term::check_parts;
use crate::backend::{
    BlobInfo, CompleteRejection, CompletedPart, LongTermBackend, PartInfo, PartReceipt, PartUpload,
    PartsPage, PartsQuery, ScanPage,
};
use crate::digest::{BodyDigest, Digest as BodyHash, Hasher, Md5};
use crate::error::{Error, Result};
use crate::integrity::{self, Check, IntegrityError};
use crate::stream::PayloadStream;

impl CloudBackend {
    pub(super) fn native(&self) -> Result<&Native> {
        self.native.as_ref().ok_or(Error::Unsupported {
            backend: self.name,
            operation: "multipart uploads",
        })
    }

    fn upload_not_found(id: &ObjectId, upload_id: &str) -> Error {
        Error::NotFound(format!("multipart upload {upload_id:?} of {id}"))
    }

    /// The record of `upload_id`, if there is one.
    pub(super) async fn read_upload_record(&self, upload_id: &str) -> Result<Option<UploadRecord>> {
        let path = codec::upload_record_path(upload_id)?;
        let bytes = match self.store.get(&path).await {
            Ok(result) => result
                .bytes()
                .await
                .map_err(|e| self.fail("read a multipart upload", e))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.fail("read a multipart upload", e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Internal(format!("upload record {path} is unreadable: {e}")))
    }

    /// The record of `upload_id`, which must belong to `id`.
    async fn load_upload(&self, id: &ObjectId, upload_id: &str) -> Result<UploadRecord> {
        match self.read_upload_record(upload_id).await? {
            Some(record) if record.path == id.as_storage_path() => Ok(record),
            _ => Err(Self::upload_not_found(id, upload_id)),
        }
    }

    /// Every entry below `dir`, with its path.
    async fn entries(&self, dir: &Path) -> Result<Vec<(PartEntry, Path)>> {
        let metas: Vec<_> = self
            .store
            .list(Some(dir))
            .try_collect()
            .await
            .map_err(|e| self.fail("list multipart parts", e))?;
        let mut entries = Vec::with_capacity(metas.len());
        for meta in metas {
            let parts: Vec<_> = meta.location.parts().collect();
            let parsed = match parts.as_slice() {
                [.., number, file] => PartEntry::parse(number.as_ref(), file.as_ref()),
                _ => None,
            };
            match parsed {
                Some(entry) => entries.push((entry, meta.location)),
                None => tracing::warn!(path = %meta.location, "ignoring a malformed part entry"),
            }
        }
        Ok(entries)
    }

    /// The latest entry of every uploaded part number.
    async fn latest_parts(&self, upload_id: &str) -> Result<BTreeMap<u32, PartEntry>> {
        let mut latest: BTreeMap<u32, PartEntry> = BTreeMap::new();
        for (entry, _) in self.entries(&codec::parts_dir(upload_id)?).await? {
            match latest.get(&entry.part_number) {
                Some(current) if !entry.newer_than(current) => {}
                _ => {
                    latest.insert(entry.part_number, entry);
                }
            }
        }
        Ok(latest)
    }

    /// Deletes `paths` (missing ones are fine).
    async fn delete_all(&self, paths: Vec<Path>) -> Result<()> {
        let paths = futures::stream::iter(paths.into_iter().map(Ok)).boxed();
        let results: Vec<_> = self.store.delete_stream(paths).collect().await;
        for result in results {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.fail("delete multipart bookkeeping", e)),
            }
        }
        Ok(())
    }

    /// Ends an upload's bookkeeping: the record first (the upload has ended), then the
    /// entries. Failures leave garbage only; they are logged.
    pub(super) async fn remove_bookkeeping(&self, upload_id: &str) {
        let result = async {
            self.delete_all(vec![codec::upload_record_path(upload_id)?])
                .await?;
            // Everything below the upload, parsable or not.
            let dir = codec::upload_dir(upload_id)?;
            let paths: Vec<Path> = self
                .store
                .list(Some(&dir))
                .map_ok(|meta| meta.location)
                .try_collect()
                .await
                .map_err(|e| self.fail("list multipart bookkeeping", e))?;
            self.delete_all(paths).await
        };
        if let Err(e) = result.await {
            tracing::warn!(
                upload_id,
                error = &e as &dyn std::error::Error,
                "multipart bookkeeping left behind"
            );
        }
    }

    /// Reads a part body of exactly `length` bytes, returning it, its SHA-256 and its
    /// digest. With `sent`, the whole body is read (and hashed; buffered only up to
    /// `length`) and compared with `sent` before its length is judged.
    async fn read_part(
        &self,
        id: &ObjectId,
        mut body: PayloadStream,
        length: u64,
        sent: Option<&BodyDigest>,
    ) -> Result<(PutPayload, String, BodyHash)> {
        let mut chunks = Vec::new();
        let mut hash = Sha256::new();
        let mut md5 = Hasher::new();
        let too_long = || {
            Error::InvalidRequest(format!(
                "the part body is longer than its content length of {length} bytes"
            ))
        };
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(Error::body)?;
            md5.update(&chunk);
            if md5.size() > length {
                if sent.is_none() {
                    return Err(too_long());
                }
                continue;
            }
            hash.update(&chunk);
            chunks.push(chunk);
        }
        let read = md5.finish();
        integrity::check_sent(
            "upload_part",
            &id.as_storage_path(),
            sent,
            read.size,
            read.md5,
        )
        .map_err(|e| e.into_error(self.name))?;
        if read.size > length {
            return Err(too_long());
        }
        if read.size != length {
            return Err(Error::InvalidRequest(format!(
                "the part body has {} bytes, its content length says {length}",
                read.size
            )));
        }
        Ok((
            chunks.into_iter().collect(),
            hex::encode(hash.finalize()),
            read,
        ))
    }

    /// Step 3 of "upload part": where the store's ETags are MD5s, the store's ETag of the
    /// part must be the MD5 of the bytes sent.
    fn check_native_etag(&self, id: &ObjectId, native: &str, sent: &Md5) -> Result<()> {
        if !self.limits.md5_etags || Md5::from_etag(native).is_none_or(|kept| kept == *sent) {
            return Ok(());
        }
        let detail =
            format!("sent bytes with MD5 {sent}, the store's ETag of the part is {native}");
        Err(
            IntegrityError::detected("upload_part", id.as_storage_path(), Check::Md5, detail)
                .into_error(self.name),
        )
    }

    /// Aborts the store's upload behind `record` (nothing to do on Azure).
    pub(super) async fn abort_native(
        &self,
        native: &Native,
        id: &ObjectId,
        record: &UploadRecord,
    ) -> Result<()> {
        if native.flavor == Flavor::Azure {
            return Ok(());
        }
        let path = codec::object_path(id)?;
        match native
            .multipart
            .abort_multipart(&path, &record.native_id)
            .await
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.fail("abort a multipart upload", e)),
        }
    }
}

#[async_trait]
impl LongTermBackend for CloudBackend {
    async fn list_blobs(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<BlobInfo>> {
        self.list_blobs_page(after, limit).await
    }

    async fn initiate_multipart(&self, id: &ObjectId, metadata: &Metadata) -> Result<String> {
        let native = self.native()?;
        let path = codec::object_path(id)?;
        let upload_id = uuid::Uuid::now_v7().simple().to_string();
        let rev = codec::new_revision();
        let attributes = codec::encode_attributes(metadata, &rev, self.limits.metadata_bytes)?;
        let native_id = match native.flavor {
            Flavor::Azure => String::new(),
            Flavor::S3 | Flavor::Gcs => {
                let options = PutMultipartOptions {
                    attributes,
                    ..PutMultipartOptions::default()
                };
                native
                    .multipart
                    .create_multipart_opts(&path, options)
                    .await
                    .map_err(|e| self.fail("start a multipart upload", e))?
            }
        };
        let record = UploadRecord {
            v: 1,
            path: id.as_storage_path(),
            native_id,
            rev,
            metadata: metadata.clone(),
        };
        let json = serde_json::to_vec(&record)
            .map_err(|e| Error::Internal(format!("cannot encode an upload record: {e}")))?;
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let written = self
            .store
            .put_opts(
                &codec::upload_record_path(&upload_id)?,
                json.into(),
                options,
            )
            .await;
        if let Err(e) = written {
            if let Err(abort) = self.abort_native(native, id, &record).await {
                tracing::warn!(%id, error = &abort as &dyn std::error::Error, "could not abort a native upload");
            }
            return Err(self.fail("record a multipart upload", e));
        }
        Ok(upload_id)
    }

    async fn upload_part_checked(&self, part: PartUpload<'_>) -> Result<PartReceipt> {
        let native = self.native()?;
        if part.part_number == 0 || part.part_number > self.limits.max_part_number {
            return Err(Error::InvalidRequest(format!(
                "part numbers range from 1 to {} on the {} backend",
                self.limits.max_part_number, self.name
            )));
        }
        if part.content_length > self.uploads.max_api_part_size {
            return Err(Error::TooLarge(format!(
                "parts are limited to {} bytes",
                self.uploads.max_api_part_size
            )));
        }
        let record = self.load_upload(part.id, part.upload_id).await?;
        let (payload, sha256, read) = self
            .read_part(part.id, part.body, part.content_length, part.sent.as_ref())
            .await?;
        let path = codec::object_path(part.id)?;
        let idx = part.part_number as usize - 1;
        let PartId { content_id } = match native
            .multipart
            .put_part(&path, &record.native_id, idx, payload)
            .await
        {
            Ok(part) => part,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Self::upload_not_found(part.id, part.upload_id));
            }
            Err(e) => return Err(self.fail("upload a part", e)),
        };
        if native.flavor == Flavor::S3 {
            self.check_native_etag(part.id, &content_id, &read.md5)?;
        }
        let entry = PartEntry {
            part_number: part.part_number,
            uploaded: self.clock.now(),
            size: part.content_length,
            sha256,
            native: content_id,
            md5: Some(read.md5),
        };
        let dir = codec::part_dir(part.upload_id, part.part_number)?;
        let entry_path = dir.clone().join(entry.file_name());
        self.store
            .put(&entry_path, PutPayload::new())
            .await
            .map_err(|e| self.fail("record a part", e))?;
        // Every other entry of this number is replaced. With concurrent uploads of one
        // number, the last to get here wins; its entry names a stored native part, and if S3
        // kept the other upload's bytes, S3 refuses the completion (ETag mismatch).
        let others: Vec<Path> = self
            .entries(&dir)
            .await?
            .into_iter()
            .map(|(_, path)| path)
            .filter(|path| *path != entry_path)
            .collect();
        self.delete_all(others).await?;
        // The upload may have ended while the part was sent: do not leave the entry behind.
        if let Err(e) = self.load_upload(part.id, part.upload_id).await {
            self.delete_all(vec![entry_path]).await?;
            return Err(e);
        }
        Ok(PartReceipt {
            etag: entry.etag(),
            size: entry.size,
            md5: entry.md5,
        })
    }

    async fn list_parts(&self, query: PartsQuery<'_>) -> Result<PartsPage> {
        self.native()?;
        if query.max_parts == Some(0) {
            return Err(Error::InvalidRequest("max_parts must be at least 1".into()));
        }
        self.load_upload(query.id, query.upload_id).await?;
        let latest = self.latest_parts(query.upload_id).await?;
        let max = query.max_parts.map_or(usize::MAX, |n| n as usize);
        let mut remaining = latest
            .into_values()
            .filter(|p| query.marker.is_none_or(|m| p.part_number > m));
        let parts: Vec<PartInfo> = remaining
            .by_ref()
            .take(max)
            .map(|p| PartInfo {
                part_number: p.part_number,
                etag: p.etag(),
                last_modified: p.uploaded,
                size: p.size,
                md5: p.md5,
            })
            .collect();
        let next_marker = match (remaining.next(), parts.last()) {
            (Some(_), Some(last)) => Some(last.part_number),
            _ => None,
        };
        Ok(PartsPage { parts, next_marker })
    }

    async fn abort_multipart(&self, id: &ObjectId, upload_id: &str) -> Result<()> {
        let native = self.native()?;
        if !codec::is_upload_id(upload_id) {
            return Ok(());
        }
        let record = match self.load_upload(id, upload_id).await {
            Ok(record) => record,
            Err(Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        self.abort_native(native, id, &record).await?;
        self.remove_bookkeeping(upload_id).await;
        Ok(())
    }

    async fn complete_multipart(
        &self,
        id: &ObjectId,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<Option<CompleteRejection>> {
        let native = self.native()?;
        let record = self.load_upload(id, upload_id).await?;
        let uploaded = self.latest_parts(upload_id).await?;
        if let Some(rejection) = check_parts(parts, |n| uploaded.get(&n).map(PartEntry::etag)) {
            return Ok(Some(rejection));
        }
        let listed: Vec<&PartEntry> = parts
            .iter()
            .filter_map(|p| uploaded.get(&p.part_number))
            .collect();
        let path = codec::object_path(id)?;
        let contiguous = listed
            .iter()
            .enumerate()
            .all(|(i, p)| p.part_number as usize == i + 1);
        let assembled = match native.flavor {
            Flavor::Azure => {
                let attributes =
                    codec::encode_attributes(&record.metadata, &record.rev, usize::MAX)?;
                let envelope = codec::encoded_envelope(&attributes).unwrap_or_default();
                let blocks: Vec<&str> = listed.iter().map(|p| p.native.as_str()).collect();
                native
                    .put_block_list(
                        &path,
                        &blocks,
                        &record.metadata.content_type,
                        (codec::META_ATTRIBUTE, envelope),
                    )
                    .await?
            }
            Flavor::S3 | Flavor::Gcs if contiguous => {
                let ids = listed
                    .iter()
                    .map(|p| PartId {
                        content_id: p.native.clone(),
                    })
                    .collect();
                match native
                    .multipart
                    .complete_multipart(&path, &record.native_id, ids)
                    .await
                {
                    Ok(_) => Assembled::Done,
                    Err(object_store::Error::NotFound { .. }) => Assembled::NoSuchUpload,
                    Err(e) => match super::native::rejection_in(&e) {
                        Some(rejection) => Assembled::Rejected(rejection),
                        None => return Err(self.fail("complete a multipart upload", e)),
                    },
                }
            }
            Flavor::S3 | Flavor::Gcs => {
                let numbered: Vec<(u32, &str)> = listed
                    .iter()
                    .map(|p| (p.part_number, p.native.as_str()))
                    .collect();
                match native
                    .complete_numbered(&path, &record.native_id, &numbered)
                    .await?
                {
                    Assembled::Rejected(mut rejection) if rejection.code == "InvalidPart" => {
                        // Our own checks passed, so the store refused the selection itself.
                        rejection.message = format!(
                            "the store refused to assemble this selection of the uploaded \
                             parts ({}); some S3-compatible stores (Ceph radosgw 16) only \
                             assemble the uploaded parts from the first on, without gaps",
                            rejection.message
                        );
                        Assembled::Rejected(rejection)
                    }
                    other => other,
                }
            }
        };
        match assembled {
            Assembled::Done => {}
            Assembled::Rejected(rejection) => return Ok(Some(rejection)),
            Assembled::NoSuchUpload => {
                let ours = self
                    .head_path(&path)
                    .await?
                    .is_some_and(|(stored, _)| stored.revision == record.rev);
                if !ours {
                    return Err(Self::upload_not_found(id, upload_id));
                }
            }
        }
        self.remove_bookkeeping(upload_id).await;
        Ok(None)
    }
}
