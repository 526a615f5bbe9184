//! The suites against the in-memory backend (the reference implementation; two clones of
//! one store for the shared-store suite) and against the fault decorator with no
//! rules (which must be indistinguishable from its inner backend).

use super::*;
use crate::backend::around::faults::Faults;
use crate::backend::memory::MemoryBackend;

fn memory(clock: SharedClock) -> std::future::Ready<MemoryBackend> {
    std::future::ready(MemoryBackend::new("memory", clock))
}

fn faulty(clock: SharedClock) -> std::future::Ready<Decorated<MemoryBackend, Faults>> {
    let inner = MemoryBackend::new("memory", clock);
    std::future::ready(Decorated::new(Arc::new(inner), Faults::new()))
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
async fn fault_decorator_passes_every_suite() {
    backend_suite(&faulty).await;
    high_volume_suite(&faulty).await;
    long_term_suite(&faulty).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_memory_store_pass_the_shared_suite() {
    shared_store_suite(&|clock| {
        let store = MemoryBackend::new("memory", clock);
        std::future::ready([store.clone(), store])
    })
    .await;
}
