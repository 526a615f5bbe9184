//! The shared conformance suites ([`crate::conformance`]) against the embedded backend.

use std::future::{Ready, ready};

use crate::backend::embedded::EmbeddedBackend;
use crate::backend::filesystem::FilesystemBackend;
use crate::clock::SharedClock;
use crate::conformance::{self, Dirs};

fn embedded(dirs: &Dirs, clock: SharedClock) -> Ready<EmbeddedBackend> {
    ready(EmbeddedBackend::open(&dirs.next(), clock).unwrap())
}

/// The plain contract through the tiered layer over the store (see
/// [`crate::conformance::tiered_over`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_backend_suite() {
    let root = tempfile::tempdir().unwrap();
    let dirs = Dirs::new(root.path());
    let make = |clock| embedded(&dirs, clock);
    conformance::backend_suite(&conformance::tiered_over(&make)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_high_volume_suite() {
    let root = tempfile::tempdir().unwrap();
    let dirs = Dirs::new(root.path());
    conformance::high_volume_suite(&|clock| embedded(&dirs, clock)).await;
}

/// The default single-node layout: the tiered engine over the embedded high-volume tier and
/// the filesystem long-term tier. A 16-byte threshold puts nearly every object of the suites
/// behind a tombstone, so the tiering primitives, the change log and the TTI/extension paths
/// of tombstones all run against SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_over_embedded_and_filesystem_passes_the_suites() {
    let root = tempfile::tempdir().unwrap();
    let dirs = Dirs::new(root.path());
    let hv = |clock| embedded(&dirs, clock);
    let lt = |clock| ready(FilesystemBackend::open(&dirs.next(), clock).unwrap());
    let make = conformance::tiered_on(&hv, &lt, 16);
    conformance::backend_suite(&make).await;
    conformance::long_term_suite(&make).await;
}
