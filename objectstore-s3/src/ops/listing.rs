//! `ListObjectsV2` and `ListObjects` (v1) on the engine's ordered listing
//! ([`StorageService::list`](objectstore_service::service::StorageService::list): the
//! high-volume index of `(usecase, listing key)`, where the listing key is the S3 key).
//!
//! # How a page is built
//!
//! Keys come in S3 order (bytes of the UTF-8 key). With a delimiter, a key whose rest after
//! the prefix contains it rolls up into the common prefix up to and including its first
//! occurrence; each common prefix counts as one entry toward `max-keys` (1 to 1000, default
//! 1000; 0 answers an empty page). Entries are collected from engine pages of at most the
//! entries still wanted:
//!
//! 1. Ask the engine for keys after the cursor (start: exclusive lower bound).
//! 2. A key that rolls up adds its common prefix and moves the cursor past every key with
//!    that prefix (the prefix followed by the byte `0xff`, which no UTF-8 key contains), then
//!    back to 1 (one index seek per common prefix, never a walk through its keys).
//! 3. Any other key is added; the cursor moves to it.
//! 4. Stop at `max-keys` entries or the end; `IsTruncated` is then decided by one more
//!    engine call of one key after the cursor.
//!
//! **Continuation.** `NextContinuationToken` (v2) is the cursor, base64url: opaque, and it
//! resumes after the last key or common prefix exactly. `StartAfter` (v2) and `Marker` (v1)
//! are keys; a v1 marker that is a common prefix of this listing (it ends with the
//! delimiter) skips the whole prefix, so paging by `NextMarker` never repeats one. v1
//! reports `NextMarker` only with a delimiter, as S3 does (clients use the last key
//! otherwise).
//!
//! **`encoding-type=url`**: keys, prefixes, the delimiter, `StartAfter`, markers are
//! percent-encoded in the response (every byte but unreserved characters and `/`, so `+`
//! survives decoders that treat `+` as a space).
//!
//! Expired objects are never listed (the engine's index skips them); objects whose S3 key
//! would exceed 1024 bytes are not listed (they have none). Sizes and ETags come from the
//! index (tombstones carry them), so a listing never reads the long-term store.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use objectstore_service::backend::{ListQuery, ListedRow};
use objectstore_types::{Permission, Usecase};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::errors::{invalid_argument, service_error};
use crate::handler::Handler;
use crate::metadata::etag;

/// Highest and default `max-keys`.
pub const MAX_KEYS: i32 = 1000;

/// What `encoding-type=url` escapes: everything but `A-Z a-z 0-9 - _ . ~` and `/`.
const URL_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// The owner every object reports (there are no accounts).
pub fn owner() -> Owner {
    Owner {
        display_name: Some("objectstore".into()),
        id: Some("objectstore".into()),
    }
}

/// One entry of a listing page.
#[derive(Debug)]
enum Entry {
    Object(Box<ListedRow>),
    Prefix(String),
}

/// A listing page (module docs).
#[derive(Debug, Default)]
struct Page {
    objects: Vec<ListedRow>,
    prefixes: Vec<String>,
    /// The cursor after the last entry (for continuation).
    cursor: Option<Vec<u8>>,
    /// The last key or common prefix returned.
    last: Option<String>,
    truncated: bool,
}

/// The byte string just past every key that starts with `prefix`.
pub(super) fn past(prefix: &str) -> Vec<u8> {
    let mut bytes = prefix.as_bytes().to_vec();
    bytes.push(0xff);
    bytes
}

/// Whether `marker` is a common prefix of a listing of `prefix` by `delimiter`: its rest
/// after the prefix contains the delimiter exactly once, at its end.
fn is_common_prefix(marker: &str, prefix: &str, delimiter: Option<&str>) -> bool {
    delimiter.is_some_and(|d| {
        marker
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.find(d).is_some_and(|at| at + d.len() == rest.len()))
    })
}

/// The exclusive lower bound of a listing after `marker`: past every key of the marker
/// when it is a common prefix (module docs), else the marker itself.
pub(super) fn marker_bound(marker: &str, prefix: &str, delimiter: Option<&str>) -> Vec<u8> {
    if is_common_prefix(marker, prefix, delimiter) {
        past(marker)
    } else {
        marker.as_bytes().to_vec()
    }
}

/// Builds a page (module docs): `after` is the exclusive lower bound.
async fn collect(
    handler: &Handler,
    usecase: &Usecase,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<Vec<u8>>,
    max_keys: usize,
) -> S3Result<Page> {
    let mut page = Page {
        cursor: after,
        ..Page::default()
    };
    if max_keys == 0 {
        return Ok(page);
    }
    let mut entries = Vec::new();
    'pages: while entries.len() < max_keys {
        let mut query = ListQuery::new(usecase.clone(), prefix, max_keys - entries.len());
        query.start_after = page.cursor.clone();
        let found = handler.service.list(query).await.map_err(service_error)?;
        for row in found.rows {
            let rest = &row.key[prefix.len()..];
            if let Some(at) = delimiter.and_then(|d| rest.find(d).map(|at| at + d.len())) {
                let common = row.key[..prefix.len() + at].to_owned();
                page.cursor = Some(past(&common));
                entries.push(Entry::Prefix(common));
                continue 'pages;
            }
            page.cursor = Some(row.key.as_bytes().to_vec());
            entries.push(Entry::Object(Box::new(row)));
            if entries.len() == max_keys {
                break;
            }
        }
        if !found.truncated {
            break;
        }
    }
    if entries.len() == max_keys {
        let mut query = ListQuery::new(usecase.clone(), prefix, 1);
        query.start_after = page.cursor.clone();
        let more = handler.service.list(query).await.map_err(service_error)?;
        page.truncated = !more.rows.is_empty();
    }
    for entry in entries {
        match entry {
            Entry::Object(row) => {
                page.last = Some(row.key.clone());
                page.objects.push(*row);
            }
            Entry::Prefix(common) => {
                page.last = Some(common.clone());
                page.prefixes.push(common);
            }
        }
    }
    Ok(page)
}

/// The request's `max-keys`, checked.
fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    let n = requested.unwrap_or(MAX_KEYS);
    if n < 0 {
        return Err(invalid_argument("max-keys must not be negative"));
    }
    Ok(usize::try_from(n.min(MAX_KEYS)).unwrap_or(0))
}

/// The delimiter, if any (an empty one is none).
fn delimiter(d: Option<&String>) -> Option<&str> {
    d.map(String::as_str).filter(|d| !d.is_empty())
}

/// Whether the response encodes names (`encoding-type=url`; other values are refused).
fn url_encoded(encoding: Option<&EncodingType>) -> S3Result<bool> {
    match encoding.map(EncodingType::as_str) {
        None => Ok(false),
        Some(EncodingType::URL) => Ok(true),
        Some(other) => Err(invalid_argument(format!(
            "Invalid Encoding Method specified in Request: {other:?}"
        ))),
    }
}

/// `name` as the response carries it.
pub(super) fn encoded_name(name: &str, encode: bool) -> String {
    if encode {
        utf8_percent_encode(name, URL_ESCAPES).to_string()
    } else {
        name.to_owned()
    }
}

fn objects(rows: Vec<ListedRow>, encode: bool, with_owner: bool) -> Vec<Object> {
    rows.into_iter()
        .map(|row| Object {
            e_tag: Some(etag(&row.metadata)),
            key: Some(encoded_name(&row.key, encode)),
            last_modified: row.metadata.time_created.map(Timestamp::from),
            owner: with_owner.then(owner),
            size: row.metadata.size.and_then(|s| i64::try_from(s).ok()),
            storage_class: Some(ObjectStorageClass::from_static(
                ObjectStorageClass::STANDARD,
            )),
            ..Object::default()
        })
        .collect()
}

fn common_prefixes(prefixes: Vec<String>, encode: bool) -> Vec<CommonPrefix> {
    prefixes
        .into_iter()
        .map(|p| CommonPrefix {
            prefix: Some(encoded_name(&p, encode)),
        })
        .collect()
}

fn bad_token() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidArgument,
        "The continuation token provided is incorrect",
    )
}

/// `GET /<bucket>?list-type=2` (module docs).
pub async fn list_objects_v2(
    handler: &Handler,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let input = &req.input;
    let usecase = handler
        .bucket(&req, &input.bucket, Permission::Read)
        .await?;
    let encode = url_encoded(input.encoding_type.as_ref())?;
    let max = max_keys(input.max_keys)?;
    let prefix = input.prefix.clone().unwrap_or_default();
    let delimiter = delimiter(input.delimiter.as_ref());
    let after = match (&input.continuation_token, &input.start_after) {
        (Some(token), _) => Some(URL_SAFE_NO_PAD.decode(token).map_err(|_| bad_token())?),
        (None, Some(start)) if !start.is_empty() => Some(start.as_bytes().to_vec()),
        (None, _) => None,
    };
    let page = collect(handler, &usecase, &prefix, delimiter, after, max).await?;
    let key_count = page.objects.len() + page.prefixes.len();
    let next = page
        .truncated
        .then(|| page.cursor.as_ref().map(|c| URL_SAFE_NO_PAD.encode(c)))
        .flatten();
    let with_owner = input.fetch_owner.unwrap_or(false);
    Ok(S3Response::new(ListObjectsV2Output {
        name: Some(input.bucket.clone()),
        prefix: Some(encoded_name(&prefix, encode)),
        delimiter: delimiter.map(|d| encoded_name(d, encode)),
        max_keys: Some(i32::try_from(max).unwrap_or(MAX_KEYS)),
        key_count: Some(i32::try_from(key_count).unwrap_or(MAX_KEYS)),
        continuation_token: input.continuation_token.clone(),
        next_continuation_token: next,
        start_after: input
            .start_after
            .as_deref()
            .map(|s| encoded_name(s, encode)),
        is_truncated: Some(page.truncated),
        contents: Some(objects(page.objects, encode, with_owner)),
        common_prefixes: Some(common_prefixes(page.prefixes, encode)),
        encoding_type: input.encoding_type.clone(),
        ..ListObjectsV2Output::default()
    }))
}

/// `GET /<bucket>` (v1, module docs).
pub async fn list_objects(
    handler: &Handler,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let input = &req.input;
    let usecase = handler
        .bucket(&req, &input.bucket, Permission::Read)
        .await?;
    let encode = url_encoded(input.encoding_type.as_ref())?;
    let max = max_keys(input.max_keys)?;
    let prefix = input.prefix.clone().unwrap_or_default();
    let delimiter = delimiter(input.delimiter.as_ref());
    let after = input
        .marker
        .as_deref()
        .filter(|m| !m.is_empty())
        .map(|marker| marker_bound(marker, &prefix, delimiter));
    let page = collect(handler, &usecase, &prefix, delimiter, after, max).await?;
    let next_marker = (page.truncated && delimiter.is_some())
        .then(|| page.last.as_deref().map(|l| encoded_name(l, encode)))
        .flatten();
    Ok(S3Response::new(ListObjectsOutput {
        name: Some(input.bucket.clone()),
        prefix: Some(encoded_name(&prefix, encode)),
        delimiter: delimiter.map(|d| encoded_name(d, encode)),
        marker: Some(
            input
                .marker
                .as_deref()
                .map(|m| encoded_name(m, encode))
                .unwrap_or_default(),
        ),
        next_marker,
        max_keys: Some(i32::try_from(max).unwrap_or(MAX_KEYS)),
        is_truncated: Some(page.truncated),
        contents: Some(objects(page.objects, encode, true)),
        common_prefixes: Some(common_prefixes(page.prefixes, encode)),
        encoding_type: input.encoding_type.clone(),
        ..ListObjectsOutput::default()
    }))
}
