//! `POST /v1/objects:batch/{usecase}/{scopes}/`: the HTTP side of the batch endpoint.
//!
//! The request pipeline (in-flight limit, authentication, path and admission) runs as for every
//! object route; then [`crate::batch::handle`] parses and executes the operations. Each operation
//! passes the [`RequestGuard`] first (docs/http-api.md §8.4): a throughput token (429), the
//! permission of its kind (403), and for inserts the usecase expiration policy (400).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use futures::StreamExt as _;
use http::HeaderMap;
use objectstore_types::{Metadata, ObjectContext, Permission};

use crate::access::Auth;
use crate::batch::{BatchGuard, OpKind, OpRejection};
use crate::error::ApiError;
use crate::extract::ContextPath;
use crate::state::AppState;

/// The permission an operation kind needs.
pub(crate) fn permission_for(kind: OpKind) -> Permission {
    match kind {
        OpKind::Get | OpKind::Head => Permission::Read,
        OpKind::Insert => Permission::Write,
        OpKind::Delete => Permission::Delete,
    }
}

/// The per-operation checks of one batch request.
#[derive(Debug)]
pub(crate) struct RequestGuard {
    state: AppState,
    auth: Auth,
    context: ObjectContext,
}

impl BatchGuard for RequestGuard {
    fn check(&self, kind: OpKind, metadata: Option<&Metadata>) -> Result<(), OpRejection> {
        let reject = |e: ApiError| OpRejection {
            status: e.status(),
            message: e.to_string(),
        };
        self.state
            .admission
            .admit_batch_op(&self.context)
            .map_err(|r| reject(ApiError::Rejected(r)))?;
        self.auth
            .require(permission_for(kind), &self.context)
            .map_err(reject)?;
        if let Some(metadata) = metadata {
            self.state
                .admission
                .check_policy(&self.context, &metadata.expiration_policy)
                .map_err(|e| reject(e.into()))?;
        }
        Ok(())
    }
}

/// Serves a batch request.
pub(crate) async fn batch(
    State(state): State<AppState>,
    auth: Auth,
    ContextPath(context): ContextPath,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let service = state.service.clone();
    let admission = state.admission.clone();
    // Bandwidth: the request body (insert payloads) is charged as it is read, the response
    // (get payloads) as it is sent.
    let body = Body::from_stream(crate::extract::payload(&state, &context, body));
    let guard = Arc::new(RequestGuard {
        state,
        auth,
        context: context.clone(),
    });
    let response = crate::batch::handle(service, context.clone(), &headers, body, guard).await;
    let (parts, body) = response.into_parts();
    let stream = body
        .into_data_stream()
        .map(|chunk| chunk.map_err(std::io::Error::other))
        .boxed();
    Response::from_parts(parts, Body::from_stream(admission.meter(&context, stream)))
}
