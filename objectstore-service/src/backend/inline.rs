//! Payload helpers of the backends that keep an object's bytes in one value (memory,
//! PostgreSQL, Bigtable): reading a put's body within a size limit, and answering a GET
//! (whole object, range, or 416) from the stored bytes.
//!
//! Invariant: a body is never buffered beyond its backend's limit; the limit check runs
//! before each chunk is copied.

use bytes::Bytes;
use objectstore_types::Metadata;
use objectstore_types::range::ByteRange;

use crate::backend::GetResponse;
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

/// Reads a whole body of at most `max` bytes for the backend `name`: a failing stream is
/// [`crate::Error::ClientStream`], a longer one [`crate::Error::TooLarge`].
#[cfg(any(feature = "postgres", feature = "bigtable"))]
pub(crate) async fn read_body(
    mut body: stream::PayloadStream,
    max: usize,
    name: &str,
) -> crate::error::Result<Bytes> {
    use crate::error::Error;
    use futures::StreamExt as _;

    let mut out = bytes::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(Error::ClientStream)?;
        if out.len() + chunk.len() > max {
            return Err(Error::TooLarge(format!(
                "the {name} backend stores objects of at most {max} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}
