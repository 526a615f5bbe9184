//! [`LongTermBackend`] for [`TieredStorage`]: multipart uploads through the long-term tier,
//! with a retry-safe complete (the protocol and its remaining window are documented in the
//! [module docs](super)), and the listing of the logical objects.
//!
//! The upload id handed to clients is the unpadded base64url of the JSON
//! `{"revision": "{key}/{uuid_v7}", "upload_id": "<long-term id>"}`. Every call decodes it
//! and checks that the revision is a revision *of the requested object* (same context, key
//! `{id.key}/{uuid}`): an id of another object can never direct a write elsewhere.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use objectstore_types::{Metadata, ObjectId};
use serde::{Deserialize, Serialize};
use uuid::{NoContext, Timestamp, Uuid};

use super::changes::Outcome;
use super::routing::long_term_metadata;
use super::{Inner, TieredStorage};
use crate::backend::{
    BlobInfo, ChangeRecord, CompleteRejection, CompletedPart, Expected, LongTermBackend, PartInfo,
    PartReceipt, PartUpload, PartsPage, PartsQuery, Precondition, ScanPage, TieredMetadata,
    TieredWrite, Tombstone,
};
use crate::digest::{Md5, digesting, multipart_etag};
use crate::error::{Error, Result};

/// The JSON inside a tiered upload id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Token {
    revision: String,
    upload_id: String,
}

/// A decoded, validated upload id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upload {
    /// The long-term revision the upload assembles into.
    pub(crate) revision: ObjectId,
    /// The revision's UUID: also the change id of the upload's deferred record.
    pub(crate) uuid: Uuid,
    /// The long-term backend's upload id.
    pub(crate) lt_upload: String,
}

/// Encodes the client-facing upload id.
pub(crate) fn encode(revision: &ObjectId, lt_upload: &str) -> Result<String> {
    let token = Token {
        revision: revision.key.as_str().to_owned(),
        upload_id: lt_upload.to_owned(),
    };
    let json = serde_json::to_vec(&token)
        .map_err(|e| Error::Internal(format!("encoding a multipart upload id: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// Decodes an upload id and checks that it belongs to `id`: undecodable →
/// [`Error::InvalidRequest`], a revision of another object → [`Error::NotFound`].
pub(crate) fn decode(id: &ObjectId, upload_id: &str) -> Result<Upload> {
    let invalid = |why: &str| Error::InvalidRequest(format!("invalid multipart upload id: {why}"));
    let json = URL_SAFE_NO_PAD
        .decode(upload_id.as_bytes())
        .map_err(|_| invalid("not base64url"))?;
    let token: Token = serde_json::from_slice(&json).map_err(|_| invalid("malformed"))?;
    let not_found = || {
        Error::NotFound(format!(
            "multipart upload {upload_id:?} of {}",
            id.as_storage_path()
        ))
    };
    let suffix = token
        .revision
        .strip_prefix(id.key.as_str())
        .and_then(|rest| rest.strip_prefix('/'))
        .ok_or_else(not_found)?;
    let uuid = Uuid::try_parse(suffix).map_err(|_| not_found())?;
    let revision = ObjectId::new(id.context.clone(), id.key.with_revision(&uuid));
    if revision.key.as_str() != token.revision || uuid.get_version_num() != 7 {
        return Err(not_found());
    }
    Ok(Upload {
        revision,
        uuid,
        lt_upload: token.upload_id,
    })
}

/// A UUID v7 stamped with `now` (the engine's clock, so that deadlines follow it).
fn uuid_at(now: SystemTime) -> Uuid {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    Uuid::new_v7(Timestamp::from_unix(
        NoContext,
        since.as_secs(),
        since.subsec_nanos(),
    ))
}

/// When the revision with this UUID v7 was created.
pub(crate) fn created_at(uuid: &Uuid) -> SystemTime {
    let (secs, nanos) = uuid
        .get_timestamp()
        .map(|t| t.to_unix())
        .unwrap_or_default();
    UNIX_EPOCH + Duration::new(secs, nanos)
}

/// The change id of the commit marker of an upload: the revision's UUID with the version
/// nibble set to 8. Deterministic, and never equal to a v7 id.
pub(crate) fn marker_id(uuid: &Uuid) -> Uuid {
    uuid::Builder::from_custom_bytes(*uuid.as_bytes()).into_uuid()
}

/// The change id of the abort marker of an upload: as [`marker_id`], with the variant bits
/// of the reserved (Microsoft) variant, so it never equals a commit marker or a v7 id.
pub(crate) fn abort_marker_id(uuid: &Uuid) -> Uuid {
    uuid::Builder::from_custom_bytes(*uuid.as_bytes())
        .with_variant(uuid::Variant::Microsoft)
        .into_uuid()
}

#[async_trait]
impl LongTermBackend for TieredStorage {
    /// Initiate: the long-term upload, then the deferred record that owns its revision.
    async fn initiate_multipart(&self, id: &ObjectId, metadata: &Metadata) -> Result<String> {
        let inner = &self.inner;
        let uuid = uuid_at(inner.clock.now());
        let revision = ObjectId::new(id.context.clone(), id.key.with_revision(&uuid));
        let lt_upload = inner
            .lt
            .initiate_multipart(&revision, &long_term_metadata(metadata))
            .await?;
        if !inner.naive() {
            let deferred = ChangeRecord {
                change_id: uuid,
                owner: inner.instance_id().to_owned(),
                id: id.clone(),
                old: None,
                new: Some(revision.clone()),
                upload_id: Some(lt_upload.clone()),
                not_before: Some(
                    created_at(&uuid)
                        + inner.config.multipart_deadline
                        + inner.config.multipart_grace,
                ),
            };
            if let Err(error) = inner.log.append_record(&deferred).await {
                // No part exists yet and the client never sees this upload: drop it.
                let _ = inner.lt.abort_multipart(&revision, &lt_upload).await;
                return Err(error);
            }
        }
        encode(&revision, &lt_upload)
    }

    /// Upload part: the part streams to the long-term upload through the MD5 hasher; the
    /// backend compares its own account with it before storing the part, and the receipt
    /// is checked again here. The part's ETag is the quoted MD5 the engine computed.
    async fn upload_part_checked(&self, part: PartUpload<'_>) -> Result<PartReceipt> {
        let inner = &self.inner;
        let upload = decode(part.id, part.upload_id)?;
        inner.check_deadline(&upload)?;
        let revision = &upload.revision;
        let (body, digest) = digesting(part.body);
        // The store checks against the caller's digest when it gave one (what the caller
        // sent), else against the engine's (what it passed on).
        let check = part.sent.unwrap_or_else(|| digest.clone());
        let part = PartUpload {
            id: revision,
            upload_id: &upload.lt_upload,
            body,
            sent: Some(check),
            ..part
        };
        let stored = inner.lt.upload_part_checked(part).await?;
        let ours = inner.sent("upload_part", revision, &digest)?;
        inner.verify_part(revision, &ours, &stored)?;
        Ok(PartReceipt {
            etag: ours.md5.quoted(),
            size: ours.size,
            md5: Some(ours.md5),
        })
    }

    async fn list_parts(&self, query: PartsQuery<'_>) -> Result<PartsPage> {
        let inner = &self.inner;
        let upload = decode(query.id, query.upload_id)?;
        let mut page = inner
            .lt
            .list_parts(PartsQuery {
                id: &upload.revision,
                upload_id: &upload.lt_upload,
                ..query
            })
            .await?;
        for part in &mut page.parts {
            part.etag = client_etag(part);
        }
        Ok(page)
    }

    /// Abort: the long-term upload, then the abort marker (due with the deferred record).
    /// The deferred record stays until its due time (removing it early could orphan a
    /// revision assembled by a concurrent complete). An id that is not an upload of `id` is
    /// unknown here, and aborting it succeeds without touching anything.
    async fn abort_multipart(&self, id: &ObjectId, upload_id: &str) -> Result<()> {
        let inner = &self.inner;
        let Ok(upload) = decode(id, upload_id) else {
            return Ok(());
        };
        inner
            .lt
            .abort_multipart(&upload.revision, &upload.lt_upload)
            .await?;
        if inner.naive() {
            return Ok(());
        }
        // The abort marker, due with the deferred record: the upload is no longer listed and
        // a later complete is `NotFound`.
        let deferred = inner.log.get_record(&upload.uuid).await?;
        let Some(deferred) = deferred.filter(|d| d.new.as_ref() == Some(&upload.revision)) else {
            return Ok(());
        };
        let marker = ChangeRecord {
            change_id: abort_marker_id(&upload.uuid),
            owner: inner.instance_id().to_owned(),
            id: id.clone(),
            old: None,
            new: None,
            upload_id: None,
            not_before: deferred.not_before,
        };
        inner.log.append_record(&marker).await
    }

    /// Complete: see the module docs for the numbered protocol.
    async fn complete_multipart(
        &self,
        id: &ObjectId,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<Option<CompleteRejection>> {
        self.inner.complete(id, upload_id, parts, None).await
    }

    /// The logical objects (inline rows and tombstones, expired or not) in the high-volume
    /// tier's scan order; `last_modified` is the object's `time_created` (the epoch when it
    /// has none). The long-term revisions themselves are listed by the long-term backend.
    async fn list_blobs(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<BlobInfo>> {
        let page = self.inner.hv.scan_rows(after, limit).await?;
        let items = page
            .items
            .into_iter()
            .map(|row| BlobInfo {
                size: row.metadata.size.unwrap_or(0),
                last_modified: row.metadata.time_created.unwrap_or(SystemTime::UNIX_EPOCH),
                id: row.id,
            })
            .collect();
        Ok(ScanPage {
            items,
            next: page.next,
        })
    }
}

impl Inner {
    /// The last instant at which parts may be uploaded and a complete may start.
    fn deadline(&self, upload: &Upload) -> SystemTime {
        created_at(&upload.uuid) + self.config.multipart_deadline
    }

    fn expired(&self, upload: &Upload) -> Error {
        Error::Gone(format!(
            "multipart upload of {} passed its deadline",
            upload.revision.as_storage_path()
        ))
    }

    fn check_deadline(&self, upload: &Upload) -> Result<()> {
        if self.clock.now() > self.deadline(upload) {
            return Err(self.expired(upload));
        }
        Ok(())
    }
}

impl Inner {
    /// Complete (with a precondition: the conditional complete of module `conditional`):
    /// see the module docs of [`super`] for the numbered protocol.
    pub(crate) async fn complete(
        self: &Arc<Self>,
        id: &ObjectId,
        upload_id: &str,
        parts: &[CompletedPart],
        pre: Option<&Precondition>,
    ) -> Result<Option<CompleteRejection>> {
        let inner = self;
        let upload = decode(id, upload_id)?;
        let naive = inner.naive();

        // 1. Already committed by an earlier attempt?
        let row = inner.hv.head(id).await?;
        let current = match &row {
            TieredMetadata::Tombstone(t) => Some(t.target.clone()),
            TieredMetadata::NotFound | TieredMetadata::Object(_) => None,
        };
        if current.as_ref() == Some(&upload.revision) {
            return Ok(None);
        }
        let limit = if naive {
            None
        } else {
            // 2. Committed earlier and overwritten since? Aborted?
            if inner
                .log
                .get_record(&marker_id(&upload.uuid))
                .await?
                .is_some()
            {
                return Ok(None);
            }
            if inner
                .log
                .get_record(&abort_marker_id(&upload.uuid))
                .await?
                .is_some()
            {
                return Err(Error::NotFound(format!(
                    "multipart upload of {} was aborted",
                    upload.revision.as_storage_path()
                )));
            }
            // 3. The upload is still owned by its deferred record, and in time.
            let deferred = inner.log.get_record(&upload.uuid).await?;
            let Some(deferred) = deferred.filter(|d| d.new.as_ref() == Some(&upload.revision))
            else {
                inner.check_deadline(&upload)?;
                return Err(Error::NotFound(format!(
                    "multipart upload of {}",
                    upload.revision.as_storage_path()
                )));
            };
            inner.check_deadline(&upload)?;
            // A claimed deferred record (no `not_before`) is being cleaned up: too late.
            Some(deferred.not_before.ok_or_else(|| inner.expired(&upload))?)
        };

        // With a precondition, refuse early when it fails on the row read in step 1 (the
        // commit in step 7 judges it again, atomically).
        if let Some(pre) = pre {
            inner.judge_row(id, &row, pre)?;
        }

        // 4. A normal guard for the revision being replaced; the new revision stays owned
        //    by the deferred record (the naive design lets the guard own it).
        let new = naive.then(|| upload.revision.clone());
        let mut guard = inner
            .begin(inner.new_record(id, current.clone(), new))
            .await?;

        // 4b. The parts as the store lists them: the client names each by the ETag this
        //     engine handed out; the store's own ETags go to the store.
        let listed = match inner.all_parts(&upload).await {
            Ok(listed) => Some(listed),
            // The upload is gone: an earlier attempt may have assembled it (step 6 decides).
            Err(Error::NotFound(_)) => None,
            Err(error) => return Err(error),
        };
        let plan = match &listed {
            Some(listed) => match translate(parts, listed) {
                Ok(plan) => plan,
                Err(rejection) => {
                    guard.finish(Outcome::Lost);
                    return Ok(Some(rejection));
                }
            },
            None => Assembly::unverified(parts),
        };

        // 5. Assemble. Rejections are proxied; errors may hide a success (lost response).
        let (lt, revision, lt_upload, parts) = (
            inner.lt.clone(),
            upload.revision.clone(),
            upload.lt_upload.clone(),
            plan.parts.clone(),
        );
        let assembled = guard
            .step(async move { lt.complete_multipart(&revision, &lt_upload, &parts).await })
            .await;
        let assemble_error = match assembled {
            Ok(Some(rejection)) => {
                guard.finish(Outcome::Lost);
                return Ok(Some(rejection));
            }
            Ok(None) => None,
            Err(error) => Some(error),
        };

        // 6. The revision must exist (assembled now or by an earlier attempt).
        let (lt, revision) = (inner.lt.clone(), upload.revision.clone());
        let stored = guard.step(async move { lt.head(&revision).await }).await;
        let mut metadata = match (stored, assemble_error) {
            (Ok(Some(metadata)), _) => metadata,
            (Ok(None), Some(error)) | (Err(_), Some(error)) | (Err(error), None) => {
                return Err(error);
            }
            (Ok(None), None) => {
                return Err(Error::Internal(format!(
                    "assembled multipart revision {} is missing",
                    upload.revision.as_storage_path()
                )));
            }
        };
        // 6a. The assembled size against the parts' (when they were listed).
        if let Some(expected) = plan.size
            && let Err(error) = inner.verify_assembled(&upload.revision, expected, metadata.size)
        {
            guard.finish(Outcome::Lost);
            return Err(error);
        }
        metadata.etag = plan.etag;
        metadata.crc32c = None;
        // The deadline is fixed at initiation (docs/http-api.md §9.1: metadata is not re-stamped).
        metadata.time_expires = metadata
            .expiration_policy
            .duration()
            .zip(metadata.time_created)
            .map(|(duration, created)| created + duration);

        // 7. Commit, only while the deferred record cannot be due yet (checked last, right
        //    before the swap).
        guard.ensure_owned().await?;
        if let Some(not_before) = limit
            && inner.clock.now() + inner.config.multipart_grace / 2 > not_before
        {
            guard.finish(Outcome::Lost);
            return Err(inner.expired(&upload));
        }
        let tombstone = Tombstone {
            target: upload.revision.clone(),
            metadata,
        };
        let write = TieredWrite::Tombstone(tombstone);
        let expected = Expected::revision(current.as_ref()).and(pre.cloned());
        let written = guard.compare_and_write(id, expected, write).await?;
        if let Some(pre) = pre
            && !written
        {
            // Refused: no marker (a retry must judge again); the revision stays owned by
            // the deferred record, the upload stays open.
            guard.finish(Outcome::Lost);
            return inner
                .conditional_outcome(id, pre, false)
                .await
                .map(|()| None);
        }

        // 8. Mark the upload committed, so that a retry after an overwrite reports success
        //    instead of committing the revision again. Best effort: without the marker a
        //    retry re-commits the same revision, whose blob the deferred record keeps.
        if !naive {
            let marker = ChangeRecord {
                change_id: marker_id(&upload.uuid),
                owner: inner.instance_id().to_owned(),
                id: id.clone(),
                old: None,
                new: None,
                upload_id: None,
                not_before: limit,
            };
            if let Err(error) = inner.log.append_record(&marker).await {
                tracing::warn!(%error, "tiered: could not mark a multipart upload committed");
            }
        }
        guard.finish(if written {
            Outcome::Committed
        } else {
            Outcome::Lost
        });
        Ok(None)
    }
}

/// The ETag a client knows a listed part by: the quoted MD5 the engine handed out, or the
/// store's own ETag for a part stored before the store kept MD5s.
fn client_etag(part: &PartInfo) -> String {
    part.md5
        .map_or_else(|| part.etag.clone(), |md5| md5.quoted())
}

/// What a complete hands to the store and what the assembled object must be.
struct Assembly {
    /// The parts, named by the store's ETags.
    parts: Vec<CompletedPart>,
    /// The sum of the parts' sizes (when the parts were listed).
    size: Option<u64>,
    /// The object's ETag: `md5(part md5s)-N`, when every part's MD5 is known and checked.
    etag: Option<String>,
}

impl Assembly {
    /// The parts as the client named them, when the store no longer lists them: nothing
    /// can be checked, so the object gets no ETag.
    fn unverified(parts: &[CompletedPart]) -> Self {
        Self {
            parts: parts.to_vec(),
            size: None,
            etag: None,
        }
    }
}

/// Translates the client's parts (named by the engine's ETags) into the store's, checking
/// each against the store's listing: a part not uploaded or named by another ETag is
/// rejected like the store would (`InvalidPart`); the order is the store's to judge.
fn translate(
    parts: &[CompletedPart],
    listed: &[PartInfo],
) -> std::result::Result<Assembly, CompleteRejection> {
    let reject = |message: String| CompleteRejection {
        code: "InvalidPart".into(),
        message,
    };
    if parts.is_empty() {
        return Err(reject("at least one part is required".into()));
    }
    let mut out = Vec::with_capacity(parts.len());
    let mut md5s: Vec<Md5> = Vec::with_capacity(parts.len());
    let mut size = 0u64;
    for part in parts {
        let Some(stored) = listed.iter().find(|p| p.part_number == part.part_number) else {
            return Err(reject(format!(
                "part {} was not uploaded",
                part.part_number
            )));
        };
        let expected = client_etag(stored);
        if part.etag.trim_matches('"') != expected.trim_matches('"') {
            return Err(reject(format!(
                "etag mismatch for part {}: expected {expected}, got {}",
                part.part_number, part.etag
            )));
        }
        size += stored.size;
        if let Some(md5) = stored.md5 {
            md5s.push(md5);
        }
        out.push(CompletedPart {
            part_number: part.part_number,
            etag: stored.etag.clone(),
        });
    }
    let etag = (md5s.len() == parts.len()).then(|| multipart_etag(&md5s));
    Ok(Assembly {
        parts: out,
        size: Some(size),
        etag,
    })
}

impl Inner {
    /// Every part of an upload as the store lists them (all pages).
    async fn all_parts(&self, upload: &Upload) -> Result<Vec<PartInfo>> {
        let mut parts = Vec::new();
        let mut marker = None;
        loop {
            let page = (self.lt)
                .list_parts(PartsQuery {
                    marker,
                    ..PartsQuery::all(&upload.revision, &upload.lt_upload)
                })
                .await?;
            parts.extend(page.parts);
            match page.next_marker {
                Some(next) if Some(next) != marker => marker = Some(next),
                _ => return Ok(parts),
            }
        }
    }
}
