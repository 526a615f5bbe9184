//! The application: shared state and the router (spec sections 0 and 18).
//!
//! Route table (everything else: 404 with an empty body; a known path with another method:
//! 405 with `Allow`):
//!
//! | path | methods |
//! |---|---|
//! | `/v1/objects/{usecase}/{scopes}[/]` | POST |
//! | `/v1/objects/{usecase}/{scopes}/{*key}` | GET HEAD PUT PATCH DELETE |
//! | `/v1/objects:batch/{usecase}/{scopes}/` | POST |
//! | `/v1/objects:multipart/{usecase}/{scopes}[/]` | POST |
//! | `/v1/objects:multipart/{usecase}/{scopes}/{*key}` | PUT DELETE |
//! | `/v1/objects:multipart:parts/{usecase}/{scopes}/{*key}` | PUT GET |
//! | `/v1/objects:multipart:complete/{usecase}/{scopes}/{*key}` | POST |
//! | `/health`, `/ready`, `/keda`, `/metrics` | GET (exempt from auth and the in-flight limit) |

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post, put};
use objectstore_service::service::StorageService;

use crate::admission::Admission;
use crate::auth::{Authenticator, KeyDirectory};

use crate::config::Config;
use crate::endpoints::{batch, internal, multipart, objects};
use crate::metrics::Metrics;
use crate::middleware::envelope;

/// Everything a request handler needs, behind one [`Arc`]: the router clones the state for
/// every request (each `State` extractor and stateful middleware), and one reference count
/// is cheaper than one per field. Fields are reached through [`Deref`] to [`AppParts`].
#[derive(Debug, Clone)]
pub struct AppState(Arc<AppParts>);

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct AppParts {
    /// The storage engine.
    pub service: StorageService,
    /// The configuration the server was started with.
    pub config: Arc<Config>,
    /// Verifies credentials (`auth.*`).
    pub authenticator: Arc<Authenticator>,
    /// Killswitches, rate limits and usecase policies.
    pub admission: Arc<Admission>,
    /// Counters and gauges of the HTTP layer.
    pub metrics: Arc<Metrics>,
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
    pub fn with_parts(
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

/// Builds the router with every route of the wire contract.
pub fn router(state: AppState) -> Router {
    const COLLECTION: &str = "/v1/objects/{usecase}/{scopes}";
    const OBJECT: &str = "/v1/objects/{usecase}/{scopes}/{*key}";
    const MULTIPART: &str = "/v1/objects:multipart/{usecase}/{scopes}";
    const MULTIPART_OBJECT: &str = "/v1/objects:multipart/{usecase}/{scopes}/{*key}";

    let object_routes = Router::new()
        .route(COLLECTION, post(objects::post_object))
        .route(&format!("{COLLECTION}/"), post(objects::post_object))
        .route(
            OBJECT,
            get(objects::get_object)
                .head(objects::head_object)
                .put(objects::put_object)
                .patch(crate::endpoints::expiry::patch_object)
                .delete(objects::delete_object),
        )
        .route("/v1/objects:batch/{usecase}/{scopes}/", post(batch::batch))
        .route(MULTIPART, post(multipart::initiate_generated))
        .route(
            &format!("{MULTIPART}/"),
            post(multipart::initiate_generated),
        )
        .route(
            MULTIPART_OBJECT,
            put(multipart::initiate).delete(multipart::abort),
        )
        .route(
            "/v1/objects:multipart:parts/{usecase}/{scopes}/{*key}",
            put(multipart::upload_part).get(multipart::list_parts),
        )
        .route(
            "/v1/objects:multipart:complete/{usecase}/{scopes}/{*key}",
            post(multipart::complete),
        );

    let internal_routes = Router::new()
        .route("/health", get(internal::health))
        .route("/ready", get(internal::ready))
        .route("/keda", get(internal::keda))
        .route("/metrics", get(crate::metrics::render_metrics));

    object_routes
        .merge(internal_routes)
        .layer(from_fn_with_state(state.clone(), envelope))
        .with_state(state)
}
