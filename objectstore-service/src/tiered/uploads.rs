//! The listing of open multipart uploads ([`Catalog::list_uploads`](crate::backend::catalog::Catalog::list_uploads)).
//!
//! An upload is open while its **deferred record** `D` exists (it owns the revision, see
//! [the multipart protocol](super#multipart-upload)), neither its commit marker `M` nor its
//! abort marker `A` exists, it is not being cleaned up (`D` still deferred) and its
//! deadline has not passed. The upload id clients hold is rebuilt from `D` (revision and
//! long-term upload id).
//!
//! **Cost and bound.** The change log has no index by usecase, so a listing reads the whole
//! log ([`ChangeLog::scan_records`](crate::backend::ChangeLog::scan_records), in pages) and
//! keeps the deferred records of the usecase and prefix, then reads the two markers of each
//! candidate. The log holds only in-flight operations, failed cleanups awaiting recovery,
//! and per multipart upload its `D`, `M` and `A` until `multipart_deadline +
//! multipart_grace` (25 h by default) after initiation: the cost is bounded by the uploads
//! initiated in that window (all usecases), not by the number of objects. This is the one
//! request-path use of a change-log scan; it serves `ListMultipartUploads`, which clients
//! call rarely (cleanup of abandoned uploads).

use std::cmp::Ordering;

use objectstore_types::listing::listing_key;

use super::Inner;
use super::multipart::{abort_marker_id, created_at, encode, marker_id};
use crate::backend::ChangeRecord;
use crate::backend::catalog::{OpenUpload, UploadPage, UploadQuery};
use crate::error::Result;

/// Records read per change-log page.
const SCAN_PAGE: usize = 1000;

impl Inner {
    /// `list_uploads` (module docs).
    pub(crate) async fn list_uploads(&self, query: &UploadQuery) -> Result<UploadPage> {
        let now = self.clock.now();
        let mut candidates: Vec<(OpenUpload, uuid::Uuid)> = Vec::new();
        let mut after = None;
        loop {
            let page = self.log.scan_records(after.as_ref(), SCAN_PAGE).await?;
            for record in &page {
                if let Some(candidate) = self.candidate(record, query) {
                    candidates.push(candidate);
                }
            }
            match page.last() {
                Some(last) if page.len() >= SCAN_PAGE => after = Some(last.change_id),
                _ => break,
            }
        }
        candidates.sort_by(|(a, _), (b, _)| order(a, b));
        let want = query.limit.max(1) + 1;
        let mut uploads = Vec::new();
        for (upload, uuid) in candidates {
            let deadline = upload.initiated + self.config.multipart_deadline;
            if now > deadline {
                continue;
            }
            let ended = self.log.get_record(&marker_id(&uuid)).await?.is_some()
                || self
                    .log
                    .get_record(&abort_marker_id(&uuid))
                    .await?
                    .is_some();
            if ended {
                continue;
            }
            uploads.push(upload);
            if uploads.len() >= want {
                break;
            }
        }
        let truncated = uploads.len() > query.limit.max(1);
        uploads.truncate(query.limit.max(1));
        Ok(UploadPage { uploads, truncated })
    }

    /// The upload `record` stands for, if it is a still deferred `D` of the query's usecase,
    /// prefix and range.
    fn candidate(
        &self,
        record: &ChangeRecord,
        query: &UploadQuery,
    ) -> Option<(OpenUpload, uuid::Uuid)> {
        let (Some(revision), Some(lt_upload), Some(_)) =
            (&record.new, &record.upload_id, record.not_before)
        else {
            return None;
        };
        if record.id.usecase() != &query.usecase {
            return None;
        }
        let key = listing_key(&record.id)?;
        if !key.as_bytes().starts_with(&query.prefix) {
            return None;
        }
        let upload_id = encode(revision, lt_upload).ok()?;
        let upload = OpenUpload {
            key,
            id: record.id.clone(),
            upload_id,
            initiated: created_at(&record.change_id),
        };
        if let Some((after_key, after_upload)) = &query.after {
            let beyond = match upload.key.as_bytes().cmp(after_key) {
                Ordering::Greater => true,
                Ordering::Less => false,
                Ordering::Equal => after_upload
                    .as_ref()
                    .is_some_and(|a| upload.upload_id.as_str() > a.as_str()),
            };
            if !beyond {
                return None;
            }
        }
        Some((upload, record.change_id))
    }
}

/// Listing order: by key bytes, then by upload id (S3 orders uploads of one key by
/// initiation; ours are in initiation order among those of one instance's clock, and the
/// id order keeps the `upload-id-marker` paging exact).
fn order(a: &OpenUpload, b: &OpenUpload) -> Ordering {
    a.key
        .as_bytes()
        .cmp(b.key.as_bytes())
        .then_with(|| a.upload_id.cmp(&b.upload_id))
}
