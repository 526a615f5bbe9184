//! Multipart uploads (docs/http-api.md §9), including the streamed complete.

mod common;

use common::{Memory, json, raw, send};
use http::StatusCode;
use serde_json::{Value, json};

async fn initiate(s: &Memory, key: Option<&str>) -> (String, String) {
    let request = match key {
        Some(k) => s
            .client
            .put(s.url(&format!("/v1/objects:multipart/u/org=1/{k}")))
            .header("content-type", "text/plain")
            .header("x-sn-expiration", "ttl:2d"),
        None => s.client.post(s.url("/v1/objects:multipart/u/org=1/")),
    };
    let r = send(request).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json(r).await;
    (
        body["key"].as_str().unwrap().to_owned(),
        body["upload_id"].as_str().unwrap().to_owned(),
    )
}

async fn put_part(s: &Memory, key: &str, upload_id: &str, n: u32, data: &str) -> String {
    let url = s.url(&format!(
        "/v1/objects:multipart:parts/u/org=1/{key}?upload_id={upload_id}&part_number={n}"
    ));
    let r = send(
        s.client
            .put(url)
            .header("content-length", data.len())
            .body(data.to_owned()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    json(r).await["etag"].as_str().unwrap().to_owned()
}

async fn complete(s: &Memory, key: &str, upload_id: &str, parts: Value) -> (StatusCode, Value) {
    let url = s.url(&format!(
        "/v1/objects:multipart:complete/u/org=1/{key}?upload_id={upload_id}"
    ));
    let r = send(
        s.client
            .post(url)
            .header("content-type", "application/json")
            .body(parts.to_string()),
    )
    .await;
    let status = r.status();
    assert_eq!(r.headers()["content-type"], "application/json");
    let text = r.text().await.unwrap();
    let document = serde_json::from_str(text.trim_start()).unwrap();
    (status, document)
}

#[tokio::test]
async fn full_upload_lists_completes_and_reads_back() {
    let s = Memory::start().await;
    let (key, upload_id) = initiate(&s, Some("big/file")).await;
    assert_eq!(key, "big/file");
    let e1 = put_part(&s, &key, &upload_id, 1, "hello ").await;
    let e2 = put_part(&s, &key, &upload_id, 2, "multipart ").await;
    let e3 = put_part(&s, &key, &upload_id, 3, "world").await;

    let url = |q: &str| {
        s.url(&format!(
            "/v1/objects:multipart:parts/u/org=1/{key}?upload_id={upload_id}{q}"
        ))
    };
    let all = json(s.get(url("")).await).await;
    assert_eq!(all["is_truncated"], false);
    assert!(all.get("next_part_number_marker").is_none());
    let parts = all["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[1]["part_number"], 2);
    assert_eq!(parts[1]["etag"], e2.as_str());
    assert_eq!(parts[1]["size"], 10);
    let modified = parts[1]["last_modified"].as_str().unwrap();
    assert!(
        objectstore_types::time::parse(modified).is_ok(),
        "{modified}"
    );

    let page = json(s.get(url("&max_parts=2")).await).await;
    assert_eq!(page["is_truncated"], true);
    assert_eq!(page["next_part_number_marker"], 2);
    assert_eq!(page["parts"].as_array().unwrap().len(), 2);
    let rest = json(s.get(url("&max_parts=2&part_number_marker=2")).await).await;
    assert_eq!(rest["parts"].as_array().unwrap().len(), 1);
    assert_eq!(rest["parts"][0]["part_number"], 3);

    let (status, doc) = complete(
        &s,
        &key,
        &upload_id,
        json!({"parts": [
            {"part_number": 1, "etag": e1},
            {"part_number": 2, "etag": e2},
            {"part_number": 3, "etag": e3},
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc, json!({"key": "big/file"}));

    let get = s.get(s.url("/v1/objects/u/org=1/big/file")).await;
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(get.headers()["content-type"], "text/plain");
    assert_eq!(get.headers()["x-sn-expiration"], "ttl:2d");
    assert_eq!(get.text().await.unwrap(), "hello multipart world");
}

#[tokio::test]
async fn generated_key_and_etags_change_with_content() {
    let s = Memory::start().await;
    let (key, upload_id) = initiate(&s, None).await;
    assert_eq!(uuid::Uuid::parse_str(&key).unwrap().get_version_num(), 4);
    let a = put_part(&s, &key, &upload_id, 1, "aaaa").await;
    let b = put_part(&s, &key, &upload_id, 1, "bbbb").await;
    let c = put_part(&s, &key, &upload_id, 1, "ccccc").await;
    assert_ne!(a, b);
    assert_ne!(b, c);
    let (status, doc) = complete(
        &s,
        &key,
        &upload_id,
        json!({"parts": [{"part_number": 1, "etag": c}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["key"], key.as_str());
}

#[tokio::test]
async fn rejected_completion_reports_the_backend_code_and_leaves_no_object() {
    let s = Memory::start().await;
    let (key, upload_id) = initiate(&s, Some("k")).await;
    put_part(&s, &key, &upload_id, 1, "data").await;
    let (status, doc) = complete(
        &s,
        &key,
        &upload_id,
        json!({"parts": [{"part_number": 1, "etag": "\"wrong\""}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let code = doc["error"]["code"].as_str().unwrap();
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(!code.is_empty() && !message.is_empty(), "{doc}");
    let get = s.get(s.url("/v1/objects/u/org=1/k")).await;
    assert_eq!(get.status(), StatusCode::NOT_FOUND);

    let (status, doc) = complete(
        &s,
        &key,
        "unknown-upload",
        json!({"parts": [{"part_number": 1, "etag": "x"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["error"]["code"], "NoSuchUpload", "{doc}");
}

#[tokio::test]
async fn abort_discards_the_upload() {
    let s = Memory::start().await;
    let (key, upload_id) = initiate(&s, Some("k")).await;
    put_part(&s, &key, &upload_id, 1, "data").await;
    let abort =
        |id: &str| s.delete(s.url(&format!("/v1/objects:multipart/u/org=1/k?upload_id={id}")));
    assert_eq!(abort(&upload_id).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        abort("never-existed").await.status(),
        StatusCode::NO_CONTENT
    );
    let list = s
        .get(s.url(&format!(
            "/v1/objects:multipart:parts/u/org=1/k?upload_id={upload_id}"
        )))
        .await;
    assert_eq!(list.status(), StatusCode::NOT_FOUND);
    let get = s.get(s.url("/v1/objects/u/org=1/k")).await;
    assert_eq!(get.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_part_requests_are_4xx_with_a_message() {
    let s = Memory::start().await;
    let (key, upload_id) = initiate(&s, Some("k")).await;
    let base = format!("/v1/objects:multipart:parts/u/org=1/{key}");

    // Chunked part upload: no Content-Length.
    let chunks: Vec<Result<&'static str, std::io::Error>> = vec![Ok("ab"), Ok("cd")];
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let r = s
        .put(
            s.url(&format!("{base}?upload_id={upload_id}&part_number=1")),
            body,
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let detail = json(r).await["detail"].as_str().unwrap().to_owned();
    assert_eq!(detail, "client error: Content-Length header is required");

    for (query, status) in [
        (format!("?upload_id={upload_id}&part_number=0"), 400),
        (format!("?upload_id={upload_id}&part_number=x"), 400),
        (format!("?upload_id={upload_id}&part_number=-1"), 400),
        (format!("?upload_id={upload_id}"), 400),
        ("?part_number=1".to_owned(), 400),
        ("?upload_id=a%2F..&part_number=1".to_owned(), 400),
        ("?upload_id=&part_number=1".to_owned(), 400),
        ("?upload_id=unknown-id&part_number=1".to_owned(), 404),
    ] {
        let r = raw(
            s.server.addr(),
            "PUT",
            &format!("{base}{query}"),
            "Content-Length: 2\r\n\r\nab",
        )
        .await;
        assert_eq!(
            r.status,
            status,
            "{query}: {:?}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(!r.body.is_empty(), "{query}: a message");
    }
    // Listing validates its query the same way.
    for (query, status) in [
        ("", 400),
        ("?upload_id=unknown-id", 404),
        ("?upload_id=x&max_parts=z", 400),
        ("?upload_id=x&part_number_marker=0", 400),
    ] {
        let r = s.get(s.url(&format!("{base}{query}"))).await;
        assert_eq!(r.status().as_u16(), status, "list {query}");
    }
}

#[tokio::test]
async fn bad_complete_bodies_are_rejected_before_streaming() {
    let s = Memory::start().await;
    let (key, upload_id) = initiate(&s, Some("k")).await;
    let url = s.url(&format!(
        "/v1/objects:multipart:complete/u/org=1/{key}?upload_id={upload_id}"
    ));
    for (content_type, body, status) in [
        (Some("application/json"), "{not json", 400),
        (
            Some("application/json"),
            r#"{"parts": [{"part_number": 0, "etag": "x"}]}"#,
            422,
        ),
        (
            Some("application/json"),
            r#"{"parts": [{"part_number": "one", "etag": "x"}]}"#,
            422,
        ),
        (Some("application/json"), r#"{"nothing": []}"#, 422),
        (Some("text/plain"), r#"{"parts": []}"#, 415),
        (None, r#"{"parts": []}"#, 415),
    ] {
        let mut r = s.client.post(&url).body(body);
        if let Some(ct) = content_type {
            r = r.header("content-type", ct);
        }
        let r = send(r).await;
        assert_eq!(r.status().as_u16(), status, "{content_type:?} {body}");
        assert!(!r.text().await.unwrap().is_empty());
    }
    let missing_id = s
        .client
        .post(s.url(&format!("/v1/objects:multipart:complete/u/org=1/{key}")));
    let missing_id = send(
        missing_id
            .header("content-type", "application/json")
            .body(r#"{"parts": []}"#),
    )
    .await;
    assert_eq!(missing_id.status(), StatusCode::BAD_REQUEST);
}
