//! The S3 wire contract with raw HTTP (zero-config front, unsigned requests), operations:
//! multipart edge cases, conditional reads and ranges, metadata both ways, expiry, copies,
//! virtual-hosted style.

mod support;

use std::time::Duration;

use support::{Harness, error_code, first_tag};

#[tokio::test]
async fn multipart_input_is_checked_before_the_engine() {
    let h = Harness::with_buckets(&["parts"]).await;
    let created = h.post("/parts/big?uploads", "").await.text().await.unwrap();
    let upload = first_tag(&created, "UploadId").expect("an upload id");
    let complete = format!("/parts/big?uploadId={upload}");
    for number in ["0", "10001", "-1", "abc"] {
        let path = format!("/parts/big?partNumber={number}&uploadId={upload}");
        let (status, _) = error_code(h.put(&path, "x").await).await;
        assert_eq!(status, 400, "part number {number}");
    }
    let response = h
        .put("/parts/big?partNumber=1&uploadId=not.an.id", "x")
        .await;
    assert_eq!(error_code(response).await, (404, "NoSuchUpload".into()));
    let part_path = format!("/parts/big?partNumber=1&uploadId={upload}");
    let part = h.put(&part_path, "part one").await;
    assert_eq!(part.status(), 200);
    let etag = part.headers()["etag"].to_str().unwrap().to_owned();
    let list = h.text_of_get(&complete).await;
    assert!(list.contains("<PartNumber>1</PartNumber>"), "{list}");
    let empty = h
        .post(
            &complete,
            "<CompleteMultipartUpload></CompleteMultipartUpload>",
        )
        .await;
    assert_eq!(error_code(empty).await.0, 400);
    let wrong = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"0000\"</ETag></Part></CompleteMultipartUpload>";
    let text = h.post(&complete, wrong).await.text().await.unwrap();
    assert!(text.contains("<Code>InvalidPart</Code>"), "{text}");
    assert_eq!(
        text.matches("<?xml").count(),
        1,
        "one XML declaration: {text}"
    );
    let right = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    );
    let text = h.post(&complete, right).await.text().await.unwrap();
    assert!(text.contains("<ETag>"), "{text}");
    let stored = h.get("/parts/big").await;
    assert_eq!(stored.bytes().await.unwrap().as_ref(), b"part one");
    let abort = h.delete(&format!("/parts/other?uploadId={upload}")).await;
    assert!(
        abort.status().as_u16() < 500,
        "abort of another object's upload"
    );
}

#[tokio::test]
async fn conditional_reads_and_ranges() {
    let h = Harness::with_buckets(&["cond"]).await;
    let put_response = h.put("/cond/obj", "0123456789").await;
    let etag = put_response.headers()["etag"].to_str().unwrap().to_owned();
    let get = |name: &str, value: &str| {
        h.request(reqwest::Method::GET, "/cond/obj", &[(name, value)])
            .send()
    };
    let future = "Fri, 01 Jan 2100 00:00:00 GMT";
    let past = "Mon, 01 Jan 2001 00:00:00 GMT";
    for (name, value, expected) in [
        ("if-none-match", etag.as_str(), 304),
        ("if-match", etag.as_str(), 200),
        ("if-match", "\"other\"", 412),
        ("if-modified-since", future, 304),
        ("if-unmodified-since", past, 412),
    ] {
        let status = get(name, value).await.unwrap().status();
        assert_eq!(status, expected, "{name}: {value}");
    }
    let range = get("range", "bytes=-3").await.unwrap();
    assert_eq!(range.status(), 206);
    assert_eq!(range.headers()["content-range"], "bytes 7-9/10");
    assert_eq!(range.bytes().await.unwrap().as_ref(), b"789");
    let beyond = get("range", "bytes=20-30").await.unwrap();
    assert_eq!(beyond.status(), 416);
    assert_eq!(beyond.headers()["content-range"], "bytes */10");
    let (status, code) = error_code(get("range", "bytes=50-").await.unwrap()).await;
    assert_eq!((status, code.as_str()), (416, "InvalidRange"));
}

#[tokio::test]
async fn metadata_round_trips_and_unsupported_options_are_refused() {
    let h = Harness::with_buckets(&["meta"]).await;
    let response = h
        .put_with(
            "/meta/doc",
            &[
                ("content-type", "application/pdf"),
                ("content-encoding", "gzip"),
                ("x-amz-meta-Reviewer", "Zoë"),
                ("x-sn-expiration", "ttl:1h"),
                ("content-disposition", "attachment; filename=\"report.pdf\""),
            ],
            "pdf",
        )
        .await;
    assert_eq!(response.status(), 200);
    let head = h.head("/meta/doc").await;
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
    let standard = [
        ("cache-control", "no-cache"),
        ("content-language", "de"),
        ("content-encoding", "br"),
        ("content-disposition", "inline"),
        ("expires", "Wed, 21 Oct 2065 07:28:00 GMT"),
    ];
    let response = h.put_with("/meta/standard", &standard, "x").await;
    assert_eq!(response.status(), 200);
    let head = h.head("/meta/standard").await;
    let headers = head.headers();
    for (name, value) in standard {
        assert_eq!(headers[name], value, "{name}");
    }

    for (name, value) in [
        ("x-amz-storage-class", "GLACIER"),
        ("x-amz-server-side-encryption", "AES256"),
    ] {
        let response = h.put_with("/meta/refused", &[(name, value)], "x").await;
        assert_eq!(
            error_code(response).await,
            (501, "NotImplemented".into()),
            "{name}"
        );
    }
    assert_eq!(h.status_of_get("/meta/refused").await, 404);
    let bad = h
        .put_with("/meta/bad", &[("x-sn-expiration", "sometimes")], "x")
        .await;
    assert_eq!(error_code(bad).await, (400, "InvalidArgument".into()));
}

#[tokio::test]
async fn ttl_objects_expire_through_s3() {
    let h = Harness::with_buckets(&["ttl"]).await;
    let ttl = [("x-sn-expiration", "ttl:30s")];
    let response = h.put_with("/ttl/short", &ttl, "soon gone").await;
    assert_eq!(response.status(), 200);
    assert_eq!(h.status_of_get("/ttl/short").await, 200);
    h.clock.advance(Duration::from_secs(31));
    assert_eq!(h.status_of_get("/ttl/short").await, 404);
    assert_eq!(h.head("/ttl/short").await.status(), 404);
}

#[tokio::test]
async fn copy_directives_and_source_conditions() {
    let h = Harness::with_buckets(&["cp1", "cp2"]).await;
    let source = [("content-type", "text/plain"), ("x-amz-meta-a", "1")];
    let response = h.put_with("/cp1/src", &source, "copy me").await;
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let copy = |dst: &str, headers: Vec<(&'static str, &str)>| {
        let request = h.request(reqwest::Method::PUT, dst, &headers);
        request.header("x-amz-copy-source", "/cp1/src").send()
    };
    let ok = copy("/cp2/dst", vec![]).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("<ETag>"));
    let head = h.head("/cp2/dst").await;
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
    let head = h.head("/cp2/replaced").await;
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
    assert_eq!(h.status_of_get("/cp2/no").await, 404);
    let onto_itself = copy("/cp1/src", vec![]).await.unwrap();
    assert_eq!(
        error_code(onto_itself).await,
        (400, "InvalidRequest".into())
    );
    let missing = h
        .put_with("/cp2/x", &[("x-amz-copy-source", "/cp1/missing")], "")
        .await;
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
    let host = [("host", "vhost.s3.example.test")];
    let put = h.put_with("/dir/key", &host, "virtual").await;
    assert_eq!(put.status(), 200);
    let path_style = h.get("/vhost/dir/key").await;
    assert_eq!(path_style.bytes().await.unwrap().as_ref(), b"virtual");
}
