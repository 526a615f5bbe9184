//! The `objectstore` binary: see [`objectstore_server::cli`].
//!
//! Before anything else, [`tune_allocator`] sets two glibc malloc options. Measured in
//! `docs/benchmarks/report-2026-11-22d.md` (peak RSS while 8 uploads of 256 MiB stream, second
//! round): 46.5 MiB with glibc's defaults, 35.7 MiB with these.
//!
//! * `M_MMAP_THRESHOLD` = 128 KiB, fixed. By default glibc raises the threshold each time a
//!   large mmapped block is freed (up to 32 MiB), after which large transient buffers
//!   (request bodies being read, 100 KiB payloads) come from the heap arenas and stay there
//!   after they are freed. A fixed threshold returns them to the kernel on free.
//! * `M_ARENA_MAX` = 2. glibc creates up to 8 arenas per core, one per thread that contends;
//!   each keeps its own freed memory. The server's work runs on one Tokio worker per core,
//!   plus the blocking pool's file writes.
//!
//! An operator's own `MALLOC_ARENA_MAX` / `MALLOC_MMAP_THRESHOLD_` (or `GLIBC_TUNABLES`)
//! wins: the option is then left alone.

fn main() -> std::process::ExitCode {
    tune_allocator();
    objectstore_server::cli::main()
}

/// The malloc options of the module docs (glibc on Linux only; a no-op elsewhere).
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
        let set_by_operator = |env: &str, tunable: &str| {
            std::env::var_os(env).is_some() || tunables.contains(tunable)
        };
        if !set_by_operator("MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold") {
            mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        }
        if !set_by_operator("MALLOC_ARENA_MAX", "glibc.malloc.arena_max") {
            mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn mallopt(option: libc::c_int, value: libc::c_int) {
    // SAFETY: mallopt only changes allocator parameters; it is called from `main` before
    // any thread is started, with options and values glibc documents. A refusal (return
    // value 0) leaves glibc's default, which is safe.
    unsafe {
        libc::mallopt(option, value);
    }
}
