//! The shared conformance suites, run against the tiered engine itself (it is a complete
//! [`Backend`] and [`LongTermBackend`]).

use super::*;
use crate::conformance;

fn memory(clock: SharedClock) -> std::future::Ready<MemoryBackend> {
    std::future::ready(MemoryBackend::new("hv", clock))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_passes_the_suites_with_the_default_threshold() {
    let make = conformance::tiered_over(&memory);
    conformance::backend_suite(&make).await;
    conformance::long_term_suite(&make).await;
}

/// With a 16-byte threshold nearly every object of the suites lives behind a tombstone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_passes_the_suites_with_everything_in_long_term() {
    let make = conformance::tiered_with(&memory, 16);
    conformance::backend_suite(&make).await;
    conformance::long_term_suite(&make).await;
}

/// The default single-node long-term tier underneath: the tiered engine over the
/// filesystem backend (memory standing in for the high-volume tier).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_over_the_filesystem_backend_passes_the_suites() {
    use crate::backend::filesystem::FilesystemBackend;

    let root = tempfile::tempdir().unwrap();
    let dirs = conformance::Dirs::new(root.path());
    let lt = |clock| std::future::ready(FilesystemBackend::open(&dirs.next(), clock).unwrap());
    let make = conformance::tiered_on(&memory, &lt, 16);
    conformance::backend_suite(&make).await;
    conformance::long_term_suite(&make).await;
}
