//! Bodies between HTTP and the storage engine, each one wrapper that also charges its
//! chunks to a bandwidth [`Meter`].
//!
//! [`request_payload`] turns a request body into the [`PayloadStream`] an insert stores:
//! its data frames (trailers are skipped), body errors as I/O errors
//! ([`crate::idle::into_io`]).
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
use http_body::{Body as _, Frame, SizeHint};
use objectstore_service::stream::PayloadStream;

use crate::admission::Meter;

/// The data of a request body as a payload stream, charged to `meter`.
pub(crate) fn request_payload(body: Body, meter: Meter) -> PayloadStream {
    Box::pin(RequestPayload { body, meter })
}

struct RequestPayload {
    body: Body,
    meter: Meter,
}

impl Stream for RequestPayload {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let polled = match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(crate::idle::into_io(e)))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => Poll::Ready(Some(Ok(data))),
                    // Trailers carry no payload.
                    Err(_) => continue,
                },
            };
            self.meter.charge_polled(&polled);
            return polled;
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let hint = http_body::Body::size_hint(&self.body);
        let lower = usize::try_from(hint.lower()).unwrap_or_default();
        let upper = hint.upper().and_then(|v| usize::try_from(v).ok());
        (lower, upper)
    }
}

/// A response body over `stream`, of exactly `len` bytes when given, charged to `meter`.
pub(crate) fn stream_body(stream: PayloadStream, len: Option<u64>, meter: Meter) -> Body {
    Body::new(PayloadBody {
        stream,
        remaining: len,
        meter,
    })
}

struct PayloadBody {
    stream: PayloadStream,
    /// Bytes still to come, when known.
    remaining: Option<u64>,
    meter: Meter,
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
        let polled = Pin::new(&mut self.stream).poll_next(cx);
        self.meter.charge_polled(&polled);
        match polled {
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
