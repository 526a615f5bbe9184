//! Names: S3 bucket ↔ usecase, S3 key ↔ scopes and objectstore key.
//!
//! # The rule
//!
//! * **Bucket = usecase.** Bucket names are usecase names of 3 to 64 characters of
//!   `A-Z a-z 0-9 _ -` ([`bucket_usecase`]). Usecases outside that set (the objectstore API
//!   accepts more, e.g. dots) are not reachable through S3.
//! * **S3 key = scopes, then the key.** Each scope is one leading `name=value` segment, in
//!   order; then comes the objectstore key (Hive-style partitions): scopes `org=1;project=2`
//!   with key `a/b.txt` is the S3 key `org=1/project=2/a/b.txt`; no scopes is no leading
//!   segment (`a/b.txt`).
//!
//! # Edge cases, decided so that the mapping is a bijection
//!
//! A segment is *scope-like* when it is `name=value` with both parts valid scope parts
//! (1 to 256 of `A-Z a-z 0-9 _ - ( ) $ ! + '`; a value cannot contain `=`).
//!
//! 1. **A key whose first segment is scope-like** (an unscoped key `year=2024/x`, written
//!    through the objectstore API) would be read back as a scope. Such keys get the
//!    terminator segment [`SCOPES_END`] (`_`) in front: scopes `[]` with key `year=2024/x` is
//!    the S3 key `_/year=2024/x`; scopes `org=1` with that key is `org=1/_/year=2024/x`.
//!    Precisely, a key *needs the terminator* when it has at least two segments and, after
//!    any number of leading `_` segments, its first segment is scope-like with at least one
//!    segment after it. A key that needs it gets exactly one `_` in front; when reading an
//!    S3 key, one leading `_` after the scopes is dropped exactly when the rest needs it. So
//!    `_/plain` stays the key `_/plain` (the rest `plain` does not need it), and `_/_/a=b/c`
//!    is the key `_/a=b/c`.
//! 2. **The last segment is always key**: `a=b` alone is the unscoped key `a=b`, `a=b/c=d`
//!    is scope `a=b` with key `c=d`.
//! 3. **More than 16 leading scope-like segments** (objects have at most
//!    [`objectstore_types::id::MAX_SCOPES`] scopes): refused, `InvalidArgument`. These are the
//!    only S3 keys that are not the image of some object besides the invalid keys below.
//! 4. **Keys valid in S3 but not in the objectstore API** are refused with `InvalidArgument`
//!    and never reach the engine: an empty segment (a leading or trailing `/`, `//`, so also
//!    "folder marker" keys ending in `/`), a `.` or `..` segment, control characters.
//! 5. **Objects whose S3 key is longer than S3's 1024 bytes** (a key near the objectstore
//!    limit of 1024 bytes plus its scopes) cannot be addressed through S3 (S3 clients and
//!    s3s refuse such keys with `KeyTooLongError`); [`s3_key`] reports them, and a listing
//!    must leave them out, so every listed key can be fetched. They stay reachable through
//!    the objectstore API.
//!
//! **Invariants** (property-tested below): for every object id with a valid bucket,
//! `object_id(s3_key(id)) == id` when the S3 key fits; for every S3 key `k` that maps,
//! `s3_key(object_id(k)) == k`. Hence every object has exactly one S3 key and no two S3 keys
//! address the same object.

use objectstore_types::id::MAX_SCOPES;
use objectstore_types::{ObjectContext, ObjectId, ObjectKey, Scope, Scopes, Usecase};

/// The segment that ends the scopes when the key itself starts like a scope.
pub const SCOPES_END: &str = "_";
/// Longest S3 key, in bytes.
pub const MAX_S3_KEY_LEN: usize = 1024;
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

/// The scope a segment denotes, if it is scope-like.
fn scope_like(segment: &str) -> Option<Scope> {
    let (name, value) = segment.split_once('=')?;
    Scope::new(name, value).ok()
}

/// Whether a key (as its segments) needs [`SCOPES_END`] in front (module docs, case 1).
fn needs_terminator(segments: &[&str]) -> bool {
    let first = segments
        .iter()
        .position(|s| *s != SCOPES_END)
        .unwrap_or(segments.len());
    segments.len() - first >= 2 && scope_like(segments[first]).is_some()
}

/// The object an S3 key in `bucket` addresses.
pub fn object_id(usecase: &Usecase, s3_key: &str) -> Result<ObjectId, NameError> {
    let invalid = |reason: String| NameError::Key {
        key: s3_key.to_owned(),
        reason,
    };
    if s3_key.len() > MAX_S3_KEY_LEN {
        return Err(NameError::KeyTooLong(s3_key.to_owned()));
    }
    let segments: Vec<&str> = s3_key.split('/').collect();
    let mut scopes = Vec::new();
    let mut at = 0;
    while at + 1 < segments.len() {
        let Some(scope) = scope_like(segments[at]) else {
            break;
        };
        if scopes.len() == MAX_SCOPES {
            return Err(invalid(format!(
                "more than {MAX_SCOPES} leading name=value segments (scopes)"
            )));
        }
        scopes.push(scope);
        at += 1;
    }
    let mut rest = &segments[at..];
    if rest.len() >= 2 && rest[0] == SCOPES_END && needs_terminator(&rest[1..]) {
        rest = &rest[1..];
    }
    let key = ObjectKey::new(rest.join("/")).map_err(|e| invalid(e.to_string()))?;
    let scopes = Scopes::from_vec(scopes).map_err(|e| invalid(e.to_string()))?;
    Ok(ObjectId::new(
        ObjectContext {
            usecase: usecase.clone(),
            scopes,
        },
        key,
    ))
}

/// The S3 key of an object; [`NameError::KeyTooLong`] when it would exceed 1024 bytes.
pub fn s3_key(id: &ObjectId) -> Result<String, NameError> {
    let key = id.key.as_str();
    let mut out = String::with_capacity(key.len() + 32);
    for scope in id.scopes() {
        out.push_str(scope.name());
        out.push('=');
        out.push_str(scope.value());
        out.push('/');
    }
    let segments: Vec<&str> = key.split('/').collect();
    if needs_terminator(&segments) {
        out.push_str(SCOPES_END);
        out.push('/');
    }
    out.push_str(key);
    if out.len() > MAX_S3_KEY_LEN {
        return Err(NameError::KeyTooLong(id.as_storage_path()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
