//! The bucket arithmetic shared by the throughput and bandwidth limiters, and the bounded
//! map that keeps per-usecase / per-scopes buckets.
//!
//! * [`TokenBucket`]: capacity `rate + burst`, starts full, refills `rate` tokens per second
//!   in whole-token steps (the unfinished fraction of a token is kept, not lost), one token
//!   per request.
//! * [`Gcra`]: a "debt" bucket in the generic cell rate algorithm. Its theoretical arrival
//!   time (TAT) advances by `bytes / rate` seconds per charge, never starting before now; a
//!   new request is admitted while `TAT <= now + burst`. Lock-free (one `AtomicU64`).
//! * `BoundedMap`: at most `capacity` keys. When full, entries that are *idle* (their
//!   bucket is in the same state a fresh one would be: a full token bucket, a GCRA bucket
//!   without debt and not held by a live stream) are dropped first, which loses nothing;
//!   if that frees too little, the least recently used tenth is dropped (they restart full:
//!   the bound on memory wins over precision for keys beyond the capacity).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// How long a bucket that can never admit asks clients to wait (rate 0 and nothing left).
pub(super) const NEVER_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Locks a mutex, recovering from poisoning: every bucket update is a single assignment
/// sequence that leaves the state valid even if a panic interrupted the holder.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A token bucket for requests per second.
#[derive(Debug, Clone)]
pub(super) struct TokenBucket {
    rate: u64,
    capacity: u64,
    tokens: u64,
    /// The instant the fractional refill progress is measured from.
    last_refill: Instant,
}

impl TokenBucket {
    /// A full bucket: `rate` tokens per second, capacity `rate + burst`.
    pub(super) fn new(rate: u64, burst: u64, now: Instant) -> Self {
        let capacity = rate.saturating_add(burst);
        Self {
            rate,
            capacity,
            tokens: capacity,
            last_refill: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        if self.tokens >= self.capacity || self.rate == 0 {
            self.last_refill = now;
            return;
        }
        let elapsed = now.saturating_duration_since(self.last_refill).as_nanos();
        let new = elapsed * u128::from(self.rate) / NANOS_PER_SEC;
        if new == 0 {
            return;
        }
        let room = u128::from(self.capacity - self.tokens);
        if new >= room {
            self.tokens = self.capacity;
            self.last_refill = now;
        } else {
            // `new < room <= u64::MAX`; keep the fraction of the next token.
            self.tokens += new as u64;
            let used = new * NANOS_PER_SEC / u128::from(self.rate);
            self.last_refill += Duration::from_nanos(u64::try_from(used).unwrap_or(u64::MAX));
        }
    }

    /// Takes one token, or says how long until one is available.
    pub(super) fn try_acquire(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens > 0 {
            self.tokens -= 1;
            return Ok(());
        }
        if self.rate == 0 {
            return Err(NEVER_RETRY_AFTER);
        }
        let per_token = NANOS_PER_SEC.div_ceil(u128::from(self.rate));
        let elapsed = now.saturating_duration_since(self.last_refill).as_nanos();
        let wait = per_token.saturating_sub(elapsed).max(1);
        Err(Duration::from_nanos(
            u64::try_from(wait).unwrap_or(u64::MAX),
        ))
    }

    /// Whether the bucket is as full as a fresh one (dropping it loses nothing).
    pub(super) fn is_idle(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.capacity
    }

    #[cfg(test)]
    /// Tokens left after refilling to `now`.
    pub(super) fn available(&mut self, now: Instant) -> u64 {
        self.refill(now);
        self.tokens
    }
}

/// A GCRA debt bucket for bytes per second. Times are nanoseconds since the owning
/// limiter's origin instant.
#[derive(Debug)]
pub(super) struct Gcra {
    rate: u64,
    tat: AtomicU64,
}

impl Gcra {
    /// A bucket without debt, refilling at `rate` bytes per second.
    pub(super) fn new(rate: u64) -> Self {
        Self {
            rate,
            tat: AtomicU64::new(0),
        }
    }

    /// `Err(wait)` when the TAT is more than `burst` ahead of `now`. A rate-0 bucket never
    /// admits.
    pub(super) fn check(&self, now: u64, burst: Duration) -> Result<(), Duration> {
        if self.rate == 0 {
            return Err(NEVER_RETRY_AFTER);
        }
        let limit = now.saturating_add(nanos(burst));
        let tat = self.tat.load(Ordering::Acquire);
        if tat > limit {
            Err(Duration::from_nanos(tat - limit))
        } else {
            Ok(())
        }
    }

    /// Adds the debt of `bytes` at time `now`.
    pub(super) fn charge(&self, now: u64, bytes: u64) {
        if self.rate == 0 || bytes == 0 {
            return;
        }
        let cost = u128::from(bytes) * NANOS_PER_SEC / u128::from(self.rate);
        let cost = u64::try_from(cost).unwrap_or(u64::MAX);
        let _ = self
            .tat
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                Some(tat.max(now).saturating_add(cost))
            });
    }

    /// Whether the bucket carries no debt at `now`.
    pub(super) fn is_idle(&self, now: u64) -> bool {
        self.tat.load(Ordering::Acquire) <= now
    }
}

/// Saturating conversion of a duration to nanoseconds.
pub(super) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A bucket type the bounded map can evict when idle.
pub(super) trait Idle {
    /// Whether the entry may be dropped without changing any future decision.
    fn is_idle(&self, now: Instant, origin: Instant) -> bool;
}

impl Idle for Mutex<TokenBucket> {
    fn is_idle(&self, now: Instant, _origin: Instant) -> bool {
        lock(self).is_idle(now)
    }
}

impl Idle for Arc<Gcra> {
    fn is_idle(&self, now: Instant, origin: Instant) -> bool {
        // Held only by the map: no stream is charging it.
        Arc::strong_count(self) == 1
            && Gcra::is_idle(self, nanos(now.saturating_duration_since(origin)))
    }
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    last_used: Instant,
}

/// A map of buckets with at most `capacity` keys (see the module docs for eviction).
#[derive(Debug)]
pub(super) struct BoundedMap<K, V> {
    capacity: usize,
    entries: Mutex<HashMap<K, Entry<V>>>,
}

impl<K: Eq + Hash + Clone, V: Idle> BoundedMap<K, V> {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `f` on the bucket for `key`, creating it with `make` if absent.
    pub(super) fn with<R>(
        &self,
        key: &K,
        now: Instant,
        origin: Instant,
        make: impl FnOnce() -> V,
        f: impl FnOnce(&V) -> R,
    ) -> R {
        let mut entries = lock(&self.entries);
        if let Some(entry) = entries.get_mut(key) {
            entry.last_used = now;
            return f(&entry.value);
        }
        if entries.len() >= self.capacity {
            Self::evict(&mut entries, self.capacity, now, origin);
        }
        let entry = entries.entry(key.clone()).or_insert(Entry {
            value: make(),
            last_used: now,
        });
        f(&entry.value)
    }

    fn evict(entries: &mut HashMap<K, Entry<V>>, capacity: usize, now: Instant, origin: Instant) {
        entries.retain(|_, e| !e.value.is_idle(now, origin));
        if entries.len() < capacity {
            return;
        }
        // Everything is busy: drop the least recently used tenth (at least one).
        let drop = (capacity / 10).max(1).min(entries.len());
        let mut ages: Vec<Instant> = entries.values().map(|e| e.last_used).collect();
        let (_, cutoff, _) = ages.select_nth_unstable(drop - 1);
        let cutoff = *cutoff;
        let mut dropped = 0;
        entries.retain(|_, e| {
            if dropped < drop && e.last_used <= cutoff {
                dropped += 1;
                false
            } else {
                true
            }
        });
    }

    /// Runs `f` on the bucket for `key` if it is tracked (without creating or touching it).
    pub(super) fn peek<R>(&self, key: &K, f: impl FnOnce(&V) -> R) -> Option<R> {
        lock(&self.entries).get(key).map(|e| f(&e.value))
    }

    #[cfg(test)]
    /// The number of tracked keys.
    pub(super) fn len(&self) -> usize {
        lock(&self.entries).len()
    }
}
