//! Bounds how far the multipart parser reads ahead of what it has parsed.
//!
//! `multer` pulls from its input stream in a loop until the stream is pending, buffering
//! everything it gets. Over a fast connection that loop could buffer far more than the part
//! being parsed. [`Intake`] wraps the request body so that:
//!
//! * no item is larger than [`SLICE`] bytes (larger chunks are split, without copying);
//! * after [`SLICE`] bytes in one burst it reports "pending" (waking itself at once), so a
//!   parser step, which pulls at most twice, buffers at most two slices beyond what it
//!   consumes;
//! * while the parser looks for the next part's headers ([`HeaderPhase::start`] until
//!   [`HeaderPhase::end`]), at most [`HEADER_PHASE_LIMIT`] bytes are delivered; more fails
//!   the stream, which the parser reports as a `400` part. Without this, a part whose header
//!   block never ends would be buffered up to the whole-body limit.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;

/// Largest item handed to the parser, and the most it gets per burst.
pub(super) const SLICE: usize = 64 * 1024;
/// Most bytes read while looking for one part's delimiter and header block (the read-ahead
/// into its data included).
pub(super) const HEADER_PHASE_LIMIT: u64 = 1024 * 1024;

/// Marks the phase in which the parser reads part headers. Shared with the [`Intake`].
#[derive(Debug, Clone)]
pub(super) struct HeaderPhase(Arc<AtomicU64>);

/// Counter value outside a header phase.
const OUTSIDE: u64 = u64::MAX;

impl HeaderPhase {
    /// Starts counting bytes towards [`HEADER_PHASE_LIMIT`].
    pub(super) fn start(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    /// Stops counting (the part's data may be as large as the body).
    pub(super) fn end(&self) {
        self.0.store(OUTSIDE, Ordering::Relaxed);
    }

    /// Counts `n` bytes; `false` once the phase has read more than the limit.
    fn admit(&self, n: usize) -> bool {
        let previous = self.0.load(Ordering::Relaxed);
        if previous == OUTSIDE {
            return true;
        }
        let now = previous.saturating_add(n as u64);
        self.0.store(now, Ordering::Relaxed);
        now <= HEADER_PHASE_LIMIT
    }
}

/// The wrapped request body. See the module docs.
pub(super) struct Intake<S> {
    inner: S,
    pending: Bytes,
    burst: usize,
    phase: HeaderPhase,
    failed: bool,
}

impl<S> Intake<S> {
    /// Wraps `inner`; the returned phase handle starts outside a header phase.
    pub(super) fn new(inner: S) -> (Self, HeaderPhase) {
        let phase = HeaderPhase(Arc::new(AtomicU64::new(OUTSIDE)));
        let intake = Self {
            inner,
            pending: Bytes::new(),
            burst: 0,
            phase: phase.clone(),
            failed: false,
        };
        (intake, phase)
    }
}

impl<S, E> Stream for Intake<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        if this.burst >= SLICE {
            this.burst = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if this.pending.is_empty() {
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => this.pending = chunk,
                Poll::Ready(Some(Err(e))) => {
                    this.failed = true;
                    return Poll::Ready(Some(Err(io::Error::other(e))));
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => {
                    this.burst = 0;
                    return Poll::Pending;
                }
            }
        }
        let take = this.pending.len().min(SLICE - this.burst);
        let slice = this.pending.split_to(take);
        this.burst += take;
        if !this.phase.admit(take) {
            this.failed = true;
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("part delimiter and headers exceed {HEADER_PHASE_LIMIT} bytes"),
            ))));
        }
        Poll::Ready(Some(Ok(slice)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    use futures::stream;

    use super::*;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    type Chunks = stream::Iter<std::vec::IntoIter<Result<Bytes, io::Error>>>;

    fn wrap(chunks: Vec<Bytes>) -> (Intake<Chunks>, HeaderPhase) {
        Intake::new(stream::iter(chunks.into_iter().map(Ok).collect::<Vec<_>>()))
    }

    /// Polls until the end, returning the items and how often it was pending.
    fn drain(intake: &mut Intake<Chunks>) -> (Vec<io::Result<Bytes>>, usize, usize) {
        let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let std_waker = std::task::Waker::from(waker.clone());
        let mut cx = Context::from_waker(&std_waker);
        let (mut items, mut pending) = (Vec::new(), 0);
        loop {
            match Pin::new(&mut *intake).poll_next(&mut cx) {
                Poll::Ready(Some(item)) => items.push(item),
                Poll::Ready(None) => break,
                Poll::Pending => pending += 1,
            }
        }
        (items, pending, waker.0.load(Ordering::Relaxed))
    }

    #[test]
    fn splits_large_chunks_and_pauses_after_each_burst() {
        let data: Vec<u8> = (0..3 * SLICE + 10).map(|i| i as u8).collect();
        let (mut intake, _) = wrap(vec![Bytes::from(data.clone()), Bytes::from_static(b"x")]);
        let (items, pending, wakes) = drain(&mut intake);
        let items: Vec<Bytes> = items.into_iter().map(Result::unwrap).collect();
        assert!(items.iter().all(|b| b.len() <= SLICE));
        let joined: Vec<u8> = items.concat();
        assert_eq!(joined[..data.len()], data[..]);
        assert_eq!(&joined[data.len()..], b"x");
        // One pause after each full slice, each with a self-wake so progress continues.
        assert_eq!(pending, 3);
        assert_eq!(wakes, 3);
    }

    #[test]
    fn header_phase_is_limited_and_data_phase_is_not() {
        let big = Bytes::from(vec![0u8; HEADER_PHASE_LIMIT as usize + 1]);

        let (mut intake, _) = wrap(vec![big.clone()]);
        let (items, _, _) = drain(&mut intake);
        assert!(items.iter().all(Result::is_ok));

        let (mut intake, phase) = wrap(vec![big]);
        phase.start();
        let (items, _, _) = drain(&mut intake);
        let last = items.last().unwrap();
        assert_eq!(
            last.as_ref().unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(items.iter().filter(|i| i.is_err()).count(), 1);
        let delivered: usize = items
            .iter()
            .filter_map(|i| i.as_ref().ok())
            .map(Bytes::len)
            .sum();
        assert!(delivered as u64 <= HEADER_PHASE_LIMIT);
    }
}
