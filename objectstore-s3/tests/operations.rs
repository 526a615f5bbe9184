//! The S3 wire contract with raw HTTP (zero-config front, unsigned requests), operations:
//! multipart edge cases, conditional reads and ranges, metadata both ways, expiry, copies,
//! virtual-hosted style.

mod support;

use std::time::Duration;

use support::{Harness, error_code, http};

async fn put(h: &Harness, path: &str, body: &'static [u8]) -> reqwest::Response {
    http().put(h.url(path)).body(body).send().await.unwrap()
}

/// A PUT written to the socket as is (no client-side path normalization).
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
async fn multipart_input_is_checked_before_the_engine() {
    let h = Harness::open().await;
    h.create_bucket("parts").await;
    let created = http()
        .post(h.url("/parts/big?uploads"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let upload = created
        .split("<UploadId>")
        .nth(1)
        .and_then(|r| r.split("</UploadId>").next())
        .expect("an upload id")
        .to_owned();
    for number in ["0", "10001", "-1", "abc"] {
        let response = http()
            .put(h.url(&format!("/parts/big?partNumber={number}&uploadId={upload}")))
            .body("x")
            .send()
            .await
            .unwrap();
        let (status, _) = error_code(response).await;
        assert_eq!(status, 400, "part number {number}");
    }
    let response = http()
        .put(h.url("/parts/big?partNumber=1&uploadId=not.an.id"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await, (404, "NoSuchUpload".into()));
    let part = http()
        .put(h.url(&format!("/parts/big?partNumber=1&uploadId={upload}")))
        .body("part one")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 200);
    let etag = part.headers()["etag"].to_str().unwrap().to_owned();
    let list = http()
        .get(h.url(&format!("/parts/big?uploadId={upload}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains("<PartNumber>1</PartNumber>"), "{list}");
    let empty = http()
        .post(h.url(&format!("/parts/big?uploadId={upload}")))
        .body("<CompleteMultipartUpload></CompleteMultipartUpload>")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(empty).await.0, 400);
    let wrong = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"0000\"</ETag></Part></CompleteMultipartUpload>";
    let response = http()
        .post(h.url(&format!("/parts/big?uploadId={upload}")))
        .body(wrong)
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    assert!(text.contains("<Code>InvalidPart</Code>"), "{text}");
    assert_eq!(
        text.matches("<?xml").count(),
        1,
        "one XML declaration: {text}"
    );
    let right = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    );
    let response = http()
        .post(h.url(&format!("/parts/big?uploadId={upload}")))
        .body(right)
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    assert!(text.contains("<ETag>"), "{text}");
    let stored = http().get(h.url("/parts/big")).send().await.unwrap();
    assert_eq!(stored.bytes().await.unwrap().as_ref(), b"part one");
    let abort = http()
        .delete(h.url(&format!("/parts/other?uploadId={upload}")))
        .send()
        .await
        .unwrap();
    assert!(
        abort.status().as_u16() < 500,
        "abort of another object's upload"
    );
}

#[tokio::test]
async fn conditional_reads_and_ranges() {
    let h = Harness::open().await;
    h.create_bucket("cond").await;
    let put_response = put(&h, "/cond/obj", b"0123456789").await;
    let etag = put_response.headers()["etag"].to_str().unwrap().to_owned();
    let get = |headers: Vec<(&'static str, String)>| {
        let mut request = http().get(h.url("/cond/obj"));
        for (k, v) in headers {
            request = request.header(k, v);
        }
        request.send()
    };
    assert_eq!(
        get(vec![("if-none-match", etag.clone())])
            .await
            .unwrap()
            .status(),
        304
    );
    assert_eq!(
        get(vec![("if-match", etag.clone())])
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        get(vec![("if-match", "\"other\"".into())])
            .await
            .unwrap()
            .status(),
        412
    );
    let future = "Fri, 01 Jan 2100 00:00:00 GMT".to_owned();
    let past = "Mon, 01 Jan 2001 00:00:00 GMT".to_owned();
    assert_eq!(
        get(vec![("if-modified-since", future.clone())])
            .await
            .unwrap()
            .status(),
        304
    );
    assert_eq!(
        get(vec![("if-unmodified-since", past)])
            .await
            .unwrap()
            .status(),
        412
    );
    let range = get(vec![("range", "bytes=-3".into())]).await.unwrap();
    assert_eq!(range.status(), 206);
    assert_eq!(range.headers()["content-range"], "bytes 7-9/10");
    assert_eq!(range.bytes().await.unwrap().as_ref(), b"789");
    let beyond = get(vec![("range", "bytes=20-30".into())]).await.unwrap();
    assert_eq!(beyond.status(), 416);
    assert_eq!(beyond.headers()["content-range"], "bytes */10");
    let (status, code) = error_code(get(vec![("range", "bytes=50-".into())]).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (416, "InvalidRange"));
}

#[tokio::test]
async fn metadata_round_trips_and_unsupported_options_are_refused() {
    let h = Harness::open().await;
    h.create_bucket("meta").await;
    let response = http()
        .put(h.url("/meta/doc"))
        .header("content-type", "application/pdf")
        .header("content-encoding", "gzip")
        .header("x-amz-meta-Reviewer", "Zoë")
        .header("x-sn-expiration", "ttl:1h")
        .header("content-disposition", "attachment; filename=\"report.pdf\"")
        .body("pdf")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let head = http().head(h.url("/meta/doc")).send().await.unwrap();
    let headers = head.headers();
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["x-sn-expiration"], "ttl:1h");
    assert!(headers.contains_key("x-sn-time-expires"));
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"report.pdf\""
    );
    assert!(headers.contains_key("x-amz-meta-reviewer"));
    assert!(headers.contains_key("last-modified"));

    // The standard headers S3 clients set are stored verbatim and returned.
    let response = http()
        .put(h.url("/meta/standard"))
        .header("cache-control", "no-cache")
        .header("content-language", "de")
        .header("content-encoding", "br")
        .header("content-disposition", "inline")
        .header("expires", "Wed, 21 Oct 2065 07:28:00 GMT")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let head = http().head(h.url("/meta/standard")).send().await.unwrap();
    let headers = head.headers();
    for (name, value) in [
        ("cache-control", "no-cache"),
        ("content-language", "de"),
        ("content-encoding", "br"),
        ("content-disposition", "inline"),
        ("expires", "Wed, 21 Oct 2065 07:28:00 GMT"),
    ] {
        assert_eq!(headers[name], value, "{name}");
    }

    for (name, value) in [
        ("x-amz-storage-class", "GLACIER"),
        ("x-amz-server-side-encryption", "AES256"),
    ] {
        let response = http()
            .put(h.url("/meta/refused"))
            .header(name, value)
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(response).await,
            (501, "NotImplemented".into()),
            "{name}"
        );
    }
    assert_eq!(status_of_get(&h, "/meta/refused").await, 404);
    let bad = http()
        .put(h.url("/meta/bad"))
        .header("x-sn-expiration", "sometimes")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(bad).await, (400, "InvalidArgument".into()));
}

#[tokio::test]
async fn ttl_objects_expire_through_s3() {
    let h = Harness::open().await;
    h.create_bucket("ttl").await;
    let response = http()
        .put(h.url("/ttl/short"))
        .header("x-sn-expiration", "ttl:30s")
        .body("soon gone")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(status_of_get(&h, "/ttl/short").await, 200);
    h.clock.advance(Duration::from_secs(31));
    assert_eq!(status_of_get(&h, "/ttl/short").await, 404);
    assert_eq!(
        http()
            .head(h.url("/ttl/short"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn copy_directives_and_source_conditions() {
    let h = Harness::open().await;
    h.create_bucket("cp1").await;
    h.create_bucket("cp2").await;
    let response = http()
        .put(h.url("/cp1/src"))
        .header("content-type", "text/plain")
        .header("x-amz-meta-a", "1")
        .body("copy me")
        .send()
        .await
        .unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let copy = |dst: &str, headers: Vec<(&'static str, &str)>| {
        let mut request = http()
            .put(h.url(dst))
            .header("x-amz-copy-source", "/cp1/src");
        for (k, v) in headers {
            request = request.header(k, v.to_owned());
        }
        request.send()
    };
    let ok = copy("/cp2/dst", vec![]).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("<ETag>"));
    let head = http().head(h.url("/cp2/dst")).send().await.unwrap();
    assert_eq!(head.headers()["content-type"], "text/plain");
    assert_eq!(head.headers()["x-amz-meta-a"], "1");

    let replaced = copy(
        "/cp2/replaced",
        vec![
            ("x-amz-metadata-directive", "REPLACE"),
            ("content-type", "text/csv"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(replaced.status(), 200);
    let head = http().head(h.url("/cp2/replaced")).send().await.unwrap();
    assert_eq!(head.headers()["content-type"], "text/csv");
    assert!(!head.headers().contains_key("x-amz-meta-a"));

    let failed = copy("/cp2/no", vec![("x-amz-copy-source-if-match", "\"other\"")])
        .await
        .unwrap();
    assert_eq!(error_code(failed).await, (412, "PreconditionFailed".into()));
    let failed = copy(
        "/cp2/no",
        vec![("x-amz-copy-source-if-none-match", etag.as_str())],
    )
    .await
    .unwrap();
    assert_eq!(error_code(failed).await, (412, "PreconditionFailed".into()));
    assert_eq!(status_of_get(&h, "/cp2/no").await, 404);
    let onto_itself = copy("/cp1/src", vec![]).await.unwrap();
    assert_eq!(
        error_code(onto_itself).await,
        (400, "InvalidRequest".into())
    );
    let missing = http()
        .put(h.url("/cp2/x"))
        .header("x-amz-copy-source", "/cp1/missing")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(missing).await, (404, "NoSuchKey".into()));
}

#[tokio::test]
async fn virtual_hosted_style_with_a_domain() {
    let config = objectstore_s3::FrontConfig {
        virtual_host_domain: Some("s3.example.test".into()),
        ..objectstore_s3::FrontConfig::default()
    };
    let h = Harness::start(config, std::sync::Arc::new(objectstore_s3::NoHooks)).await;
    h.create_bucket("vhost").await;
    let put = http()
        .put(h.url("/dir/key"))
        .header("host", "vhost.s3.example.test")
        .body("virtual")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let path_style = http().get(h.url("/vhost/dir/key")).send().await.unwrap();
    assert_eq!(path_style.bytes().await.unwrap().as_ref(), b"virtual");
}
