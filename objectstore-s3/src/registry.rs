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
//! * **Usecases of the `usecases` config section** exist as buckets without a marker (and
//!   cannot be deleted through S3).
//! * **`ListBuckets` lists the markers** through the engine's ordered listing of the
//!   registry usecase: no index to keep in step, so no lost update when instances create
//!   buckets at once. (Phase 1 kept an index object `index.json` there; it is not a bucket
//!   name, so it is skipped and may be deleted.) A storage without a listing (a standalone
//!   long-term store) lists the configured buckets only.
//! * **Existence checks are cached** per instance for [`CACHE_TTL`] (positive answers
//!   only, so a bucket created on another instance is visible at once; a bucket deleted on
//!   another instance may still be seen here for up to [`CACHE_TTL`]).
//! * **`DeleteBucket`** removes the marker once the bucket holds no object (checked through
//!   the listing just before): `BucketNotEmpty` otherwise. An object written into the bucket
//!   between that check and the marker's removal stays stored (reachable through the
//!   objectstore API, and through S3 again once the bucket is created again).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use objectstore_service::backend::ListQuery;
use objectstore_service::service::StorageService;
use objectstore_service::stream;
use objectstore_types::{Metadata, ObjectContext, ObjectId, ObjectKey, Scopes, Usecase};
use s3s::S3Result;

use crate::errors::service_error;
use crate::mapping::is_bucket_name;

/// The usecase holding the registry (not a valid bucket name).
pub const REGISTRY_USECASE: &str = "s3.buckets";
/// How long a positive existence check is trusted.
pub const CACHE_TTL: Duration = Duration::from_secs(10);
/// Markers read per listing page.
const LIST_PAGE: usize = 1000;

/// The registry (module docs).
#[derive(Debug)]
pub struct Registry {
    service: StorageService,
    configured: BTreeSet<String>,
    seen: Mutex<HashMap<String, Instant>>,
}

/// The marker of bucket `key` (bucket names are valid keys, so the error case is
/// unreachable in practice, but answered as a client error, never a panic).
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
        }
    }

    fn cached(&self, bucket: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.get(bucket).is_some_and(|t| t.elapsed() < CACHE_TTL)
    }

    fn forget(&self, bucket: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.remove(bucket);
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

    /// Creates `bucket` (idempotent).
    pub async fn create(&self, bucket: &str) -> S3Result<()> {
        if self.marker(bucket).await?.is_none() {
            self.service
                .put(registry_id(bucket)?, Metadata::default(), stream::empty())
                .await
                .map_err(service_error)?;
        }
        self.remember(bucket);
        Ok(())
    }

    /// Whether `bucket` is one of the configured usecases (which cannot be deleted).
    pub fn is_configured(&self, bucket: &str) -> bool {
        self.configured.contains(bucket)
    }

    /// Removes the marker of `bucket` (missing is fine).
    pub async fn delete(&self, bucket: &str) -> S3Result<()> {
        self.forget(bucket);
        self.service
            .delete(registry_id(bucket)?)
            .await
            .map_err(service_error)?;
        self.forget(bucket);
        Ok(())
    }

    /// Every bucket with its creation time, by name: the markers plus configured usecases.
    pub async fn list(&self) -> S3Result<Vec<(String, SystemTime)>> {
        let mut all: BTreeMap<String, SystemTime> = BTreeMap::new();
        if self.service.has_catalog() {
            let usecase = Usecase::new(REGISTRY_USECASE)
                .map_err(|e| s3s::S3Error::internal_error(std::io::Error::other(e.to_string())))?;
            let mut query = ListQuery::new(usecase, "", LIST_PAGE);
            loop {
                let page = self
                    .service
                    .list(query.clone())
                    .await
                    .map_err(service_error)?;
                for row in &page.rows {
                    if is_bucket_name(&row.key) {
                        let created = row.metadata.time_created.unwrap_or(SystemTime::UNIX_EPOCH);
                        all.insert(row.key.clone(), created);
                    }
                }
                match page.rows.last() {
                    Some(last) if page.truncated => query = query.after(last.key.as_bytes()),
                    _ => break,
                }
            }
        }
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
        assert!(
            !is_bucket_name("index.json"),
            "phase 1's index is no bucket"
        );
    }
}
