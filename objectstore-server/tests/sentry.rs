//! Error reporting (`sentry.dsn`): an internal error produces a Sentry event at a fake
//! ingest endpoint on 127.0.0.1, with the error's cause chain and the request id, and
//! without the credentials the request carried; the same error is logged exactly once, with
//! its cause, and without the credentials. Its own test binary: the Sentry client and the
//! log subscriber are process-wide.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use objectstore_server::config::SentryConfig;
use objectstore_server::testing::TestServer;
use objectstore_service::backend::around::faults::{Calls, Fault, Faults};
use objectstore_service::backend::around::{Decorated, Method};
use objectstore_service::backend::memory::MemoryBackend;
use objectstore_service::clock::ManualClock;
use objectstore_service::service::{ServiceConfig, StorageService};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A minimal HTTP/1.1 server that stores every request body it receives and answers 200.
async fn fake_ingest() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let store = bodies.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let store = store.clone();
            tokio::spawn(async move {
                loop {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    // Read the head.
                    let head_end = loop {
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + length {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body = String::from_utf8_lossy(&buf[head_end..head_end + length]);
                    store.lock().unwrap().push(body.into_owned());
                    let response = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                    if stream.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, bodies)
}

const TOKEN: &str = "Bearer eyJhbGciOiJFZERTQSJ9.c2VjcmV0LXBheWxvYWQ.c2VjcmV0LXNpZ25hdHVyZQ";

// Multi-threaded: the fake ingest endpoint must keep answering while this test blocks in
// `flush` (on a single-threaded runtime, the two deadlock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_errors_are_reported_without_credentials() {
    let logs = common::Captured::default();
    tracing_subscriber::fmt()
        .with_env_filter("info,objectstore_server=trace,objectstore_service=trace")
        .with_writer(logs.clone())
        .with_ansi(false)
        .init();
    let (ingest, bodies) = fake_ingest().await;
    let config = SentryConfig {
        dsn: Some(format!("http://publickey@{ingest}/42")),
        environment: Some("test".into()),
        tags: [("cell".to_owned(), "c1".to_owned())].into(),
        ..SentryConfig::default()
    };
    let _guard = objectstore_server::error_reporting::init(&config)
        .unwrap()
        .expect("a client");

    let clock = ManualClock::new();
    let faults = Faults::new().on(Method::Get, Calls::All, Fault::Fail);
    let memory = MemoryBackend::new("memory", clock.clone());
    let backend = Decorated::new(Arc::new(memory), faults);
    let service = StorageService::new(Arc::new(backend), clock, ServiceConfig::default());
    let server = TestServer::start(service).await;
    let client = common::client();

    let failed = client
        .get(server.url("/v1/objects/sentry-u/_/k?os_auth=QUERYSECRET&os_sig=SIGSECRET"))
        .header("x-os-auth", TOKEN)
        .header("authorization", TOKEN)
        .header("x-request-id", "sentry-req-1")
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    // A client error is not reported.
    let missing = client
        .get(server.url("/v1/objects/sentry-u/_/k/.."))
        .header("x-request-id", "sentry-req-2")
        .send()
        .await
        .unwrap();
    assert!(missing.status().is_client_error());

    let client = sentry::Hub::main().client().expect("client");
    let flushed = tokio::task::spawn_blocking(move || client.flush(Some(Duration::from_secs(30))))
        .await
        .unwrap();
    assert!(flushed, "events not delivered to the fake ingest endpoint");

    let bodies = bodies.lock().unwrap().clone();
    let events: Vec<&String> = bodies
        .iter()
        .filter(|b| b.contains("\"event_id\""))
        .collect();
    assert_eq!(events.len(), 1, "exactly one event expected: {bodies:#?}");
    let event = events[0];
    for expected in [
        "sentry-req-1",    // request id tag
        "\"cell\":\"c1\"", // configured tag
        "injected",        // the backend failure (the cause chain)
        "\"environment\":\"test\"",
    ] {
        assert!(event.contains(expected), "{expected} missing in {event}");
    }
    for secret in [
        "eyJhbGciOiJFZERTQSJ9",
        "c2VjcmV0LXBheWxvYWQ",
        "c2VjcmV0LXNpZ25hdHVyZQ",
        "QUERYSECRET",
        "SIGSECRET",
    ] {
        assert!(!event.contains(secret), "{secret} leaked into {event}");
    }
    server.shutdown().await.unwrap();

    let log = logs.text();
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("sentry-req-1") && (l.contains("ERROR") || l.contains("WARN")))
        .collect();
    assert_eq!(failures.len(), 1, "logged once at error level:\n{log}");
    assert!(failures[0].contains("request failed"), "{}", failures[0]);
    assert!(
        failures[0].contains("injected failure of get"),
        "the cause chain: {}",
        failures[0]
    );
    for secret in [
        "eyJhbGciOiJFZERTQSJ9",
        "c2VjcmV0",
        "QUERYSECRET",
        "SIGSECRET",
    ] {
        assert!(
            !log.contains(secret),
            "{secret} leaked into the log:\n{log}"
        );
    }
}
