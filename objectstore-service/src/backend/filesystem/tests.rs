//! Tests of the filesystem backend.
