//! Plain `GET` and `HEAD` requests are served without s3s (`objectstore_s3::fast`): the
//! answers must be the ones s3s gives. `?x-id=GetObject` (which AWS SDKs append, and s3s
//! ignores) sends the same request through s3s, so each case is asked both ways and the
//! responses compared: status, every header but `date` and `x-amz-request-id`, and body.
//! Signed requests the plain path cannot accept fall through to s3s and get its errors.

mod support;

use objectstore_s3::auth::{CredentialConfig, Secret};
use reqwest::{Method, Response};
use support::{ACCESS_KEY, Harness, SECRET, error_code};

/// Status, headers (sorted, without the per-request ones) and body of a response.
async fn answer(response: Response) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let status = response.status().as_u16();
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-amz-request-id"))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    headers.sort();
    let body = response.bytes().await.unwrap().to_vec();
    (status, headers, body)
}

/// `method path` asked plainly and through s3s; both answers must be equal. Returns it.
async fn both_ways(
    h: &Harness,
    method: Method,
    path: &str,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let plain = answer(h.send(method.clone(), path).await).await;
    let routed = answer(
        h.send(method.clone(), &format!("{path}?x-id=GetObject"))
            .await,
    )
    .await;
    assert_eq!(plain, routed, "{method} {path}: plain path vs s3s");
    plain
}

/// A path, the headers of its PUT, and its body.
type Object<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

#[tokio::test]
async fn plain_reads_answer_as_s3s_does() {
    let h = Harness::with_buckets(&["fast"]).await;
    let objects: &[Object<'_>] = &[
        ("/fast/plain", &[], "hello"),
        (
            "/fast/org=1/project=2/docs/report.txt",
            &[
                ("content-type", "text/plain; charset=utf-8"),
                ("content-encoding", "gzip"),
                ("content-language", "de-CH"),
                ("cache-control", "max-age=60"),
                ("content-disposition", "attachment; filename=\"r.txt\""),
                ("expires", "Thu, 01 Dec 2044 16:00:00 GMT"),
                ("x-amz-meta-owner", "team a"),
                ("x-amz-meta-city", "=?UTF-8?B?WsO8cmljaA==?="),
                ("x-amz-meta-long", &"ü".repeat(40)),
                ("x-sn-expiration", "ttl:1d"),
            ],
            "metadata",
        ),
        (
            "/fast/a%20b/c+d~e",
            &[("content-type", "application/json")],
            "{}",
        ),
        ("/fast/empty", &[], ""),
    ];
    for (path, headers, body) in objects {
        let put = h.put_with(path, headers, body.to_string()).await;
        assert_eq!(put.status(), 200, "PUT {path}");
    }
    for (path, _, body) in objects {
        let (status, headers, got) = both_ways(&h, Method::GET, path).await;
        assert_eq!(
            (status, got.as_slice()),
            (200, body.as_bytes()),
            "GET {path}"
        );
        assert!(headers.iter().any(|(n, _)| n == "etag"), "{headers:?}");
        let (status, _, got) = both_ways(&h, Method::HEAD, path).await;
        assert_eq!((status, got.len()), (200, 0), "HEAD {path}");
    }
    let (_, headers, _) = both_ways(&h, Method::GET, objects[1].0).await;
    for expected in [
        "x-amz-meta-owner",
        "x-amz-meta-city",
        "x-amz-meta-long",
        "x-sn-expiration",
    ] {
        assert!(
            headers.iter().any(|(n, _)| n == expected),
            "{expected}: {headers:?}"
        );
    }

    // Errors: missing key, missing bucket, keys the mapping refuses.
    for (path, status, code) in [
        ("/fast/missing", 404, "NoSuchKey"),
        ("/nobucket/key", 404, "NoSuchBucket"),
        ("/fast/ctl%01x", 400, "InvalidArgument"),
        ("/fast/a%2F..%2Fb", 400, "InvalidArgument"),
    ] {
        let (got, _, body) = both_ways(&h, Method::GET, path).await;
        let text = String::from_utf8(body).unwrap();
        assert_eq!(got, status, "{path}: {text}");
        assert!(
            text.contains(&format!("<Code>{code}</Code>")),
            "{path}: {text}"
        );
        let (got, _, _) = both_ways(&h, Method::HEAD, path).await;
        assert_eq!(got, status, "HEAD {path}");
    }
}

#[tokio::test]
async fn signed_reads_the_plain_path_cannot_accept_get_the_errors_of_s3s() {
    let credential = CredentialConfig {
        secret_access_key: Some(Secret::new(SECRET)),
        ..CredentialConfig::default()
    };
    let h = Harness::signed(&[(ACCESS_KEY, credential)], &["signed"]).await;
    let stamp = time::OffsetDateTime::now_utc();
    let amz_date = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        stamp.year(),
        u8::from(stamp.month()),
        stamp.day(),
        stamp.hour(),
        stamp.minute(),
        stamp.second()
    );
    let authorization = |key: &str, date: &str| {
        format!(
            "AWS4-HMAC-SHA256 Credential={key}/{}/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={}",
            &date[..8],
            "0".repeat(64)
        )
    };
    let send = |key: &str, date: &str| {
        h.request(
            Method::GET,
            "/signed/key",
            &[
                ("authorization", &authorization(key, date)),
                ("x-amz-date", date),
                ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ],
        )
        .send()
    };
    let (status, code) = error_code(send(ACCESS_KEY, &amz_date).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (403, "SignatureDoesNotMatch"));
    let (status, code) = error_code(send("NOSUCHKEY", &amz_date).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (403, "InvalidAccessKeyId"));
    let (status, code) = error_code(send(ACCESS_KEY, "20000101T000000Z").await.unwrap()).await;
    assert_eq!((status, code.as_str()), (403, "RequestTimeTooSkewed"));
    let (status, code) = error_code(h.get("/signed/key").await).await;
    assert_eq!((status, code.as_str()), (403, "AccessDenied"));
}
