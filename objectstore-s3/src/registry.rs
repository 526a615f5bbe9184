//! The bucket registry: which buckets exist, stored in the storage engine itself so that it
//! survives restarts and is shared by every instance on the same high-volume store.
//!
//! # Design
//!
//! * **A marker per bucket** is the truth about existence: an empty object at
//!   `s3.buckets/_/<bucket>` (usecase [`REGISTRY_USECASE`], no scopes, key = bucket name).
//!   `s3.buckets` is a valid usecase but not a valid bucket name (it has a dot), so S3 can
//!   never reach or list it. The marker's `time_created` is the bucket's `CreationDate`.
//!   Creating is idempotent: an existing marker is kept, so the creation date stays.
//! * **Usecases of the `usecases` config section** exist as buckets without a marker.
//! * **An index** (`s3.buckets/_/index.json`, `{"<bucket>": <created unix secs>}`) lets
//!   `ListBuckets` enumerate buckets: the engine has no listing yet (phase 2). It is
//!   updated by read-modify-write, serialized within an instance; two instances creating
//!   different buckets at the same moment can lose one index entry (the engine has no
//!   conditional write yet). The marker still exists, and the next `CreateBucket` of that
//!   bucket (idempotent) puts it back. Phase 2 replaces the index by listing the markers.
//! * **Existence checks are cached** per instance for [`CACHE_TTL`] (positive answers
//!   only, so a bucket created on another instance is visible at once).
//!
//! `DeleteBucket` needs "only when empty", i.e. a listing: phase 2.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use objectstore_service::backend::GetResponse;
use objectstore_service::service::StorageService;
use objectstore_service::stream;
use objectstore_types::{Metadata, ObjectContext, ObjectId, ObjectKey, Scopes, Usecase, time};
use s3s::S3Result;

use crate::errors::service_error;

/// The usecase holding the registry (not a valid bucket name).
pub const REGISTRY_USECASE: &str = "s3.buckets";
/// The key of the index (not a valid bucket name).
pub const INDEX_KEY: &str = "index.json";
/// How long a positive existence check is trusted.
pub const CACHE_TTL: Duration = Duration::from_secs(10);
/// Largest index read.
const MAX_INDEX: usize = 8 * 1024 * 1024;

/// The registry (module docs).
#[derive(Debug)]
pub struct Registry {
    service: StorageService,
    configured: BTreeSet<String>,
    seen: Mutex<HashMap<String, Instant>>,
    index_lock: tokio::sync::Mutex<()>,
}

/// The registry object `key` (a bucket name or [`INDEX_KEY`]; both are valid keys, so the
/// error case is unreachable in practice, but answered as a client error, never a panic).
fn registry_id(key: &str) -> S3Result<ObjectId> {
    let invalid = |_| {
        s3s::S3Error::with_message(
            s3s::S3ErrorCode::InvalidBucketName,
            format!("{key:?} cannot be registered"),
        )
    };
    Ok(ObjectId::new(
        ObjectContext {
            usecase: Usecase::new(REGISTRY_USECASE).map_err(invalid)?,
            scopes: Scopes::empty(),
        },
        ObjectKey::new(key).map_err(invalid)?,
    ))
}

impl Registry {
    /// A registry over `service`; `configured` buckets always exist.
    pub fn new(service: StorageService, configured: impl IntoIterator<Item = String>) -> Self {
        Self {
            service,
            configured: configured.into_iter().collect(),
            seen: Mutex::new(HashMap::new()),
            index_lock: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self, bucket: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.get(bucket).is_some_and(|t| t.elapsed() < CACHE_TTL)
    }

    fn remember(&self, bucket: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() > 10_000 {
            seen.retain(|_, t| t.elapsed() < CACHE_TTL);
        }
        seen.insert(bucket.to_owned(), Instant::now());
    }

    /// The marker's metadata, if the bucket was created.
    async fn marker(&self, bucket: &str) -> S3Result<Option<Metadata>> {
        self.service
            .head(registry_id(bucket)?)
            .await
            .map_err(service_error)
    }

    /// Whether `bucket` exists.
    pub async fn exists(&self, bucket: &str) -> S3Result<bool> {
        if self.configured.contains(bucket) || self.cached(bucket) {
            return Ok(true);
        }
        let found = self.marker(bucket).await?.is_some();
        if found {
            self.remember(bucket);
        }
        Ok(found)
    }

    /// 404 `NoSuchBucket` unless `bucket` exists.
    pub async fn require(&self, bucket: &str) -> S3Result<()> {
        if self.exists(bucket).await? {
            Ok(())
        } else {
            Err(s3s::S3Error::with_message(
                s3s::S3ErrorCode::NoSuchBucket,
                format!("bucket {bucket:?} does not exist; create it first (CreateBucket)"),
            ))
        }
    }

    /// Creates `bucket` (idempotent) and makes sure the index lists it.
    pub async fn create(&self, bucket: &str) -> S3Result<()> {
        let created = match self.marker(bucket).await? {
            Some(m) => m.time_created,
            None => {
                self.service
                    .put(registry_id(bucket)?, Metadata::default(), stream::empty())
                    .await
                    .map_err(service_error)?;
                self.marker(bucket).await?.and_then(|m| m.time_created)
            }
        };
        self.remember(bucket);
        let created = created.map_or(0, time::unix_secs);
        let _serialized = self.index_lock.lock().await;
        let mut index = self.read_index().await?;
        if index.get(bucket) != Some(&created) {
            index.insert(bucket.to_owned(), created);
            let json = serde_json::to_vec(&index)
                .map_err(|e| s3s::S3Error::internal_error(std::io::Error::other(e.to_string())))?;
            let metadata = Metadata {
                content_type: "application/json".into(),
                ..Metadata::default()
            };
            self.service
                .put(registry_id(INDEX_KEY)?, metadata, stream::single(json))
                .await
                .map_err(service_error)?;
        }
        Ok(())
    }

    async fn read_index(&self) -> S3Result<BTreeMap<String, u64>> {
        let response = self
            .service
            .get(registry_id(INDEX_KEY)?, None)
            .await
            .map_err(service_error)?;
        let GetResponse::Found { body, .. } = response else {
            return Ok(BTreeMap::new());
        };
        let bytes = stream::read_bounded(body, MAX_INDEX)
            .await
            .map_err(s3s::S3Error::internal_error)?;
        match serde_json::from_slice(&bytes) {
            Ok(index) => Ok(index),
            Err(e) => {
                tracing::error!(error = %e, "the S3 bucket index is unreadable; listing without it");
                Ok(BTreeMap::new())
            }
        }
    }

    /// Every bucket with its creation time, by name: the index plus configured usecases.
    pub async fn list(&self) -> S3Result<Vec<(String, SystemTime)>> {
        let mut all: BTreeMap<String, SystemTime> = self
            .read_index()
            .await?
            .into_iter()
            .map(|(name, secs)| (name, time::from_unix_secs(secs)))
            .collect();
        for name in &self.configured {
            all.entry(name.clone()).or_insert(SystemTime::UNIX_EPOCH);
        }
        Ok(all.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_unreachable_from_s3() {
        assert!(crate::mapping::bucket_usecase(REGISTRY_USECASE).is_err());
        assert!(!crate::mapping::is_bucket_name(INDEX_KEY));
    }
}
