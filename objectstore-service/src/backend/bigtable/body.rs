//! Payload handling: reading a put's body within the size limit, and answering a GET
//! (whole object, range, or 416) from the stored bytes.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use objectstore_types::Metadata;
use objectstore_types::range::ByteRange;

use super::MAX_PUT_BYTES;
use crate::backend::GetResponse;
use crate::error::{Error, Result};
use crate::stream::{self, PayloadStream};

/// `metadata`-carrying response to a GET of `bytes` (see [`crate::backend::memory`]).
pub fn respond(metadata: Metadata, bytes: Bytes, range: Option<ByteRange>) -> GetResponse {
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

/// Reads a whole body of at most [`MAX_PUT_BYTES`]: a failing stream is
/// [`Error::ClientStream`], a longer one [`Error::TooLarge`].
pub async fn read_body(mut body: PayloadStream) -> Result<Bytes> {
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(Error::ClientStream)?;
        if out.len() + chunk.len() > MAX_PUT_BYTES {
            return Err(Error::TooLarge(format!(
                "the bigtable backend stores objects of at most {MAX_PUT_BYTES} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}
