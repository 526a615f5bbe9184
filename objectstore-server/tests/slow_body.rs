//! Slow request bodies over real sockets (`http.min_body_rate`): a raw TCP client that
//! trickles its body, never silent long enough for the idle timeout, is cut off with 408 on
//! every write path (small and large objects, multipart parts, resumable chunks, batch
//! inserts) and nothing of it is stored; a client above the rate is not disturbed.
//!
//! The rate is 1 KiB/s over a 1 s window (the shortest allowed) so that each case ends in
//! about a second; the trickle sends 10 bytes a second. Outcomes are asserted, not
//! durations.

mod common;

use std::time::Duration;

use common::requests::with_headers;
use common::send;
use objectstore_server::testing::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start() -> TestServer {
    TestServer::start_configured(|config| {
        config.http.min_body_rate = 1024;
        config.http.min_body_rate_window = Duration::from_secs(1);
    })
    .await
    .expect("server starts")
}

/// Sends `head` (request line and headers, without `Content-Length` and the blank line)
/// declaring `prefix` plus 100 000 more bytes, `prefix` at once, then one byte every 100 ms
/// until the server ends the connection. Returns the whole response.
async fn trickle(server: &TestServer, head: &str, prefix: &[u8]) -> Vec<u8> {
    let stream = TcpStream::connect(server.addr()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let declared = prefix.len() + 100_000;
    let request = format!("{head}\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n");
    writer.write_all(request.as_bytes()).await.unwrap();
    writer.write_all(prefix).await.unwrap();
    let sender = tokio::spawn(async move {
        // At most 100 000 bytes: the body never completes on its own.
        for _ in 0..100_000 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer.write_all(b"x").await.is_err() {
                return;
            }
        }
    });
    let mut response = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(60), reader.read_to_end(&mut response)).await;
    sender.abort();
    assert!(
        read.is_ok(),
        "{head}: the server kept accepting the trickle; got {:?}",
        String::from_utf8_lossy(&response)
    );
    response
}

fn status(response: &[u8]) -> Option<u16> {
    String::from_utf8_lossy(response)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
}

/// A JSON response body's field, for the set-up requests.
async fn field(response: reqwest::Response, name: &str) -> String {
    let json = common::json(response).await;
    json[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {json}"))
        .to_owned()
}

#[tokio::test]
async fn trickled_bodies_get_408_and_store_nothing() {
    let server = start().await;
    let client = common::client();
    let url = |path: &str| server.url(path);

    // Put and delete: the slow cases are the only writes of keys `slow-*`.
    for (what, head, prefix) in [
        (
            "small PUT",
            "PUT /v1/objects/slow/_/slow-small HTTP/1.1\r\nHost: x".to_owned(),
            Vec::new(),
        ),
        (
            "large PUT",
            "PUT /v1/objects/slow/_/slow-large HTTP/1.1\r\nHost: x".to_owned(),
            vec![b'x'; 2 << 20],
        ),
    ] {
        let response = trickle(&server, &head, &prefix).await;
        assert_eq!(status(&response), Some(408), "{what}");
    }

    // A multipart part.
    let initiated = send(client.put(url("/v1/objects:multipart/slow/_/slow-mp"))).await;
    let upload_id = field(initiated, "upload_id").await;
    let head = format!(
        "PUT /v1/objects:multipart:parts/slow/_/slow-mp?upload_id={upload_id}&part_number=1 \
         HTTP/1.1\r\nHost: x"
    );
    assert_eq!(
        status(&trickle(&server, &head, b"").await),
        Some(408),
        "part"
    );
    let parts = format!("/v1/objects:multipart:parts/slow/_/slow-mp?upload_id={upload_id}");
    let parts = send(client.get(url(&parts))).await;
    assert_eq!(parts.status(), 200);
    let listed = common::json(parts).await;
    assert_eq!(listed["parts"], serde_json::json!([]), "{listed}");

    // A resumable chunk: the persisted offset stays 0.
    let create = client.put(url(
        "/v1/objects/slow/_/slow-resumable?upload_type=resumable",
    ));
    let headers = [("upload-length", "100000"), ("content-length", "0")];
    let created = send(with_headers(create, &headers)).await;
    assert_eq!(created.status(), 200);
    let session = field(created, "session").await;
    let head = format!(
        "PUT /v1/objects/slow/_/slow-resumable?session={session} HTTP/1.1\r\nHost: x\r\n\
         Upload-Offset: 0"
    );
    // The chunk must fit the declared upload length: declare exactly 100 000 bytes.
    let response = trickle(&server, &head, b"").await;
    assert_eq!(status(&response), Some(408), "resumable chunk");
    let query = client.put(url(&format!(
        "/v1/objects/slow/_/slow-resumable?session={session}"
    )));
    let headers = [("upload-offset", "*"), ("content-length", "0")];
    let offset = send(with_headers(query, &headers)).await;
    assert!(offset.status().is_success(), "{}", offset.status());
    assert_eq!(offset.headers()["upload-offset"], "0");

    // A batch insert: the batch answers 200 at once; its insert must not succeed.
    let head = "POST /v1/objects:batch/slow/_/ HTTP/1.1\r\nHost: x\r\n\
                Content-Type: multipart/form-data; boundary=b";
    let prefix = b"--b\r\ncontent-disposition: form-data; name=\"part\"\r\n\
                   x-sn-batch-operation-kind: insert\r\nx-sn-batch-operation-key: slow-batch\
                   \r\n\r\nabc";
    let response = trickle(&server, head, prefix).await;
    let text = String::from_utf8_lossy(&response);
    assert!(
        !text.contains("x-sn-batch-operation-status: 2"),
        "batch insert acknowledged: {text}"
    );

    for key in [
        "slow-small",
        "slow-large",
        "slow-mp",
        "slow-resumable",
        "slow-batch",
    ] {
        let got = send(client.get(url(&format!("/v1/objects/slow/_/{key}")))).await;
        assert_eq!(got.status(), 404, "{key}: stored");
    }
    let scrape = common::text(client.get(url("/metrics"))).await;
    let cutoffs = scrape
        .lines()
        .find(|l| {
            l.starts_with("objectstore_http_request_body_cutoffs_total")
                && l.contains("reason=\"min_rate\"")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
    assert!(cutoffs.is_some_and(|n| n >= 5.0), "{cutoffs:?}");

    let dir = server.dir();
    server.shutdown().await.unwrap();
    assert_eq!(
        common::data::lt_blobs(&dir.join("lt")),
        0,
        "a slow body left a blob"
    );
}

#[tokio::test]
async fn a_body_above_the_rate_is_stored_whatever_its_duration() {
    let server = start().await;
    // 8 KiB every 100 ms (80 KiB/s, 80 times the minimum) for three windows.
    let chunk = vec![b'y'; 8 * 1024];
    let chunks = 30;
    let body = futures::stream::unfold(0, move |i| {
        let chunk = chunk.clone();
        async move {
            if i == chunks {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            Some((Ok::<_, std::io::Error>(chunk), i + 1))
        }
    });
    let url = server.url("/v1/objects/slow/_/steady");
    let client = common::client();
    let put = client.put(&url).header("content-length", chunks * 8 * 1024);
    let put = send(put.body(reqwest::Body::wrap_stream(body))).await;
    assert_eq!(put.status(), 200);
    let got = send(client.get(&url)).await;
    assert_eq!(got.status(), 200);
    let data = got.bytes().await.unwrap();
    assert_eq!(data.len(), chunks * 8 * 1024);
    assert!(data.iter().all(|b| *b == b'y'));
    server.shutdown().await.unwrap();
}
