//! The shared conformance suites ([`crate::conformance`]) against the embedded backend.

use std::path::Path;

use crate::backend::embedded::EmbeddedBackend;
use crate::clock::SharedClock;

/// A factory handing out a fresh store (its own directory) per conformance check.
fn fresh_stores(root: &Path) -> impl Fn(SharedClock) -> std::future::Ready<EmbeddedBackend> + '_ {
    let n = std::sync::atomic::AtomicUsize::new(0);
    move |clock| {
        let dir = root.join(
            n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .to_string(),
        );
        std::future::ready(EmbeddedBackend::open(&dir, clock).unwrap())
    }
}

/// The plain contract through the tiered layer over the store (see
/// [`crate::conformance::tiered_over`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_backend_suite() {
    let root = tempfile::tempdir().unwrap();
    let make = fresh_stores(root.path());
    crate::conformance::backend_suite(&crate::conformance::tiered_over(&make)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_high_volume_suite() {
    let root = tempfile::tempdir().unwrap();
    crate::conformance::high_volume_suite(&fresh_stores(root.path())).await;
}

/// The default single-node layout: the tiered engine over the embedded high-volume tier and
/// the filesystem long-term tier. A 16-byte threshold puts nearly every object of the suites
/// behind a tombstone, so the tiering primitives, the change log and the TTI/extension paths
/// of tombstones all run against SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_over_embedded_and_filesystem_passes_the_suites() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::backend::filesystem::FilesystemBackend;
    use crate::tiered::{TieredConfig, TieredStorage};

    let root = tempfile::tempdir().unwrap();
    let next = AtomicUsize::new(0);
    let make = |clock: SharedClock| {
        let dir = root
            .path()
            .join(next.fetch_add(1, Ordering::Relaxed).to_string());
        async move {
            let hv = EmbeddedBackend::open(&dir.join("hv"), clock.clone()).unwrap();
            let lt = FilesystemBackend::open(&dir.join("lt"), clock.clone()).unwrap();
            let config = TieredConfig {
                threshold: 16,
                ..TieredConfig::default()
            };
            TieredStorage::new(Arc::new(hv), Arc::new(lt), clock, config)
        }
    };
    crate::conformance::backend_suite(&make).await;
    crate::conformance::long_term_suite(&make).await;
}
