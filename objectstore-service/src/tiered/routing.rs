//! [`Backend`] for [`TieredStorage`]: size routing, reads through tombstones, deletes and
//! expiry extensions (the protocols are documented in the [module docs](super)).

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};

use super::changes::Outcome;
use super::{Inner, TieredStorage};
use crate::backend::{
    Backend, Expected, ExpiryTarget, ExtendOutcome, GetResponse, Precondition, PutReceipt,
    TieredGet, TieredMetadata, TieredWrite, Tombstone,
};
use crate::digest::{BodyDigest, Digest, Hasher, digesting_after};
use crate::error::{Error, Result};
use crate::expiry::{ExtendPlan, plan_extension, tti_bump};
use crate::stream::PayloadStream;

/// The metadata stored with a long-term revision: the object's, without a deadline. The
/// tombstone is the only authority on expiry (TTI bumps and extensions move it there), so
/// the long-term backend must never expire or bump the revision on its own.
pub(crate) fn long_term_metadata(metadata: &Metadata) -> Metadata {
    let mut m = metadata.clone();
    m.time_expires = None;
    m.size = None;
    m.etag = None;
    m.crc32c = None;
    m
}

/// `metadata` as the engine stores it for bytes with digest `sent` (ETag `etag`): size,
/// ETag and CRC-32C set.
fn stored_metadata(metadata: &Metadata, sent: &Digest, etag: &str) -> Metadata {
    let mut m = metadata.clone();
    m.size = Some(sent.size);
    m.etag = Some(etag.to_owned());
    m.crc32c = Some(sent.crc32c);
    m
}

/// The receipt of a write of bytes with digest `sent`: the engine's account, and the ETag
/// it stored.
fn receipt(sent: &Digest, etag: String) -> PutReceipt {
    PutReceipt {
        size: Some(sent.size),
        md5: Some(sent.md5),
        etag: Some(etag),
    }
}

/// The first bytes of a body: all of it (`rest` is `None`) when it fits the threshold.
struct Prefix {
    /// The bytes read so far, in one buffer.
    data: Bytes,
    /// Their digest.
    hasher: Hasher,
    rest: Option<PayloadStream>,
}

/// Reads chunks until the body ends or exceeds `threshold` bytes (so at most `threshold`
/// bytes plus the chunk that crosses it are held), hashing them as they arrive. A body of
/// one chunk is kept as it came; the chunks of a longer one are copied into one buffer as
/// they arrive and dropped at once, so the prefix is held once, not twice, and the
/// connection's read buffers are not pinned by it.
async fn read_prefix(mut body: PayloadStream, threshold: usize) -> Result<Prefix> {
    let mut first: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    let mut hasher = Hasher::new();
    let mut rest = None;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(Error::body)?;
        hasher.update(&chunk);
        match first.take() {
            None if joined.is_empty() => first = Some(chunk),
            earlier => {
                if let Some(earlier) = earlier {
                    joined.extend_from_slice(&earlier);
                }
                joined.extend_from_slice(&chunk);
            }
        }
        let len = first.as_ref().map_or(joined.len(), Bytes::len);
        if len > threshold {
            rest = Some(body);
            break;
        }
    }
    Ok(Prefix {
        data: first.unwrap_or_else(|| joined.freeze()),
        hasher,
        rest,
    })
}

#[async_trait]
impl Backend for TieredStorage {
    /// PUT: routes by size while streaming; the MD5 (the ETag) is computed in the same
    /// pass (over the buffered prefix as it arrives, then over the rest on its way to the
    /// long-term store).
    async fn put(&self, id: &ObjectId, meta: &Metadata, body: PayloadStream) -> Result<PutReceipt> {
        self.inner.put(id, meta, body, None).await
    }

    /// GET: one high-volume lookup; a live tombstone is followed to its revision.
    async fn get(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<GetResponse> {
        let inner = &self.inner;
        let tombstone = match inner.hv.get(id, range).await? {
            TieredGet::NotFound => return Ok(GetResponse::NotFound),
            TieredGet::Object(response) => return Ok(response),
            TieredGet::Tombstone(tombstone) => tombstone,
        };
        let now = inner.clock.now();
        if tombstone.metadata.is_expired(now) {
            return Ok(GetResponse::NotFound);
        }
        let response = match inner.lt.get(&tombstone.target, range).await? {
            // The blob of a referenced revision is gone (lost data): absent.
            GetResponse::NotFound => return Ok(GetResponse::NotFound),
            GetResponse::RangeNotSatisfiable(_) => {
                GetResponse::RangeNotSatisfiable(tombstone.metadata.clone())
            }
            GetResponse::Found { range, body, .. } => GetResponse::Found {
                metadata: tombstone.metadata.clone(),
                range,
                body,
            },
        };
        let response = inner.verified_read(&tombstone.target, response).await?;
        inner.bump_tti(id, &tombstone, now).await;
        Ok(response)
    }

    /// HEAD: the tombstone's metadata is authoritative; no long-term call.
    async fn head(&self, id: &ObjectId) -> Result<Option<Metadata>> {
        let inner = &self.inner;
        let tombstone = match inner.hv.head(id).await? {
            TieredMetadata::NotFound => return Ok(None),
            TieredMetadata::Object(metadata) => return Ok(Some(metadata)),
            TieredMetadata::Tombstone(tombstone) => tombstone,
        };
        let now = inner.clock.now();
        if tombstone.metadata.is_expired(now) {
            return Ok(None);
        }
        inner.bump_tti(id, &tombstone, now).await;
        Ok(Some(tombstone.metadata))
    }

    /// DELETE: inline rows directly; a tombstone through the CAS delete protocol.
    async fn delete(&self, id: &ObjectId) -> Result<()> {
        self.inner.delete(id, None).await
    }

    /// PATCH expiry: inline rows by the high-volume backend itself, tombstones by CAS.
    async fn extend_expiry(
        &self,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        let inner = &self.inner;
        let tombstone = match inner.hv.head(id).await? {
            TieredMetadata::NotFound => return Ok(ExtendOutcome::NotFound),
            TieredMetadata::Object(_) => {
                return match inner.hv.extend_expiry(id, target, now).await? {
                    // The row turned into a tombstone meanwhile: a concurrent change.
                    ExtendOutcome::NotFound if inner.current_target(id).await?.is_some() => {
                        Ok(ExtendOutcome::Conflict)
                    }
                    outcome => Ok(outcome),
                };
            }
            TieredMetadata::Tombstone(tombstone) => tombstone,
        };
        let live = Some(&tombstone.metadata).filter(|m| !m.is_expired(inner.clock.now()));
        let metadata = match plan_extension(live, target, now) {
            ExtendPlan::Done(outcome) => return Ok(outcome),
            ExtendPlan::Update(metadata) => metadata,
        };
        let write = TieredWrite::Tombstone(Tombstone {
            target: tombstone.target.clone(),
            metadata,
        });
        let written = inner
            .hv
            .compare_and_write(id, &Expected::revision(Some(&tombstone.target)), write)
            .await?;
        Ok(if written {
            ExtendOutcome::Satisfied
        } else {
            ExtendOutcome::Conflict
        })
    }
}

impl Inner {
    /// PUT (with a precondition: the conditional variants of module `conditional`): routes
    /// by size while streaming; the MD5 (the ETag) is computed in the same pass (over the
    /// buffered prefix as it arrives, then over the rest on its way to the long-term store).
    pub(crate) async fn put(
        self: &Arc<Self>,
        id: &ObjectId,
        metadata: &Metadata,
        body: PayloadStream,
        pre: Option<&Precondition>,
    ) -> Result<PutReceipt> {
        if let Some(pre) = pre {
            // Refused before the body is read; the write judges the row again (and the
            // commit atomically).
            self.judge(id, pre).await?;
        }
        let prefix = read_prefix(body, self.config.threshold).await?;
        match prefix.rest {
            None => {
                metrics::counter!("objectstore_tiered_writes_total", "tier" => "high_volume")
                    .increment(1);
                let sent = prefix.hasher.finish();
                self.put_small(id, metadata, prefix.data, &sent, pre).await
            }
            Some(rest) => {
                // The rest is hashed on its way to the long-term store, after the prefix.
                let (rest, digest) = digesting_after(prefix.hasher, rest);
                let head = futures::stream::once(futures::future::ready(Ok(prefix.data)));
                metrics::counter!("objectstore_tiered_writes_total", "tier" => "long_term")
                    .increment(1);
                self.put_large(id, metadata, head.chain(rest).boxed(), digest, pre)
                    .await
            }
        }
    }

    /// DELETE: inline rows directly (conditionally: by compare-and-write); a tombstone
    /// through the CAS delete protocol.
    pub(crate) async fn delete(
        self: &Arc<Self>,
        id: &ObjectId,
        pre: Option<&Precondition>,
    ) -> Result<()> {
        let old = match pre {
            None => match self.hv.delete(id).await? {
                None => return Ok(()),
                Some(tombstone) => tombstone.target,
            },
            Some(pre) => match self.judge(id, pre).await? {
                None => {
                    let expected = Expected::revision(None).and(Some(pre.clone()));
                    let written = (self.hv)
                        .compare_and_write(id, &expected, TieredWrite::Delete)
                        .await?;
                    return self.conditional_outcome(id, pre, written).await;
                }
                Some(tombstone) => tombstone.target,
            },
        };
        let mut guard = self
            .begin(self.new_record(id, Some(old.clone()), None))
            .await?;
        let expected = Expected::revision(Some(&old)).and(pre.cloned());
        let deleted = guard.commit(id, expected, TieredWrite::Delete).await?;
        guard.finish_write(deleted);
        match pre {
            None => Ok(()),
            Some(pre) => self.conditional_outcome(id, pre, deleted).await,
        }
    }

    /// Small write: inline, or the small-over-tombstone protocol.
    async fn put_small(
        self: &Arc<Self>,
        id: &ObjectId,
        metadata: &Metadata,
        payload: Bytes,
        sent: &Digest,
        pre: Option<&Precondition>,
    ) -> Result<PutReceipt> {
        let etag = sent.md5.hex();
        let metadata = stored_metadata(metadata, sent, &etag);
        let old = match pre {
            None => match self.hv.put(id, &metadata, payload.clone()).await? {
                None => return Ok(receipt(sent, etag)),
                Some(tombstone) => tombstone.target,
            },
            Some(pre) => match self.judge(id, pre).await? {
                None => {
                    let expected = Expected::revision(None).and(Some(pre.clone()));
                    let write = TieredWrite::Object(metadata, payload);
                    let written = self.hv.compare_and_write(id, &expected, write).await?;
                    self.conditional_outcome(id, pre, written).await?;
                    return Ok(receipt(sent, etag));
                }
                Some(tombstone) => tombstone.target,
            },
        };
        let mut guard = self
            .begin(self.new_record(id, Some(old.clone()), None))
            .await?;
        let write = TieredWrite::Object(metadata, payload);
        let expected = Expected::revision(Some(&old)).and(pre.cloned());
        let written = guard.commit(id, expected, write).await?;
        guard.finish_write(written);
        if let Some(pre) = pre {
            self.conditional_outcome(id, pre, written).await?;
        }
        Ok(receipt(sent, etag))
    }

    /// Large write: a fresh long-term revision, verified, then the tombstone swap.
    /// `digest` is the digest of the whole body, complete once `body` ended.
    async fn put_large(
        self: &Arc<Self>,
        id: &ObjectId,
        metadata: &Metadata,
        body: PayloadStream,
        digest: BodyDigest,
        pre: Option<&Precondition>,
    ) -> Result<PutReceipt> {
        let current = match pre {
            None => self.current_target(id).await?,
            Some(pre) => self.judge(id, pre).await?.map(|t| t.target),
        };
        let revision = id.new_revision();
        let mut guard = self
            .begin(self.new_record(id, current.clone(), Some(revision.clone())))
            .await?;

        let (lt, target, lt_metadata) = (
            self.lt.clone(),
            revision.clone(),
            long_term_metadata(metadata),
        );
        let stored = guard
            .step(async move { lt.put(&target, &lt_metadata, body).await })
            .await?;

        // 3a. The store's account of the revision against what was sent.
        let verified = match self.sent("put", &revision, &digest) {
            Ok(sent) => self
                .verify_put(&revision, &sent, &stored)
                .await
                .map(|()| sent),
            Err(error) => Err(error),
        };
        let sent = match verified {
            Ok(sent) => sent,
            Err(error) => {
                guard.finish(Outcome::Lost);
                return Err(error);
            }
        };

        let etag = sent.md5.hex();
        let tombstone = Tombstone {
            target: revision,
            metadata: stored_metadata(metadata, &sent, &etag),
        };
        let write = TieredWrite::Tombstone(tombstone);
        let expected = Expected::revision(current.as_ref()).and(pre.cloned());
        let written = guard.commit(id, expected, write).await?;
        guard.finish_write(written);
        if let Some(pre) = pre {
            self.conditional_outcome(id, pre, written).await?;
        }
        Ok(receipt(&sent, etag))
    }

    /// Moves a TTI tombstone's deadline when due (best effort: a failure or a concurrent
    /// change of the revision just skips the bump).
    async fn bump_tti(&self, id: &ObjectId, tombstone: &Tombstone, now: SystemTime) {
        let Some(deadline) = tti_bump(&tombstone.metadata, now) else {
            return;
        };
        let mut bumped = tombstone.clone();
        bumped.metadata.time_expires = Some(deadline);
        let write = TieredWrite::Tombstone(bumped);
        let result = self
            .hv
            .compare_and_write(id, &Expected::revision(Some(&tombstone.target)), write)
            .await;
        if let Err(error) = result {
            tracing::debug!(%error, "tiered: TTI bump of a tombstone failed");
        }
    }
}
