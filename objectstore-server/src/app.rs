//! The router (spec sections 0 and 18): every route of the wire contract and its handler.
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

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post, put};

use crate::endpoints::{batch, expiry, internal, multipart, objects};
use crate::middleware::envelope;
use crate::paths::{
    BATCH, COLLECTION, MULTIPART, MULTIPART_COMPLETE, MULTIPART_OBJECT, MULTIPART_PARTS, OBJECT,
    with_slash,
};
use crate::state::AppState;

/// Builds the router with every route of the wire contract.
pub(crate) fn router(state: AppState) -> Router {
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
