//! Object metadata both ways: S3 request headers → [`Metadata`], [`Metadata`] → S3 response
//! headers, and the ETag.
//!
//! | S3 | objectstore [`Metadata`] | objectstore API |
//! |---|---|---|
//! | `Content-Type` | `content_type` | `content-type` |
//! | `Content-Encoding: gzip` / `zstd` | `compression` | `content-encoding` |
//! | any other `Content-Encoding` (`aws-chunked` and `identity` removed: transfer details) | `content_encoding`, verbatim | `content-encoding` |
//! | `Content-Disposition` in the form the objectstore API writes (`attachment; filename="…"`) | `filename` | `x-sn-filename` |
//! | any other `Content-Disposition` | `content_disposition`, verbatim | `content-disposition` |
//! | `Content-Language`, `Cache-Control`, `Expires` | `content_language`, `cache_control`, `expires`, verbatim | same headers |
//! | `x-amz-meta-<name>` | `custom[<name>]` | `x-snme-<name>` |
//! | `x-sn-expiration`, `x-sn-origin`, `x-sn-filename` (accepted on S3 writes, returned on reads) | `expiration_policy`, `origin`, `filename` | same |
//! | `Last-Modified` | `time_created` | `x-sn-time-created` |
//! | `Content-Length` | `size` | `x-sn-size` |
//! | `ETag` | `etag` (the MD5, `<md5>-N` for multipart; stamped by the engine) | `etag` |
//!
//! `Expires` is stored as the client sent it (S3 does not validate it either) and returned
//! as a raw header.
//!
//! # The ETag
//!
//! One definition for the engine and both APIs
//! ([`objectstore_service::digest::entity_tag`]): the stored MD5 when the engine
//! stamped one, else, for objects stored before, a tag derived from the stored metadata,
//! `"<32 hex>-0"`, which changes with every write of different content or at a different
//! second and is never 32 bare hex digits, so no tool mistakes it for an MD5 (rclone and
//! others treat `-N` ETags as "not an MD5"). It is the same on PUT, GET, HEAD, copy and list
//! responses, and it is what `If-Match` on a write compares.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use http::{HeaderMap, HeaderName, HeaderValue};
use objectstore_service::digest::entity_tag;
use objectstore_types::metadata::{
    HEADER_EXPIRATION, HEADER_FILENAME, HEADER_ORIGIN, HEADER_TIME_EXPIRES, content_disposition,
    decode_free_form, encode_free_form,
};
use objectstore_types::{Compression, ExpirationPolicy, Metadata, time};
use s3s::S3Result;
use s3s::dto::{ETag, Timestamp};

use crate::errors::invalid_argument;

/// The S3 fields of a write (PutObject, CreateMultipartUpload, CopyObject with `REPLACE`).
#[derive(Debug, Default)]
pub struct WriteFields<'a> {
    /// `Content-Type`.
    pub content_type: Option<&'a str>,
    /// `Content-Encoding`.
    pub content_encoding: Option<&'a str>,
    /// `Content-Disposition`.
    pub content_disposition: Option<&'a str>,
    /// `Content-Language`.
    pub content_language: Option<&'a str>,
    /// `Cache-Control`.
    pub cache_control: Option<&'a str>,
    /// Whether an `Expires` header was sent.
    pub expires: bool,
    /// `x-amz-meta-*`.
    pub metadata: Option<&'a HashMap<String, String>>,
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> S3Result<Option<&'h str>> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| invalid_argument(format!("{name} must be visible ASCII")))
        })
        .transpose()
}

/// The compression and the verbatim `Content-Encoding` of a header value (module docs).
fn encoding(encoding: Option<&str>) -> (Option<Compression>, Option<String>) {
    let Some(encoding) = encoding else {
        return (None, None);
    };
    let tokens: Vec<&str> = encoding
        .split(',')
        .map(str::trim)
        .filter(|t| {
            !t.is_empty()
                && !t.eq_ignore_ascii_case("aws-chunked")
                && !t.eq_ignore_ascii_case("identity")
        })
        .collect();
    match tokens.as_slice() {
        [] => (None, None),
        [one] if one.eq_ignore_ascii_case("gzip") => (Some(Compression::Gzip), None),
        [one] if one.eq_ignore_ascii_case("zstd") => (Some(Compression::Zstd), None),
        _ => (None, Some(tokens.join(", "))),
    }
}

/// The filename of a `Content-Disposition` in exactly the form the objectstore API writes
/// for that filename, else `None`.
fn disposition_filename(value: &str) -> Option<String> {
    let candidate = match value.split_once("; filename*=UTF-8''") {
        Some((_, encoded)) => percent_encoding::percent_decode_str(encoded)
            .decode_utf8()
            .ok()?
            .into_owned(),
        None => value
            .strip_prefix("attachment; filename=\"")?
            .strip_suffix('"')?
            .replace("\\\"", "\""),
    };
    let canonical = content_disposition(&candidate)?;
    (canonical.as_bytes() == value.as_bytes()).then_some(candidate)
}

impl WriteFields<'_> {
    /// The metadata to store (not yet stamped), or why the write cannot be stored.
    pub fn into_metadata(self, headers: &HeaderMap) -> S3Result<Metadata> {
        let mut metadata = Metadata::default();
        if let Some(ct) = self.content_type.filter(|ct| !ct.is_empty()) {
            ct.parse::<mime::Mime>()
                .map_err(|e| invalid_argument(format!("Content-Type {ct:?}: {e}")))?;
            metadata.content_type = ct.to_owned();
        }
        (metadata.compression, metadata.content_encoding) = encoding(self.content_encoding);
        metadata.content_language = self.content_language.map(str::to_owned);
        metadata.cache_control = self.cache_control.map(str::to_owned);
        if self.expires {
            metadata.expires = header(headers, "expires")?.map(str::to_owned);
        }
        if let Some(policy) = header(headers, HEADER_EXPIRATION)? {
            metadata.expiration_policy = policy
                .parse::<ExpirationPolicy>()
                .map_err(|e| invalid_argument(format!("{HEADER_EXPIRATION}: {e}")))?;
        }
        if let Some(origin) = header(headers, HEADER_ORIGIN)? {
            metadata.origin = Some(
                decode_free_form(HEADER_ORIGIN, origin)
                    .map_err(|e| invalid_argument(e.to_string()))?,
            );
        }
        if let Some(filename) = header(headers, HEADER_FILENAME)? {
            metadata.filename = Some(
                decode_free_form(HEADER_FILENAME, filename)
                    .map_err(|e| invalid_argument(e.to_string()))?,
            );
        }
        if let Some(disposition) = self.content_disposition {
            let derived = metadata
                .filename
                .as_deref()
                .and_then(content_disposition)
                .is_some_and(|c| c.as_bytes() == disposition.as_bytes());
            if !derived {
                match disposition_filename(disposition).filter(|_| metadata.filename.is_none()) {
                    Some(filename) => metadata.filename = Some(filename),
                    None => metadata.content_disposition = Some(disposition.to_owned()),
                }
            }
        }
        if let Some(custom) = self.metadata {
            metadata.custom = custom
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect::<BTreeMap<_, _>>();
        }
        Ok(metadata)
    }
}

/// What a GET, HEAD or write response says about an object.
#[derive(Debug, Clone)]
pub struct ObjectHeaders {
    /// `ETag`.
    pub e_tag: ETag,
    /// `Last-Modified`.
    pub last_modified: Option<Timestamp>,
    /// `Content-Length` of the whole object.
    pub size: u64,
    /// `Content-Type`.
    pub content_type: String,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `Content-Language`.
    pub content_language: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `x-amz-meta-*`.
    pub metadata: Option<HashMap<String, String>>,
    /// The headers without a typed S3 field: the `x-sn-*` headers of the objectstore API and
    /// `Expires` (stored verbatim, so not always an HTTP date).
    pub extra: HeaderMap,
}

impl ObjectHeaders {
    /// The response headers of a stored object.
    pub fn of(metadata: &Metadata) -> Self {
        let mut extra = HeaderMap::new();
        let mut put = |name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                extra.insert(HeaderName::from_static(name), v);
            }
        };
        if !metadata.expiration_policy.is_manual() {
            put(HEADER_EXPIRATION, metadata.expiration_policy.to_string());
        }
        if let Some(t) = metadata.time_expires {
            put(HEADER_TIME_EXPIRES, time::format(t));
        }
        if let Some(o) = &metadata.origin {
            put(HEADER_ORIGIN, encode_free_form(o));
        }
        if let Some(f) = &metadata.filename {
            put(HEADER_FILENAME, encode_free_form(f));
        }
        if let Some(expires) = &metadata.expires {
            put("expires", expires.clone());
        }
        Self {
            e_tag: etag(metadata),
            last_modified: metadata.time_created.map(Timestamp::from),
            size: metadata.size.unwrap_or(0),
            content_type: metadata.content_type.clone(),
            content_encoding: metadata
                .compression
                .map(|c| c.as_str().to_owned())
                .or_else(|| metadata.content_encoding.clone()),
            content_disposition: metadata.content_disposition.clone().or_else(|| {
                metadata
                    .filename
                    .as_deref()
                    .and_then(content_disposition)
                    .and_then(|v| v.to_str().ok().map(str::to_owned))
            }),
            content_language: metadata.content_language.clone(),
            cache_control: metadata.cache_control.clone(),
            metadata: (!metadata.custom.is_empty()).then(|| {
                metadata
                    .custom
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }),
            extra,
        }
    }
}

/// The ETag of a stored object (module docs).
pub fn etag(metadata: &Metadata) -> ETag {
    ETag::Strong(entity_tag(metadata))
}

/// `Last-Modified` of an object as a time (creation time; the epoch when unknown).
pub fn last_modified(metadata: &Metadata) -> SystemTime {
    metadata.time_created.unwrap_or(SystemTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests;
