//! The S3-compatible front of objectstore: S3 clients (the aws cli, boto3, rclone, the
//! `object_store` crate) on the same objects as the objectstore API, through the same
//! [`StorageService`](objectstore_service::service::StorageService).
//!
//! It is its own listener in the server process (`s3.addr`); the server builds it with
//! [`build`], implements [`Hooks`] over its admission control and metrics, and serves the
//! [`S3Front`] service with the same accept loop and graceful shutdown as the objectstore
//! API. This crate depends on the engine and its types, never on the HTTP server crate.
//!
//! # Request flow
//!
//! ```text
//! front        request id, in-flight limit + metrics (Hooks), idle body timeout,
//!              plain GET/HEAD of an object: served without s3s (fast),
//!              zero-config: strip signatures, decode aws-chunked (normalize, chunked)
//! s3s          routing (path style; virtual-hosted with a domain), SigV4/SigV2 checks
//!              (auth::SecretStore), XML, access check (auth::AccessCheck)
//! handler      bucket → usecase, permission, bucket exists (registry), key → scopes + key
//!              (mapping), admission (Hooks), then the operation (ops::*)
//! engine       StorageService; bodies stream both ways through checksum verification
//! errors       every failure → one S3 error code, in one place
//! ```
//!
//! # Modules
//!
//! * [`mapping`]: bucket = usecase; S3 key = scopes as leading `name=value` segments, then
//!   the key. A proven bijection; its edge cases are decided there.
//! * [`auth`]: credentials (`s3.credentials.<access_key_id>`), the zero-config mode, the
//!   permission check.
//! * [`metadata`]: metadata both ways and the phase-1 ETag; [`conditions`]: conditional
//!   reads; [`checksum`]: `Content-MD5` and `x-amz-checksum-*` verified before commit.
//! * [`registry`]: which buckets exist, stored in the engine.
//! * [`errors`]: the one map from failures to S3 error codes.
//!
//! # Invariants
//!
//! * **Nothing unvalidated reaches the engine**: every bucket, key, upload id and part
//!   number is checked first; bad ones are S3 client errors.
//! * **A client mistake is never a 500**, and nothing the engine cannot store is dropped
//!   silently: it is refused with `NotImplemented`.
//! * **Bounded memory**: bodies stream (no operation buffers an object); XML bodies are
//!   bounded (`max_xml_body`); browser form uploads, which s3s would buffer, are refused.
//! * **A failed or mismatching upload stores nothing**: the engine commits only after a
//!   body ended without error, and checksum mismatches end the body with an error.
//! * **Conditional writes are atomic**: `If-None-Match: *` and `If-Match` become engine
//!   preconditions judged at the commit point (the high-volume compare-and-swap), never a
//!   check followed by a write.
//! * **Secrets are never logged.**

pub mod auth;
pub mod body;
pub mod checksum;
pub mod chunked;
pub mod conditions;
pub mod config;
pub mod dispatch;
pub mod errors;
pub mod fast;
pub mod front;
pub mod handler;
pub mod hooks;
pub mod mapping;
pub mod metadata;
pub mod normalize;
pub mod ops;
pub mod registry;

pub use config::{BuildError, FrontConfig, build};
pub use errors::Refusal;
pub use front::S3Front;
pub use hooks::{Hooks, NoHooks, OperationSlot, RequestScope};
