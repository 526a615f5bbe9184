//! Internal endpoints, the in-flight limit and graceful shutdown, in process
//! (docs/http-api.md §12.1, §13, §15.1).

mod common;

use std::sync::Arc;

use common::{Memory, client, json, send};
use http::StatusCode;
use objectstore_server::testing::TestServer;
use objectstore_service::backend::around::faults::{Calls, Fault, Faults, Gate};
use objectstore_service::backend::around::{Decorated, Method};
use objectstore_service::backend::memory::MemoryBackend;
use objectstore_service::clock::ManualClock;
use objectstore_service::service::{ServiceConfig, StorageService};

#[tokio::test]
async fn health_ready_and_keda() {
    let s = Memory::start_with(|c| {
        c.rate_limits.bandwidth.global_bps = Some(100);
    })
    .await;
    let health = s.get(s.url("/health")).await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.unwrap(), "OK");

    let ready = s.get(s.url("/ready")).await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.text().await.unwrap(), "OK");
    std::fs::write(&s.server.server_config().http.down_marker, b"").unwrap();
    let down = s.get(s.url("/ready")).await;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.text().await.unwrap(), "Shutting down");

    s.put(s.object("u", "_", "k"), "12345").await;
    let keda = s.get(s.url("/keda")).await;
    assert_eq!(keda.status(), StatusCode::OK);
    assert_eq!(
        keda.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = keda.text().await.unwrap();
    for line in [
        "# TYPE objectstore_requests_total counter",
        "objectstore_requests_total 1",
        "objectstore_bytes_total 5",
        "objectstore_requests_in_flight 0",
        "objectstore_requests_limit 10000",
        "objectstore_tasks_running 0",
        "objectstore_tasks_limit 500",
        "objectstore_bandwidth_limit 100",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    assert!(!text.contains("objectstore_throughput_limit"));
}

#[tokio::test]
async fn max_requests_zero_rejects_object_routes_only() {
    let s = Memory::start_with(|c| c.http.max_requests = 0).await;
    for (method, path) in [
        ("GET", "/v1/objects/u/_/k"),
        ("PUT", "/v1/objects/u/_/k"),
        ("POST", "/v1/objects:batch/u/_/"),
        ("POST", "/v1/objects:multipart/u/_/"),
    ] {
        let r = send(s.client.request(method.parse().unwrap(), s.url(path))).await;
        assert_eq!(
            r.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{method} {path}"
        );
        assert!(r.bytes().await.unwrap().is_empty());
    }
    for path in ["/health", "/ready", "/keda"] {
        let r = s.get(s.url(path)).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
}

/// A server whose every HEAD (metadata read) waits at the returned gate until released,
/// announcing that it started.
async fn paused_server(
    configure: impl FnOnce(&mut objectstore_server::Config),
) -> (TestServer, Arc<Gate>) {
    let clock = ManualClock::new();
    let gate = Gate::new();
    let faults = Faults::new().on(Method::Head, Calls::All, Fault::PauseBefore(gate.clone()));
    let memory = MemoryBackend::new("memory", clock.clone());
    let backend = Decorated::new(Arc::new(memory), faults);
    let service = StorageService::new(Arc::new(backend), clock, ServiceConfig::default());
    (TestServer::start_with(service, configure).await, gate)
}

#[tokio::test]
async fn requests_beyond_max_requests_get_503_until_one_finishes() {
    let (server, hooks) = paused_server(|c| c.http.max_requests = 1).await;
    let c = client();
    let head = tokio::spawn(c.head(server.url("/v1/objects/u/_/k")).send());
    hooks.reached().await;

    let rejected = send(c.get(server.url("/v1/objects/u/_/other"))).await;
    assert_eq!(rejected.status(), StatusCode::SERVICE_UNAVAILABLE);
    let keda = common::text(c.get(server.url("/keda"))).await;
    assert!(keda.contains("objectstore_requests_in_flight 1"), "{keda}");

    hooks.release();
    let first = head.await.unwrap().unwrap();
    assert_eq!(first.status(), StatusCode::NOT_FOUND);
    let admitted = send(c.get(server.url("/v1/objects/u/_/other"))).await;
    assert_eq!(admitted.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_then_stops_accepting() {
    let (mut server, hooks) = paused_server(|_| {}).await;
    let c = client();
    let put = send(c.put(server.url("/v1/objects/u/_/k")).body("x")).await;
    assert_eq!(put.status(), StatusCode::OK);
    let head = tokio::spawn(c.head(server.url("/v1/objects/u/_/k")).send());
    hooks.reached().await;

    server.begin_shutdown();
    hooks.release();
    let response = head.await.unwrap().unwrap();
    assert_eq!(
        response.status(),
        StatusCode::NO_CONTENT,
        "in-flight request completes"
    );
    server.wait().await.unwrap();

    let after = client().get(server.url("/health")).send().await;
    assert!(after.is_err(), "no longer accepting connections");
}

#[tokio::test]
async fn idle_keep_alive_connections_do_not_block_shutdown() {
    let s = Memory::start().await;
    // The client keeps its connection in the pool after this request.
    let r = s.get(s.url("/health")).await;
    assert_eq!(r.text().await.unwrap(), "OK");
    let mut server = s.server;
    server.begin_shutdown();
    server.wait().await.unwrap();
    drop(s.client);
}

#[tokio::test]
async fn json_errors_carry_detail() {
    let s = Memory::start().await;
    let headers = [("content-encoding", "deflate")];
    let r = s.put_with(s.object("u", "_", "k"), &headers, "x").await;
    let body = json(r).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("client error: invalid header content-encoding")
    );
    assert!(body.get("causes").is_none(), "empty causes are omitted");
}

/// An error answered before the request body was read must not leave a keep-alive
/// connection that the server then closes under the client's next request.
#[tokio::test]
async fn early_errors_close_the_connection_explicitly() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let s = Memory::start().await;
    let mut stream = tokio::net::TcpStream::connect(s.server.addr())
        .await
        .unwrap();
    let rejected = "PUT /v1/objects/u/_/k HTTP/1.1\r\nHost: x\r\ncontent-encoding: br\r\n\
                    transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    stream.write_all(rejected.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 400"), "{head}");
    assert!(head.contains("\r\nconnection: close\r\n"), "{head}");

    // A successful request keeps the connection.
    let mut stream = tokio::net::TcpStream::connect(s.server.addr())
        .await
        .unwrap();
    let ok = "PUT /v1/objects/u/_/k HTTP/1.1\r\nHost: x\r\ncontent-length: 5\r\n\r\nhello";
    stream.write_all(ok.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(!text.contains("connection: close"), "{text}");
}

#[tokio::test]
async fn killswitches_reload_from_the_config_file() {
    use objectstore_server::config::Config;
    use objectstore_types::{ObjectContext, Scopes, Usecase};

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    std::fs::write(&file, "killswitches: []\n").unwrap();
    let config = Arc::new(Config::load(Some(&file), Vec::new()).unwrap());
    let clock = ManualClock::new();
    let service = StorageService::new(
        Arc::new(MemoryBackend::new("memory", clock.clone())),
        clock,
        ServiceConfig::default(),
    );
    let state = objectstore_server::AppState::new(service, config).unwrap();
    let watcher = objectstore_server::server::watch_killswitches(&state, file.clone()).unwrap();
    let mut status = watcher.subscribe();
    let context = ObjectContext {
        usecase: Usecase::new("blocked").unwrap(),
        scopes: Scopes::empty(),
    };
    assert!(state.admission.admit(&context, None).is_ok());

    std::fs::write(&file, "killswitches:\n  - usecase: blocked\n").unwrap();
    watcher.trigger();
    status.changed().await.unwrap();
    assert!(state.admission.admit(&context, None).is_err());

    // A file that no longer loads keeps the current list.
    std::fs::write(
        &file,
        "killswitches: [{usecase: blocked}]\nhttp_addr: nonsense\n",
    )
    .unwrap();
    watcher.trigger();
    status.changed().await.unwrap();
    assert!(status.borrow().last.as_ref().unwrap().1.is_err());
    assert!(state.admission.admit(&context, None).is_err());
}
