//! `objectstore-bench`: a closed-loop load generator for the objectstore HTTP API and its S3
//! listener.
//!
//! It runs named workloads ([`workloads::Workload`]) against one or two objectstore servers
//! (`--target`) and, for the GET workloads, against a static-file reference server
//! (`--reference`, nginx in `scripts/bench.sh`) whose GETs read `/<bytes>.bin`. For every
//! operation it reports throughput (ops/s), bytes/s and latency percentiles (p50, p90, p99,
//! max), the server's peak resident memory and CPU time per request when given its pid, and
//! the ratio of each figure
//! to the reference figure of the same object size measured in the same run.
//!
//! # Invariants
//!
//! * **Loopback only**: [`target::Target::parse`] refuses every URL whose host is not a
//!   loopback address, so the tool cannot be pointed at someone else's server.
//! * **Bodies are never materialized**: request payloads are zero-copy slices of one shared
//!   1 MiB pattern buffer ([`body::pattern`]), streamed chunk by chunk, so a 256 MiB PUT costs
//!   the generator no memory; response bodies are counted frame by frame and dropped.
//! * **One connection per worker**: each worker owns one keep-alive HTTP/1.1 connection with
//!   `TCP_NODELAY` ([`conn::Conn`]); `--connections` is exactly the number of sockets.
//! * **Bounded runs**: every workload stops at its request budget or its duration, whichever
//!   comes first ([`engine::Limits`]); requests in flight at the deadline complete.
//! * **No hidden retries**: a failed request counts as an error; only a connection the server
//!   closed while idle is reopened before the next request ([`conn::Conn::send`]).
//!
//! # Map
//!
//! * [`cli`]: the command line; [`runner`]: runs the workloads over the targets in order.
//! * [`engine`]: the closed-loop worker pool; [`workloads`]: what each workload sends
//!   ([`sigv4`] signs the S3 workloads' requests).
//! * [`stats`]: latency recording and percentiles; [`process`]: server memory and CPU from
//!   `/proc`.
//! * [`report`]: the text table, the JSON dump and the markdown report with the targets.
//! * [`soak`]: the long overwrite-and-delete run that measures the server's data directory
//!   against the bytes it must hold.

pub mod body;
pub mod cli;
pub mod conn;
pub mod engine;
pub mod fio;
pub mod process;
pub mod report;
pub mod runner;
pub mod sigv4;
pub mod size;
pub mod soak;
pub mod stats;
pub mod target;
pub mod workloads;
