//! Payload streams: how bytes move between the HTTP layer and the backends.
//!
//! **Invariant:** a [`PayloadStream`] is `'static` and `Send`, so a storage operation can run
//! in its own task and outlive the request that started it. An `Err` item means the producer
//! (usually the client's request body) failed; consumers must not commit anything after one.

use std::io;

use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, StreamExt};

/// A stream of payload chunks.
pub type PayloadStream = BoxStream<'static, io::Result<Bytes>>;

/// A stream yielding `bytes` as one chunk.
pub fn single(bytes: impl Into<Bytes>) -> PayloadStream {
    stream::once(futures::future::ready(Ok(bytes.into()))).boxed()
}

/// A stream yielding nothing.
pub fn empty() -> PayloadStream {
    stream::empty().boxed()
}

/// Reads a whole stream into memory. For tests and small, bounded payloads only.
pub async fn read_to_vec(mut s: PayloadStream) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// Reads a stream into memory, failing with `InvalidData` once it exceeds `limit` bytes.
pub async fn read_bounded(mut s: PayloadStream, limit: usize) -> io::Result<Bytes> {
    let mut out = BytesMut::new();
    while let Some(chunk) = s.next().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("payload exceeds {limit} bytes"),
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}
