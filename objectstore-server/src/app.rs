//! The router (docs/http-api.md §1.2 and §1.3): every route of the wire contract and its handler.
//!
//! Route table (the templates are named in `paths.rs`; everything else: 404 with an empty
//! body; a known path with another method: 405 with `Allow`):
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
//!
//! Two routers serve this table. The object and collection routes, almost all of the
//! traffic, are matched by hand ([`matcher`]) and their handlers called directly
//! ([`claimed`]): axum's router boxes and clones a service per layer and request and
//! allocates the path parameters and the request extensions, several dozen allocations per
//! small GET (`docs/benchmarks/report-2026-12-06-hotpath.md`). Every other request, and any
//! request of an unusual shape, goes to the axum router below, which has the whole table;
//! both run the same envelope ([`crate::middleware`]), extractors and handlers.

mod claimed;
mod matcher;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::{get, post, put};
use futures::TryFutureExt as _;
use futures::future::Either;
use http::Request;

use crate::endpoints::{batch, expiry, internal, multipart, objects};
use crate::metrics::RouteMetrics;
use crate::middleware::{ResponseBody, envelope};
use crate::paths::{
    BATCH, COLLECTION, MULTIPART, MULTIPART_COMPLETE, MULTIPART_OBJECT, MULTIPART_PARTS, OBJECT,
    with_slash,
};
use crate::state::AppState;

/// The HTTP service: the hand-matched object routes, else the axum router (module docs).
/// Cloned per request by hyper's glue: one reference count.
#[derive(Clone)]
pub(crate) struct App(Arc<Inner>);

struct Inner {
    state: AppState,
    router: Router,
    /// The metric handles of the object and the collection route.
    object: Arc<RouteMetrics>,
    collection: Arc<RouteMetrics>,
}

/// Builds the service with every route of the wire contract.
pub(crate) fn router(state: AppState) -> App {
    App(Arc::new(Inner {
        object: state.metrics.route(Some(OBJECT)),
        collection: state.metrics.route(Some(COLLECTION)),
        router: axum_router(state.clone()),
        state,
    }))
}

/// The response body of either router: the axum router's boxed body, or the envelope's
/// own body around a claimed request's (one box less).
pub(crate) type AppBody = http_body_util::Either<Body, ResponseBody>;

type Claimed = Pin<Box<dyn Future<Output = Result<Response<AppBody>, Infallible>> + Send>>;
type Routed = futures::future::MapOk<
    axum::routing::future::RouteFuture<Infallible>,
    fn(Response) -> Response<AppBody>,
>;

impl<B> tower::Service<Request<B>> for App
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response<AppBody>;
    type Error = Infallible;
    type Future = Either<Routed, Claimed>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let started = Instant::now();
        // Most GETs have no body: an empty one is not boxed.
        let request = request.map(|body| {
            if body.is_end_stream() {
                Body::empty()
            } else {
                Body::new(body)
            }
        });
        let Some(matched) = matcher::match_route(request.method(), request.uri().path()) else {
            let mut router = self.0.router.clone();
            let routed: fn(Response) -> Response<AppBody> = |r| r.map(AppBody::Left);
            return Either::Left(tower::Service::call(&mut router, request).map_ok(routed));
        };
        let inner = Arc::clone(&self.0);
        Either::Right(Box::pin(async move {
            let route = if matched.endpoint.is_collection() {
                &inner.collection
            } else {
                &inner.object
            };
            let state = inner.state.clone();
            let response =
                crate::middleware::around(state.clone(), route.clone(), started, request, |r| {
                    claimed::serve(state, matched, r)
                })
                .await;
            Ok(response.map(AppBody::Right))
        }))
    }
}

/// The axum router with every route of the wire contract.
fn axum_router(state: AppState) -> Router {
    let object_routes = Router::new()
        .route(COLLECTION, post(objects::post_object))
        .route(&with_slash(COLLECTION), post(objects::post_object))
        .route(
            OBJECT,
            get(objects::get_object)
                .head(objects::head_object)
                .put(objects::put_object)
                .patch(expiry::patch_object)
                .delete(objects::delete_object),
        )
        .route(BATCH, post(batch::batch))
        .route(MULTIPART, post(multipart::initiate_generated))
        .route(&with_slash(MULTIPART), post(multipart::initiate_generated))
        .route(
            MULTIPART_OBJECT,
            put(multipart::initiate).delete(multipart::abort),
        )
        .route(
            MULTIPART_PARTS,
            put(multipart::upload_part).get(multipart::list_parts),
        )
        .route(MULTIPART_COMPLETE, post(multipart::complete));

    let internal_routes = Router::new()
        .route("/health", get(internal::health))
        .route("/ready", get(internal::ready))
        .route("/keda", get(internal::keda))
        .route("/metrics", get(internal::metrics));

    object_routes
        .merge(internal_routes)
        .layer(from_fn_with_state(state.clone(), envelope))
        .with_state(state)
}
