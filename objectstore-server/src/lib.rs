//! The objectstore HTTP server (placeholder: being written).

pub mod admission;
pub mod auth;
pub mod batch;
