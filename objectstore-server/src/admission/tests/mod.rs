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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use objectstore_types::{ObjectContext, Scopes, Usecase};

use super::ticker::{SharedTicker, Ticker};

/// A context from a usecase and a scopes path segment (`a=1;b=2` or `_`).
fn ctx(usecase: &str, scopes: &str) -> ObjectContext {
    ObjectContext {
        usecase: Usecase::new(usecase).unwrap(),
        scopes: Scopes::parse(scopes).unwrap(),
    }
}

/// The body of a rejection response, which must be plain text.
async fn plain_text(response: axum::response::Response) -> bytes::Bytes {
    let content_type = &response.headers()[http::header::CONTENT_TYPE];
    assert!(
        content_type.to_str().unwrap().starts_with("text/plain"),
        "{content_type:?}"
    );
    let body = http_body_util::BodyExt::collect(response.into_body()).await;
    body.unwrap().to_bytes()
}

fn manual() -> (Arc<ManualTicker>, SharedTicker) {
    let ticker = ManualTicker::new();
    let shared: SharedTicker = ticker.clone();
    (ticker, shared)
}

/// What `make` builds on a fresh manual ticker, and the ticker.
fn on_manual<T>(make: impl FnOnce(SharedTicker) -> T) -> (Arc<ManualTicker>, T) {
    let (ticker, shared) = manual();
    (ticker, make(shared))
}

/// A ticker that only moves when told to.
#[derive(Debug)]
pub(crate) struct ManualTicker {
    origin: Instant,
    offset_nanos: AtomicU64,
}

impl ManualTicker {
    /// A manual ticker standing at the current real instant.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            origin: Instant::now(),
            offset_nanos: AtomicU64::new(0),
        })
    }

    /// Moves time forward.
    pub(crate) fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.offset_nanos.fetch_add(nanos, Ordering::SeqCst);
    }
}

impl Ticker for ManualTicker {
    fn now(&self) -> Instant {
        self.origin + Duration::from_nanos(self.offset_nanos.load(Ordering::SeqCst))
    }
}
