//! Monotonic time for the rate limiters, injectable so that tests control it.
//!
//! Buckets never read `Instant::now()` themselves: they ask a [`Ticker`]. Production uses
//! [`SystemTicker`]; tests use [`ManualTicker`] and move time forward explicitly, so no test
//! sleeps or depends on scheduling. (Expiry deadlines use the wall clock of
//! `objectstore_service::clock` instead; rate limits must not jump with the wall clock.)

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A source of monotonic time.
pub trait Ticker: Debug + Send + Sync + 'static {
    /// The current instant. Never goes backwards.
    fn now(&self) -> Instant;
}

/// A shared ticker handle.
pub type SharedTicker = Arc<dyn Ticker>;

/// The real monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemTicker;

impl Ticker for SystemTicker {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// The default ticker for production code.
pub fn system() -> SharedTicker {
    Arc::new(SystemTicker)
}

/// A ticker that only moves when told to.
#[derive(Debug)]
pub struct ManualTicker {
    origin: Instant,
    offset_nanos: AtomicU64,
}

impl ManualTicker {
    /// A manual ticker standing at the current real instant.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            origin: Instant::now(),
            offset_nanos: AtomicU64::new(0),
        })
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.offset_nanos.fetch_add(nanos, Ordering::SeqCst);
    }
}

impl Ticker for ManualTicker {
    fn now(&self) -> Instant {
        self.origin + Duration::from_nanos(self.offset_nanos.load(Ordering::SeqCst))
    }
}
