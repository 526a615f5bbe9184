//! Progress bars (bytes, rate, ETA on stderr) and an optional rate limit for transfers.
//!
//! A bar is drawn only when stderr is a terminal and `--quiet` is not given; otherwise a
//! hidden bar is used, so callers never branch on it. [`Metered`] wraps any reader to
//! advance the bar and honour the rate limit as bytes flow through it.

use std::io::{IsTerminal as _, Read};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar for `total` bytes (a spinner when unknown).
pub(crate) fn bar(total: Option<u64>, quiet: bool, what: &str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
            .with_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template("{msg} {spinner} {bytes} {binary_bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.set_message(what.to_owned());
    bar
}

/// A bandwidth cap shared by every reader of one transfer. The clock starts at the first
/// byte, so time spent before (initiation, listing) gives no burst credit.
#[derive(Debug, Clone)]
pub(crate) struct RateLimit(Option<Arc<Mutex<Budget>>>);

#[derive(Debug)]
struct Budget {
    start: Option<Instant>,
    bytes: u64,
    per_sec: u64,
}

impl RateLimit {
    /// `bytes_per_sec`, or unlimited.
    pub(crate) fn new(bytes_per_sec: Option<u64>) -> Self {
        Self(bytes_per_sec.filter(|r| *r > 0).map(|per_sec| {
            Arc::new(Mutex::new(Budget {
                start: None,
                bytes: 0,
                per_sec,
            }))
        }))
    }

    /// Accounts `n` bytes, sleeping until the average rate is back under the cap.
    pub(crate) fn consume(&self, n: u64) {
        let Some(budget) = &self.0 else { return };
        let wait = {
            let Ok(mut b) = budget.lock() else { return };
            let start = *b.start.get_or_insert_with(Instant::now);
            b.bytes += n;
            let due = Duration::from_secs_f64(b.bytes as f64 / b.per_sec as f64);
            due.saturating_sub(start.elapsed())
        };
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// A reader that advances a progress bar and honours a rate limit.
pub(crate) struct Metered<R> {
    inner: R,
    bar: ProgressBar,
    limit: RateLimit,
}

impl<R> Metered<R> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: R, bar: ProgressBar, limit: RateLimit) -> Self {
        Self { inner, bar, limit }
    }
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Small reads keep a rate limit smooth.
        let max = if self.limit.0.is_some() {
            buf.len().min(16 * 1024)
        } else {
            buf.len()
        };
        let n = self.inner.read(&mut buf[..max])?;
        self.limit.consume(n as u64);
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// Counts bytes read through it (shared with the request body, which owns the reader).
#[derive(Clone, Default)]
pub(crate) struct Counter(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Counter {
    /// Wraps `inner`, counting what is read through it.
    pub(crate) fn wrap<R: Read>(&self, inner: R) -> Counted<R> {
        Counted {
            inner,
            count: self.clone(),
        }
    }

    /// Bytes counted so far.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A reader counted by a [`Counter`].
pub(crate) struct Counted<R> {
    inner: R,
    count: Counter,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .0
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}
