//! Object routes (docs/http-api.md §1, §2, §4, §6): statuses, headers, bodies, keys and
//! rejections, against an in-process server over the in-memory backend.

mod common;

use common::{Memory, json, python_path, raw, rust_path, send};
use futures::StreamExt as _;
use http::StatusCode;

#[tokio::test]
async fn put_get_head_delete_round_trip() {
    let s = Memory::start().await;
    let url = s.object("usecase", "org=1;project=2", "my/key");

    let headers = [
        ("content-type", "text/plain"),
        ("x-sn-expiration", "ttl:1 days"),
        ("x-sn-origin", "10.0.0.1"),
        ("x-sn-filename", "r%C3%A9port-%F0%9F%93%84.pdf"),
        ("x-snme-release", "v%C3%A9rsion-1.0"),
        ("x-sn-time-created", "garbage is ignored"),
        ("x-sn-size", "999"),
    ];
    let put = s.put_with(&url, &headers, "hello world").await;
    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(put.headers()["content-type"], "application/json");
    assert_eq!(json(put).await, serde_json::json!({"key": "my/key"}));

    let get = s.get(&url).await;
    assert_eq!(get.status(), StatusCode::OK);
    let h = get.headers().clone();
    assert_eq!(h["content-type"], "text/plain");
    assert_eq!(h["content-length"], "11");
    assert_eq!(h["x-sn-size"], "11");
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["x-sn-expiration"], "ttl:1d");
    assert_eq!(h["x-sn-origin"], "10.0.0.1");
    assert_eq!(h["x-sn-filename"], "r%C3%A9port-%F0%9F%93%84.pdf");
    assert_eq!(h["x-snme-release"], "v%C3%A9rsion-1.0");
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"r_port-_.pdf\"; filename*=UTF-8''r%C3%A9port")
    );
    let created = h["x-sn-time-created"].to_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 20, "{created}");
    assert!(h.contains_key("x-sn-time-expires"));
    assert!(!h.contains_key("content-encoding"));
    assert_eq!(
        h["server"],
        format!("objectstore/{}", objectstore_server::VERSION)
    );
    assert_eq!(get.bytes().await.unwrap(), "hello world");

    let head = s.head(&url).await;
    assert_eq!(head.status(), StatusCode::NO_CONTENT);
    assert_eq!(head.headers()["x-sn-size"], "11");
    assert_eq!(
        head.headers()["x-sn-filename"],
        "r%C3%A9port-%F0%9F%93%84.pdf"
    );
    assert_eq!(head.headers()["accept-ranges"], "bytes");

    let delete = s.delete(&url).await;
    assert_eq!(delete.status(), StatusCode::NO_CONTENT);
    assert!(delete.bytes().await.unwrap().is_empty());

    let gone = s.get(&url).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert!(gone.bytes().await.unwrap().is_empty());
    let gone = s.head(&url).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn post_generates_a_uuid_key_with_and_without_trailing_slash() {
    let s = Memory::start().await;
    for path in ["/v1/objects/usecase/_", "/v1/objects/usecase/_/"] {
        let post = s.post(s.url(path), "payload").await;
        assert_eq!(post.status(), StatusCode::CREATED, "{path}");
        let key = json(post).await["key"].as_str().unwrap().to_owned();
        let uuid = uuid::Uuid::parse_str(&key).unwrap();
        assert_eq!(uuid.get_version_num(), 4);
        assert_eq!(key, uuid.hyphenated().to_string());
        let get = s.get(s.object("usecase", "_", &key)).await;
        assert_eq!(get.status(), StatusCode::OK);
        assert_eq!(
            get.headers()["content-type"],
            "application/octet-stream",
            "default content type"
        );
        assert_eq!(get.bytes().await.unwrap(), "payload");
    }
}

#[tokio::test]
async fn overwrite_replaces_payload_and_all_metadata() {
    let s = Memory::start().await;
    let url = s.object("u", "_", "k");
    let headers = [("x-snme-a", "1"), ("content-encoding", "zstd")];
    s.put_with(&url, &headers, "first").await;
    s.put(&url, "second").await;
    let get = s.get(&url).await;
    assert!(!get.headers().contains_key("x-snme-a"));
    assert!(!get.headers().contains_key("content-encoding"));
    assert_eq!(get.bytes().await.unwrap(), "second");
}

#[tokio::test]
async fn compressed_payloads_are_stored_and_served_verbatim() {
    let s = Memory::start().await;
    for encoding in ["zstd", "gzip"] {
        let url = s.object("u", "_", encoding);
        let bytes: Vec<u8> = (0..=255u8).collect();
        let encoded = [("content-encoding", encoding)];
        let put = s.put_with(&url, &encoded, bytes.clone()).await;
        assert_eq!(put.status(), StatusCode::OK);
        let get = s.get_with(&url, &[("accept-encoding", "identity")]).await;
        assert_eq!(get.headers()["content-encoding"], encoding);
        assert_eq!(get.bytes().await.unwrap().to_vec(), bytes);
    }
}

#[tokio::test]
async fn chunked_request_bodies_stream_in() {
    let s = Memory::start().await;
    let url = s.object("u", "_", "streamed");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..64).map(|i| Ok(vec![i as u8; 16 * 1024])).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let put = s.put(&url, body).await;
    assert_eq!(put.status(), StatusCode::OK);
    let get = s.get(&url).await;
    assert_eq!(
        get.headers()["content-length"],
        (64 * 16 * 1024).to_string()
    );
    let mut stream = get.bytes_stream();
    let mut received = Vec::new();
    while let Some(chunk) = stream.next().await {
        received.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(received.len(), 64 * 16 * 1024);
    assert!(
        received
            .chunks(16 * 1024)
            .enumerate()
            .all(|(i, c)| c.iter().all(|b| *b == i as u8))
    );
}

/// The keys that must round-trip byte-exactly (docs/http-api.md §2.3), shared with the Python
/// suite.
const ROUNDTRIP_KEYS: &str = include_str!("../../tests/roundtrip-keys.json");

/// docs/http-api.md §2.3: keys the Python suite requires to round-trip byte-exactly, sent the way
/// each client encodes them.
#[tokio::test]
async fn unusual_keys_round_trip() {
    let s = Memory::start().await;
    let keys: Vec<String> = serde_json::from_str(ROUNDTRIP_KEYS).unwrap();
    for (i, key) in keys.iter().enumerate() {
        let body = format!("payload {i}");
        let put_url = s.url(&format!("/v1/objects/u/_/{}", python_path(key)));
        let put = s.put(&put_url, body.clone()).await;
        assert_eq!(put.status(), StatusCode::OK, "{key}");
        assert_eq!(json(put).await["key"], *key, "echoed key");
        let get_url = s.url(&format!("/v1/objects/u/_/{}", rust_path(key)));
        let get = s.get(&get_url).await;
        assert_eq!(get.status(), StatusCode::OK, "{key}");
        assert_eq!(get.text().await.unwrap(), body, "{key}");
    }
    // `%2F` and `/` address the same object; `+` is not a space.
    let get = s
        .get(s.url("/v1/objects/u/_/nested%2Fpath%2Fsegments"))
        .await;
    assert_eq!(get.status(), StatusCode::OK);
    let get = s.get(s.url("/v1/objects/u/_/plus%20sign")).await;
    assert_eq!(get.status(), StatusCode::NOT_FOUND);
    assert!(
        s.backend
            .ids()
            .iter()
            .any(|id| id.key.as_str() == "looks%20encoded")
    );
}

#[tokio::test]
async fn scopes_separate_namespaces() {
    let s = Memory::start().await;
    s.put(s.object("u", "a=1;b=2", "k"), "x").await;
    for scopes in ["b=2;a=1", "a=1", "_"] {
        let get = s.get(s.object("u", scopes, "k")).await;
        assert_eq!(get.status(), StatusCode::NOT_FOUND, "{scopes}");
    }
    let get = s.get(s.object("u", "a%3D1%3Bb%3D2", "k")).await;
    assert_eq!(
        get.status(),
        StatusCode::OK,
        "percent-encoded scopes decode once"
    );
}

/// The header of an empty request body, for [`raw`].
const NO_BODY: &str = "Content-Length: 0\r\n";

#[tokio::test]
async fn malformed_paths_are_400_with_a_message() {
    let s = Memory::start().await;
    let addr = s.server.addr();
    for (target, needle) in [
        ("/v1/objects/u/org/k", "not of the form name=value"),
        ("/v1/objects/u/org=/k", "must not be empty"),
        ("/v1/objects/u/org.x=1/k", "contains '.'"),
        ("/v1/objects/u/a=1;;b=2/k", "name=value"),
        ("/v1/objects/u/_/a%2F..%2Fb", "`..`"),
        ("/v1/objects/u/_/..%2Fetc%2Fpasswd", "`..`"),
        ("/v1/objects/u/_/a//b", "`//`"),
        ("/v1/objects/u/_/a/./b", "`.`"),
        ("/v1/objects/u/_/%FF", "UTF-8"),
        ("/v1/objects/u/_/a%0Ab", "control"),
        ("/v1/objects/%2E%2E/_/k", "usecase"),
        ("/v1/objects/a%2Fb/_/k", "usecase"),
    ] {
        for method in ["GET", "PUT", "DELETE", "HEAD"] {
            let r = raw(addr, method, target, NO_BODY).await;
            assert_eq!(r.status, 400, "{method} {target}");
            if method != "HEAD" {
                let body = String::from_utf8_lossy(&r.body);
                assert!(body.starts_with("Invalid URL:"), "{target}: {body}");
                assert!(body.contains(needle), "{target}: {body:?} lacks {needle:?}");
            }
        }
    }
    let r = raw(addr, "POST", "/v1/objects/u/x=%FF/", NO_BODY).await;
    assert_eq!(r.status, 400);
    assert!(s.backend.is_empty());
}

#[tokio::test]
async fn invalid_metadata_headers_are_400_json() {
    let s = Memory::start().await;
    let url = s.object("u", "_", "k");
    for (name, value) in [
        ("content-type", "not a type"),
        ("content-encoding", "identity"),
        ("content-encoding", "br"),
        ("x-sn-expiration", "ttl:"),
        ("x-sn-expiration", "forever"),
        ("x-sn-filename", "%FF%FE"),
        ("x-snme-", "x"),
    ] {
        let put = s.put_with(&url, &[(name, value)], "x").await;
        assert_eq!(put.status(), StatusCode::BAD_REQUEST, "{name}: {value}");
        assert_eq!(put.headers()["content-type"], "application/json");
        let body = json(put).await;
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.starts_with("client error:"), "{detail}");
        assert!(detail.contains(name), "{detail}");
    }
    // Non-ASCII header bytes.
    let non_ascii = "Content-Length: 1\r\nx-sn-origin: \u{e9}\r\n\r\nx";
    let r = raw(s.server.addr(), "PUT", "/v1/objects/u/_/k", non_ascii).await;
    assert_eq!(r.status, 400);
    assert!(s.backend.is_empty());
}

#[tokio::test]
async fn delete_of_a_missing_object_is_204() {
    let s = Memory::start().await;
    let delete = s.delete(s.object("u", "_", "never")).await;
    assert_eq!(delete.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    let s = Memory::start().await;
    for path in [
        "/",
        "/v1",
        "/v1/objects",
        "/v1/objects/u",
        "/v2/objects/u/_/k",
        "/v1/objects:batch/u/_",
        "/v1/objects:other/u/_/k",
    ] {
        let r = s.get(s.url(path)).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(r.bytes().await.unwrap().is_empty(), "{path}");
    }
    for (method, path, allow) in [
        ("POST", "/v1/objects/u/_/k", "GET,HEAD,PUT,PATCH,DELETE"),
        ("GET", "/v1/objects/u/_", "POST"),
        ("GET", "/v1/objects/u/_/", "POST"),
        ("PUT", "/v1/objects/u/_/", "POST"),
        ("GET", "/v1/objects:batch/u/_/", "POST"),
        ("GET", "/v1/objects:multipart/u/_/k", "PUT,DELETE"),
        (
            "DELETE",
            "/v1/objects:multipart:parts/u/_/k",
            "PUT,GET,HEAD",
        ),
        ("GET", "/v1/objects:multipart:complete/u/_/k", "POST"),
        ("POST", "/health", "GET,HEAD"),
    ] {
        let r = send(s.client.request(method.parse().unwrap(), s.url(path))).await;
        assert_eq!(
            r.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let got: std::collections::BTreeSet<String> = r.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_owned())
            .collect();
        let want: std::collections::BTreeSet<String> =
            allow.split(',').map(str::to_owned).collect();
        assert_eq!(got, want, "{method} {path}");
    }
}

#[tokio::test]
async fn response_header_names_are_lowercase_on_the_wire() {
    let s = Memory::start().await;
    let headers = [("x-sn-filename", "f.txt"), ("x-snme-Custom", "v")];
    s.put_with(s.object("u", "_", "k"), &headers, "x").await;
    for method in ["GET", "HEAD"] {
        let r = raw(s.server.addr(), method, "/v1/objects/u/_/k", "").await;
        assert!(r.status < 300);
        for line in &r.header_lines {
            let name = line.split(':').next().unwrap();
            assert_eq!(name, name.to_ascii_lowercase(), "{method}: {line}");
        }
        assert_eq!(r.header("x-snme-custom").as_deref(), Some("v"));
        assert_eq!(
            r.header("server"),
            Some(format!("objectstore/{}", objectstore_server::VERSION))
        );
    }
}

#[tokio::test]
async fn usecase_expiration_policy_is_enforced_on_inserts() {
    let s = Memory::start_with(|c| {
        let mut rules = objectstore_server::admission::UsecaseConfig::default();
        rules.expiration.manual.allowed = false;
        rules.expiration.ttl.max = Some(std::time::Duration::from_secs(86_400));
        c.usecases.0.insert("limited".into(), rules);
    })
    .await;
    for (policy, ok) in [
        (None, false),
        (Some("manual"), false),
        (Some("ttl:1d"), true),
        (Some("ttl:1d 1s"), false),
        (Some("tti:30d"), true),
    ] {
        let mut put = s.client.put(s.object("limited", "_", "k")).body("x");
        if let Some(p) = policy {
            put = put.header("x-sn-expiration", p);
        }
        let r = send(put).await;
        let want = if ok {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(r.status(), want, "{policy:?}");
        if !ok {
            assert!(
                json(r).await["detail"]
                    .as_str()
                    .unwrap()
                    .contains("usecase")
            );
        }
    }
    let other = s.put(s.object("free", "_", "k"), "x").await;
    assert_eq!(
        other.status(),
        StatusCode::OK,
        "unconfigured usecases accept all"
    );
    let post = send(s.client.post(s.url("/v1/objects:multipart/limited/_/"))).await;
    assert_eq!(
        post.status(),
        StatusCode::BAD_REQUEST,
        "multipart initiate too"
    );
}
