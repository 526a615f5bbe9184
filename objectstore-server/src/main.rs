//! The `objectstore` binary: see [`objectstore_server::cli`].
//!
//! The global allocator is mimalloc: a request allocates a few dozen small blocks (header
//! maps, ids, metadata, futures), and glibc's malloc spent about a quarter of the server's
//! instructions per small request on them; mimalloc's thread-local free lists make that a
//! few percent (docs/benchmarks/report-2026-11-22b.md has the measurements). Only the binary
//! sets it; the library and its tests keep the system allocator.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    objectstore_server::cli::main()
}
