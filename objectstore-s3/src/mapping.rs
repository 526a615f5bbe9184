//! Names: S3 bucket ↔ usecase, S3 key ↔ scopes and objectstore key.
//!
//! * **Bucket = usecase.** Bucket names are usecase names of 3 to 64 characters of
//!   `A-Z a-z 0-9 _ -` ([`bucket_usecase`]). Usecases outside that set (the objectstore API
//!   accepts more, e.g. dots) are not reachable through S3.
//! * **S3 key = the object's listing key** ([`objectstore_types::listing`]): the scopes as
//!   leading `name=value` segments, in order, then the objectstore key (Hive-style
//!   partitions): scopes `org=1;project=2` with key `a/b.txt` is the S3 key
//!   `org=1/project=2/a/b.txt`. The storage engine lists objects by the same key, so one
//!   definition serves addressing and listing. Its edge cases (a key that starts like a
//!   scope gets a `_/` segment, more than 16 scopes, keys valid in S3 but not here, keys
//!   longer than 1024 bytes) are decided and property-tested there: every object has
//!   exactly one S3 key and no two S3 keys address the same object.
//!
//! Keys valid in S3 but not in the objectstore API (an empty segment, so also "folder
//! marker" keys ending in `/`; `.` or `..` segments; control characters; more than 16
//! leading scope-like segments) are refused with `InvalidArgument` and never reach the
//! engine. Objects whose S3 key would exceed 1024 bytes cannot be addressed through S3 and
//! are never listed; they stay reachable through the objectstore API.

use objectstore_types::listing::{self, ListingKeyError};
use objectstore_types::{ObjectId, Usecase};

pub use objectstore_types::listing::{MAX_LISTING_KEY_LEN as MAX_S3_KEY_LEN, SCOPES_END};

/// Shortest bucket name.
pub const MIN_BUCKET_LEN: usize = 3;
/// Longest bucket name.
pub const MAX_BUCKET_LEN: usize = 64;

/// A bucket or key that has no counterpart in the objectstore API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Not 3 to 64 characters of `A-Z a-z 0-9 _ -`.
    #[error(
        "invalid bucket name {0:?}: buckets are usecases of 3 to 64 characters of A-Z a-z 0-9 _ -"
    )]
    Bucket(String),
    /// The key cannot be an objectstore key.
    #[error("invalid key {key:?}: {reason}")]
    Key {
        /// The S3 key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The object's S3 key would exceed 1024 bytes.
    #[error("the S3 key of {0} would exceed {MAX_S3_KEY_LEN} bytes")]
    KeyTooLong(String),
}

/// Whether `name` is a valid bucket name: 3 to 64 of `A-Z a-z 0-9 _ -`.
pub fn is_bucket_name(name: &str) -> bool {
    (MIN_BUCKET_LEN..=MAX_BUCKET_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The usecase of a bucket.
pub fn bucket_usecase(bucket: &str) -> Result<Usecase, NameError> {
    if !is_bucket_name(bucket) {
        return Err(NameError::Bucket(bucket.to_owned()));
    }
    Usecase::new(bucket).map_err(|_| NameError::Bucket(bucket.to_owned()))
}

/// The bucket name of a usecase, when it has one.
pub fn usecase_bucket(usecase: &Usecase) -> Option<&str> {
    is_bucket_name(usecase.as_str()).then_some(usecase.as_str())
}

/// The object an S3 key in `bucket` addresses.
pub fn object_id(usecase: &Usecase, s3_key: &str) -> Result<ObjectId, NameError> {
    listing::parse(usecase, s3_key).map_err(|e| match e {
        ListingKeyError::TooLong(_) => NameError::KeyTooLong(s3_key.to_owned()),
        other => NameError::Key {
            key: s3_key.to_owned(),
            reason: other.to_string(),
        },
    })
}

/// The S3 key of an object; [`NameError::KeyTooLong`] when it would exceed 1024 bytes.
pub fn s3_key(id: &ObjectId) -> Result<String, NameError> {
    listing::listing_key(id).ok_or_else(|| NameError::KeyTooLong(id.as_storage_path()))
}

#[cfg(test)]
mod tests;
