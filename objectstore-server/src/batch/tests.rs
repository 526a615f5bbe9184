//! Tests of the batch endpoint.
