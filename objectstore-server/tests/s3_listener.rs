//! The S3 listener in the real binary: started and shut down with the objectstore API, on
//! the same storage (an object written by one API is read and deleted by the other), with the
//! same admission control and metrics; a non-loopback `s3.addr` without credentials refuses
//! to start.

mod common;

use std::time::Duration;

use common::binary::{ServerProcess, free_port, objectstore};
use common::requests::{send, text, with_headers};

struct Both {
    server: ServerProcess,
    s3: String,
}

fn start(dir: &std::path::Path, extra: &[(&str, String)]) -> Both {
    let port = free_port();
    let mut env = vec![
        ("OS__S3__ENABLED", "true".to_owned()),
        ("OS__S3__ADDR", format!("127.0.0.1:{port}")),
    ];
    env.extend(extra.iter().cloned());
    let server = ServerProcess::start(dir, &env);
    Both {
        server,
        s3: format!("http://127.0.0.1:{port}"),
    }
}

async fn wait_for(url: &str) {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(url).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never answered");
}

fn code(text: &str) -> &str {
    text.split("<Code>")
        .nth(1)
        .and_then(|r| r.split("</Code>").next())
        .unwrap_or("")
}

#[tokio::test]
async fn one_object_two_apis() {
    let dir = tempfile::tempdir().unwrap();
    let mut both = start(dir.path(), &[]);
    wait_for(&format!("{}/", both.s3)).await;
    let client = reqwest::Client::new();
    let native = |path: &str| format!("{}/v1/objects/{path}", both.server.url);
    let s3 = |path: &str| format!("{}{path}", both.s3);

    assert_eq!(send(client.put(s3("/photos"))).await.status(), 200);

    // S3 → objectstore API.
    let headers = [
        ("content-type", "text/plain"),
        ("x-amz-meta-camera", "x100"),
    ];
    let put = with_headers(client.put(s3("/photos/org=1/album/a.txt")), &headers);
    let put = send(put.body("from S3")).await;
    assert_eq!(put.status(), 200);
    let etag = put.headers()["etag"].clone();
    let head = send(client.head(s3("/photos/org=1/album/a.txt"))).await;
    assert_eq!(head.headers()["etag"], etag);
    let got = send(client.get(native("photos/org=1/album/a.txt"))).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["x-snme-camera"], "x100");
    assert_eq!(got.headers()["content-type"], "text/plain");
    assert_eq!(got.text().await.unwrap(), "from S3");

    // objectstore API → S3.
    let headers = [("x-snme-team", "storage"), ("x-sn-expiration", "ttl:1h")];
    let put = with_headers(client.put(native("photos/_/native/b.bin")), &headers);
    let put = send(put.body("from the objectstore API")).await;
    assert!(put.status().is_success(), "{}", put.status());
    let got = send(client.get(s3("/photos/native/b.bin"))).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["x-amz-meta-team"], "storage");
    assert_eq!(got.headers()["x-sn-expiration"], "ttl:1h");
    assert_eq!(got.text().await.unwrap(), "from the objectstore API");

    // Deleted by the other API.
    let deleted = send(client.delete(s3("/photos/native/b.bin"))).await;
    assert_eq!(deleted.status(), 204);
    let gone = send(client.get(native("photos/_/native/b.bin"))).await;
    assert_eq!(gone.status(), 404);
    let deleted = send(client.delete(native("photos/org=1/album/a.txt"))).await;
    assert!(deleted.status().is_success());
    let gone = send(client.get(s3("/photos/org=1/album/a.txt"))).await;
    assert_eq!(gone.status(), 404);

    // Same metrics, route labelled by S3 operation, plain reads (served without s3s)
    // included, with the bytes they sent.
    let metrics = text(client.get(format!("{}/metrics", both.server.url))).await;
    for route in ["s3:PutObject", "s3:GetObject", "s3:HeadObject"] {
        assert!(
            metrics.contains(&format!("route=\"{route}\"")),
            "{route}: {metrics}"
        );
    }
    let sent: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("objectstore_http_response_bytes_total")
                && l.contains("route=\"s3:GetObject\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        sent >= "from the objectstore API".len() as f64,
        "GetObject response bytes: {sent}"
    );

    // One SIGINT stops both listeners, exit 0.
    let status = both.server.interrupt();
    assert!(status.success(), "{status:?}");
    assert!(
        client.get(s3("/")).send().await.is_err(),
        "the S3 listener is closed"
    );
}

#[tokio::test]
async fn admission_applies_to_s3() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "killswitches:\n  - usecase: blocked\nusecases:\n  blocked: {}\n  ttlless:\n    expiration:\n      ttl: {allowed: false}\n",
    )
    .unwrap();
    // The config file is given on the command line: started by hand.
    let port = free_port();
    let s3_port = free_port();
    let mut child = objectstore(dir.path())
        .env("OS__HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("OS__S3__ENABLED", "true")
        .env("OS__S3__ADDR", format!("127.0.0.1:{s3_port}"))
        .args(["-c", config.to_str().unwrap(), "run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let s3 = format!("http://127.0.0.1:{s3_port}");
    wait_for(&format!("{s3}/")).await;
    let client = reqwest::Client::new();
    let blocked = send(client.put(format!("{s3}/blocked/x")).body("x")).await;
    assert_eq!(blocked.status(), 403);
    assert_eq!(code(&blocked.text().await.unwrap()), "AccessDenied");
    // A plain read (served without s3s) passes the same admission.
    let blocked = send(client.get(format!("{s3}/blocked/x"))).await;
    assert_eq!(blocked.status(), 403);
    assert_eq!(code(&blocked.text().await.unwrap()), "AccessDenied");
    let list = text(client.get(format!("{s3}/"))).await;
    assert!(
        list.contains("<Name>ttlless</Name>"),
        "configured usecases are buckets: {list}"
    );
    let ttl = client.put(format!("{s3}/ttlless/x"));
    let ttl = send(ttl.header("x-sn-expiration", "ttl:1h").body("x")).await;
    assert_eq!(ttl.status(), 400);
    assert_eq!(code(&ttl.text().await.unwrap()), "InvalidArgument");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_public_s3_address_needs_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let output = objectstore(dir.path())
        .env("OS__S3__ENABLED", "true")
        .env("OS__S3__ADDR", "0.0.0.0:0")
        .arg("run")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("s3.addr"), "{stderr}");
    assert!(stderr.contains("s3.credentials"), "{stderr}");
}
