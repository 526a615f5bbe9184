//! The shared conformance suites, run against the tiered engine itself (it is a complete
//! [`Backend`] and [`LongTermBackend`]).

use super::*;
use crate::conformance;

fn maker(threshold: usize) -> impl Fn(SharedClock) -> std::future::Ready<TieredStorage> {
    move |clock: SharedClock| {
        let hv = MemoryBackend::new("hv", clock.clone());
        let lt = MemoryBackend::new("lt", clock.clone());
        let config = TieredConfig {
            threshold,
            ..Env::config()
        };
        std::future::ready(TieredStorage::new(
            Arc::new(hv),
            Arc::new(lt),
            clock,
            config,
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_passes_the_suites_with_the_default_threshold() {
    let make = maker(TieredConfig::default().threshold);
    conformance::backend_suite(&make).await;
    conformance::long_term_suite(&make).await;
}

/// With a 16-byte threshold nearly every object of the suites lives behind a tombstone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_passes_the_suites_with_everything_in_long_term() {
    let make = maker(16);
    conformance::backend_suite(&make).await;
    conformance::long_term_suite(&make).await;
}

/// The default single-node long-term tier underneath: the tiered engine over the
/// filesystem backend (memory standing in for the high-volume tier).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_over_the_filesystem_backend_passes_the_suites() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::backend::filesystem::FilesystemBackend;

    let root = tempfile::tempdir().unwrap();
    let next = AtomicUsize::new(0);
    let make = |clock: SharedClock| {
        let dir = root
            .path()
            .join(next.fetch_add(1, Ordering::Relaxed).to_string());
        async move {
            let hv = MemoryBackend::new("hv", clock.clone());
            let lt = FilesystemBackend::open(&dir, clock.clone()).unwrap();
            let config = TieredConfig {
                threshold: 16,
                ..Env::config()
            };
            TieredStorage::new(Arc::new(hv), Arc::new(lt), clock, config)
        }
    };
    conformance::backend_suite(&make).await;
    conformance::long_term_suite(&make).await;
}
