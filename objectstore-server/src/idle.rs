//! Request-body timeouts: a request body that delivers no bytes for `http.body_timeout`, or
//! that arrives slower than `http.min_body_rate` bytes per second averaged over
//! `http.min_body_rate_window` ([`crate::body_rate`]), fails with an
//! [`io::ErrorKind::TimedOut`] error, so a stalled or trickling client cannot hold a
//! connection, a concurrency permit and a half-written revision forever.
//!
//! [`limit`] (applied by [`crate::middleware::envelope`]) wraps the body of every
//! object-route request that has one (object data, batch, multipart parts and completes,
//! resumable chunks, `PATCH` documents).
//!
//! **Invariants**
//!
//! * The idle timer restarts on every frame: a slow but steady body is never cut off by it,
//!   only one that is silent for the whole timeout. It runs only while the body is being
//!   read.
//! * The rate is measured on waiting time only (see [`crate::body_rate`]): time the server
//!   spends elsewhere between two reads never counts against the client.
//! * After a timeout error the body ends (the inner body is not polled again); each cut-off
//!   is counted once in [`crate::metrics::BODY_CUTOFFS`] by reason (`idle`, `min_rate`).
//! * A zero timeout, a zero rate or a zero window disables its check; with both disabled the
//!   body is not wrapped at all.
//!
//! [`crate::extract::payload`] keeps the error's kind, the storage engine reports it as a
//! client stream error, and [`crate::error::service_status`] maps a timed-out client stream
//! to `408 Request Timeout`; bodies buffered by extractors (JSON documents) fail with 400.
//! The engine discards a write whose stream failed, so nothing of such a body is stored.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::body_rate::RateMeter;

/// What a request body must keep up with (from `http.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// Longest silence (`http.body_timeout`); zero: unlimited.
    pub idle: Duration,
    /// Minimum bytes per second (`http.min_body_rate`); zero: unlimited.
    pub min_rate: u64,
    /// Averaging window and grace period of the rate (`http.min_body_rate_window`).
    pub window: Duration,
}

impl BodyLimits {
    /// The limits of the `http` configuration section.
    pub fn from_config(http: &crate::config::HttpConfig) -> Self {
        Self {
            idle: http.body_timeout,
            min_rate: http.min_body_rate,
            window: http.min_body_rate_window,
        }
    }
}

/// `body`, failing once it is idle for `timeout` (zero: never).
#[cfg(test)]
fn idle_timeout(body: Body, timeout: Duration) -> Body {
    limit(
        body,
        BodyLimits {
            idle: timeout,
            min_rate: 0,
            window: Duration::ZERO,
        },
    )
}

/// `body`, failing once it is idle for `limits.idle` or slower than `limits.min_rate` over
/// `limits.window` (module docs).
pub(crate) fn limit(body: Body, limits: BodyLimits) -> Body {
    let rate = RateMeter::new(limits.min_rate, limits.window);
    if limits.idle.is_zero() && rate.is_none() {
        return body;
    }
    Body::new(LimitedBody {
        inner: body,
        idle: limits.idle,
        rate,
        idle_from: None,
        waited: Duration::ZERO,
        waiting_since: None,
        sleep: None,
        done: false,
    })
}

/// Why a body was cut off (the `reason` label of [`crate::metrics::BODY_CUTOFFS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cutoff {
    Idle,
    MinRate,
}

struct LimitedBody {
    inner: Body,
    idle: Duration,
    rate: Option<RateMeter>,
    /// The idle timer's start: the first read, then every frame (the body may wait in a
    /// queue before anyone reads it).
    idle_from: Option<Instant>,
    /// Waiting time before the current wait (see [`crate::body_rate`]).
    waited: Duration,
    /// Start of the current wait: the last read that found nothing.
    waiting_since: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl LimitedBody {
    /// The earliest cut-off if nothing arrives from `now` on, when any check is enabled.
    fn next_cutoff(&self, now: Instant, idle_from: Instant) -> Option<(Instant, Cutoff)> {
        let idle = (!self.idle.is_zero()).then(|| (idle_from + self.idle, Cutoff::Idle));
        let rate = self.rate.as_ref().map(|meter| {
            let due = meter.deadline(self.waited);
            (now + (due - self.waited), Cutoff::MinRate)
        });
        match (idle, rate) {
            (Some(i), Some(r)) => Some(if r.0 < i.0 { r } else { i }),
            (one, other) => one.or(other),
        }
    }

    fn error(&self, cutoff: Cutoff) -> io::Error {
        let message = match (cutoff, &self.rate) {
            (Cutoff::MinRate, Some(meter)) => format!(
                "the request body arrived slower than {} bytes/s over {:?} (http.min_body_rate)",
                meter.rate(),
                meter.window()
            ),
            _ => format!(
                "the request body sent nothing for {:?} (http.body_timeout)",
                self.idle
            ),
        };
        io::Error::new(io::ErrorKind::TimedOut, message)
    }
}

impl http_body::Body for LimitedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let now = Instant::now();
        let idle_from = *self.idle_from.get_or_insert(now);
        if let Some(since) = self.waiting_since.take() {
            self.waited += now - since;
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(frame)) => {
                self.idle_from = Some(now);
                if let Ok(frame) = &frame
                    && let Some(data) = frame.data_ref()
                {
                    let (waited, len) = (self.waited, data.len() as u64);
                    if let Some(meter) = self.rate.as_mut() {
                        meter.record(waited, len);
                    }
                }
                Poll::Ready(Some(frame.map_err(into_io)))
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                self.waiting_since = Some(now);
                let Some((at, cutoff)) = self.next_cutoff(now, idle_from) else {
                    return Poll::Pending;
                };
                // A cut-off that is due now fails now: a timer set to "now" fires a tick
                // later, by when "now" (and with it a rate deadline) has moved on.
                if at > now {
                    let sleep = self
                        .sleep
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                    if sleep.deadline() != at {
                        sleep.as_mut().reset(at);
                    }
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                self.done = true;
                crate::metrics::record_body_cutoff(match cutoff {
                    Cutoff::Idle => "idle",
                    Cutoff::MinRate => "min_rate",
                });
                Poll::Ready(Some(Err(self.error(cutoff))))
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

    /// `count` chunks of `size` bytes, one every `every`.
    fn trickle(count: usize, size: usize, every: Duration) -> Body {
        let stream = futures::stream::unfold(0, move |i| async move {
            if i == count {
                return None;
            }
            tokio::time::sleep(every).await;
            Some((Ok::<_, io::Error>(Bytes::from(vec![b'x'; size])), i + 1))
        });
        Body::from_stream(stream)
    }

    fn rate_limits(min_rate: u64, idle: Duration) -> BodyLimits {
        BodyLimits {
            idle,
            min_rate,
            window: Duration::from_secs(30),
        }
    }

    /// Reads `body` to its end or first error: the bytes before it, and the error.
    async fn drain(body: Body) -> (usize, Option<io::Error>) {
        let mut stream = body.into_data_stream();
        let mut received = 0;
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => received += chunk.len(),
                Err(e) => {
                    assert!(stream.next().await.is_none(), "ends after the error");
                    return (received, Some(into_io(e)));
                }
            }
        }
        (received, None)
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_is_cut_off_after_the_window_although_never_idle() {
        // One byte a second for an hour: the idle timeout (30 s) never fires.
        let body = limit(
            trickle(3600, 1, Duration::from_secs(1)),
            rate_limits(1024, Duration::from_secs(30)),
        );
        let (received, error) = drain(body).await;
        let error = error.expect("the trickle was accepted to its end");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(error.to_string().contains("http.min_body_rate"), "{error}");
        // Cut within the window plus one slot of averaging, not after the hour.
        assert!((29..=34).contains(&received), "{received} bytes accepted");
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_applies_with_the_idle_timeout_disabled() {
        let body = limit(
            trickle(3600, 100, Duration::from_secs(5)),
            rate_limits(1024, Duration::ZERO),
        );
        let (received, error) = drain(body).await;
        assert_eq!(error.map(|e| e.kind()), Some(io::ErrorKind::TimedOut));
        assert!(received < 3600 * 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_above_the_rate_passes_over_many_windows() {
        // 2 KiB a second for 200 s against 1 KiB/s over 30 s.
        let body = limit(
            trickle(200, 2048, Duration::from_secs(1)),
            rate_limits(1024, Duration::from_secs(30)),
        );
        let (received, error) = drain(body).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(received, 200 * 2048);
    }

    #[tokio::test(start_paused = true)]
    async fn time_the_server_spends_elsewhere_does_not_count() {
        // Every byte is there when asked for, but the reader takes 10 s per chunk: 0.1 B/s
        // by the wall clock, no waiting for the client at all.
        let ready =
            futures::stream::iter((0..20).map(|_| Ok::<_, io::Error>(Bytes::from_static(b"x"))));
        let body = limit(
            Body::from_stream(ready),
            rate_limits(1024, Duration::from_secs(30)),
        );
        let mut stream = body.into_data_stream();
        let mut received = 0;
        while let Some(item) = stream.next().await {
            received += item.expect("cut off for the reader's slowness").len();
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        assert_eq!(received, 20);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_rate_disables_the_rate_check() {
        let body = limit(
            trickle(100, 1, Duration::from_secs(1)),
            rate_limits(0, Duration::from_secs(30)),
        );
        let (received, error) = drain(body).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(received, 100);
    }
}
