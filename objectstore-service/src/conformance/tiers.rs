//! Two in-memory tiers on one manual clock: the set-up of the tests that build
//! [`TieredStorage`](crate::tiered::TieredStorage)s on memory backends and inspect the
//! backends directly (the tiered engine's and the consistency check's tests).
//!
//! The backends share their state between clones, so any number of storages (instances)
//! built on them see the same objects, rows and change log.

use std::sync::Arc;

use crate::backend::memory::MemoryBackend;
use crate::clock::{ManualClock, SharedClock};

/// A high-volume and a long-term [`MemoryBackend`] reading the same [`ManualClock`].
pub struct MemoryTiers {
    /// The clock both backends read; tests move it.
    pub clock: Arc<ManualClock>,
    /// The high-volume tier (named `hv`).
    pub hv: MemoryBackend,
    /// The long-term tier (named `lt`).
    pub lt: MemoryBackend,
}

impl MemoryTiers {
    /// Empty tiers at the manual clock's start.
    pub fn new() -> Self {
        let clock = ManualClock::new();
        let shared: SharedClock = clock.clone();
        Self {
            hv: MemoryBackend::new("hv", shared.clone()),
            lt: MemoryBackend::new("lt", shared),
            clock,
        }
    }
}

impl Default for MemoryTiers {
    fn default() -> Self {
        Self::new()
    }
}
