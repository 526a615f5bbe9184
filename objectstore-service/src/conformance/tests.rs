//! The suites against the in-memory backend (the reference implementation) and against
//! the hook backend with no rules (which must be indistinguishable from its inner backend).

use super::*;
use crate::backend::hooks::{Faults, HookBackend};
use crate::backend::memory::MemoryBackend;

fn memory(clock: SharedClock) -> std::future::Ready<MemoryBackend> {
    std::future::ready(MemoryBackend::new("memory", clock))
}

fn hooked(clock: SharedClock) -> std::future::Ready<HookBackend> {
    let inner = MemoryBackend::new("memory", clock);
    std::future::ready(HookBackend::new(inner, Faults::new()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_backend_suite() {
    backend_suite(&memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_high_volume_suite() {
    high_volume_suite(&memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_long_term_suite() {
    long_term_suite(&memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hook_backend_passes_every_suite() {
    backend_suite(&hooked).await;
    high_volume_suite(&hooked).await;
    long_term_suite(&hooked).await;
}
