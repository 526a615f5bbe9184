//! PATCH `extend_expiry` (spec 18.4).

mod common;

use std::time::Duration;

use common::Memory;
use http::StatusCode;
use objectstore_types::time;

async fn patch(s: &Memory, key: &str, body: &str) -> reqwest::Response {
    s.client
        .patch(s.object("u", "_", key))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn head(s: &Memory, key: &str) -> reqwest::header::HeaderMap {
    let r = s.client.head(s.object("u", "_", key)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    r.headers().clone()
}

fn instant(h: &reqwest::header::HeaderMap, name: &str) -> std::time::SystemTime {
    time::parse(h[name].to_str().unwrap()).unwrap()
}

#[tokio::test]
async fn extends_from_creation_and_never_shortens() {
    let s = Memory::start().await;
    s.client
        .put(s.object("u", "_", "k"))
        .header("x-sn-expiration", "ttl:1d")
        .body("payload")
        .send()
        .await
        .unwrap();
    let before = head(&s, "k").await;
    let created = instant(&before, "x-sn-time-created");

    let r = patch(
        &s,
        "k",
        r#"{"extend_expiry":{"after":"3d","from":"creation"}}"#,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.bytes().await.unwrap().is_empty());
    let after = head(&s, "k").await;
    assert_eq!(
        instant(&after, "x-sn-time-expires"),
        created + Duration::from_secs(3 * 86_400)
    );
    assert_eq!(after["x-sn-expiration"], "ttl:3d");

    let r = patch(
        &s,
        "k",
        r#"{"extend_expiry":{"after":"2d","from":"creation"}}"#,
    )
    .await;
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

    let get = s.client.get(s.object("u", "_", "k")).send().await.unwrap();
    assert_eq!(get.text().await.unwrap(), "payload");
}

#[tokio::test]
async fn missing_expired_and_manual_objects() {
    let s = Memory::start().await;
    let r = patch(
        &s,
        "missing",
        r#"{"extend_expiry":{"after":"1d","from":"now"}}"#,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.bytes().await.unwrap().is_empty());

    s.client
        .put(s.object("u", "_", "manual"))
        .body("x")
        .send()
        .await
        .unwrap();
    let r = patch(
        &s,
        "manual",
        r#"{"extend_expiry":{"after":"1d","from":"now"}}"#,
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    s.client
        .put(s.object("u", "_", "short"))
        .header("x-sn-expiration", "ttl:10s")
        .body("x")
        .send()
        .await
        .unwrap();
    s.clock.advance(Duration::from_secs(60));
    let r = patch(
        &s,
        "short",
        r#"{"extend_expiry":{"after":"1d","from":"now"}}"#,
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "expired objects are absent"
    );
}

#[tokio::test]
async fn bad_bodies_are_rejected() {
    let s = Memory::start().await;
    s.client
        .put(s.object("u", "_", "k"))
        .header("x-sn-expiration", "ttl:1d")
        .body("x")
        .send()
        .await
        .unwrap();
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
    let r = s
        .client
        .patch(s.object("u", "_", "k"))
        .body(r#"{"extend_expiry":{"after":"1d","from":"now"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}
