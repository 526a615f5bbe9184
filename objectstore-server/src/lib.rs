//! The objectstore HTTP server: the wire contract of the `objectstore` HTTP API
//! (`docs/http-api.md`) on top of [`objectstore_service::service::StorageService`], and the
//! `objectstore` binary's command line.
//!
//! # Where to start
//!
//! * [`cli::main`]: the binary; how `run` starts (config, logging, metrics, listener,
//!   storage, state) and which exit code each failure gets. The client and signing commands
//!   are the `objectstore-cli` crate's.
//! * [`config::Config`]: everything that can be set; the storage backends are one tagged enum
//!   per tier ([`config::HighVolumeConfig`], [`config::LongTermConfig`]), opened by one
//!   function per tier in [`storage`].
//! * `app`: the routes (templates in `paths`); `endpoints`: one module per resource.
//! * `state`: what every handler reads (storage, config, authenticator, admission, metrics).
//!
//! Modules import one way: `cli` → `server` → `app` → `endpoints` → `extract`, `access`,
//! `middleware` → `state` → `admission`, `auth`, `config`, `metrics`; nothing below imports
//! what is above it. `testing::TestServer` (cargo feature `testing`, turned on for this
//! crate's own tests only) serves in process for tests.
//!
//! # A request's way through the server
//!
//! 1. `server` accepts the connection (`TCP_NODELAY`, keep-alive, HTTP/1.1; the request
//!    head must arrive within `http.header_timeout`).
//! 2. `middleware::envelope` (one layer around every route): request id and span, request
//!    metrics; for object routes, more than `http.max_requests` in flight → 503 with an
//!    empty body, and a request body silent for `http.body_timeout` or slower than
//!    `http.min_body_rate` fails. Internal routes (`/health`, `/ready`, `/keda`, `/metrics`)
//!    skip both and need no credentials.
//! 3. Routing (`app::router`): unknown path → 404 (empty body), known path with another
//!    method → 405 with `Allow`.
//! 4. Authentication (`access::Auth` over [`auth`]: JWT or pre-signed URL → 400/401 JSON).
//! 5. Path extraction (`extract::ContextPath`, `extract::ObjectPath`): each parameter is
//!    percent-decoded once and validated (`..` keys are refused) → 400 plain text; then
//!    `access::admit` over [`admission`]: killswitch 403, bandwidth and throughput 429
//!    (plain text).
//! 6. The endpoint (`endpoints`): query and headers (400), metadata (400), usecase
//!    expiration policy (400), the operation's [`objectstore_types::Permission`] through
//!    `access::Auth::require` (403), then the storage call. Storage errors become statuses
//!    in exactly one place, `error::service_status`.
//! 7. Bodies stream both ways: request bodies become a
//!    [`objectstore_service::stream::PayloadStream`] without buffering, response bodies are
//!    streamed with `content-length` when the size is known; both are metered for the
//!    bandwidth limits. Nothing is ever (de)compressed.
//!
//! Every response carries `server: objectstore/<version>` and lowercase header names.

mod access;
pub mod admission;
mod app;
pub mod auth;
mod batch;
mod body;
mod body_rate;
mod check;
pub mod cli;
pub mod config;
mod config_check;
mod endpoints;
mod error;
pub mod error_reporting;
mod extract;
mod idle;
mod logging;
pub mod metrics;
mod middleware;
mod paths;
pub mod server;
mod state;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::Config;
pub use state::{AppParts, AppState};

/// The server crate's version, as reported in the `server` header.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
