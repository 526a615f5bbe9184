//! [`LongTermBackend`] for [`MemoryBackend`]: multipart uploads kept in memory, and the
//! blob listing (the inline objects in storage-path order; a tombstone is no blob).
//!
//! Parts are read completely before the state lock is taken; `complete_multipart` validates
//! the listed parts (strictly ascending, uploaded, matching ETag) and then assembles and
//! stores the object and ends the upload in one locked step, so readers see the old object
//! or the whole new one.

use std::collections::BTreeMap;
use std::ops::Bound;

use async_trait::async_trait;
use bytes::BytesMut;
use objectstore_types::{Metadata, ObjectId};

use super::{MemoryBackend, Part, Stored, Upload, etag};
use crate::backend::inline::{read_body, sized};
use crate::backend::long_term::check_parts;
use crate::backend::{
    BlobInfo, CompleteRejection, CompletedPart, LongTermBackend, PartInfo, PartReceipt, PartUpload,
    PartsPage, PartsQuery, ScanPage,
};
use crate::digest::Md5;
use crate::error::{Error, Result};
use crate::integrity;

#[async_trait]
impl LongTermBackend for MemoryBackend {
    async fn list_blobs(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<BlobInfo>> {
        let limit = limit.max(1);
        let state = self.lock();
        let lower = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_owned()));
        // The cursor is the last storage path *looked at*, so that a page of tombstones
        // still moves on.
        let mut items = Vec::new();
        let mut last = None;
        for (path, row) in state.rows.range((lower, Bound::Unbounded)) {
            if items.len() >= limit {
                break;
            }
            last = Some(path.clone());
            if let Stored::Object(metadata, bytes) = &row.value {
                items.push(BlobInfo {
                    id: row.id.clone(),
                    size: metadata.size.unwrap_or(bytes.len() as u64),
                    last_modified: row.modified,
                });
            }
        }
        let next = if items.len() >= limit { last } else { None };
        Ok(ScanPage { items, next })
    }

    async fn initiate_multipart(&self, id: &ObjectId, metadata: &Metadata) -> Result<String> {
        let upload_id = uuid::Uuid::now_v7().simple().to_string();
        let upload = Upload {
            id: id.clone(),
            metadata: metadata.clone(),
            parts: BTreeMap::new(),
        };
        self.lock().uploads.insert(upload_id.clone(), upload);
        Ok(upload_id)
    }

    async fn upload_part_checked(&self, part: PartUpload<'_>) -> Result<PartReceipt> {
        if part.part_number == 0 {
            return Err(Error::InvalidRequest("part numbers start at 1".into()));
        }
        self.check_upload(part.id, part.upload_id)?;
        // With a check, the whole body first (compared before the length is judged: a
        // length the store got wrong is its fault, not the client's).
        let expected = part.sent.is_none().then_some(part.content_length);
        let bytes = read_body(part.body, expected).await?;
        let (md5, size) = (Md5::of(&bytes), bytes.len() as u64);
        integrity::check_sent(
            "upload_part",
            &part.id.as_storage_path(),
            part.sent.as_ref(),
            size,
            md5,
        )
        .map_err(|e| e.into_error(self.name))?;
        if size != part.content_length {
            return Err(Error::InvalidRequest(format!(
                "the body has {size} bytes but its content length is {}",
                part.content_length
            )));
        }
        let etag = etag(&bytes);
        let now = self.clock.now();
        let mut state = self.lock();
        // The upload may have been aborted or completed while the body streamed.
        let upload = match state.uploads.get_mut(part.upload_id) {
            Some(u) if u.id == *part.id => u,
            _ => return Err(Self::upload_not_found(part.id, part.upload_id)),
        };
        let receipt = PartReceipt {
            etag: etag.clone(),
            size,
            md5: Some(md5),
        };
        let stored = Part {
            bytes,
            etag,
            md5,
            last_modified: now,
        };
        upload.parts.insert(part.part_number, stored);
        Ok(receipt)
    }

    async fn list_parts(&self, query: PartsQuery<'_>) -> Result<PartsPage> {
        if query.max_parts == Some(0) {
            return Err(Error::InvalidRequest("max_parts must be at least 1".into()));
        }
        let state = self.lock();
        let upload = match state.uploads.get(query.upload_id) {
            Some(u) if u.id == *query.id => u,
            _ => return Err(Self::upload_not_found(query.id, query.upload_id)),
        };
        let max = query.max_parts.map_or(usize::MAX, |n| n as usize);
        let mut remaining = upload
            .parts
            .iter()
            .filter(|(n, _)| query.marker.is_none_or(|m| **n > m));
        let parts: Vec<PartInfo> = remaining
            .by_ref()
            .take(max)
            .map(|(n, p)| PartInfo {
                part_number: *n,
                etag: p.etag.clone(),
                last_modified: p.last_modified,
                size: p.bytes.len() as u64,
                md5: Some(p.md5),
            })
            .collect();
        let next_marker = match (remaining.next(), parts.last()) {
            (Some(_), Some(last)) => Some(last.part_number),
            _ => None,
        };
        Ok(PartsPage { parts, next_marker })
    }

    async fn abort_multipart(&self, id: &ObjectId, upload_id: &str) -> Result<()> {
        let mut state = self.lock();
        if state.uploads.get(upload_id).is_some_and(|u| u.id == *id) {
            state.uploads.remove(upload_id);
        }
        Ok(())
    }

    async fn complete_multipart(
        &self,
        id: &ObjectId,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<Option<CompleteRejection>> {
        let mut state = self.lock();
        let upload = match state.uploads.get(upload_id) {
            Some(u) if u.id == *id => u,
            _ => return Err(Self::upload_not_found(id, upload_id)),
        };
        if let Some(rejection) =
            check_parts(parts, |n| upload.parts.get(&n).map(|p| p.etag.clone()))
        {
            return Ok(Some(rejection));
        }
        let mut assembled = BytesMut::new();
        for p in parts {
            if let Some(part) = upload.parts.get(&p.part_number) {
                assembled.extend_from_slice(&part.bytes);
            }
        }
        let value = Stored::Object(sized(&upload.metadata, assembled.len()), assembled.freeze());
        state.uploads.remove(upload_id);
        state.insert(id, value, self.clock.now());
        Ok(None)
    }
}
