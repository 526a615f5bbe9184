//! ETags and conditional reads over the HTTP API (docs/http-api.md §4.2-§4.4, §4.6 and §6),
//! against an in-process server over the tiered engine (memory high-volume store, filesystem
//! long-term store), as the default layout stores objects.

mod common;

use std::sync::Arc;

use common::json;
use common::tiered::TieredServer;
use http::StatusCode;
use objectstore_service::backend::memory::Entry;
use objectstore_service::digest::{Md5, multipart_etag};
use objectstore_types::{Metadata, ObjectContext, ObjectId, ObjectKey, Scopes, Usecase};

/// A server over the default tiered layout.
async fn tiered() -> TieredServer {
    TieredServer::start(None, |lt| Arc::new(lt)).await
}

fn quoted(bytes: &[u8]) -> String {
    Md5::of(bytes).quoted()
}

#[tokio::test]
async fn put_get_and_head_carry_the_md5_of_the_bytes() {
    let s = tiered().await;
    let large: Vec<u8> = (0..3 * 1024 * 1024 + 5).map(|i| (i % 253) as u8).collect();
    for (key, body) in [("small", b"hello etag".to_vec()), ("large", large)] {
        let url = s.object(key);
        let put = s.client.put(&url).body(body.clone()).send().await.unwrap();
        assert_eq!(put.status(), StatusCode::OK);
        assert_eq!(put.headers()["etag"], quoted(&body), "{key}: PUT");
        let get = s.client.get(&url).send().await.unwrap();
        assert_eq!(get.headers()["etag"], quoted(&body), "{key}: GET");
        assert_eq!(get.bytes().await.unwrap().to_vec(), body);
        let head = s.client.head(&url).send().await.unwrap();
        assert_eq!(head.headers()["etag"], quoted(&body), "{key}: HEAD");
        let ranged = s
            .client
            .get(&url)
            .header("range", "bytes=0-3")
            .send()
            .await
            .unwrap();
        assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(ranged.headers()["etag"], quoted(&body), "{key}: 206");
    }
    let post = s
        .client
        .post(s.server.url("/v1/objects/app/org=1"))
        .body("posted")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::CREATED);
    assert_eq!(post.headers()["etag"], quoted(b"posted"));
    // A client cannot choose it.
    let url = s.object("forged");
    let put = s
        .client
        .put(&url)
        .header("etag", "\"00000000000000000000000000000000\"")
        .body("real")
        .send()
        .await
        .unwrap();
    assert_eq!(put.headers()["etag"], quoted(b"real"));
}

#[tokio::test]
async fn if_none_match_and_if_match_on_get_and_head() {
    let s = tiered().await;
    let url = s.object("conditional");
    let body = b"conditional body".to_vec();
    s.client.put(&url).body(body.clone()).send().await.unwrap();
    let etag = quoted(&body);
    let weak = format!("W/{etag}");
    let unquoted = Md5::of(&body).hex();
    let cases: &[(&str, &str, StatusCode)] = &[
        ("if-none-match", &etag, StatusCode::NOT_MODIFIED),
        ("if-none-match", &weak, StatusCode::NOT_MODIFIED),
        ("if-none-match", "*", StatusCode::NOT_MODIFIED),
        ("if-none-match", "\"other\", \"more\"", StatusCode::OK),
        ("if-match", &etag, StatusCode::OK),
        ("if-match", &unquoted, StatusCode::OK),
        ("if-match", "*", StatusCode::OK),
        ("if-match", "\"other\"", StatusCode::PRECONDITION_FAILED),
        ("if-match", &weak, StatusCode::PRECONDITION_FAILED),
    ];
    for (header, value, status) in cases {
        let get = s
            .client
            .get(&url)
            .header(*header, *value)
            .send()
            .await
            .unwrap();
        assert_eq!(get.status(), *status, "GET {header}: {value}");
        let head_status = if *status == StatusCode::OK {
            StatusCode::NO_CONTENT
        } else {
            *status
        };
        let head = s
            .client
            .head(&url)
            .header(*header, *value)
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), head_status, "HEAD {header}: {value}");
        match *status {
            StatusCode::NOT_MODIFIED => {
                assert_eq!(get.headers()["etag"], etag.as_str());
                assert!(get.bytes().await.unwrap().is_empty());
            }
            StatusCode::PRECONDITION_FAILED => {
                let detail = json(get).await["detail"].as_str().unwrap().to_owned();
                assert!(detail.contains("precondition failed"), "{detail}");
            }
            _ => assert_eq!(get.bytes().await.unwrap().to_vec(), body),
        }
    }
    // A range with a matching If-None-Match: 304 wins.
    let ranged = s
        .client
        .get(&url)
        .header("range", "bytes=0-1")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), StatusCode::NOT_MODIFIED);
    // An absent object is 404 whatever the conditions.
    let missing = s
        .client
        .get(s.object("missing"))
        .header("if-match", "*")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn objects_stored_before_etags_are_served_without_one() {
    let s = tiered().await;
    let id = ObjectId::new(
        ObjectContext {
            usecase: Usecase::new("app").unwrap(),
            scopes: Scopes::parse("org=1").unwrap(),
        },
        ObjectKey::new("old").unwrap(),
    );
    let metadata = Metadata {
        size: Some(3),
        ..Metadata::default()
    };
    s.hv.insert_raw(
        &id,
        Entry::Object(metadata, bytes::Bytes::from_static(b"old")),
    );
    let url = s.object("old");
    let get = s.client.get(&url).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    assert!(!get.headers().contains_key("etag"), "{:?}", get.headers());
    let if_match = s
        .client
        .get(&url)
        .header("if-match", quoted(b"old"))
        .send()
        .await
        .unwrap();
    assert_eq!(if_match.status(), StatusCode::PRECONDITION_FAILED);
    let any = s
        .client
        .head(&url)
        .header("if-none-match", "*")
        .send()
        .await
        .unwrap();
    assert_eq!(any.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn multipart_parts_and_objects_get_md5_etags() {
    let s = tiered().await;
    let init = json(
        s.client
            .put(s.server.url("/v1/objects:multipart/app/org=1/mp"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let upload_id = init["upload_id"].as_str().unwrap().to_owned();
    let parts = [vec![1u8; 70_000], vec![2u8; 30_000]];
    let mut listed = Vec::new();
    for (n, data) in parts.iter().enumerate() {
        let n = n + 1;
        let r = s
            .client
            .put(s.server.url(&format!(
                "/v1/objects:multipart:parts/app/org=1/mp?upload_id={upload_id}&part_number={n}"
            )))
            .body(data.clone())
            .send()
            .await
            .unwrap();
        let etag = json(r).await["etag"].as_str().unwrap().to_owned();
        assert_eq!(etag, quoted(data), "part {n}");
        listed.push(serde_json::json!({"part_number": n, "etag": etag}));
    }
    let r = s
        .client
        .post(s.server.url(&format!(
            "/v1/objects:multipart:complete/app/org=1/mp?upload_id={upload_id}"
        )))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "parts": listed }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(text.contains("\"key\""), "{text}");
    let head = s.client.head(s.object("mp")).send().await.unwrap();
    let want = multipart_etag(&[Md5::of(&parts[0]), Md5::of(&parts[1])]);
    assert_eq!(head.headers()["etag"], format!("\"{want}\""));
}

#[tokio::test]
async fn standard_headers_round_trip() {
    let s = tiered().await;
    let url = s.object("headers");
    let put = s
        .client
        .put(&url)
        .header("content-language", "de-CH")
        .header("cache-control", "public, max-age=60")
        .header("expires", "Thu, 01 Jan 2037 00:00:00 GMT")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    for response in [
        s.client.get(&url).send().await.unwrap(),
        s.client.head(&url).send().await.unwrap(),
    ] {
        let h = response.headers();
        assert_eq!(h["content-language"], "de-CH");
        assert_eq!(h["cache-control"], "public, max-age=60");
        assert_eq!(h["expires"], "Thu, 01 Jan 2037 00:00:00 GMT");
    }
}
