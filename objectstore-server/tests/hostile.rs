//! Hostile input against a real server on the default tiered layout (embedded + filesystem
//! under a temporary directory): oversized headers, truncated and stalled bodies, malformed
//! multipart (batch and complete), invalid UTF-8, path traversal in keys and scopes.
//!
//! Every case must end in a 4xx (or, where the HTTP layer refuses the bytes outright, a
//! closed connection): never a 5xx, never a panic (a process-wide panic hook counts them),
//! and nothing may be created outside the data directory.

mod common;

use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::data::{files, lt_blobs};
use objectstore_server::testing::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts every panic of the process (server tasks included) except this file's own
/// assertions (tests run in parallel), then reports it as usual.
fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let ours = info
                .location()
                .is_some_and(|l| l.file().ends_with("hostile.rs"));
            if !ours {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// A server whose data directory is `outer/data`, so that an escape lands in `outer`.
struct Hostile {
    server: TestServer,
    outer: tempfile::TempDir,
}

impl Hostile {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(configure: impl FnOnce(&mut objectstore_server::Config)) -> Self {
        count_panics();
        let outer = tempfile::tempdir().unwrap();
        let data = outer.path().join("data");
        let server = TestServer::start_configured(|config| {
            config.storage = TestServer::config(&data).storage;
            configure(config);
        })
        .await
        .unwrap();
        Self { server, outer }
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    /// Stops the server (waiting for background cleanup) and checks that nothing exists in
    /// the outer directory besides `data/`, and that no request panicked.
    async fn finish(self) -> tempfile::TempDir {
        let Self { server, outer } = self;
        server.shutdown().await.unwrap();
        let entries: Vec<_> = std::fs::read_dir(outer.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, vec!["data"], "created outside the data directory");
        assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a panic happened");
        outer
    }
}

/// What the server did with a raw request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Status(u16),
    /// Closed or reset without a status line.
    Closed,
}

impl Answer {
    #[track_caller]
    fn assert_refused(&self, what: &str) {
        match self {
            Self::Status(s) => assert!((400..500).contains(s), "{what}: {s}"),
            Self::Closed => {}
        }
    }

    #[track_caller]
    fn assert_no_server_error(&self, what: &str) {
        if let Self::Status(s) = self {
            assert!(*s < 500, "{what}: {s}");
        }
    }
}

/// Reads the status line of whatever the server answers (within `limit`).
async fn answer(stream: &mut TcpStream, limit: Duration) -> Answer {
    let mut buf = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if buf.windows(2).any(|w| w == b"\r\n") {
                return;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within {limit:?}");
    let line = String::from_utf8_lossy(&buf);
    match line.split(' ').nth(1).and_then(|s| s.parse().ok()) {
        Some(status) => Answer::Status(status),
        None => Answer::Closed,
    }
}

/// Sends `head` (request line and headers, without the final blank line) plus `body` and
/// reads the answer.
async fn send(addr: std::net::SocketAddr, head: &[u8], body: &[u8]) -> Answer {
    send_with(addr, head, body, false).await
}

/// [`send`], then (with `half_close`) closes the sending side: the server sees the body end
/// early. (The server may then drop the connection without an answer.)
async fn send_with(
    addr: std::net::SocketAddr,
    head: &[u8],
    body: &[u8],
    half_close: bool,
) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = head.to_vec();
    request.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    request.extend_from_slice(body);
    // The server may answer and close before reading everything: not an error here.
    let _ = stream.write_all(&request).await;
    if half_close {
        let _ = stream.shutdown().await;
    }
    answer(&mut stream, Duration::from_secs(30)).await
}

fn put_head(target: &str, len: usize, extra: &str) -> Vec<u8> {
    format!("PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {len}{extra}").into_bytes()
}

#[tokio::test]
async fn oversized_headers_and_header_counts_are_refused() {
    let h = Hostile::start().await;
    let target = "/v1/objects/hostile/_/headers";
    let huge = "a".repeat(1024 * 1024);
    let many: String = (0..2000).map(|i| format!("\r\nx-snme-h{i}: v")).collect();
    let long_line = format!("/v1/objects/hostile/_/{}", "k".repeat(1024 * 1024));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "1 MiB header",
            put_head(target, 1, &format!("\r\nx-big: {huge}")),
        ),
        ("2000 headers", put_head(target, 1, &many)),
        ("1 MiB request line", put_head(&long_line, 1, "")),
        (
            "1 MiB metadata value",
            put_head(target, 1, &format!("\r\nx-snme-big: {huge}")),
        ),
    ];
    for (what, head) in cases {
        send(h.addr(), &head, b"x").await.assert_refused(what);
    }
    let get = common::raw(h.addr(), "GET", target, "").await;
    assert_eq!(get.status, 404);
    h.finish().await;
}

#[tokio::test]
async fn truncated_bodies_store_nothing_and_leave_no_blob() {
    let h = Hostile::start().await;
    // Content-Length larger than what is sent, then the client closes its side.
    for (key, declared, sent) in [
        ("small", 1000, 10),
        ("large", 4 << 20, 2 << 20),
        ("empty", 10, 0),
    ] {
        let target = format!("/v1/objects/hostile/_/{key}");
        let head = put_head(&target, declared, "");
        let answer = send_with(h.addr(), &head, &vec![b'x'; sent], true).await;
        answer.assert_refused(key);
        let get = common::raw(h.addr(), "GET", &target, "").await;
        assert_eq!(get.status, 404, "{key}: stored");
    }
    let outer = h.finish().await;
    assert_eq!(
        lt_blobs(&outer.path().join("data/lt")),
        0,
        "a truncated large body left a blob"
    );
}

#[tokio::test]
async fn stalled_bodies_time_out() {
    let h = Hostile::start_with(|config| {
        config.http.body_timeout = Duration::from_millis(300);
    })
    .await;
    let client = common::client();
    let initiated = client
        .put(h.server.url("/v1/objects:multipart/hostile/_/stalled-mp"))
        .send()
        .await
        .unwrap();
    let upload_id = common::json(initiated).await["upload_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let part = format!(
        "/v1/objects:multipart:parts/hostile/_/stalled-mp?upload_id={upload_id}&part_number=1"
    );
    let complete =
        format!("/v1/objects:multipart:complete/hostile/_/stalled-mp?upload_id={upload_id}");
    let json = "\r\nContent-Type: application/json";
    let batch = "\r\nContent-Type: multipart/form-data; boundary=b";
    // (what, method, target, extra headers, declared length, bytes sent, expected status)
    let cases: Vec<Stall<'_>> = vec![
        (
            "small PUT",
            "PUT",
            "/v1/objects/hostile/_/stalled-small",
            "",
            1000,
            vec![b'x'; 10],
            Some(408),
        ),
        (
            "large PUT",
            "PUT",
            "/v1/objects/hostile/_/stalled-large",
            "",
            4 << 20,
            vec![b'x'; 2 << 20],
            Some(408),
        ),
        (
            "part upload",
            "PUT",
            &part,
            "",
            1000,
            vec![b'x'; 10],
            Some(408),
        ),
        (
            "multipart complete",
            "POST",
            &complete,
            json,
            1000,
            b"{\"parts\":[".to_vec(),
            None,
        ),
        (
            "PATCH expiry",
            "PATCH",
            "/v1/objects/hostile/_/stalled-small",
            json,
            1000,
            b"{".to_vec(),
            None,
        ),
        // A batch answers 200 at once; the stall must end its body (with an error part).
        (
            "batch",
            "POST",
            "/v1/objects:batch/hostile/_/",
            batch,
            1000,
            b"--b\r\nx-sn-batch-operation-kind: insert\r\n\r\nabc".to_vec(),
            None,
        ),
    ];
    for (what, method, target, extra, declared, sent, expected) in cases {
        let mut stream = TcpStream::connect(h.addr()).await.unwrap();
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}{extra}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&sent).await.unwrap();
        // The connection stays open and silent: the server must give up on its own, and
        // end the response (read to the end: the connection closes).
        let mut response = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut response)).await;
        assert!(read.is_ok(), "{what}: the server did not end the request");
        let line = String::from_utf8_lossy(&response);
        let status: Option<u16> = line.split(' ').nth(1).and_then(|s| s.parse().ok());
        match expected {
            Some(expected) => assert_eq!(status, Some(expected), "{what}: {line}"),
            None => assert!(status.is_none_or(|s| s < 500), "{what}: {line}"),
        }
        let parts = batch_part_statuses(&response);
        assert!(parts.iter().all(|s| *s < 500), "{what}: parts {parts:?}");
    }
    for key in ["stalled-small", "stalled-large", "stalled-mp"] {
        let get = common::raw(h.addr(), "GET", &format!("/v1/objects/hostile/_/{key}"), "").await;
        assert_eq!(get.status, 404, "{key}: stored");
    }
    let outer = h.finish().await;
    assert_eq!(
        lt_blobs(&outer.path().join("data/lt")),
        0,
        "a stalled large body left a blob"
    );
}

/// A stalled request: what, method, target, extra headers, declared length, bytes sent,
/// expected status (`None`: any but 5xx).
type Stall<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    usize,
    Vec<u8>,
    Option<u16>,
);

/// The status codes in a batch response's parts (`<code> <reason>` lines of the part
/// headers).
fn batch_part_statuses(body: &[u8]) -> Vec<u16> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|l| l.strip_prefix("x-sn-batch-operation-status: "))
        .filter_map(|s| s.split(' ').next()?.parse().ok())
        .collect()
}

#[tokio::test]
async fn malformed_batch_requests_are_client_errors() {
    let h = Hostile::start().await;
    let target = "/v1/objects:batch/hostile/_/";
    let part = |headers: &str, body: &str| {
        format!(
            "--b\r\ncontent-disposition: form-data; name=\"part\"\r\n{headers}\r\n\r\n{body}\r\n"
        )
    };
    let huge_header = format!("x-sn-batch-operation-kind: {}", "g".repeat(200_000));
    let cases: Vec<(&str, &str, String)> = vec![
        ("no boundary", "multipart/form-data", part("", "")),
        ("mixed", "multipart/mixed; boundary=b", part("", "")),
        (
            "garbage",
            "multipart/form-data; boundary=b",
            "\u{0}\u{1}garbage".into(),
        ),
        (
            "no closing boundary",
            "multipart/form-data; boundary=b",
            part("x-sn-batch-operation-kind: insert", "abc"),
        ),
        (
            "truncated in part headers",
            "multipart/form-data; boundary=b",
            "--b\r\nx-sn-batch-operation-kind: ins".into(),
        ),
        (
            "unknown kind",
            "multipart/form-data; boundary=b",
            part("x-sn-batch-operation-kind: explode", "") + "--b--\r\n",
        ),
        (
            "bad key escapes",
            "multipart/form-data; boundary=b",
            part(
                "x-sn-batch-operation-kind: get\r\nx-sn-batch-operation-key: %FF%ZZ",
                "",
            ) + "--b--\r\n",
        ),
        (
            "traversal key",
            "multipart/form-data; boundary=b",
            part(
                "x-sn-batch-operation-kind: insert\r\nx-sn-batch-operation-key: ..%2F..%2Fescaped",
                "x",
            ) + "--b--\r\n",
        ),
        (
            "huge part header",
            "multipart/form-data; boundary=b",
            part(&huge_header, "") + "--b--\r\n",
        ),
        (
            "bad metadata",
            "multipart/form-data; boundary=b",
            part(
                "x-sn-batch-operation-kind: insert\r\nx-sn-expiration: ttl:forever\r\ncontent-encoding: br",
                "x",
            ) + "--b--\r\n",
        ),
    ];
    for (what, content_type, body) in cases {
        let raw = common::raw(
            h.addr(),
            "POST",
            target,
            &format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
        .await;
        assert!(raw.status < 500, "{what}: {}", raw.status);
        if raw.status == 200 {
            let statuses = batch_part_statuses(&raw.body);
            assert!(
                statuses.iter().all(|s| (400..500).contains(s)),
                "{what}: part statuses {statuses:?}"
            );
        }
    }
    h.finish().await;
}

#[tokio::test]
async fn malformed_multipart_completes_are_client_errors() {
    let h = Hostile::start().await;
    let client = common::client();
    let key_url = h.server.url("/v1/objects:multipart/hostile/_/mp-key");
    let initiated = client.put(&key_url).send().await.unwrap();
    assert_eq!(initiated.status(), 200);
    let upload_id = common::json(initiated).await["upload_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let complete = |upload_id: &str| {
        format!("/v1/objects:multipart:complete/hostile/_/mp-key?upload_id={upload_id}")
    };
    let bodies: Vec<(&str, &str, Vec<u8>)> = vec![
        ("empty", "application/json", vec![]),
        ("open brace", "application/json", b"{".to_vec()),
        ("array", "application/json", b"[]".to_vec()),
        (
            "parts not a list",
            "application/json",
            br#"{"parts":"x"}"#.to_vec(),
        ),
        (
            "part zero",
            "application/json",
            br#"{"parts":[{"part_number":0,"etag":"x"}]}"#.to_vec(),
        ),
        (
            "unknown part",
            "application/json",
            br#"{"parts":[{"part_number":7,"etag":"x"}]}"#.to_vec(),
        ),
        (
            "huge part number",
            "application/json",
            br#"{"parts":[{"part_number":99999999999999999999,"etag":"x"}]}"#.to_vec(),
        ),
        (
            "invalid UTF-8",
            "application/json",
            b"{\"parts\":\"\xff\xfe\"}".to_vec(),
        ),
        (
            "XML",
            "application/xml",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part>".to_vec(),
        ),
        ("deep nesting", "application/json", {
            let mut b = vec![b'['; 100_000];
            b.extend(vec![b']'; 100_000]);
            b
        }),
    ];
    for (what, content_type, body) in bodies {
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}",
            complete(&upload_id),
            body.len()
        );
        let answer = send(h.addr(), head.as_bytes(), &body).await;
        answer.assert_no_server_error(what);
    }
    // Hostile upload ids (the object's upload stays untouched).
    for upload_id in [
        "",
        "%FF",
        "..%2F..%2Fescaped",
        "%2Fetc%2Fpasswd",
        "a%00b",
        "eyJ9",
    ] {
        let body = br#"{"parts":[{"part_number":1,"etag":"x"}]}"#;
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}",
            complete(upload_id),
            body.len()
        );
        send(h.addr(), head.as_bytes(), body)
            .await
            .assert_no_server_error(upload_id);
        let parts = format!(
            "/v1/objects:multipart:parts/hostile/_/mp-key?upload_id={upload_id}&part_number=1"
        );
        send(h.addr(), &put_head(&parts, 1, ""), b"x")
            .await
            .assert_refused(upload_id);
    }
    let get = common::raw(h.addr(), "GET", "/v1/objects/hostile/_/mp-key", "").await;
    assert_eq!(get.status, 404, "a failed complete created the object");
    h.finish().await;
}

#[tokio::test]
async fn invalid_utf8_in_paths_headers_and_metadata_is_refused() {
    let h = Hostile::start().await;
    let heads: Vec<(&str, Vec<u8>)> = vec![
        (
            "escaped key",
            put_head("/v1/objects/hostile/_/%FF%FE", 1, ""),
        ),
        (
            "escaped scope",
            put_head("/v1/objects/hostile/s=%C3%28/k", 1, ""),
        ),
        ("escaped usecase", put_head("/v1/objects/%FF/_/k", 1, "")),
        ("raw key bytes", {
            let mut head = b"PUT /v1/objects/hostile/_/\xff\xfe HTTP/1.1".to_vec();
            head.extend_from_slice(b"\r\nHost: x\r\nContent-Length: 1");
            head
        }),
    ];
    let mut heads = heads;
    for header in [
        "content-type",
        "x-snme-note",
        "x-sn-filename",
        "x-sn-origin",
        "x-sn-expiration",
        "content-encoding",
    ] {
        let mut head = put_head("/v1/objects/hostile/_/utf8", 1, "");
        head.extend_from_slice(format!("\r\n{header}: ").as_bytes());
        head.extend_from_slice(b"\xc3\x28\xff");
        heads.push((header, head));
    }
    for (what, head) in heads {
        send(h.addr(), &head, b"x").await.assert_refused(what);
    }
    let get = common::raw(h.addr(), "GET", "/v1/objects/hostile/_/utf8", "").await;
    assert_eq!(get.status, 404);
    h.finish().await;
}

#[tokio::test]
async fn path_traversal_in_keys_and_scopes_stays_inside_the_data_directory() {
    let h = Hostile::start().await;
    let targets = [
        "/v1/objects/hostile/_/..",
        "/v1/objects/hostile/_/../../escaped",
        "/v1/objects/hostile/_/%2e%2e/%2e%2e/escaped",
        "/v1/objects/hostile/_/%2E%2E%2F%2E%2E%2Fescaped",
        "/v1/objects/hostile/_/a%2F..%2F..%2F..%2Fescaped",
        "/v1/objects/hostile/_/..%5C..%5Cescaped",
        "/v1/objects/hostile/_/..\\..\\escaped",
        "/v1/objects/hostile/_/%2Ftmp%2Fescaped",
        "/v1/objects/hostile/_//tmp/escaped",
        "/v1/objects/hostile/_/C:%5Cescaped",
        "/v1/objects/hostile/_/a%00b",
        "/v1/objects/hostile/s=..%2F..%2Fescaped/k",
        "/v1/objects/hostile/s=%2e%2e/k",
        "/v1/objects/hostile/..=x/k",
        "/v1/objects/hostile/s=a%00/k",
        "/v1/objects/hostile/s=a%5C..%5C..%5Cescaped/k",
        "/v1/objects/%2e%2e/_/k",
        "/v1/objects/..%2F..%2Fescaped/_/k",
        "/v1/objects/../../escaped",
        "/v1/objects:multipart/hostile/_/..%2F..%2Fescaped",
    ];
    let small = b"x".to_vec();
    let large = vec![b'L'; (1 << 20) + 1];
    for target in targets {
        for body in [&small, &large] {
            let answer = send(h.addr(), &put_head(target, body.len(), ""), body).await;
            answer.assert_no_server_error(target);
            if answer == Answer::Status(200) || answer == Answer::Status(201) {
                // Accepted as a literal key: it must read back exactly, at the same address.
                let get = common::raw(h.addr(), "GET", target, "").await;
                assert_eq!(get.status, 200, "{target}");
                assert_eq!(get.body.len(), body.len(), "{target}");
            }
            let get = common::raw(h.addr(), "GET", target, "").await;
            assert!(get.status < 500, "GET {target}: {}", get.status);
            let delete = common::raw(h.addr(), "DELETE", target, "").await;
            assert!(delete.status < 500, "DELETE {target}: {}", delete.status);
        }
    }
    let outer = h.finish().await;
    let lt = outer.path().join("data/lt");
    assert_eq!(
        lt_blobs(&lt),
        0,
        "deleted objects left blobs: {:?}",
        files(&lt)
    );
}

#[tokio::test]
async fn stalled_request_heads_are_dropped_and_do_not_block_shutdown() {
    let h = Hostile::start_with(|config| {
        config.http.header_timeout = Duration::from_millis(300);
    })
    .await;
    let partial = b"PUT /v1/objects/hostile/_/k HTTP/1.1\r\nHost: x\r\nx-snme-a: ";
    // The server closes a connection whose head stalls (it may answer 408 first).
    let mut stalled = TcpStream::connect(h.addr()).await.unwrap();
    stalled.write_all(partial).await.unwrap();
    let answer = answer(&mut stalled, Duration::from_secs(30)).await;
    assert!(
        matches!(answer, Answer::Closed | Answer::Status(408)),
        "{answer:?}"
    );
    // A connection stuck in its head does not hold up a graceful stop.
    let mut stuck = TcpStream::connect(h.addr()).await.unwrap();
    stuck.write_all(partial).await.unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(30), h.finish()).await;
    assert!(
        stopped.is_ok(),
        "shutdown blocked by a connection stuck in its head"
    );
    drop(stuck);
}
