//! PATCH `extend_expiry` (docs/http-api.md §7).

mod common;

use std::time::Duration;

use common::requests::with_headers;
use common::{Memory, send};
use http::StatusCode;
use objectstore_types::time;

async fn patch(s: &Memory, key: &str, body: &str) -> reqwest::Response {
    let json = [("content-type", "application/json")];
    send(with_headers(s.client.patch(s.object("u", "_", key)), &json).body(body.to_owned())).await
}

/// A day more from now.
const ONE_DAY_FROM_NOW: &str = r#"{"extend_expiry":{"after":"1d","from":"now"}}"#;

/// `after` (`3d`) from the object's creation.
fn from_creation(after: &str) -> String {
    format!(r#"{{"extend_expiry":{{"after":"{after}","from":"creation"}}}}"#)
}

/// `PUT /v1/objects/u/_/{key}` of `body`, expiring by `policy`.
async fn put_expiring(s: &Memory, key: &str, policy: &str, body: &str) {
    let expiration = [("x-sn-expiration", policy)];
    s.put_with(s.object("u", "_", key), &expiration, body.to_owned())
        .await;
}

async fn head(s: &Memory, key: &str) -> reqwest::header::HeaderMap {
    let r = s.head(s.object("u", "_", key)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Only the object's headers: not the per-response request id and date.
    let mut headers = r.headers().clone();
    headers.remove("x-request-id");
    headers.remove("date");
    headers
}

fn instant(h: &reqwest::header::HeaderMap, name: &str) -> std::time::SystemTime {
    time::parse(h[name].to_str().unwrap()).unwrap()
}

#[tokio::test]
async fn extends_from_creation_and_never_shortens() {
    let s = Memory::start().await;
    put_expiring(&s, "k", "ttl:1d", "payload").await;
    let before = head(&s, "k").await;
    let created = instant(&before, "x-sn-time-created");

    let r = patch(&s, "k", &from_creation("3d")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.bytes().await.unwrap().is_empty());
    let after = head(&s, "k").await;
    assert_eq!(
        instant(&after, "x-sn-time-expires"),
        created + Duration::from_secs(3 * 86_400)
    );
    assert_eq!(after["x-sn-expiration"], "ttl:3d");

    let r = patch(&s, "k", &from_creation("2d")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        head(&s, "k").await,
        after,
        "an already-sufficient deadline is kept"
    );

    let at = time::format(created + Duration::from_secs(10 * 86_400));
    let r = patch(&s, "k", &format!(r#"{{"extend_expiry":{{"at":"{at}"}}}}"#)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(head(&s, "k").await["x-sn-time-expires"], at.as_str());

    let get = s.get(s.object("u", "_", "k")).await;
    assert_eq!(get.text().await.unwrap(), "payload");
}

#[tokio::test]
async fn missing_expired_and_manual_objects() {
    let s = Memory::start().await;
    let r = patch(&s, "missing", ONE_DAY_FROM_NOW).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.bytes().await.unwrap().is_empty());

    s.put(s.object("u", "_", "manual"), "x").await;
    let r = patch(&s, "manual", ONE_DAY_FROM_NOW).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    put_expiring(&s, "short", "ttl:10s", "x").await;
    s.clock.advance(Duration::from_secs(60));
    let r = patch(&s, "short", ONE_DAY_FROM_NOW).await;
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "expired objects are absent"
    );
}

#[tokio::test]
async fn bad_bodies_are_rejected() {
    let s = Memory::start().await;
    put_expiring(&s, "k", "ttl:1d", "x").await;
    for (body, status) in [
        ("{not json", 400),
        (r#"{"extend_expiry":{}}"#, 422),
        (r#"{"extend_expiry":{"after":"1d"}}"#, 422),
        (r#"{"extend_expiry":{"after":"1d","from":"later"}}"#, 422),
        (
            r#"{"extend_expiry":{"at":"2026-01-01T00:00:00+02:00"}}"#,
            422,
        ),
        (r#"{"extend_expiry":{"after":"soon","from":"now"}}"#, 422),
        (r#"{"other":1}"#, 422),
    ] {
        let r = patch(&s, "k", body).await;
        assert_eq!(r.status().as_u16(), status, "{body}");
        assert!(!r.text().await.unwrap().is_empty(), "{body}: a message");
    }
    let untyped = s.client.patch(s.object("u", "_", "k"));
    let r = send(untyped.body(ONE_DAY_FROM_NOW)).await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}
