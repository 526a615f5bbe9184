//! Resumable uploads (docs/http-api.md §10): classification, the state machine, and rejections.

mod common;

use common::{Memory, json, send};
use http::StatusCode;
use reqwest::Response;

async fn create(s: &Memory, key: Option<&str>, total: u64) -> Response {
    let request = match key {
        Some(k) => s
            .client
            .put(format!("{}?upload_type=resumable", s.object("u", "_", k))),
        None => s
            .client
            .post(s.url("/v1/objects/u/_/?upload_type=resumable")),
    };
    let headers = [
        ("content-type", "text/plain"),
        ("x-sn-filename", "f%C3%BCr.txt"),
        ("content-length", "0"),
    ];
    send(common::requests::with_headers(
        request.header("upload-length", total),
        &headers,
    ))
    .await
}

/// `PUT {object}?session={session}`: the request for `key` before its headers.
fn session(s: &Memory, key: &str, session: &str) -> reqwest::RequestBuilder {
    s.client
        .put(format!("{}?session={session}", s.object("u", "_", key)))
}

async fn chunk(s: &Memory, key: &str, session: &str, offset: &str, data: &str) -> Response {
    let request = self::session(s, key, session).header("Upload-Offset", offset);
    send(
        request
            .header("content-length", data.len())
            .body(data.to_owned()),
    )
    .await
}

fn offset(r: &Response) -> u64 {
    r.headers()["upload-offset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn upload_in_chunks_with_offset_queries() {
    let s = Memory::start().await;
    let created = create(&s, Some("resumable-client"), 6).await;
    assert_eq!(created.status(), StatusCode::OK);
    let body = json(created).await;
    assert_eq!(body["key"], "resumable-client");
    assert_eq!(body["granularity"], 0);
    let session = body["session"].as_str().unwrap().to_owned();
    assert!(
        session
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );

    let r = chunk(&s, "resumable-client", &session, "0", "abc").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(offset(&r), 3);

    let q = chunk(&s, "resumable-client", &session, "*", "").await;
    assert_eq!(q.status(), StatusCode::NO_CONTENT);
    assert_eq!(offset(&q), 3);
    // The Rust client's offset query carries no Content-Length at all.
    let r = common::raw(
        s.server.addr(),
        "PUT",
        &format!("/v1/objects/u/_/resumable-client?session={session}"),
        "upload-offset: *\r\n",
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("upload-offset").as_deref(), Some("3"));

    let mismatch = chunk(&s, "resumable-client", &session, "1", "bcd").await;
    assert_eq!(mismatch.status(), StatusCode::CONFLICT);
    assert_eq!(offset(&mismatch), 3);

    let too_long = chunk(&s, "resumable-client", &session, "3", "defg").await;
    assert_eq!(too_long.status(), StatusCode::BAD_REQUEST);

    let empty = chunk(&s, "resumable-client", &session, "3", "").await;
    assert_eq!(empty.status(), StatusCode::NO_CONTENT);
    assert_eq!(offset(&empty), 3);

    let done = chunk(&s, "resumable-client", &session, "3", "def").await;
    assert_eq!(done.status(), StatusCode::CREATED);
    assert_eq!(
        json(done).await,
        serde_json::json!({"key": "resumable-client"})
    );

    let get = s.get(s.object("u", "_", "resumable-client")).await;
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(get.headers()["x-sn-filename"], "f%C3%BCr.txt");
    assert_eq!(get.text().await.unwrap(), "abcdef");

    let after = chunk(&s, "resumable-client", &session, "*", "").await;
    assert!(
        matches!(after.status().as_u16(), 404 | 410),
        "{}",
        after.status()
    );
}

#[tokio::test]
async fn post_creates_with_a_generated_key_and_cancel_discards() {
    let s = Memory::start().await;
    let created = create(&s, None, 10).await;
    assert_eq!(created.status(), StatusCode::OK);
    let body = json(created).await;
    let key = body["key"].as_str().unwrap().to_owned();
    let session = body["session"].as_str().unwrap().to_owned();
    uuid::Uuid::parse_str(&key).unwrap();
    chunk(&s, &key, &session, "0", "12345").await;

    let cancel = |token: String| s.delete(format!("{}?session={token}", s.object("u", "_", &key)));
    assert_eq!(
        cancel(session.clone()).await.status(),
        StatusCode::NO_CONTENT
    );
    let again = cancel(session.clone()).await;
    assert!(matches!(again.status().as_u16(), 404 | 410));
    let write = chunk(&s, &key, &session, "5", "67890").await;
    assert!(matches!(write.status().as_u16(), 404 | 410));
    let get = s.get(s.object("u", "_", &key)).await;
    assert_eq!(get.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn resumable_requests_never_store_or_delete_objects() {
    let s = Memory::start().await;
    let url = s.object("u", "_", "k");
    s.put(&url, "original").await;

    // Zero-length creation is declined with 501 (the client falls back).
    let declined = create(&s, Some("k"), 0).await;
    assert_eq!(declined.status(), StatusCode::NOT_IMPLEMENTED);
    // Unknown upload types.
    for target in [
        format!("{url}?upload_type=tus"),
        s.url("/v1/objects/u/_/?upload_type=other"),
    ] {
        let method = if target.ends_with("other") {
            reqwest::Method::POST
        } else {
            reqwest::Method::PUT
        };
        let r = send(s.client.request(method, &target).body("overwrite?")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{target}");
    }
    // Malformed and foreign tokens.
    for (token, status) in [
        ("!!!", 400),
        ("QR", 400),
        ("QUFBQUFBQUFBQUFBQUFBQUFBQUE", 400),
    ] {
        let r = chunk(&s, "k", token, "0", "xx").await;
        assert_eq!(r.status().as_u16(), status, "{token}");
        let d = s.delete(format!("{url}?session={token}")).await;
        assert_eq!(d.status().as_u16(), status, "{token}");
    }
    let other = json(create(&s, Some("other"), 4).await).await;
    let foreign = other["session"].as_str().unwrap();
    let r = chunk(&s, "k", foreign, "0", "xxxx").await;
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "a token of another object"
    );
    // Session POST on the collection route.
    let r = send(
        s.client
            .post(s.url(&format!("/v1/objects/u/_/?session={foreign}"))),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // DELETE with only upload_type.
    let r = s.delete(format!("{url}?upload_type=resumable")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let get = s.get(&url).await;
    assert_eq!(get.text().await.unwrap(), "original");
}

#[tokio::test]
async fn bad_resumable_headers_are_400() {
    let s = Memory::start().await;
    let url = format!("{}?upload_type=resumable", s.object("u", "_", "k"));
    for (length, body) in [
        (None, ""),
        (Some("abc"), ""),
        (Some("-1"), ""),
        (Some("10"), "xx"),
    ] {
        let mut r = s.client.put(&url).body(body);
        if let Some(l) = length {
            r = r.header("upload-length", l);
        }
        let r = send(r).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{length:?} {body:?}");
    }
    let headers = [("upload-length", "10"), ("content-encoding", "br")];
    let r = send(common::requests::with_headers(s.client.put(&url), &headers)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "metadata is validated");

    let session = json(create(&s, Some("k"), 4).await).await["session"]
        .as_str()
        .unwrap()
        .to_owned();
    for offset in ["", "1.5", "-1", "abc", "* "] {
        let r = chunk(&s, "k", &session, offset, "ab").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "offset {offset:?}");
    }
    let missing = send(
        self::session(&s, "k", &session)
            .header("content-length", "2")
            .body("ab"),
    )
    .await;
    assert_eq!(
        missing.status(),
        StatusCode::BAD_REQUEST,
        "Upload-Offset required"
    );
    let query_with_body = chunk(&s, "k", &session, "*", "ab").await;
    assert_eq!(query_with_body.status(), StatusCode::BAD_REQUEST);
    let chunks: Vec<Result<&'static str, std::io::Error>> = vec![Ok("a"), Ok("b")];
    let chunked = self::session(&s, "k", &session).header("upload-offset", "0");
    let chunked =
        send(chunked.body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))).await;
    assert_eq!(
        chunked.status(),
        StatusCode::BAD_REQUEST,
        "Content-Length required"
    );
    assert!(
        json(chunked).await["detail"]
            .as_str()
            .unwrap()
            .contains("Content-Length")
    );
}
