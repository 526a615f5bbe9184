//! Response bodies streamed from the storage engine.
//!
//! [`stream_body`] turns a [`PayloadStream`] into a response body. When the length is known
//! the body reports it exactly, so the response carries `content-length` instead of chunked
//! encoding; if the stream then ends early or runs long, the connection is aborted rather
//! than delivering a corrupt object.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use futures::Stream;
use http_body::{Frame, SizeHint};
use objectstore_service::stream::PayloadStream;

/// A response body over `stream`, of exactly `len` bytes when given.
pub(crate) fn stream_body(stream: PayloadStream, len: Option<u64>) -> Body {
    Body::new(PayloadBody {
        stream,
        remaining: len,
    })
}

struct PayloadBody {
    stream: PayloadStream,
    /// Bytes still to come, when known.
    remaining: Option<u64>,
}

impl http_body::Body for PayloadBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.remaining == Some(0) {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.stream).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => match self.remaining {
                Some(left) => Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("object stream ended {left} bytes early"),
                )))),
                None => Poll::Ready(None),
            },
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Some(Ok(chunk))) => {
                let n = chunk.len() as u64;
                if let Some(left) = self.remaining {
                    if n > left {
                        return Poll::Ready(Some(Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "object stream is longer than its recorded size",
                        ))));
                    }
                    self.remaining = Some(left - n);
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
