//! The matcher against axum's router: every request [`match_route`] claims must reach the
//! same route and method in a router with the route table of `app.rs`, with the same
//! decoded parameters.

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, RawPathParams};
use axum::routing::{MethodRouter, get, on, post, put};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use proptest::prelude::*;
use tower::ServiceExt as _;

use super::*;
use crate::paths::{
    BATCH, COLLECTION, MULTIPART, MULTIPART_COMPLETE, MULTIPART_OBJECT, MULTIPART_PARTS, OBJECT,
    with_slash,
};

/// Answers with the method, the matched template and the decoded parameters, one per line,
/// percent-encoded in the `x-probe` header (a HEAD response has no body).
async fn probe(
    method: Method,
    matched: MatchedPath,
    params: RawPathParams,
) -> [(&'static str, String); 1] {
    let mut out = format!("{method}\n{}", matched.as_str());
    for (name, value) in &params {
        out.push_str(&format!("\n{name}={value}"));
    }
    let encoded = percent_encoding::utf8_percent_encode(&out, percent_encoding::NON_ALPHANUMERIC);
    [("x-probe", encoded.to_string())]
}

fn probe_on(methods: &[Method]) -> MethodRouter {
    let mut router = MethodRouter::new();
    for method in methods {
        let filter = axum::routing::MethodFilter::try_from(method.clone()).unwrap();
        router = router.merge(on(filter, probe));
    }
    router
}

/// The route table of `app.rs` (same templates, same methods), with probes as handlers.
fn router() -> Router {
    use Method as M;
    let object = [M::GET, M::HEAD, M::PUT, M::PATCH, M::DELETE];
    Router::new()
        .route(COLLECTION, post(probe))
        .route(&with_slash(COLLECTION), post(probe))
        .route(OBJECT, probe_on(&object))
        .route(BATCH, post(probe))
        .route(MULTIPART, post(probe))
        .route(&with_slash(MULTIPART), post(probe))
        .route(MULTIPART_OBJECT, probe_on(&[M::PUT, M::DELETE]))
        .route(MULTIPART_PARTS, put(probe).get(probe))
        .route(MULTIPART_COMPLETE, post(probe))
        .route("/health", get(probe))
}

/// What the router answers for `method` on `path`: status and the probe's answer (else the
/// body).
async fn route(router: &Router, method: &Method, path: &str) -> (StatusCode, String) {
    let request = Request::builder()
        .method(method.clone())
        .uri(path)
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    if let Some(probe) = response.headers().get("x-probe") {
        let text = percent_decode_str(probe.to_str().unwrap())
            .decode_utf8()
            .unwrap();
        return (status, text.into_owned());
    }
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// What the router would have to answer for a claimed request.
fn expected(method: &Method, path: &str, m: &Matched) -> String {
    let template = match (m.endpoint.is_collection(), path.ends_with('/')) {
        (true, false) => COLLECTION.to_owned(),
        (true, true) => with_slash(COLLECTION),
        (false, _) => OBJECT.to_owned(),
    };
    let mut out = format!(
        "{method}\n{template}\nusecase={}\nscopes={}",
        m.usecase(path),
        m.scopes(path)
    );
    if !m.endpoint.is_collection() {
        out.push_str(&format!("\nkey={}", m.key(path)));
    }
    out
}

async fn check(router: &Router, method: &Method, path: &str) -> Option<Matched> {
    // A path that is no URI never reaches the server.
    path.parse::<http::Uri>().ok()?;
    let matched = match_route(method, path)?;
    let (status, body) = route(router, method, path).await;
    assert_eq!(status, StatusCode::OK, "{method} {path}: {body}");
    assert_eq!(body, expected(method, path, &matched), "{method} {path}");
    Some(matched)
}

const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::POST,
    Method::OPTIONS,
];

#[tokio::test]
async fn the_usual_requests_are_claimed_as_the_router_routes_them() {
    let router = router();
    let claimed = [
        (Method::GET, "/v1/objects/app/_/key", Endpoint::Get),
        (
            Method::HEAD,
            "/v1/objects/app/org=1;p=2/a/b/c",
            Endpoint::Head,
        ),
        (Method::PUT, "/v1/objects/app/_/k%20ey%2Fx+y", Endpoint::Put),
        (Method::PATCH, "/v1/objects/app/_/k", Endpoint::Patch),
        (Method::DELETE, "/v1/objects/app/_/k.txt", Endpoint::Delete),
        (Method::POST, "/v1/objects/app/_", Endpoint::Post),
        (Method::POST, "/v1/objects/app/_/", Endpoint::Post),
        (
            Method::GET,
            "/v1/objects/%C3%A9/_/%F0%9F%93%84",
            Endpoint::Get,
        ),
    ];
    for (method, path, endpoint) in claimed {
        let matched = check(&router, &method, path).await;
        assert_eq!(
            matched.map(|m| m.endpoint),
            Some(endpoint),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn unusual_requests_are_left_to_the_router() {
    let declined = [
        (Method::POST, "/v1/objects/app/_/key"),
        (Method::OPTIONS, "/v1/objects/app/_/key"),
        (Method::GET, "/v1/objects/app/_"),
        (Method::GET, "/v1/objects/app/_/"),
        (Method::GET, "/v1/objects//_/key"),
        (Method::GET, "/v1/objects/app//key"),
        (Method::GET, "/v1/objects/app/_//key"),
        (Method::GET, "/v1/objects/%FF/_/key"),
        (Method::GET, "/v1/objects/app/_/%C3"),
        (Method::GET, "/v1/objects:batch/app/_/"),
        (Method::GET, "/v1/objects"),
        (Method::GET, "/v1/objects/"),
        (Method::GET, "/v1/objects/app"),
        (Method::GET, "/health"),
    ];
    for (method, path) in declined {
        assert_eq!(match_route(&method, path), None, "{method} {path}");
    }
}

/// Paths built from pieces that exercise the edges: empty segments, escapes (valid and
/// not UTF-8), the other routes' prefixes, trailing slashes.
fn paths() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "",
        "v1",
        "objects",
        "objects:batch",
        "app",
        "_",
        "a=1;b=2",
        "k",
        "k.txt",
        "..",
        "%2F",
        "%20",
        "%C3%A9",
        "%FF",
        "%",
        "+",
        "a%2Fb",
    ]);
    (
        prop::sample::select(vec!["/v1/objects/", "/v1/objects", "/v1/", "/"]),
        prop::collection::vec(piece, 0..6),
        any::<bool>(),
    )
        .prop_map(|(start, pieces, slash)| {
            let mut path = format!("{start}{}", pieces.join("/"));
            if slash {
                path.push('/');
            }
            path
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, rng_seed: proptest::test_runner::RngSeed::Fixed(15), ..ProptestConfig::default() })]

    #[test]
    fn claimed_requests_match_the_router(path in paths(), method in prop::sample::select(METHODS.to_vec())) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let router = router();
            check(&router, &method, &path).await;
        });
    }
}
