//! Request bodies generated on the fly.
//!
//! Invariant: no payload is ever materialized. Every byte sent comes from one process-wide
//! 1 MiB pattern buffer ([`pattern`]); a body of any length is a sequence of zero-copy
//! [`Bytes`] slices of it, produced one chunk at a time as hyper asks for them. The pattern
//! is pseudo-random (xorshift, fixed seed) so a server cannot shortcut it with run-length
//! tricks, and it is the same in every run.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// Length of the shared pattern buffer.
pub const PATTERN_LEN: usize = 1 << 20;

/// Largest chunk handed to hyper at once for streamed bodies.
pub const CHUNK_LEN: usize = 256 << 10;

/// The shared pattern buffer (created on first use).
pub fn pattern() -> &'static Bytes {
    static PATTERN: OnceLock<Bytes> = OnceLock::new();
    PATTERN.get_or_init(|| {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut buf = Vec::with_capacity(PATTERN_LEN);
        while buf.len() < PATTERN_LEN {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            buf.extend_from_slice(&state.to_le_bytes());
        }
        buf.truncate(PATTERN_LEN);
        Bytes::from(buf)
    })
}

/// A request body: nothing, a prepared buffer, or `len` pattern bytes streamed in chunks.
#[derive(Debug)]
pub enum ReqBody {
    /// No body.
    Empty,
    /// A buffer sent as one frame (small payloads, batch and JSON bodies).
    Full(Option<Bytes>),
    /// `remaining` pattern bytes, sent in chunks of at most [`CHUNK_LEN`].
    Pattern {
        /// Bytes still to send.
        remaining: u64,
        /// Offset of the next chunk in the pattern buffer.
        offset: usize,
    },
}

impl ReqBody {
    /// A body of `len` pattern bytes. Up to [`CHUNK_LEN`] it is one frame.
    pub fn pattern(len: u64) -> Self {
        match usize::try_from(len) {
            Ok(0) => Self::Empty,
            Ok(n) if n <= CHUNK_LEN => Self::Full(Some(pattern().slice(0..n))),
            _ => Self::Pattern {
                remaining: len,
                offset: 0,
            },
        }
    }

    /// A body holding `bytes`.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self::Full(Some(bytes.into()))
    }

    /// The exact length of the body.
    pub fn len(&self) -> u64 {
        match self {
            Self::Empty => 0,
            Self::Full(b) => b.as_ref().map_or(0, |b| b.len() as u64),
            Self::Pattern { remaining, .. } => *remaining,
        }
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let chunk = match this {
            Self::Empty => None,
            Self::Full(b) => b.take(),
            Self::Pattern { remaining, offset } => {
                if *remaining == 0 {
                    None
                } else {
                    let room = PATTERN_LEN - *offset;
                    let n = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(CHUNK_LEN)
                        .min(room);
                    let chunk = pattern().slice(*offset..*offset + n);
                    *offset = (*offset + n) % PATTERN_LEN;
                    *remaining -= n as u64;
                    Some(chunk)
                }
            }
        };
        Poll::Ready(chunk.map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len())
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    async fn total(body: ReqBody) -> (u64, usize) {
        let mut body = body;
        let mut n = 0u64;
        let mut frames = 0usize;
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            assert!(data.len() <= CHUNK_LEN);
            n += data.len() as u64;
            frames += 1;
        }
        (n, frames)
    }

    #[tokio::test]
    async fn pattern_bodies_have_exact_length() {
        for len in [
            0u64,
            1,
            1024,
            CHUNK_LEN as u64,
            CHUNK_LEN as u64 + 1,
            3 << 20,
        ] {
            let body = ReqBody::pattern(len);
            assert_eq!(body.size_hint().exact(), Some(len));
            let (n, frames) = total(body).await;
            assert_eq!(n, len);
            assert_eq!(frames as u64, len.div_ceil(CHUNK_LEN as u64));
        }
    }

    #[test]
    fn pattern_is_deterministic_and_not_constant() {
        let p = pattern();
        assert_eq!(p.len(), PATTERN_LEN);
        assert_ne!(p[0..8], p[8..16]);
    }
}
