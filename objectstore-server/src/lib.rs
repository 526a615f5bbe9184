//! The objectstore HTTP server: the wire contract of `/work/shared/spec/http-api.md` on top of
//! [`objectstore_service::service::StorageService`], and the `objectstore` binary's commands.
//!
//! # A request's way through the server
//!
//! 1. [`server::serve`] accepts the connection (`TCP_NODELAY`, keep-alive, HTTP/1.1; the
//!    request head must arrive within `http.header_timeout`).
//! 2. [`middleware::envelope`] (one layer around every route): request id and span,
//!    request metrics; for object routes, more than `http.max_requests` in flight → 503 with
//!    an empty body, and a request body silent for `http.body_timeout` fails. Internal
//!    routes (`/health`, `/ready`, `/keda`, `/metrics`) skip both and need no credentials.
//! 3. Routing ([`app::router`]): unknown path → 404 (empty body), known path with another
//!    method → 405 with `Allow`.
//! 4. Authentication ([`access::Auth`] over [`auth`]: JWT or pre-signed URL → 400/401 JSON).
//! 5. Path extraction ([`extract::ContextPath`], [`extract::ObjectPath`]): each parameter is
//!    percent-decoded once and validated (`..` keys are refused) → 400 plain text; then
//!    [`access::admit`] over [`admission`]: killswitch 403, bandwidth and throughput 429
//!    (plain text).
//! 6. The endpoint ([`endpoints`]): query and headers (400), metadata (400), usecase
//!    expiration policy (400), the operation's [`objectstore_types::Permission`] through
//!    [`access::Auth::require`] (403), then the storage call. Storage errors become
//!    statuses in exactly one place, [`error::service_status`].
//! 7. Bodies stream both ways: request bodies become a
//!    [`objectstore_service::stream::PayloadStream`] without buffering, response bodies are
//!    streamed with `content-length` when the size is known; both are metered for the
//!    bandwidth limits. Nothing is ever (de)compressed.
//!
//! Start here: [`config::Config`] (what can be set), [`app::router`] (the routes),
//! [`server::serve`] (the process), [`testing::TestServer`] (tests).
//!
//! Every response carries `server: objectstore/<version>` and lowercase header names.

pub mod access;
pub mod admission;
pub mod app;
pub mod auth;
pub mod batch;
pub mod body;
pub mod check;
pub mod cli;
pub mod client;
pub mod config;
pub mod endpoints;
pub mod error;
pub mod error_reporting;
pub mod extract;
pub mod idle;
pub mod logging;
pub mod metrics;
pub mod middleware;
pub mod server;
pub mod storage;
pub mod testing;

pub use app::AppState;
pub use config::Config;
pub use server::serve;

/// The server crate's version, as reported in the `server` header.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
