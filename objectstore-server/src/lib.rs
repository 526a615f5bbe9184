//! The objectstore HTTP server (placeholder: being written).

pub mod auth;
pub mod batch;
