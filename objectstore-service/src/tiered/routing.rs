//! Size routing, reads through tombstones, deletes and expiry extensions (the protocols are
//! documented in the [module docs](super)).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};

use super::Inner;
use super::changes::Outcome;
use crate::backend::{
    ExpiryTarget, ExtendOutcome, GetResponse, TieredGet, TieredMetadata, TieredWrite, Tombstone,
};
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
    m
}

/// The first bytes of a body: all of it (`rest` is `None`) when it fits the threshold.
struct Prefix {
    chunks: Vec<Bytes>,
    len: usize,
    rest: Option<PayloadStream>,
}

/// Reads chunks until the body ends or exceeds `threshold` bytes (so at most `threshold`
/// bytes plus the chunk that crosses it are held).
async fn read_prefix(mut body: PayloadStream, threshold: usize) -> Result<Prefix> {
    let mut chunks = Vec::new();
    let mut len = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(Error::ClientStream)?;
        len += chunk.len();
        chunks.push(chunk);
        if len > threshold {
            return Ok(Prefix {
                chunks,
                len,
                rest: Some(body),
            });
        }
    }
    Ok(Prefix {
        chunks,
        len,
        rest: None,
    })
}

impl Inner {
    /// PUT: routes by size while streaming.
    pub(crate) async fn put(
        self: &Arc<Self>,
        id: &ObjectId,
        metadata: &Metadata,
        body: PayloadStream,
    ) -> Result<()> {
        let prefix = read_prefix(body, self.config.threshold).await?;
        match prefix.rest {
            None => {
                let mut payload = BytesMut::with_capacity(prefix.len);
                for chunk in prefix.chunks {
                    payload.extend_from_slice(&chunk);
                }
                metrics::counter!("objectstore_tiered_writes_total", "tier" => "high_volume")
                    .increment(1);
                self.put_small(id, metadata, payload.freeze()).await
            }
            Some(rest) => {
                let head = futures::stream::iter(prefix.chunks.into_iter().map(Ok));
                metrics::counter!("objectstore_tiered_writes_total", "tier" => "long_term")
                    .increment(1);
                self.put_large(id, metadata, head.chain(rest).boxed()).await
            }
        }
    }

    /// Small write: inline, or the small-over-tombstone protocol.
    async fn put_small(
        self: &Arc<Self>,
        id: &ObjectId,
        metadata: &Metadata,
        payload: Bytes,
    ) -> Result<()> {
        let mut metadata = metadata.clone();
        metadata.size = Some(payload.len() as u64);
        let Some(tombstone) = self.hv.put(id, &metadata, payload.clone()).await? else {
            return Ok(());
        };
        let old = tombstone.target;
        let mut guard = self
            .begin(self.new_record(id, Some(old.clone()), None))
            .await?;
        guard.ensure_owned().await?;
        let (hv, id) = (self.hv.clone(), id.clone());
        let written = guard
            .step(async move {
                let write = TieredWrite::Object(metadata, payload);
                hv.compare_and_write(&id, Some(&old), write).await
            })
            .await?;
        guard.finish(if written {
            Outcome::Committed
        } else {
            Outcome::Lost
        });
        Ok(())
    }

    /// Large write: a fresh long-term revision, then the tombstone swap.
    async fn put_large(
        self: &Arc<Self>,
        id: &ObjectId,
        metadata: &Metadata,
        body: PayloadStream,
    ) -> Result<()> {
        let current = self.current_target(id).await?;
        let revision = id.new_revision();
        let mut guard = self
            .begin(self.new_record(id, current.clone(), Some(revision.clone())))
            .await?;

        let size = Arc::new(AtomicU64::new(0));
        let counter = size.clone();
        let body = body
            .inspect(move |chunk: &io::Result<Bytes>| {
                if let Ok(chunk) = chunk {
                    counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
            })
            .boxed();
        let (lt, target, lt_metadata) = (
            self.lt.clone(),
            revision.clone(),
            long_term_metadata(metadata),
        );
        guard
            .step(async move { lt.put(&target, &lt_metadata, body).await })
            .await?;

        let mut metadata = metadata.clone();
        metadata.size = Some(size.load(Ordering::Acquire));
        let tombstone = Tombstone {
            target: revision,
            metadata,
        };
        guard.ensure_owned().await?;
        let (hv, id) = (self.hv.clone(), id.clone());
        let written = guard
            .step(async move {
                let write = TieredWrite::Tombstone(tombstone);
                hv.compare_and_write(&id, current.as_ref(), write).await
            })
            .await?;
        guard.finish(if written {
            Outcome::Committed
        } else {
            Outcome::Lost
        });
        Ok(())
    }

    /// GET: one high-volume lookup; a live tombstone is followed to its revision.
    pub(crate) async fn get(
        self: &Arc<Self>,
        id: &ObjectId,
        range: Option<ByteRange>,
    ) -> Result<GetResponse> {
        let tombstone = match self.hv.get(id, range).await? {
            TieredGet::NotFound => return Ok(GetResponse::NotFound),
            TieredGet::Object(response) => return Ok(response),
            TieredGet::Tombstone(tombstone) => tombstone,
        };
        let now = self.clock.now();
        if tombstone.metadata.is_expired(now) {
            return Ok(GetResponse::NotFound);
        }
        let response = match self.lt.get(&tombstone.target, range).await? {
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
        self.bump_tti(id, &tombstone, now).await;
        Ok(response)
    }

    /// HEAD: the tombstone's metadata is authoritative; no long-term call.
    pub(crate) async fn head(self: &Arc<Self>, id: &ObjectId) -> Result<Option<Metadata>> {
        let tombstone = match self.hv.head(id).await? {
            TieredMetadata::NotFound => return Ok(None),
            TieredMetadata::Object(metadata) => return Ok(Some(metadata)),
            TieredMetadata::Tombstone(tombstone) => tombstone,
        };
        let now = self.clock.now();
        if tombstone.metadata.is_expired(now) {
            return Ok(None);
        }
        self.bump_tti(id, &tombstone, now).await;
        Ok(Some(tombstone.metadata))
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
            .compare_and_write(id, Some(&tombstone.target), write)
            .await;
        if let Err(error) = result {
            tracing::debug!(%error, "tiered: TTI bump of a tombstone failed");
        }
    }

    /// DELETE: inline rows directly; a tombstone through the CAS delete protocol.
    pub(crate) async fn delete(self: &Arc<Self>, id: &ObjectId) -> Result<()> {
        let Some(tombstone) = self.hv.delete(id).await? else {
            return Ok(());
        };
        let old = tombstone.target;
        let mut guard = self
            .begin(self.new_record(id, Some(old.clone()), None))
            .await?;
        guard.ensure_owned().await?;
        let (hv, id) = (self.hv.clone(), id.clone());
        let deleted = guard
            .step(async move {
                hv.compare_and_write(&id, Some(&old), TieredWrite::Delete)
                    .await
            })
            .await?;
        guard.finish(if deleted {
            Outcome::Committed
        } else {
            Outcome::Lost
        });
        Ok(())
    }

    /// PATCH expiry: inline rows by the high-volume backend itself, tombstones by CAS.
    pub(crate) async fn extend(
        self: &Arc<Self>,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        let tombstone = match self.hv.head(id).await? {
            TieredMetadata::NotFound => return Ok(ExtendOutcome::NotFound),
            TieredMetadata::Object(_) => {
                return match self.hv.extend_expiry(id, target, now).await? {
                    // The row turned into a tombstone meanwhile: a concurrent change.
                    ExtendOutcome::NotFound if self.current_target(id).await?.is_some() => {
                        Ok(ExtendOutcome::Conflict)
                    }
                    outcome => Ok(outcome),
                };
            }
            TieredMetadata::Tombstone(tombstone) => tombstone,
        };
        let live = Some(&tombstone.metadata).filter(|m| !m.is_expired(self.clock.now()));
        let metadata = match plan_extension(live, target, now) {
            ExtendPlan::Done(outcome) => return Ok(outcome),
            ExtendPlan::Update(metadata) => metadata,
        };
        let write = TieredWrite::Tombstone(Tombstone {
            target: tombstone.target.clone(),
            metadata,
        });
        let written = self
            .hv
            .compare_and_write(id, Some(&tombstone.target), write)
            .await?;
        Ok(if written {
            ExtendOutcome::Satisfied
        } else {
            ExtendOutcome::Conflict
        })
    }
}
