//! Wire types of the objectstore HTTP API, shared by the server, the storage engine and clients.
//!
//! This crate is deliberately light (no tokio, no axum): it holds the *vocabulary* of the
//! system and the rules that make a value valid.
//!
//! * [`id`]: [`Usecase`], [`Scopes`], [`ObjectKey`] and the [`ObjectId`] that combines them.
//!   **Invariant:** a value of these types is always valid. Validation happens once, in the
//!   constructor, so nothing downstream (backends, path builders) ever sees `..`, an empty
//!   segment or a control character.
//! * [`listing`]: the listing key of an object (scopes as leading `name=value` segments, then
//!   the key): the order listings follow and the key the S3 API uses; a bijection.
//! * [`metadata`]: [`Metadata`] and its exact HTTP header codec (docs/http-api.md §6).
//! * [`conditional`]: `If-Match` / `If-None-Match` against an object's ETag.
//! * [`expiration`]: [`ExpirationPolicy`] and the duration wire syntax (humantime in, `d h m s`
//!   out).
//! * [`range`]: `Range` header parsing and resolution against an object size (§5).
//! * [`permission`]: the permissions a token or key can grant.
//! * [`time`]: the timestamp wire format.
//!
//! Every rejection is a typed error whose `Display` text is meant for the user who sent the
//! bad value.

pub mod conditional;
pub mod expiration;
pub mod id;
pub mod listing;
pub mod metadata;
pub mod permission;
pub mod range;
pub mod time;

#[cfg(test)]
mod hostile_props;

pub use expiration::ExpirationPolicy;
pub use id::{ObjectContext, ObjectId, ObjectKey, Scope, Scopes, Usecase};
pub use metadata::{Compression, Metadata};
pub use permission::{Permission, Permissions};
pub use range::{ByteRange, ContentRange};
