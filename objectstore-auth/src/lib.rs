//! The credential formats of objectstore, in one place for both sides: the server verifies
//! them (`objectstore-server`'s `auth` module: modes, key directory, the status of every
//! failure), the command line signs them (`objectstore-cli`: `keygen`, `token`, `presign`,
//! and the tokens its client commands mint per request).
//!
//! * [`presign`]: the pre-signed URL's canonical string (docs/http-api.md §11.6) and its signature;
//! * [`jwt`]: the claims of a token (§11.3) and minting;
//! * [`tools`]: key files (generate a pair, read a private key) and the checked signing of a
//!   token for a usecase and scopes, or of an object URL.
//!
//! Invariant: there is exactly one implementation of the canonical string and of the claim
//! names; what one side signs is what the other verifies. Key material and signatures never
//! appear in error texts.

pub mod jwt;
pub mod presign;
pub mod tools;

pub use ed25519_dalek::{SigningKey, VerifyingKey};
