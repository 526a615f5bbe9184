//! The application state every handler, extractor and middleware reads: the storage
//! engine, the configuration, the authenticator, admission control and the HTTP metrics.
//!
//! It sits below everything that handles requests (the router in `app.rs`, the endpoints,
//! the extractors, the middleware), which import it; it imports none of them.

use std::ops::Deref;
use std::sync::Arc;

use objectstore_service::service::StorageService;

use crate::admission::Admission;
use crate::auth::{Authenticator, KeyDirectory};
use crate::config::Config;
use crate::metrics::Metrics;

/// Everything a request handler needs, behind one [`Arc`]: the router clones the state for
/// every request (each `State` extractor and stateful middleware), and one reference count
/// is cheaper than one per field. Fields are reached through [`Deref`] to [`AppParts`].
#[derive(Debug, Clone)]
pub struct AppState(Arc<AppParts>);

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct AppParts {
    /// The storage engine.
    pub(crate) service: StorageService,
    /// The configuration the server was started with.
    pub(crate) config: Arc<Config>,
    /// Verifies credentials (`auth.*`).
    pub(crate) authenticator: Arc<Authenticator>,
    /// Killswitches, rate limits and usecase policies.
    pub admission: Arc<Admission>,
    /// Counters and gauges of the HTTP layer.
    pub(crate) metrics: Arc<Metrics>,
}

impl Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

impl AppState {
    /// State for a service and configuration: loads the auth keys (failures name the kid
    /// and file) and builds admission control.
    pub fn new(service: StorageService, config: Arc<Config>) -> anyhow::Result<Self> {
        let keys = KeyDirectory::load(&config.auth.keys)?;
        let authenticator = Authenticator::new(config.auth.is_enforced(), keys)?;
        let admission = Admission::new(
            config.killswitches.clone(),
            config.rate_limits.clone(),
            config.usecases.clone(),
        );
        Ok(Self::with_parts(service, config, authenticator, admission))
    }

    /// State from already built parts (tests use a manual rate-limit clock this way).
    pub(crate) fn with_parts(
        service: StorageService,
        config: Arc<Config>,
        authenticator: Authenticator,
        admission: Admission,
    ) -> Self {
        Self(Arc::new(AppParts {
            service,
            config,
            authenticator: Arc::new(authenticator),
            admission: Arc::new(admission),
            metrics: Arc::new(Metrics::default()),
        }))
    }
}
