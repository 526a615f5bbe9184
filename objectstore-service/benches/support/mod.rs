//! Set-up shared by the benchmarks: the runtime they drive the backend with and the
//! directory their stores live in.

use std::path::PathBuf;

/// A two-worker multi-thread runtime (the backends' blocking work gets the rest).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The directory the benchmarks' stores live in, created when missing: under `target/`
/// rather than `/tmp`, which may be a RAM disk without real fsyncs.
pub fn scratch_dir() -> PathBuf {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-tmp");
    std::fs::create_dir_all(&base).expect("bench directory");
    base
}
