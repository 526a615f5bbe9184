//! Tests of admission control. Time is a [`ManualTicker`]: no test sleeps or measures time,
//! except the file-watch tests, which wait for a published reload (bounded by a generous
//! hang guard, never asserted on).

mod bandwidth;
mod config;
mod facade;
mod killswitch;
mod reload;
mod throughput;
mod usecases;

use std::sync::Arc;

use objectstore_types::{ObjectContext, Scopes, Usecase};

use super::ticker::{ManualTicker, SharedTicker};

/// A context from a usecase and a scopes path segment (`a=1;b=2` or `_`).
fn ctx(usecase: &str, scopes: &str) -> ObjectContext {
    ObjectContext {
        usecase: Usecase::new(usecase).unwrap(),
        scopes: Scopes::parse(scopes).unwrap(),
    }
}

fn manual() -> (Arc<ManualTicker>, SharedTicker) {
    let ticker = ManualTicker::new();
    let shared: SharedTicker = ticker.clone();
    (ticker, shared)
}
