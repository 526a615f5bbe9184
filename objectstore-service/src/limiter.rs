//! The storage service's concurrency limiter: backpressure for backend work
//! (docs/http-api.md §12.5).
//!
//! Every storage operation holds one [`Permit`] while it touches a backend. Permits come from
//! one pool of `max_concurrency`; when the pool is empty an operation may wait, up to
//! `concurrency_timeout`, but only while fewer than `concurrency_queue` operations are
//! already waiting. Anything else is refused at once with [`Error::Overloaded`] (HTTP 429).
//!
//! Batch operations take *bulk* permits ([`ConcurrencyLimiter::acquire_bulk`]): a bulk permit
//! is a permit of the main pool **plus** one of a second pool of
//! `ceil(max_concurrency × bulk_concurrency_pct / 100)` (pct clamped to `1..=100`, at least
//! one), so batches can never take more than their share of the backend and single requests
//! always keep the rest. A bulk acquisition waits up to `concurrency_timeout` (it does not
//! count against `concurrency_queue`: the batch window already bounds how many ops of one
//! batch wait).
//!
//! **Invariants**
//!
//! * At most `max_concurrency` permits exist at once; at most the bulk limit of them are bulk.
//! * At most `concurrency_queue` single operations wait at once; a waiter gives up after
//!   `concurrency_timeout` (and a cancelled waiter leaves the queue at once).
//! * `max_concurrency: 0` refuses every acquisition immediately, bulk included.
//! * A permit is released when dropped, whatever holds it (a finished task, a panicked task
//!   being unwound, a body stream that ended or was dropped).
//! * Deadlock freedom: a bulk acquisition takes the bulk pool first and the main pool second;
//!   nothing holds a main permit while waiting for a bulk one.
//!
//! The gauges [`ConcurrencyLimiter::running`] and [`ConcurrencyLimiter::limit`] are what the
//! server reports as `tasks_running` / `tasks_limit`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::error::{Error, Result};

/// Limits of the limiter, taken from [`crate::service::ServiceConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterConfig {
    /// Permits in total.
    pub max_concurrency: usize,
    /// Single operations allowed to wait for a permit.
    pub concurrency_queue: usize,
    /// How long a waiting operation (single or bulk) waits before giving up.
    pub concurrency_timeout: Duration,
    /// Share of `max_concurrency`, in percent, that bulk permits may hold.
    pub bulk_concurrency_pct: u8,
}

/// The bulk limit for a configuration: `ceil(max × pct / 100)` with pct clamped to
/// `1..=100`, at least 1.
///
/// ```
/// use objectstore_service::limiter::bulk_limit;
/// assert_eq!(bulk_limit(500, 60), 300);
/// assert_eq!(bulk_limit(10, 15), 2); // 1.5 rounded up
/// assert_eq!(bulk_limit(10, 0), 1); // pct clamped to 1
/// assert_eq!(bulk_limit(10, 200), 10); // pct clamped to 100
/// assert_eq!(bulk_limit(0, 60), 1); // at least one (the main pool still refuses)
/// ```
pub fn bulk_limit(max_concurrency: usize, pct: u8) -> usize {
    let pct = usize::from(pct.clamp(1, 100));
    max_concurrency.saturating_mul(pct).div_ceil(100).max(1)
}

/// Hands out [`Permit`]s. Cheap to clone; clones share the pools.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimiter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    main: Arc<Semaphore>,
    bulk: Arc<Semaphore>,
    limit: usize,
    bulk_limit: usize,
    queue_limit: usize,
    timeout: Duration,
    /// Single operations currently waiting for a main permit.
    queued: AtomicUsize,
}

/// The right to run one operation against the backend. Released on drop.
#[derive(Debug)]
pub struct Permit {
    // Field order is drop order: the main permit goes back before the bulk one, so a bulk
    // waiter woken by the bulk pool finds the main permit already available.
    _main: OwnedSemaphorePermit,
    _bulk: Option<OwnedSemaphorePermit>,
}

impl Permit {
    /// Whether this is a bulk (batch) permit.
    pub fn is_bulk(&self) -> bool {
        self._bulk.is_some()
    }
}

/// Leaves the queue when a waiting acquisition ends, however it ends (also when cancelled).
struct QueueSlot<'a>(&'a AtomicUsize);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ConcurrencyLimiter {
    /// A limiter with empty (all free) pools.
    pub fn new(config: LimiterConfig) -> Self {
        let limit = config.max_concurrency.min(Semaphore::MAX_PERMITS);
        let bulk_limit = bulk_limit(limit, config.bulk_concurrency_pct);
        Self {
            inner: Arc::new(Inner {
                main: Arc::new(Semaphore::new(limit)),
                bulk: Arc::new(Semaphore::new(bulk_limit)),
                limit,
                bulk_limit,
                queue_limit: config.concurrency_queue,
                timeout: config.concurrency_timeout,
                queued: AtomicUsize::new(0),
            }),
        }
    }

    /// A permit for a single operation: at once if one is free; else, if fewer than
    /// `concurrency_queue` operations wait, after waiting at most `concurrency_timeout`;
    /// else (or on timeout) [`Error::Overloaded`].
    pub async fn acquire(&self) -> Result<Permit> {
        let inner = &*self.inner;
        if inner.limit == 0 {
            return Err(Error::Overloaded);
        }
        if let Ok(main) = inner.main.clone().try_acquire_owned() {
            return Ok(Permit {
                _main: main,
                _bulk: None,
            });
        }
        let admitted = inner
            .queued
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| {
                (q < inner.queue_limit).then_some(q + 1)
            })
            .is_ok();
        if !admitted {
            return Err(Error::Overloaded);
        }
        let _slot = QueueSlot(&inner.queued);
        let main = acquire_until(&inner.main, Instant::now() + inner.timeout).await?;
        Ok(Permit {
            _main: main,
            _bulk: None,
        })
    }

    /// A bulk permit for one batch operation: waits at most `concurrency_timeout` for both
    /// a bulk and a main permit, else [`Error::Overloaded`].
    pub async fn acquire_bulk(&self) -> Result<Permit> {
        let inner = &*self.inner;
        if inner.limit == 0 {
            return Err(Error::Overloaded);
        }
        let deadline = Instant::now() + inner.timeout;
        let bulk = acquire_until(&inner.bulk, deadline).await?;
        let main = acquire_until(&inner.main, deadline).await?;
        Ok(Permit {
            _main: main,
            _bulk: Some(bulk),
        })
    }

    /// Permits currently held (gauge `tasks_running`).
    pub fn running(&self) -> usize {
        self.inner.limit - self.inner.main.available_permits()
    }

    /// Permits in total (gauge `tasks_limit`, = `max_concurrency`).
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Bulk permits currently held.
    pub fn bulk_running(&self) -> usize {
        self.inner.bulk_limit - self.inner.bulk.available_permits()
    }

    /// Bulk permits in total.
    pub fn bulk_limit(&self) -> usize {
        self.inner.bulk_limit
    }

    /// Single operations currently waiting for a permit.
    pub fn queued(&self) -> usize {
        self.inner.queued.load(Ordering::SeqCst)
    }
}

/// Takes a permit of `pool`, at once or by `deadline`.
async fn acquire_until(pool: &Arc<Semaphore>, deadline: Instant) -> Result<OwnedSemaphorePermit> {
    if let Ok(permit) = pool.clone().try_acquire_owned() {
        return Ok(permit);
    }
    match tokio::time::timeout_at(deadline, pool.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        // Timed out, or the pool was closed (never happens: we never close it).
        Ok(Err(_)) | Err(_) => Err(Error::Overloaded),
    }
}

#[cfg(test)]
mod tests;
