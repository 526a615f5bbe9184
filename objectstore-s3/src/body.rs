//! Bodies between s3s, the storage engine and the connection.
//!
//! * [`payload`]: an s3s request body as the engine's [`PayloadStream`]; s3s's stream errors
//!   become a [`BodyError`] inside the `io::Error`, so the engine's `ClientStream` error still
//!   says what the client did wrong.
//! * [`blob`]: an engine body as the `Sync` stream s3s wants for a response, with its exact
//!   length, without buffering.
//! * [`IdleBody`]: a request body that fails once it sent nothing for `http.body_timeout`.
//! * [`Outgoing`]: a response body, either s3s's or, for the plain reads of
//!   [`crate::fast`], the engine's stream itself with its exact length.
//!
//! **Invariant:** nothing here buffers: every chunk is passed on as it arrives.

use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http_body::{Frame, SizeHint};
use objectstore_service::stream::PayloadStream;
use s3s::StdError;
use s3s::dto::StreamingBlob;
use s3s::stream::{ByteStream, RemainingLength};

use crate::errors::BodyError;

/// An s3s request body as an engine payload stream.
pub fn payload(blob: StreamingBlob) -> PayloadStream {
    blob.map(|item| item.map_err(|e| BodyError::classify(e.as_ref()).into_io()))
        .boxed()
}

/// An engine body of `len` bytes as an s3s response body.
pub fn blob(stream: PayloadStream, len: u64) -> StreamingBlob {
    StreamingBlob::new(SyncPayload {
        inner: Mutex::new(stream),
        remaining: len,
    })
}

/// Makes a `Send` payload stream `Sync` (s3s requires it) without locking on the hot path:
/// polling goes through `Mutex::get_mut`, which needs no lock.
struct SyncPayload {
    inner: Mutex<PayloadStream>,
    remaining: u64,
}

impl Stream for SyncPayload {
    type Item = Result<Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let inner = this.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        match ready!(inner.poll_next_unpin(cx)) {
            Some(Ok(chunk)) => {
                this.remaining = this.remaining.saturating_sub(chunk.len() as u64);
                Poll::Ready(Some(Ok(chunk)))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(Box::new(e)))),
            None => Poll::Ready(None),
        }
    }
}

impl ByteStream for SyncPayload {
    fn remaining_length(&self) -> RemainingLength {
        usize::try_from(self.remaining)
            .map(RemainingLength::new_exact)
            .unwrap_or_else(|_| RemainingLength::unknown())
    }
}

/// A response body: s3s's, or an engine stream of `remaining` bytes (module docs).
pub enum Outgoing {
    /// Written by s3s (its XML, or a body s3s wrapped).
    S3s(s3s::Body),
    /// The engine's stream, exactly `remaining` more bytes.
    Engine {
        /// The bytes.
        stream: PayloadStream,
        /// How many are still to come.
        remaining: u64,
    },
}

impl http_body::Body for Outgoing {
    type Data = Bytes;
    type Error = StdError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StdError>>> {
        match self.get_mut() {
            Self::S3s(body) => Pin::new(body).poll_frame(cx),
            Self::Engine { stream, remaining } => match ready!(stream.poll_next_unpin(cx)) {
                Some(Ok(chunk)) => {
                    *remaining = remaining.saturating_sub(chunk.len() as u64);
                    Poll::Ready(Some(Ok(Frame::data(chunk))))
                }
                Some(Err(e)) => Poll::Ready(Some(Err(Box::new(e)))),
                None => Poll::Ready(None),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::S3s(body) => http_body::Body::is_end_stream(body),
            // Polled to its end even when every byte was counted: the engine's stream checks
            // what it read (CRC-32C) when it ends.
            Self::Engine { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::S3s(body) => http_body::Body::size_hint(body),
            Self::Engine { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}

/// A request body that fails with [`BodyError::Idle`] when no frame arrives for `timeout`
/// (`None`: never).
pub struct IdleBody<B> {
    inner: B,
    timeout: Option<Duration>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> IdleBody<B> {
    /// Wraps `inner`; a zero `timeout` disables the check.
    pub fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            timeout: (!timeout.is_zero()).then_some(timeout),
            sleep: None,
        }
    }
}

impl<B> http_body::Body for IdleBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<StdError>,
{
    type Data = Bytes;
    type Error = StdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StdError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let Some(timeout) = this.timeout else {
                    return Poll::Pending;
                };
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                ready!(sleep.as_mut().poll(cx));
                this.timeout = None;
                Poll::Ready(Some(Err(Box::new(BodyError::Idle(timeout)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    #[tokio::test]
    async fn blob_keeps_bytes_and_length() {
        let stream = futures::stream::iter(vec![Ok(Bytes::from("ab")), Ok(Bytes::from("cde"))]);
        let blob = blob(stream.boxed(), 5);
        assert_eq!(blob.remaining_length().exact(), Some(5));
        let back = objectstore_service::stream::read_to_vec(payload(blob))
            .await
            .unwrap();
        assert_eq!(back, b"abcde");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_body_fails_as_idle() {
        let (_tx, rx) = futures::channel::mpsc::channel::<Result<Frame<Bytes>, StdError>>(1);
        let silent = http_body_util::StreamBody::new(rx);
        let mut body = IdleBody::new(silent, Duration::from_secs(5));
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(matches!(
            err.downcast_ref::<BodyError>(),
            Some(BodyError::Idle(_))
        ));
    }
}
