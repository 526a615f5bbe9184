//! The S3 wire contract with raw HTTP (zero-config front, unsigned requests), input side:
//! buckets, bad keys, XML bodies, checksums, aws-chunked framing, operations without a
//! counterpart. Every refusal is an S3 error document with the right code, never a 500, and
//! stores nothing.

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use s3s::crypto::{Checksum as _, Crc32, Md5};
use support::{Harness, error_code, http};

async fn put(h: &Harness, path: &str, body: &'static [u8]) -> reqwest::Response {
    http().put(h.url(path)).body(body).send().await.unwrap()
}

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
    let code = response
        .split("<Code>")
        .nth(1)
        .and_then(|r| r.split("</Code>").next())
        .unwrap_or("")
        .to_owned();
    (status, code)
}

async fn status_of_get(h: &Harness, path: &str) -> u16 {
    http()
        .get(h.url(path))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn buckets_are_created_idempotently_and_listed() {
    let h = Harness::open().await;
    for _ in 0..2 {
        h.create_bucket("Team_Photos-1").await;
    }
    let head = http().head(h.url("/Team_Photos-1")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let list = http()
        .get(h.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains("<Name>Team_Photos-1</Name>"), "{list}");

    let (status, code) = error_code(http().put(h.url("/a.b")).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (400, "InvalidBucketName"));
    let (status, code) = error_code(http().put(h.url("/ab")).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (400, "InvalidBucketName"));
    assert_eq!(
        http()
            .head(h.url("/missing"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let (status, code) = error_code(put(&h, "/missing/key", b"x").await).await;
    assert_eq!((status, code.as_str()), (404, "NoSuchBucket"));
    let location = http()
        .get(h.url("/Team_Photos-1?location"))
        .send()
        .await
        .unwrap();
    assert_eq!(location.status(), 200);
}

#[tokio::test]
async fn invalid_keys_are_refused_and_nothing_is_stored() {
    let h = Harness::open().await;
    h.create_bucket("keys").await;
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
        let (status, code) = error_code(put(&h, &format!("/keys/{key}"), b"x").await).await;
        assert_eq!((status, code.as_str()), (400, "InvalidArgument"), "{key}");
    }
    let (status, code) = raw_put(&h, "/keys/..").await;
    assert_eq!(
        (status, code.as_str()),
        (400, "InvalidArgument"),
        "a bare `..` key"
    );
    let long = "k".repeat(1025);
    let (status, code) = error_code(put(&h, &format!("/keys/{long}"), b"x").await).await;
    assert_eq!((status, code.as_str()), (400, "KeyTooLongError"));
    let too_many_scopes = format!("{}k", "a=1/".repeat(17));
    let (status, _) = error_code(put(&h, &format!("/keys/{too_many_scopes}"), b"x").await).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn xml_bodies_are_parsed_strictly_and_bounded() {
    let h = Harness::open().await;
    h.create_bucket("xml").await;
    let post = |body: Vec<u8>| http().post(h.url("/xml?delete")).body(body).send();
    let (status, code) = error_code(post(b"<Delete><Object>".to_vec()).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (400, "MalformedXML"));
    let huge = format!(
        "<Delete>{}</Delete>",
        "<Object><Key>k</Key></Object>".repeat(200_000)
    );
    let (status, code) = error_code(post(huge.into_bytes()).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (400, "MaxMessageLengthExceeded"));
    let over = format!(
        "<Delete>{}</Delete>",
        (0..1001)
            .map(|i| format!("<Object><Key>k{i}</Key></Object>"))
            .collect::<String>()
    );
    let (status, code) = error_code(post(over.into_bytes()).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (400, "MalformedXML"));

    // Quiet mode: only errors are reported; a bad key is an error entry, the rest goes on.
    put(&h, "/xml/keep", b"x").await;
    let quiet = "<Delete><Quiet>true</Quiet><Object><Key>keep</Key></Object><Object><Key>a/../b</Key></Object></Delete>";
    let response = post(quiet.as_bytes().to_vec()).await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(!text.contains("<Deleted>"), "{text}");
    assert!(text.contains("<Code>InvalidArgument</Code>"), "{text}");
    assert_eq!(status_of_get(&h, "/xml/keep").await, 404);
}

#[tokio::test]
async fn checksums_are_verified_before_the_write_commits() {
    let h = Harness::open().await;
    h.create_bucket("sums").await;
    assert_eq!(put(&h, "/sums/obj", b"original").await.status(), 200);
    let body: &[u8] = b"replacement";
    let wrong_md5 = STANDARD.encode(Md5::checksum(b"something else"));
    let response = http()
        .put(h.url("/sums/obj"))
        .header("content-md5", wrong_md5)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await, (400, "BadDigest".into()));
    let wrong_crc = STANDARD.encode(Crc32::checksum(b"something else"));
    let response = http()
        .put(h.url("/sums/obj"))
        .header("x-amz-checksum-crc32", wrong_crc)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await, (400, "BadDigest".into()));
    let response = http()
        .put(h.url("/sums/obj"))
        .header("content-md5", "not-base64")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await, (400, "InvalidDigest".into()));
    let stored = http().get(h.url("/sums/obj")).send().await.unwrap();
    assert_eq!(stored.bytes().await.unwrap().as_ref(), b"original");

    let right = STANDARD.encode(Crc32::checksum(body));
    let response = http()
        .put(h.url("/sums/obj"))
        .header("x-amz-checksum-crc32", right.clone())
        .body(body)
        .send()
        .await
        .unwrap();
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
    http()
        .put(h.url(path))
        .header("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        .header("content-encoding", "aws-chunked")
        .header("x-amz-decoded-content-length", decoded.to_string())
        .header("x-amz-trailer", "x-amz-checksum-crc32")
        .header("authorization", "AWS4-HMAC-SHA256 Credential=any/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn aws_chunked_bodies_with_trailers() {
    let h = Harness::open().await;
    h.create_bucket("chunks").await;
    let data = b"streamed with a checksum trailer";
    let good = format!(
        "x-amz-checksum-crc32:{}",
        STANDARD.encode(Crc32::checksum(data))
    );
    let response = put_chunked(&h, "/chunks/ok", chunked(data, Some(good)), data.len()).await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let stored = http().get(h.url("/chunks/ok")).send().await.unwrap();
    assert_eq!(stored.bytes().await.unwrap().as_ref(), data);

    let bad = format!(
        "x-amz-checksum-crc32:{}",
        STANDARD.encode(Crc32::checksum(b"nope"))
    );
    let response = put_chunked(&h, "/chunks/bad", chunked(data, Some(bad)), data.len()).await;
    assert_eq!(error_code(response).await, (400, "BadDigest".into()));
    assert_eq!(status_of_get(&h, "/chunks/bad").await, 404);

    let mut broken = chunked(data, None);
    broken[0] = b'z';
    let response = put_chunked(&h, "/chunks/broken", broken, data.len()).await;
    let (status, code) = error_code(response).await;
    assert_eq!(status, 400, "{code}");
    assert_eq!(status_of_get(&h, "/chunks/broken").await, 404);

    let response = put_chunked(&h, "/chunks/short", chunked(data, None), data.len() + 5).await;
    assert_eq!(error_code(response).await.0, 400);
    assert_eq!(status_of_get(&h, "/chunks/short").await, 404);
}

#[tokio::test]
async fn operations_without_a_counterpart_answer_not_implemented() {
    let h = Harness::open().await;
    h.create_bucket("later").await;
    for (method, path) in [("GET", "/later?acl"), ("GET", "/later/x?tagging")] {
        let response = http()
            .request(method.parse().unwrap(), h.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(response).await,
            (501, "NotImplemented".into()),
            "{method} {path}"
        );
    }
    let unsupported_condition = http()
        .put(h.url("/later/x"))
        .header("if-none-match", "\"abc\"")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(unsupported_condition).await,
        (501, "NotImplemented".into())
    );
    assert_eq!(status_of_get(&h, "/later/x").await, 404);
    let form = http()
        .post(h.url("/later"))
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x--")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(form).await, (501, "NotImplemented".into()));
}
