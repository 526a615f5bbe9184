//! The S3 wire contract with raw HTTP (zero-config front, unsigned requests), input side:
//! buckets, bad keys, XML bodies, checksums, aws-chunked framing, operations without a
//! counterpart. Every refusal is an S3 error document with the right code, never a 500, and
//! stores nothing.

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use s3s::crypto::{Checksum as _, Crc32, Md5};
use support::{Harness, error_code, first_tag};

/// A PUT written to the socket as is (no client-side path normalization).
async fn raw_put(h: &Harness, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut tcp = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let request = format!(
        "PUT {path} HTTP/1.1\r\nhost: {}\r\ncontent-length: 1\r\nconnection: close\r\n\r\nx",
        h.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, first_tag(&response, "Code").unwrap_or_default())
}

#[tokio::test]
async fn buckets_are_created_idempotently_and_listed() {
    let h = Harness::open().await;
    for _ in 0..2 {
        h.create_bucket("Team_Photos-1").await;
    }
    let head = h.head("/Team_Photos-1").await;
    assert_eq!(head.status(), 200);
    let list = h.text_of_get("/").await;
    assert!(list.contains("<Name>Team_Photos-1</Name>"), "{list}");

    let (status, code) = error_code(h.send(Method::PUT, "/a.b").await).await;
    assert_eq!((status, code.as_str()), (400, "InvalidBucketName"));
    let (status, code) = error_code(h.send(Method::PUT, "/ab").await).await;
    assert_eq!((status, code.as_str()), (400, "InvalidBucketName"));
    assert_eq!(h.head("/missing").await.status(), 404);
    let (status, code) = error_code(h.put("/missing/key", "x").await).await;
    assert_eq!((status, code.as_str()), (404, "NoSuchBucket"));
    let location = h.get("/Team_Photos-1?location").await;
    assert_eq!(location.status(), 200);
}

#[tokio::test]
async fn invalid_keys_are_refused_and_nothing_is_stored() {
    let h = Harness::with_buckets(&["keys"]).await;
    // HTTP clients resolve `..` segments themselves; `%2F` keeps them in one segment,
    // which s3s decodes back into the key.
    for key in [
        "a%2F..%2Fb",
        "..%2Fx",
        "a//b",
        "dir/",
        "ctl%01x",
        "x%2F.%2Fy",
    ] {
        let (status, code) = error_code(h.put(&format!("/keys/{key}"), "x").await).await;
        assert_eq!((status, code.as_str()), (400, "InvalidArgument"), "{key}");
    }
    let (status, code) = raw_put(&h, "/keys/..").await;
    assert_eq!(
        (status, code.as_str()),
        (400, "InvalidArgument"),
        "a bare `..` key"
    );
    let long = "k".repeat(1025);
    let (status, code) = error_code(h.put(&format!("/keys/{long}"), "x").await).await;
    assert_eq!((status, code.as_str()), (400, "KeyTooLongError"));
    let too_many_scopes = format!("{}k", "a=1/".repeat(17));
    let (status, _) = error_code(h.put(&format!("/keys/{too_many_scopes}"), "x").await).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn xml_bodies_are_parsed_strictly_and_bounded() {
    let h = Harness::with_buckets(&["xml"]).await;
    let post = |body: Vec<u8>| h.post("/xml?delete", body);
    let (status, code) = error_code(post(b"<Delete><Object>".to_vec()).await).await;
    assert_eq!((status, code.as_str()), (400, "MalformedXML"));
    let huge = format!(
        "<Delete>{}</Delete>",
        "<Object><Key>k</Key></Object>".repeat(200_000)
    );
    let (status, code) = error_code(post(huge.into_bytes()).await).await;
    assert_eq!((status, code.as_str()), (400, "MaxMessageLengthExceeded"));
    let over = format!(
        "<Delete>{}</Delete>",
        (0..1001)
            .map(|i| format!("<Object><Key>k{i}</Key></Object>"))
            .collect::<String>()
    );
    let (status, code) = error_code(post(over.into_bytes()).await).await;
    assert_eq!((status, code.as_str()), (400, "MalformedXML"));

    // Quiet mode: only errors are reported; a bad key is an error entry, the rest goes on.
    h.put("/xml/keep", "x").await;
    let quiet = "<Delete><Quiet>true</Quiet><Object><Key>keep</Key></Object><Object><Key>a/../b</Key></Object></Delete>";
    let response = post(quiet.as_bytes().to_vec()).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(!text.contains("<Deleted>"), "{text}");
    assert!(text.contains("<Code>InvalidArgument</Code>"), "{text}");
    assert_eq!(h.status_of_get("/xml/keep").await, 404);
}

#[tokio::test]
async fn checksums_are_verified_before_the_write_commits() {
    let h = Harness::with_buckets(&["sums"]).await;
    assert_eq!(h.put("/sums/obj", "original").await.status(), 200);
    let body: &'static [u8] = b"replacement";
    let put_checked =
        async |name: &str, value: &str| h.put_with("/sums/obj", &[(name, value)], body).await;
    let wrong_md5 = STANDARD.encode(Md5::checksum(b"something else"));
    let response = put_checked("content-md5", &wrong_md5).await;
    assert_eq!(error_code(response).await, (400, "BadDigest".into()));
    let wrong_crc = STANDARD.encode(Crc32::checksum(b"something else"));
    let response = put_checked("x-amz-checksum-crc32", &wrong_crc).await;
    assert_eq!(error_code(response).await, (400, "BadDigest".into()));
    let response = put_checked("content-md5", "not-base64").await;
    assert_eq!(error_code(response).await, (400, "InvalidDigest".into()));
    let stored = h.get("/sums/obj").await;
    assert_eq!(stored.bytes().await.unwrap().as_ref(), b"original");

    let right = STANDARD.encode(Crc32::checksum(body));
    let response = put_checked("x-amz-checksum-crc32", &right).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-amz-checksum-crc32"], right.as_str());
}

fn chunked(data: &[u8], trailer: Option<String>) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in data.chunks(4) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    if let Some(t) = trailer {
        out.extend_from_slice(t.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

async fn put_chunked(h: &Harness, path: &str, body: Vec<u8>, decoded: usize) -> reqwest::Response {
    let decoded = decoded.to_string();
    let headers = [
        ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", decoded.as_str()),
        ("x-amz-trailer", "x-amz-checksum-crc32"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=any/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
        ),
    ];
    h.put_with(path, &headers, body).await
}

#[tokio::test]
async fn aws_chunked_bodies_with_trailers() {
    let h = Harness::with_buckets(&["chunks"]).await;
    let data = b"streamed with a checksum trailer";
    let good = format!(
        "x-amz-checksum-crc32:{}",
        STANDARD.encode(Crc32::checksum(data))
    );
    let response = put_chunked(&h, "/chunks/ok", chunked(data, Some(good)), data.len()).await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let stored = h.get("/chunks/ok").await;
    assert_eq!(stored.bytes().await.unwrap().as_ref(), data);

    let bad = format!(
        "x-amz-checksum-crc32:{}",
        STANDARD.encode(Crc32::checksum(b"nope"))
    );
    let response = put_chunked(&h, "/chunks/bad", chunked(data, Some(bad)), data.len()).await;
    assert_eq!(error_code(response).await, (400, "BadDigest".into()));
    assert_eq!(h.status_of_get("/chunks/bad").await, 404);

    let mut broken = chunked(data, None);
    broken[0] = b'z';
    let response = put_chunked(&h, "/chunks/broken", broken, data.len()).await;
    let (status, code) = error_code(response).await;
    assert_eq!(status, 400, "{code}");
    assert_eq!(h.status_of_get("/chunks/broken").await, 404);

    let response = put_chunked(&h, "/chunks/short", chunked(data, None), data.len() + 5).await;
    assert_eq!(error_code(response).await.0, 400);
    assert_eq!(h.status_of_get("/chunks/short").await, 404);
}

#[tokio::test]
async fn operations_without_a_counterpart_answer_not_implemented() {
    let h = Harness::with_buckets(&["later"]).await;
    for (method, path) in [("GET", "/later?acl"), ("GET", "/later/x?tagging")] {
        let response = h.send(method.parse().unwrap(), path).await;
        assert_eq!(
            error_code(response).await,
            (501, "NotImplemented".into()),
            "{method} {path}"
        );
    }
    let unsupported_condition = h
        .put_with("/later/x", &[("if-none-match", "\"abc\"")], "x")
        .await;
    assert_eq!(
        error_code(unsupported_condition).await,
        (501, "NotImplemented".into())
    );
    assert_eq!(h.status_of_get("/later/x").await, 404);
    let form_type = [("content-type", "multipart/form-data; boundary=x")];
    let form = h.request(Method::POST, "/later", &form_type).body("--x--");
    let form = form.send().await.unwrap();
    assert_eq!(error_code(form).await, (501, "NotImplemented".into()));
}
