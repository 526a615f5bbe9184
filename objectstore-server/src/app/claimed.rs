//! Serving a request the matcher claimed ([`super::matcher`]): the same extractors, in the
//! same order, and the same handlers as the axum routes of `app.rs`, called directly.
//!
//! What axum's routing adds around a handler, and how it is kept:
//!
//! | axum | here |
//! |---|---|
//! | `MatchedPath` for the request metrics | the route's handles, resolved once ([`super::App`]) |
//! | path parameters in the request extensions, read by `ObjectPath`/`ContextPath` | decoded from the path by the match, passed to `ObjectPath::from_params` / `ContextPath::from_params` |
//! | a rejected extractor answers with its rejection | the same (`extract!`) |
//! | `HeaderMap` extractor: a clone of the request headers | the request's own map, moved (nothing reads it after the handler starts) |
//! | `content-length` from the body's exact size, the body of a HEAD response dropped | the same for HEAD; other responses leave the header to hyper, which writes the same value from the same size |
//!
//! One boxed future per request (the service's), instead of axum's per-layer boxing and
//! service clones; no request extensions.

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_LENGTH;
use http::{HeaderValue, Method};
use http_body::Body as _;

use super::matcher::{Endpoint, Matched};
use crate::access::Auth;
use crate::endpoints::{expiry, objects};
use crate::extract::{Conditions, ContextPath, ObjectPath, RequestedRange};
use crate::state::AppState;

/// Runs a `FromRequestParts` extractor; a rejection is the response.
macro_rules! extract {
    ($ty:ty, $parts:expr, $state:expr) => {
        match <$ty>::from_request_parts(&mut $parts, &$state).await {
            Ok(value) => value,
            Err(rejection) => return rejection.into_response(),
        }
    };
}

/// Answers a claimed request (without the envelope: the caller wraps this in
/// [`crate::middleware::around`]).
pub(crate) async fn serve(state: AppState, matched: Matched, request: Request) -> Response {
    let head = request.method() == Method::HEAD;
    let response = dispatch(state, matched, request).await;
    if head {
        head_response(response)
    } else {
        response
    }
}

async fn dispatch(state: AppState, matched: Matched, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let auth = extract!(Auth, parts, state);
    let path = parts.uri.path();
    let (usecase, scopes) = (matched.usecase(path), matched.scopes(path));
    if matched.endpoint == Endpoint::Post {
        let context = ContextPath::from_params(&state, &usecase, &scopes, &parts.headers);
        let context = match context {
            Ok(context) => context,
            Err(rejection) => return rejection.into_response(),
        };
        let query = extract!(Query<_>, parts, state);
        let headers = std::mem::take(&mut parts.headers);
        return objects::post_object(State(state), auth, context, query, headers, body)
            .await
            .into_response();
    }
    let key = matched.key(path).into_owned();
    let id = ObjectPath::from_params(&state, &usecase, &scopes, key, &parts.headers);
    let id = match id {
        Ok(id) => id,
        Err(rejection) => return rejection.into_response(),
    };
    let result = match matched.endpoint {
        Endpoint::Get => {
            let range = extract!(RequestedRange, parts, state);
            let conditions = extract!(Conditions, parts, state);
            objects::get_object(State(state), auth, id, range, conditions).await
        }
        Endpoint::Head => {
            let conditions = extract!(Conditions, parts, state);
            objects::head_object(State(state), auth, id, conditions).await
        }
        Endpoint::Put => {
            let query = extract!(Query<_>, parts, state);
            let headers = std::mem::take(&mut parts.headers);
            objects::put_object(State(state), auth, id, query, headers, body).await
        }
        Endpoint::Delete => {
            let query = extract!(Query<_>, parts, state);
            objects::delete_object(State(state), auth, id, query).await
        }
        Endpoint::Patch => {
            let request = Request::from_parts(parts, body);
            let json = match Json::from_request(request, &state).await {
                Ok(json) => json,
                Err(rejection) => return rejection.into_response(),
            };
            expiry::patch_object(State(state), auth, id, json).await
        }
        Endpoint::Post => unreachable!("handled above"),
    };
    result.into_response()
}

/// A HEAD response as axum's routes leave it: `content-length` from the body's exact size
/// (unless already set), then no body.
fn head_response(mut response: Response) -> Response {
    if !response.headers().contains_key(CONTENT_LENGTH)
        && let Some(size) = response.body().size_hint().exact()
    {
        let value = if size == 0 {
            HeaderValue::from_static("0")
        } else {
            HeaderValue::from(size)
        };
        response.headers_mut().insert(CONTENT_LENGTH, value);
    }
    response.map(|_| Body::empty())
}
