//! The objectstore HTTP server (placeholder: being written).
