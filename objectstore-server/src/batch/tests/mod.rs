//! Tests of the batch endpoint: [`crate::batch::handle`] driven directly with hand-built
//! multipart bodies over the in-memory backend; every response is parsed with `multer` and
//! checked for the framing rules of docs/http-api.md §8.5 (see [`support::parse_response`]).

use std::sync::Arc;

use axum::body::Body;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use objectstore_types::{ExpirationPolicy, Metadata};

use super::{AllowAll, Limits, MAX_INSERT_SIZE, MAX_OPERATIONS, OpKind, OpRejection, handle};
use support::*;

mod execution;
mod hostile_props;
mod props;
mod support;

#[tokio::test]
async fn spec_illustrative_exchange() {
    let (service, backend) = service();
    let parts = run(
        &service,
        &[
            Op::raw("insert", Some("key%2D1"))
                .header("content-type", "text/plain")
                .header("x-sn-expiration", "ttl:1day")
                .body("first object"),
            Op::raw("get", Some("missing")),
        ],
    )
    .await;
    parts.assert_indexes(2);

    let insert = parts.get(0);
    assert_eq!(insert.status, 201);
    assert_eq!(insert.key().as_deref(), Some("key-1"));
    assert_eq!(insert.kind(), Some("insert"));
    assert!(insert.body.is_empty());

    let get = parts.get(1);
    assert_eq!(get.status, 404);
    assert_eq!(get.key().as_deref(), Some("missing"));
    assert_eq!(get.kind(), Some("get"));
    assert!(get.body.is_empty());
    // Empty bodies: the blank line ending the headers, then the CRLF before the delimiter.
    assert!(
        String::from_utf8_lossy(&parts.raw)
            .contains("form-data; name=part\r\nx-sn-batch-operation-index: 1\r\n")
    );
    assert_eq!(
        String::from_utf8_lossy(&parts.raw)
            .matches("\r\n\r\n\r\n--os-boundary-")
            .count(),
        2
    );

    let (metadata, bytes) = backend.entry(&id("key-1")).expect_object();
    assert_eq!(&bytes[..], b"first object");
    assert_eq!(metadata.content_type, "text/plain");
    assert_eq!(
        metadata.expiration_policy,
        ExpirationPolicy::TimeToLive(std::time::Duration::from_secs(86_400))
    );

    // Read it back in a second batch: get and head carry the metadata headers.
    let parts = run(&service, &[Op::get("key-1"), Op::head("key-1")]).await;
    let get = parts.get(0);
    assert_eq!(get.status, 200);
    assert_eq!(get.kind(), Some("get"));
    assert_eq!(get.header("content-type"), Some("text/plain"));
    assert_eq!(get.header("x-sn-expiration"), Some("ttl:1d"));
    assert_eq!(get.header("x-sn-size"), Some("12"));
    assert!(get.header("x-sn-time-created").is_some());
    assert!(get.header("x-sn-time-expires").is_some());
    assert_eq!(&get.body[..], b"first object");
    let head = parts.get(1);
    assert_eq!(head.status, 204);
    assert_eq!(head.kind(), Some("head"));
    assert_eq!(head.header("content-type"), Some("text/plain"));
    assert_eq!(head.header("x-sn-size"), Some("12"));
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn metadata_round_trips_and_part_disposition_stays_form_data() {
    let (service, _) = service();
    let ops = [Op::insert("doc", "hello")
        .header("content-type", "application/pdf")
        .header("content-encoding", "zstd")
        .header("x-sn-filename", "r%C3%A9port-%F0%9F%93%84.pdf")
        .header("x-sn-origin", "10.0.0.1")
        .header("x-snme-note", "100%25 done")];
    assert_eq!(run(&service, &ops).await.get(0).status, 201);

    let parts = run(&service, &[Op::get("doc"), Op::head("doc")]).await;
    for part in parts.by_index.values() {
        // parse_response already checked `content-disposition: form-data; name=part`.
        let metadata = Metadata::from_headers(&part.headers).unwrap();
        assert_eq!(metadata.content_type, "application/pdf");
        assert_eq!(metadata.filename.as_deref(), Some("réport-📄.pdf"));
        assert_eq!(metadata.origin.as_deref(), Some("10.0.0.1"));
        assert_eq!(metadata.custom["note"], "100% done");
        assert_eq!(part.header("content-encoding"), Some("zstd"));
    }
    assert_eq!(&parts.get(0).body[..], b"hello");
}

#[tokio::test]
async fn thousand_empty_inserts_in_one_batch() {
    let (service, backend) = service();
    let ops: Vec<Op> = (0..1000).map(|_| Op::insert_unkeyed("")).collect();
    let parts = run(&service, &ops).await;
    parts.assert_indexes(1000);
    let mut keys = std::collections::BTreeSet::new();
    for part in parts.by_index.values() {
        assert_eq!(part.status, 201, "index {}", part.index);
        assert_eq!(part.kind(), Some("insert"));
        keys.insert(part.key().expect("generated key header is required"));
    }
    assert_eq!(keys.len(), 1000, "generated keys are distinct");
    assert_eq!(backend.len(), 1000);
    for key in &keys {
        let (_, bytes) = backend.entry(&id(key)).expect_object();
        assert!(bytes.is_empty());
    }
}

#[tokio::test]
async fn operations_past_the_limit_get_413_and_do_not_run() {
    let (service, backend) = service();
    let mut ops: Vec<Op> = (0..MAX_OPERATIONS)
        .map(|i| Op::insert(&format!("k{i}"), ""))
        .collect();
    ops.push(Op::insert("extra-1", "x"));
    ops.push(Op::get("k0"));
    let parts = run(&service, &ops).await;
    parts.assert_indexes(MAX_OPERATIONS + 2);
    for i in 0..MAX_OPERATIONS {
        assert_eq!(parts.get(i).status, 201);
    }
    assert_eq!(parts.get(MAX_OPERATIONS).status, 413);
    assert_eq!(parts.get(MAX_OPERATIONS + 1).status, 413);
    assert_eq!(backend.len(), MAX_OPERATIONS);
    assert!(!backend.contains(&id("extra-1")));
}

#[tokio::test]
async fn oversized_insert_is_413_and_others_succeed() {
    let (service, backend) = service();
    run(&service, &[Op::insert("existing", "old")]).await;

    let parts = run(
        &service,
        &[
            Op::insert("small", "s"),
            Op::insert("too-big", vec![7u8; MAX_INSERT_SIZE + 1]),
            Op::insert("exactly-max", vec![8u8; MAX_INSERT_SIZE]),
            Op::get("existing"),
            Op::delete("existing"),
        ],
    )
    .await;
    parts.assert_indexes(5);
    assert_eq!(parts.get(0).status, 201);
    assert_eq!(parts.get(1).status, 413);
    assert!(parts.get(1).detail().contains("exceeds"));
    assert_eq!(parts.get(2).status, 201);
    assert!(matches!(parts.get(3).status, 200 | 404));
    assert_eq!(parts.get(4).status, 204);
    assert_eq!(parts.get(4).kind(), Some("delete"));

    assert!(!backend.contains(&id("too-big")));
    assert_eq!(
        backend.entry(&id("exactly-max")).expect_object().1.len(),
        MAX_INSERT_SIZE
    );
    assert!(backend.contains(&id("small")));
    assert!(!backend.contains(&id("existing")));
}

#[tokio::test]
async fn body_over_the_limit_stops_with_400_for_the_current_index() {
    let (service, backend) = service();
    // The limit falls inside part 1, well beyond the parser's read-ahead (a few 64 KiB
    // slices) while it handles part 0.
    let first = Op::insert("a", "1");
    let limits = Limits {
        max_body_size: multipart(std::slice::from_ref(&first)).len() as u64 + 400_000,
        ..Limits::SPEC
    };
    let parts = run_limited(
        &service,
        &[first, Op::insert("b", vec![b'b'; 1_000_000]), Op::get("a")],
        limits,
    )
    .await;
    parts.assert_indexes(2);
    assert_eq!(parts.statuses(), vec![201, 400]);
    assert!(parts.get(1).detail().contains("multipart"));
    assert!(backend.contains(&id("a")));
    assert!(!backend.contains(&id("b")));
}

#[tokio::test]
async fn oversized_payloads_are_skipped_with_small_limits() {
    let (service, backend) = service();
    let limits = Limits {
        max_insert_size: 10,
        max_operations: 4,
        ..Limits::SPEC
    };
    let parts = run_limited(
        &service,
        &[
            Op::insert("ten", vec![1u8; 10]),
            Op::insert("eleven", vec![1u8; 11]),
            Op::insert("huge", vec![1u8; 100_000]),
            Op::get("x"),
            Op::get("over-count"),
            Op::insert("over-count", "y"),
        ],
        limits,
    )
    .await;
    parts.assert_indexes(6);
    assert_eq!(parts.statuses(), vec![201, 413, 413, 404, 413, 413]);
    assert_eq!(backend.len(), 1);
    assert!(backend.contains(&id("ten")));
}

#[tokio::test]
async fn malformed_parts_are_400_and_do_not_stop_the_batch() {
    let (service, backend) = service();
    let mut no_kind = Op::raw("get", Some("a"));
    no_kind
        .headers
        .retain(|(n, _)| n != "x-sn-batch-operation-kind");
    let ops = [
        no_kind,                                                      // 0
        Op::raw("copy", Some("a")),                                   // 1 unknown kind
        Op::raw("get", None),                                         // 2 missing key
        Op::raw("delete", None),                                      // 3 missing key
        Op::raw("head", Some("..")),                                  // 4 invalid key
        Op::raw("get", Some("a/%2E%2E/b")),                           // 5 `..` after decoding
        Op::raw("get", Some("%FF%FE")),                               // 6 not UTF-8
        Op::raw("insert", Some("a//b")),                              // 7 empty segment
        Op::insert("bad-meta", "x").header("content-encoding", "br"), // 8 bad metadata
        Op::insert("bad-exp", "x").header("x-sn-expiration", "ttl:"), // 9 bad metadata
        Op::raw("insert", Some("")),                                  // 10 empty key
        Op::raw("GET", Some("ok")),                                   // 11 valid (case)
        Op::raw("InSeRt", Some("ok")).body("fine"),                   // 12 valid (case)
    ];
    let parts = run(&service, &ops).await;
    parts.assert_indexes(ops.len());
    for i in 0..=10 {
        let part = parts.get(i);
        assert_eq!(part.status, 400, "index {i}: {}", part.detail());
        assert!(part.detail().starts_with("batch error: "));
        assert!(part.key().is_none());
    }
    assert!(parts.get(1).detail().contains("unknown operation kind"));
    assert!(parts.get(2).detail().contains("missing header"));
    assert!(parts.get(8).detail().contains("content-encoding"));
    assert!(matches!(parts.get(11).status, 200 | 404));
    assert_eq!(parts.get(12).status, 201);
    assert_eq!(backend.len(), 1);
    assert!(backend.contains(&id("ok")));
}

#[tokio::test]
async fn broken_multipart_stops_with_400_for_the_current_index() {
    let (service, backend) = service();

    // Truncated inside the third part's data: parts 0 and 1 run, part 2 is 400, then stop.
    let mut body = multipart(&[
        Op::insert("a", "1"),
        Op::insert("b", "2"),
        Op::insert("c", "3333"),
    ]);
    let cut = body.len() - format!("\r\n--{BOUNDARY}--\r\n").len() - 2;
    body.truncate(cut);
    let parts = run_raw(&service, body).await;
    parts.assert_indexes(3);
    assert_eq!(parts.statuses(), vec![201, 201, 400]);
    assert!(parts.get(2).detail().contains("multipart"));
    assert!(!backend.contains(&id("c")));

    // Garbage without any delimiter: index 0 gets the 400.
    let parts = run_raw(&service, b"not a multipart body".to_vec()).await;
    parts.assert_indexes(1);
    assert_eq!(parts.get(0).status, 400);

    // Part headers that never end.
    let parts = run_raw(
        &service,
        format!("--{BOUNDARY}\r\nx-sn-batch-operation-kind: get\r\n").into_bytes(),
    )
    .await;
    parts.assert_indexes(1);
    assert_eq!(parts.get(0).status, 400);

    // A part header block that never ends is cut off at the header-phase limit, not
    // buffered up to the body limit.
    let mut body = multipart(&[Op::insert("a", "1")]);
    body.truncate(body.len() - format!("--{BOUNDARY}--\r\n").len());
    body.extend_from_slice(format!("--{BOUNDARY}\r\nx-snme-pad: ").as_bytes());
    body.extend(std::iter::repeat_n(b'p', 3 * 1024 * 1024));
    let parts = run_raw(&service, body).await;
    parts.assert_indexes(2);
    assert_eq!(parts.statuses(), vec![201, 400]);
    assert!(parts.get(1).detail().contains("multipart"));

    // An empty batch is just the closing delimiter.
    let parts = run_raw(&service, format!("--{BOUNDARY}--\r\n").into_bytes()).await;
    assert_eq!(parts.len(), 0);
}

#[tokio::test]
async fn non_multipart_requests_are_400_plain_text() {
    let (service, _) = service();
    for content_type in [
        None,
        Some("application/json"),
        Some("multipart/mixed; boundary=XyZ"),
        Some("multipart/form-data"),
        Some("not a media type"),
    ] {
        let mut headers = HeaderMap::new();
        if let Some(ct) = content_type {
            headers.insert("content-type", HeaderValue::from_static(ct));
        }
        let response = handle(
            service.clone(),
            context(),
            &headers,
            Body::from(multipart(&[Op::get("a")])),
            Arc::new(AllowAll),
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{content_type:?}"
        );
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let text = response.into_body().collect().await.unwrap().to_bytes();
        assert!(
            std::str::from_utf8(&text)
                .unwrap()
                .contains("multipart/form-data")
        );
    }
}

#[tokio::test]
async fn guard_rejections_become_parts_and_skip_execution() {
    let (service, backend) = service();
    run(&service, &[Op::insert("keep", "v")]).await;

    let guard = FnGuard(|kind: OpKind, metadata: Option<&Metadata>| match kind {
        OpKind::Delete => Err(OpRejection {
            status: StatusCode::FORBIDDEN,
            message: "auth error: operation not allowed".into(),
        }),
        OpKind::Insert if !metadata.unwrap().expiration_policy.is_manual() => Err(OpRejection {
            status: StatusCode::BAD_REQUEST,
            message: "client error: expiration policy not allowed".into(),
        }),
        _ => Ok(()),
    });
    let parts = run_with(
        &service,
        &[
            Op::delete("keep"),
            Op::insert("ttl", "x").header("x-sn-expiration", "ttl:1h"),
            Op::insert("manual", "x"),
            Op::get("keep"),
        ],
        Arc::new(guard),
    )
    .await;
    parts.assert_indexes(4);
    assert_eq!(parts.get(0).status, 403);
    assert_eq!(parts.get(0).detail(), "auth error: operation not allowed");
    assert_eq!(parts.get(1).status, 400);
    assert_eq!(parts.get(2).status, 201);
    assert_eq!(parts.get(3).status, 200);
    assert!(backend.contains(&id("keep")));
    assert!(!backend.contains(&id("ttl")));
}

#[tokio::test]
async fn guard_sees_each_well_formed_op_once() {
    let (service, _) = service();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let guard = FnGuard(move |kind: OpKind, metadata: Option<&Metadata>| {
        log.lock().unwrap().push((kind, metadata.is_some()));
        Ok(())
    });
    run_with(
        &service,
        &[
            Op::get("a"),
            Op::raw("get", None),
            Op::head("a"),
            Op::insert("a", "x"),
            Op::delete("b"),
        ],
        Arc::new(guard),
    )
    .await;
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (OpKind::Get, false),
            (OpKind::Head, false),
            (OpKind::Insert, true),
            (OpKind::Delete, false),
        ]
    );
}

#[tokio::test]
async fn keys_round_trip_through_both_escapings() {
    let (service, backend) = service();
    let keys = [
        "100%",
        "50%41",
        "réport/📄.pdf",
        "1/shard-0.json",
        "with space",
        "punct!$&'()*+,;=:@?<>[]{}|^~#\"",
        "%2F-is-not-a-slash",
    ];
    // Leading or trailing spaces only survive when escaped: header parsers (multer here)
    // trim them, so a 0.3.0 client that sends them literally loses them before any server.
    let v2_keys = [keys.as_slice(), &[" leading and trailing "]].concat();
    for (escape, keys) in [
        (escape_v3 as fn(&str) -> String, &keys[..]),
        (escape_v2, &v2_keys),
    ] {
        let insert = |k: &&str| Op::raw("insert", Some(&escape(k))).body(k.as_bytes());
        let inserted = run(&service, &keys.iter().map(insert).collect::<Vec<_>>()).await;
        for key in keys {
            let (_, bytes) = backend.entry(&id(key)).expect_object();
            assert_eq!(&bytes[..], key.as_bytes());
        }
        let get = |k: &&str| Op::raw("get", Some(&escape(k)));
        let got = run(&service, &keys.iter().map(get).collect::<Vec<_>>()).await;
        for (i, key) in keys.iter().enumerate() {
            // Both answers name the key as sent; the get returns what was stored.
            for (part, status) in [(inserted.get(i), 201), (got.get(i), 200)] {
                assert_eq!(part.status, status, "{key:?}");
                assert_eq!(part.key().as_deref(), Some(*key));
            }
            assert_eq!(&got.get(i).body[..], key.as_bytes());
        }
    }
}

#[test]
fn response_key_escaping() {
    use super::response::encode_key;
    assert_eq!(encode_key("key-1"), "key-1");
    assert_eq!(encode_key("1/shard-0.json"), "1/shard-0.json");
    assert_eq!(encode_key("100%"), "100%25");
    assert_eq!(encode_key(" a b "), "%20a%20b%20");
    assert_eq!(encode_key("é"), "%C3%A9");
    for key in ["x", "ü/ß", "%41", "a\"b"] {
        let encoded = encode_key(key);
        assert!(HeaderValue::from_str(&encoded).is_ok());
        assert_eq!(
            percent_encoding::percent_decode_str(&encoded)
                .decode_utf8()
                .unwrap(),
            key
        );
    }
}

#[test]
fn op_kind_parsing() {
    for kind in [OpKind::Get, OpKind::Head, OpKind::Insert, OpKind::Delete] {
        assert_eq!(OpKind::parse(kind.as_str()), Some(kind));
        assert_eq!(
            OpKind::parse(&kind.as_str().to_ascii_uppercase()),
            Some(kind)
        );
    }
    assert_eq!(OpKind::parse("put"), None);
    assert_eq!(OpKind::parse(""), None);
}

#[test]
fn service_errors_map_to_statuses() {
    use objectstore_service::Error;
    let cases = [
        (Error::InvalidRequest("x".into()), 400),
        (Error::ClientStream(std::io::Error::other("x")), 400),
        (Error::TooLarge("x".into()), 413),
        (Error::NotFound("x".into()), 404),
        (Error::Gone("x".into()), 410),
        (Error::Conflict("x".into()), 409),
        (
            Error::Unsupported {
                backend: "b",
                operation: "o",
            },
            501,
        ),
        (Error::Overloaded, 429),
        (Error::backend("b", "o", std::io::Error::other("x")), 500),
        (Error::Internal("x".into()), 500),
    ];
    for (error, status) in cases {
        assert_eq!(
            crate::error::service_status(&error).as_u16(),
            status,
            "{error}"
        );
    }
}

#[test]
fn handler_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let (service, _) = service();
    let headers = multipart_headers();
    let future = handle(
        service,
        context(),
        &headers,
        Body::empty(),
        Arc::new(AllowAll),
    );
    assert_send(&future);
}
