//! The listing key: one flat string per object inside its usecase, the order objects are
//! listed in, and the key the S3 API addresses an object by.
//!
//! # The rule
//!
//! The listing key of an object is its scopes as leading `name=value` segments, in order,
//! then its key (Hive-style partitions): scopes `org=1;project=2` with key `a/b.txt` is
//! `org=1/project=2/a/b.txt`; no scopes is no leading segment (`a/b.txt`). Listings order
//! objects by the bytes of this key (UTF-8), which is S3's key order.
//!
//! # Edge cases, decided so that the key is a bijection
//!
//! A segment is *scope-like* when it is `name=value` with both parts valid scope parts
//! (1 to 256 of `A-Z a-z 0-9 _ - ( ) $ ! + '`; a value cannot contain `=`).
//!
//! 1. **A key whose first segment is scope-like** (an unscoped key `year=2024/x`) would be
//!    read back as a scope. Such keys get the terminator segment [`SCOPES_END`] (`_`) in
//!    front: scopes `[]` with key `year=2024/x` is `_/year=2024/x`; scopes `org=1` with
//!    that key is `org=1/_/year=2024/x`. Precisely, a key *needs the terminator* when it has
//!    at least two segments and, after any number of leading `_` segments, its first
//!    segment is scope-like with at least one segment after it. A key that needs it gets
//!    exactly one `_` in front; when parsing, one leading `_` after the scopes is dropped
//!    exactly when the rest needs it. So `_/plain` stays the key `_/plain` (the rest
//!    `plain` does not need it), and `_/_/a=b/c` is the key `_/a=b/c`.
//! 2. **The last segment is always key**: `a=b` alone is the unscoped key `a=b`, `a=b/c=d`
//!    is scope `a=b` with key `c=d`.
//! 3. **More than 16 leading scope-like segments** (objects have at most [`MAX_SCOPES`]
//!    scopes) do not parse ([`ListingKeyError::TooManyScopes`]). These are the only strings
//!    that are not the key of some object besides the invalid keys below.
//! 4. **Strings that are no objectstore key** do not parse ([`ListingKeyError::InvalidKey`]):
//!    an empty segment (a leading or trailing `/`, `//`), a `.` or `..` segment, control
//!    characters.
//! 5. **Objects whose listing key is longer than [`MAX_LISTING_KEY_LEN`] (1024) bytes** (a
//!    key near the objectstore limit of 1024 bytes plus its scopes) have no listing key
//!    ([`listing_key`] is `None`): they are never listed (S3 cannot address them either) and
//!    stay reachable by their id.
//!
//! **Invariants** (property-tested below): for every object id, `parse(listing_key(id)) ==
//! id` when the key fits; for every string `k` that parses, `listing_key(parse(k)) == k`.
//! Hence every object has at most one listing key and no two listing keys name the same
//! object.
//!
//! ```
//! use objectstore_types::listing::{listing_key, parse};
//! use objectstore_types::{ObjectContext, ObjectId, ObjectKey, Scopes, Usecase};
//!
//! let usecase = Usecase::new("attachments").unwrap();
//! let id = ObjectId::new(
//!     ObjectContext { usecase: usecase.clone(), scopes: Scopes::parse("org=1").unwrap() },
//!     ObjectKey::new("year=2024/report.pdf").unwrap(),
//! );
//! assert_eq!(listing_key(&id).as_deref(), Some("org=1/_/year=2024/report.pdf"));
//! assert_eq!(parse(&usecase, "org=1/_/year=2024/report.pdf").unwrap(), id);
//! ```

use crate::id::{MAX_SCOPES, ObjectContext, ObjectId, ObjectKey, Scope, Scopes, Usecase};

/// The segment that ends the scopes when the key itself starts like a scope.
pub const SCOPES_END: &str = "_";
/// Longest listing key, in bytes (S3's key limit).
pub const MAX_LISTING_KEY_LEN: usize = 1024;

/// Examples of the listing key, `(scopes, key, listing key)` (those of `docs/s3.md` and the
/// edge cases), checked by this module's tests and by those of the S3 front that wraps it.
pub const EXAMPLES: &[(&str, &str, &str)] = &[
    ("org=1;project=2", "a/b.txt", "org=1/project=2/a/b.txt"),
    ("_", "a/b.txt", "a/b.txt"),
    ("_", "year=2024/x", "_/year=2024/x"),
    ("org=1", "year=2024/x", "org=1/_/year=2024/x"),
    ("_", "a=b", "a=b"),
    ("a=b", "c=d", "a=b/c=d"),
    ("_", "_/plain", "_/plain"),
    ("_", "_/a=b/c", "_/_/a=b/c"),
    ("_", "_", "_"),
    ("_", "_/_", "_/_"),
    ("_", "a=b=c/d", "a=b=c/d"),
];

/// A string that is not the listing key of any object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListingKeyError {
    /// Longer than [`MAX_LISTING_KEY_LEN`] bytes.
    #[error("key of {0} bytes exceeds {MAX_LISTING_KEY_LEN} bytes")]
    TooLong(usize),
    /// More than [`MAX_SCOPES`] leading `name=value` segments.
    #[error("more than {MAX_SCOPES} leading name=value segments (scopes)")]
    TooManyScopes,
    /// The rest is not a valid objectstore key.
    #[error("{0}")]
    InvalidKey(String),
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

/// The listing key of `id`, or `None` when it would exceed [`MAX_LISTING_KEY_LEN`] bytes
/// (such objects are never listed, module docs case 5).
pub fn listing_key(id: &ObjectId) -> Option<String> {
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
    (out.len() <= MAX_LISTING_KEY_LEN).then_some(out)
}

/// The object in `usecase` whose listing key is `key`.
pub fn parse(usecase: &Usecase, key: &str) -> Result<ObjectId, ListingKeyError> {
    if key.len() > MAX_LISTING_KEY_LEN {
        return Err(ListingKeyError::TooLong(key.len()));
    }
    let segments: Vec<&str> = key.split('/').collect();
    let mut scopes = Vec::new();
    let mut at = 0;
    while at + 1 < segments.len() {
        let Some(scope) = scope_like(segments[at]) else {
            break;
        };
        if scopes.len() == MAX_SCOPES {
            return Err(ListingKeyError::TooManyScopes);
        }
        scopes.push(scope);
        at += 1;
    }
    let mut rest = &segments[at..];
    if rest.len() >= 2 && rest[0] == SCOPES_END && needs_terminator(&rest[1..]) {
        rest = &rest[1..];
    }
    let invalid = |e: crate::id::InvalidId| ListingKeyError::InvalidKey(e.to_string());
    let object_key = ObjectKey::new(rest.join("/")).map_err(invalid)?;
    let scopes = Scopes::from_vec(scopes).map_err(invalid)?;
    Ok(ObjectId::new(
        ObjectContext {
            usecase: usecase.clone(),
            scopes,
        },
        object_key,
    ))
}

/// The smallest byte string greater than every string that starts with `prefix`
/// (`None` for the empty prefix: no bound). Listing keys are UTF-8, which never contains
/// the byte `0xff`, so incrementing the last byte is enough.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests;
