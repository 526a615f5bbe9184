//! The `objectstore` binary (placeholder: being written).

fn main() {}
