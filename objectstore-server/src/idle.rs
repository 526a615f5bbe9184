//! Request-body idle timeout: a request body that delivers no bytes for
//! `http.body_timeout` fails with [`io::ErrorKind::TimedOut`], so a stalled or trickling
//! client cannot hold a connection, a concurrency permit and a half-written revision
//! forever.
//!
//! **Invariants**
//!
//! * The timer restarts on every chunk: a slow but steady body is never cut off, only a
//!   body that is silent for the whole timeout.
//! * After the timeout error the stream ends (no further polling of the inner body).
//! * A zero timeout disables the check.
//!
//! The storage engine reports the error as a client stream error; [`crate::error`] maps a
//! timed-out client stream to `408 Request Timeout`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use objectstore_service::stream::PayloadStream;
use tokio::time::{Instant, Sleep};

/// `stream`, failing once it is idle for `timeout` (zero: never).
pub fn idle_timeout(stream: PayloadStream, timeout: Duration) -> PayloadStream {
    if timeout.is_zero() {
        return stream;
    }
    IdleTimeout {
        inner: stream,
        timeout,
        sleep: Box::pin(tokio::time::sleep(timeout)),
        done: false,
    }
    .boxed()
}

struct IdleTimeout {
    inner: PayloadStream,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
    done: bool,
}

impl Stream for IdleTimeout {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(item)) => {
                let deadline = Instant::now() + self.timeout;
                self.sleep.as_mut().reset(deadline);
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.done = true;
                    Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the request body sent nothing for {:?} (http.body_timeout)",
                            self.timeout
                        ),
                    ))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_silent_body_times_out_and_a_steady_one_does_not() {
        let timeout = Duration::from_secs(10);
        // Chunks every 9 s: never idle for 10 s.
        let steady = futures::stream::unfold(0u8, |i| async move {
            if i == 5 {
                return None;
            }
            tokio::time::sleep(Duration::from_secs(9)).await;
            Some((Ok(Bytes::from(vec![i])), i + 1))
        })
        .boxed();
        let items: Vec<_> = idle_timeout(steady, timeout).collect().await;
        assert_eq!(items.len(), 5);
        assert!(items.iter().all(Result::is_ok));

        // One chunk, then silence.
        let stalled = futures::stream::once(async { Ok(Bytes::from_static(b"x")) })
            .chain(futures::stream::pending())
            .boxed();
        let mut stream = idle_timeout(stalled, timeout);
        assert_eq!(stream.next().await.unwrap().unwrap(), "x");
        let error = stream.next().await.unwrap().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(stream.next().await.is_none(), "ends after the error");
    }

    #[tokio::test(start_paused = true)]
    async fn zero_disables_the_timeout() {
        let slow = futures::stream::once(async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(Bytes::from_static(b"late"))
        })
        .boxed();
        let items: Vec<_> = idle_timeout(slow, Duration::ZERO).collect().await;
        assert_eq!(items.len(), 1);
        assert!(items[0].is_ok());
    }
}
