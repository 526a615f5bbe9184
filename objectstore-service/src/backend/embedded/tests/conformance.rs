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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_backend_suite() {
    let root = tempfile::tempdir().unwrap();
    crate::conformance::backend_suite(&fresh_stores(root.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_high_volume_suite() {
    let root = tempfile::tempdir().unwrap();
    crate::conformance::high_volume_suite(&fresh_stores(root.path())).await;
}
