//! Object metadata both ways: S3 request headers → [`Metadata`], [`Metadata`] → S3 response
//! headers, and the phase-1 ETag.
//!
//! | S3 | objectstore [`Metadata`] | objectstore API |
//! |---|---|---|
//! | `Content-Type` | `content_type` | `content-type` |
//! | `Content-Encoding: gzip` / `zstd` | `compression` | `content-encoding` |
//! | `Content-Disposition` in the form the objectstore API writes (`attachment; filename="…"`) | `filename` | `x-sn-filename` |
//! | `x-amz-meta-<name>` | `custom[<name>]` | `x-snme-<name>` |
//! | `x-sn-expiration`, `x-sn-origin`, `x-sn-filename` (accepted on S3 writes, returned on reads) | `expiration_policy`, `origin`, `filename` | same |
//! | `Last-Modified` | `time_created` | `x-sn-time-created` |
//! | `Content-Length` | `size` | `x-sn-size` |
//!
//! **Not stored yet (phase 2, the engine's `Metadata` lacks the field):** other
//! `Content-Encoding` values, other `Content-Disposition` values, `Content-Language`,
//! `Cache-Control`, `Expires`. A write that carries one is refused with `NotImplemented`
//! instead of dropping it (`aws-chunked` and `identity` are transfer details and ignored).
//!
//! # The phase-1 ETag
//!
//! The engine does not store a content hash yet (phase 2 stores the MD5). Until then the
//! ETag is `"<32 hex>-0"`: the first 16 bytes of a SHA-256 over the stored metadata that a
//! write sets (creation time, size, content type, compression, policy, origin, filename,
//! custom), so it changes with every write of different content or at a different second.
//! It is never 32 bare hex digits, so no tool mistakes it for an MD5 (rclone and others
//! treat `-N` ETags as "not an MD5"), and it is the same on PUT, GET, HEAD and copy
//! responses. Limitation: two writes of the same size and metadata within the same second
//! have the same ETag.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use http::{HeaderMap, HeaderName, HeaderValue};
use objectstore_types::metadata::{
    HEADER_EXPIRATION, HEADER_FILENAME, HEADER_ORIGIN, HEADER_TIME_EXPIRES, content_disposition,
    decode_free_form, encode_free_form,
};
use objectstore_types::{Compression, ExpirationPolicy, Metadata, time};
use s3s::S3Result;
use s3s::dto::{ETag, Timestamp};
use sha2::{Digest as _, Sha256};

use crate::errors::{invalid_argument, not_implemented};

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

fn phase2(what: &str) -> s3s::S3Error {
    not_implemented(format!(
        "{what} cannot be stored yet; objectstore stores Content-Type, gzip/zstd \
         Content-Encoding, an attachment Content-Disposition and x-amz-meta-*"
    ))
}

/// The compression a `Content-Encoding` stands for (module docs).
fn compression(encoding: Option<&str>) -> S3Result<Option<Compression>> {
    let Some(encoding) = encoding else {
        return Ok(None);
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
        [] => Ok(None),
        [one] if one.eq_ignore_ascii_case("gzip") => Ok(Some(Compression::Gzip)),
        [one] if one.eq_ignore_ascii_case("zstd") => Ok(Some(Compression::Zstd)),
        _ => Err(phase2(&format!("Content-Encoding {encoding:?}"))),
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
        for (present, what) in [
            (self.content_language.is_some(), "Content-Language"),
            (self.cache_control.is_some(), "Cache-Control"),
            (self.expires, "Expires"),
        ] {
            if present {
                return Err(phase2(what));
            }
        }
        let mut metadata = Metadata::default();
        if let Some(ct) = self.content_type.filter(|ct| !ct.is_empty()) {
            ct.parse::<mime::Mime>()
                .map_err(|e| invalid_argument(format!("Content-Type {ct:?}: {e}")))?;
            metadata.content_type = ct.to_owned();
        }
        metadata.compression = compression(self.content_encoding)?;
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
            let stored = metadata
                .filename
                .as_deref()
                .and_then(content_disposition)
                .is_some_and(|c| c.as_bytes() == disposition.as_bytes());
            if !stored {
                let filename = disposition_filename(disposition)
                    .filter(|_| metadata.filename.is_none())
                    .ok_or_else(|| phase2(&format!("Content-Disposition {disposition:?}")))?;
                metadata.filename = Some(filename);
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
    /// `x-amz-meta-*`.
    pub metadata: Option<HashMap<String, String>>,
    /// The `x-sn-*` headers of the objectstore API that have no S3 field.
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
        Self {
            e_tag: etag(metadata),
            last_modified: metadata.time_created.map(Timestamp::from),
            size: metadata.size.unwrap_or(0),
            content_type: metadata.content_type.clone(),
            content_encoding: metadata.compression.map(|c| c.as_str().to_owned()),
            content_disposition: metadata
                .filename
                .as_deref()
                .and_then(content_disposition)
                .and_then(|v| v.to_str().ok().map(str::to_owned)),
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

/// The phase-1 ETag of a stored object (module docs).
pub fn etag(metadata: &Metadata) -> ETag {
    #[derive(serde::Serialize)]
    struct Revision<'a> {
        created: Option<u64>,
        size: Option<u64>,
        content_type: &'a str,
        compression: Option<Compression>,
        policy: String,
        origin: Option<&'a str>,
        filename: Option<&'a str>,
        custom: &'a BTreeMap<String, String>,
    }
    let revision = Revision {
        created: metadata.time_created.map(time::unix_secs),
        size: metadata.size,
        content_type: &metadata.content_type,
        compression: metadata.compression,
        policy: metadata.expiration_policy.to_string(),
        origin: metadata.origin.as_deref(),
        filename: metadata.filename.as_deref(),
        custom: &metadata.custom,
    };
    let json = serde_json::to_vec(&revision).unwrap_or_default();
    let digest = Sha256::digest(&json);
    ETag::Strong(format!("{}-0", hex::encode(&digest[..16])))
}

/// `Last-Modified` of an object as a time (creation time; the epoch when unknown).
pub fn last_modified(metadata: &Metadata) -> SystemTime {
    metadata.time_created.unwrap_or(SystemTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests;
