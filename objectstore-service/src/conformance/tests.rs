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

/// Every suite on the stores `make` hands out.
async fn every_suite<B, F, Fut>(make: &F)
where
    B: Backend + HighVolumeStore + LongTermBackend,
    F: Fn(SharedClock) -> Fut,
    Fut: Future<Output = B>,
{
    backend_suite(make).await;
    high_volume_suite(make).await;
    long_term_suite(make).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_passes_every_suite() {
    every_suite(&memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_decorator_passes_every_suite() {
    every_suite(&faulty).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_memory_store_pass_the_shared_suite() {
    shared_store_suite(&|clock| {
        let store = MemoryBackend::new("memory", clock);
        std::future::ready([store.clone(), store])
    })
    .await;
}
