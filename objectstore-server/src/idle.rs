//! Request-body idle timeout: a request body that delivers no bytes for
//! `http.body_timeout` fails with an [`io::ErrorKind::TimedOut`] error, so a stalled or
//! trickling client cannot hold a connection, a concurrency permit and a half-written
//! revision forever.
//!
//! [`idle_timeout`] (applied by [`crate::middleware::envelope`]) wraps the body of every
//! object-route request that has one (object data, batch, multipart parts and completes,
//! resumable chunks, `PATCH` documents).
//!
//! **Invariants**
//!
//! * The timer restarts on every frame: a slow but steady body is never cut off, only one
//!   that is silent for the whole timeout. It runs only while the body is being read.
//! * After the timeout error the body ends (the inner body is not polled again).
//! * A zero timeout disables the check.
//!
//! [`crate::extract::payload`] keeps the error's kind, the storage engine reports it as a
//! client stream error, and [`crate::error::service_status`] maps a timed-out client stream
//! to `408 Request Timeout`; bodies buffered by extractors (JSON documents) fail with 400.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// `body`, failing once it is idle for `timeout` (zero: never).
pub(crate) fn idle_timeout(body: Body, timeout: Duration) -> Body {
    if timeout.is_zero() {
        return body;
    }
    Body::new(IdleBody {
        inner: body,
        timeout,
        sleep: None,
        done: false,
    })
}

struct IdleBody {
    inner: Body,
    timeout: Duration,
    /// Armed at the first poll (the body may wait in a queue before anyone reads it).
    sleep: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl http_body::Body for IdleBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(frame)) => {
                let deadline = Instant::now() + self.timeout;
                if let Some(sleep) = self.sleep.as_mut() {
                    sleep.as_mut().reset(deadline);
                }
                Poll::Ready(Some(frame.map_err(into_io)))
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.done = true;
                        Poll::Ready(Some(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!(
                                "the request body sent nothing for {timeout:?} (http.body_timeout)"
                            ),
                        ))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A body error as an I/O error, keeping the kind of an I/O error inside it (such as this
/// module's timeout).
pub(crate) fn into_io(error: axum::Error) -> io::Error {
    match error.into_inner().downcast::<io::Error>() {
        Ok(io) => *io,
        Err(other) => io::Error::other(other),
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn collect(body: Body) -> impl Future<Output = Vec<Result<Bytes, io::Error>>> {
        body.into_data_stream()
            .map(|r| r.map_err(into_io))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_body_times_out_and_a_steady_one_does_not() {
        let timeout = Duration::from_secs(10);
        // Chunks every 9 s: never idle for 10 s.
        let steady = futures::stream::unfold(0u8, |i| async move {
            if i == 5 {
                return None;
            }
            tokio::time::sleep(Duration::from_secs(9)).await;
            Some((Ok::<_, io::Error>(Bytes::from(vec![i])), i + 1))
        });
        let items = collect(idle_timeout(Body::from_stream(steady), timeout)).await;
        assert_eq!(items.len(), 5);
        assert!(items.iter().all(Result::is_ok));

        // One chunk, then silence.
        let stalled = futures::stream::once(async { Ok::<_, io::Error>(Bytes::from_static(b"x")) })
            .chain(futures::stream::pending());
        let mut stream = idle_timeout(Body::from_stream(stalled), timeout).into_data_stream();
        assert_eq!(stream.next().await.unwrap().unwrap(), "x");
        let error = into_io(stream.next().await.unwrap().unwrap_err());
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(stream.next().await.is_none(), "ends after the error");
    }

    #[tokio::test(start_paused = true)]
    async fn zero_disables_the_timeout() {
        let slow = futures::stream::once(async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, io::Error>(Bytes::from_static(b"late"))
        });
        let items = collect(idle_timeout(Body::from_stream(slow), Duration::ZERO)).await;
        assert_eq!(items.len(), 1);
        assert!(items[0].is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_starts_when_the_body_is_first_read() {
        let body = idle_timeout(Body::from("ready"), Duration::from_secs(1));
        tokio::time::sleep(Duration::from_secs(5)).await;
        let items = collect(body).await;
        assert_eq!(items.len(), 1);
        assert!(items[0].is_ok());
    }
}
