//! Monotonic time for the rate limiters, injectable so that tests control it.
//!
//! Buckets never read `Instant::now()` themselves: they ask a [`Ticker`]. Production uses
//! [`SystemTicker`]; tests use a manual ticker (`tests/mod.rs`) and move time forward explicitly, so no test
//! sleeps or depends on scheduling. (Expiry deadlines use the wall clock of
//! `objectstore_service::clock` instead; rate limits must not jump with the wall clock.)

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Instant;

/// A source of monotonic time.
pub(crate) trait Ticker: Debug + Send + Sync + 'static {
    /// The current instant. Never goes backwards.
    fn now(&self) -> Instant;
}

/// A shared ticker handle.
pub(crate) type SharedTicker = Arc<dyn Ticker>;

/// The real monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SystemTicker;

impl Ticker for SystemTicker {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// The default ticker for production code.
pub(super) fn system() -> SharedTicker {
    Arc::new(SystemTicker)
}
