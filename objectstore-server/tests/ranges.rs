//! Range reads (docs/http-api.md §5).

mod common;

use common::{Memory, json};
use http::StatusCode;

const PAYLOAD: &str = "0123456789abcdefghijkl"; // 22 bytes

async fn server_with_object() -> (Memory, String) {
    let s = Memory::start().await;
    let url = s.object("u", "_", "ranged");
    let put = s
        .put_with(&url, &[("content-type", "text/plain")], PAYLOAD)
        .await;
    assert_eq!(put.status(), StatusCode::OK);
    (s, url)
}

#[tokio::test]
async fn satisfiable_ranges_are_206_with_content_range() {
    let (s, url) = server_with_object().await;
    for (range, content_range, body) in [
        ("bytes=0-4", "bytes 0-4/22", "01234"),
        ("bytes=-9", "bytes 13-21/22", "defghijkl"),
        ("bytes=7-", "bytes 7-21/22", "789abcdefghijkl"),
        ("bytes=20-100", "bytes 20-21/22", "kl"),
        ("bytes=-100", "bytes 0-21/22", PAYLOAD),
        ("BYTES=3-3", "bytes 3-3/22", "3"),
        ("bytes=21-21", "bytes 21-21/22", "l"),
    ] {
        let r = s.get_with(&url, &[("range", range)]).await;
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        let h = r.headers();
        assert_eq!(h["content-range"], content_range, "{range}");
        assert_eq!(h["content-length"], body.len().to_string(), "{range}");
        assert_eq!(h["accept-ranges"], "bytes");
        assert_eq!(h["x-sn-size"], "22", "size of the whole object");
        assert_eq!(h["content-type"], "text/plain");
        assert_eq!(r.text().await.unwrap(), body, "{range}");
    }
}

#[tokio::test]
async fn unsatisfiable_ranges_are_416() {
    let (s, url) = server_with_object().await;
    for range in ["bytes=100-200", "bytes=22-", "bytes=22-30"] {
        let r = s.get_with(&url, &[("range", range)]).await;
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(r.headers()["content-range"], "bytes */22");
        assert_eq!(r.headers()["accept-ranges"], "bytes");
        assert!(r.bytes().await.unwrap().is_empty());
    }
    let empty = s.object("u", "_", "empty");
    s.put(&empty, "").await;
    let r = s.get_with(&empty, &[("range", "bytes=0-")]).await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers()["content-range"], "bytes */0");
}

#[tokio::test]
async fn malformed_ranges_are_400_even_for_missing_objects() {
    let (s, url) = server_with_object().await;
    let missing = s.object("u", "_", "missing");
    for range in [
        "bytes=5-1",
        "items=0-1",
        "bytes=-0",
        "bytes=a-b",
        "bytes=1",
        "bytes= 1-2",
        "bytes=-",
    ] {
        for target in [&url, &missing] {
            let r = s.get_with(target, &[("range", range)]).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{range}");
            let detail = json(r).await["detail"].as_str().unwrap().to_owned();
            assert!(detail.contains("invalid Range header"), "{detail}");
        }
    }
}

#[tokio::test]
async fn missing_object_with_a_range_is_404_and_multi_ranges_are_ignored() {
    let (s, url) = server_with_object().await;
    let r = s
        .get_with(s.object("u", "_", "missing"), &[("range", "bytes=0-1")])
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s.get_with(&url, &[("range", "bytes=0-1,3-4")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), PAYLOAD);
}

#[tokio::test]
async fn head_ignores_range() {
    let (s, url) = server_with_object().await;
    let r = common::send(s.client.head(&url).header("range", "bytes=100-")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["x-sn-size"], "22");
}
