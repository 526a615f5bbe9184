//! Payload helpers of the backends that keep an object's bytes in one value (memory,
//! embedded, PostgreSQL, Bigtable): the inline size limit, `size` stamping, answering a GET
//! (whole object, range, or 416) from the stored bytes, and reading a body into memory.
//!
//! Invariants: an inline payload is never longer than [`MAX_INLINE_BYTES`]; a stored
//! object's metadata carries its payload length as `size`.

use bytes::Bytes;
use objectstore_types::Metadata;
use objectstore_types::range::ByteRange;

use crate::backend::{GetResponse, MAX_INLINE_BYTES};
#[cfg(any(test, feature = "testing", feature = "postgres", feature = "bigtable"))]
use crate::backend::{TieredGet, TieredMetadata, Tombstone};
use crate::error::{Error, Result};
use crate::stream;

/// The answer to a GET of `bytes` with `metadata` (pre-access, size set).
pub(crate) fn respond(metadata: Metadata, bytes: Bytes, range: Option<ByteRange>) -> GetResponse {
    let Some(range) = range else {
        return GetResponse::Found {
            metadata,
            range: None,
            body: stream::single(bytes),
        };
    };
    match range.resolve(bytes.len() as u64) {
        None => GetResponse::RangeNotSatisfiable(metadata),
        Some(cr) => {
            // `resolve` keeps `start <= end < total`, and `total` is `bytes.len()`.
            let body = bytes.slice(cr.start as usize..=cr.end as usize);
            GetResponse::Found {
                metadata,
                range: Some(cr),
                body: stream::single(body),
            }
        }
    }
}

/// What a read of one row found, after expiry and TTI handling: the engines (memory,
/// PostgreSQL, Bigtable) answer the reads of the row contract from it.
#[cfg(any(test, feature = "testing", feature = "postgres", feature = "bigtable"))]
pub(crate) enum Access {
    /// No row, or an expired inline object.
    Absent,
    /// A live inline object: metadata from before the access (size set), and the payload
    /// when it was read.
    Object(Metadata, Option<Bytes>),
    /// A redirect tombstone, raw (even when expired).
    Tombstone(Tombstone),
}

#[cfg(any(test, feature = "testing", feature = "postgres", feature = "bigtable"))]
impl Access {
    /// The row as `HighVolumeBackend::get` answers it (the payload must have been read).
    pub(crate) fn into_get(self, range: Option<ByteRange>) -> TieredGet {
        match self {
            Self::Absent => TieredGet::NotFound,
            Self::Tombstone(t) => TieredGet::Tombstone(t),
            Self::Object(m, b) => TieredGet::Object(respond(m, b.unwrap_or_default(), range)),
        }
    }

    /// The row as `HighVolumeBackend::head` answers it.
    pub(crate) fn into_head(self) -> TieredMetadata {
        match self {
            Self::Absent => TieredMetadata::NotFound,
            Self::Tombstone(t) => TieredMetadata::Tombstone(t),
            Self::Object(m, _) => TieredMetadata::Object(m),
        }
    }
}

/// `metadata` with `size` set to `len`.
pub(crate) fn sized(metadata: &Metadata, len: usize) -> Metadata {
    let mut m = metadata.clone();
    m.size = Some(len as u64);
    m
}

/// Refuses an inline payload of `len` bytes over [`MAX_INLINE_BYTES`] for the backend
/// `name` with [`Error::TooLarge`].
pub(crate) fn check_inline(len: usize, name: &str) -> Result<()> {
    if len > MAX_INLINE_BYTES {
        return Err(Error::TooLarge(format!(
            "the {name} backend stores inline objects of at most {MAX_INLINE_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Reads a whole body; a failing stream becomes [`Error::ClientStream`]. With `expected`,
/// the body must be exactly that long ([`Error::InvalidRequest`] otherwise; reading stops
/// at the first chunk that goes past it).
#[cfg(any(test, feature = "testing"))]
pub(crate) async fn read_body(
    mut body: stream::PayloadStream,
    expected: Option<u64>,
) -> Result<Bytes> {
    use futures::StreamExt as _;

    let mut out = bytes::BytesMut::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.map_err(Error::body)?);
        if let Some(n) = expected
            && out.len() as u64 > n
        {
            return Err(Error::InvalidRequest(format!(
                "the body is longer than its content length of {n} bytes"
            )));
        }
    }
    if let Some(n) = expected
        && out.len() as u64 != n
    {
        return Err(Error::InvalidRequest(format!(
            "the body has {} bytes but its content length is {n}",
            out.len()
        )));
    }
    Ok(out.freeze())
}
