//! `/metrics` and request ids, in process (docs/operations.md).
//!
//! The Prometheus recorder is process-wide, so servers of this test binary share it: every
//! assertion is "this series exists with a count above zero", never an exact total.

mod common;

use common::Memory;
use http::StatusCode;
use objectstore_server::admission::Killswitch;

/// The value of the first sample of `name` whose labels contain every `labels` pair.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

async fn scrape(s: &Memory) -> String {
    let r = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    r.text().await.unwrap()
}

#[tokio::test]
async fn workload_shows_up_in_metrics() {
    let s = Memory::start().await;
    let put = s
        .client
        .put(s.object("metrics-u", "_", "k"))
        .body("hello world")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let get = s
        .client
        .get(s.object("metrics-u", "_", "k"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(get.text().await.unwrap(), "hello world");
    let missing = s
        .client
        .get(s.object("metrics-u", "_", "missing"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let unknown = s.client.get(s.url("/nowhere")).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let text = scrape(&s).await;
    let object = "/v1/objects/{usecase}/{scopes}/{*key}";
    for (method, route, status) in [
        ("PUT", object, "200"),
        ("GET", object, "200"),
        ("GET", object, "404"),
        ("GET", "unmatched", "404"),
    ] {
        let labels = [("method", method), ("route", route), ("status", status)];
        let count = sample(&text, "objectstore_http_requests_total", &labels);
        assert!(count.unwrap_or(0.0) > 0.0, "{labels:?} missing:\n{text}");
        let latency = sample(
            &text,
            "objectstore_http_request_duration_seconds_count",
            &labels,
        );
        assert!(latency.unwrap_or(0.0) > 0.0, "{labels:?} latency:\n{text}");
    }
    for name in [
        "objectstore_http_request_bytes_total",
        "objectstore_http_response_bytes_total",
    ] {
        let bytes = sample(&text, name, &[("route", object)]).unwrap_or(0.0);
        assert!(bytes >= 11.0, "{name}: {bytes}\n{text}");
    }
    assert!(text.contains("# TYPE objectstore_http_requests_total counter"));
    assert!(text.contains("# TYPE objectstore_http_request_duration_seconds histogram"));
    assert!(text.contains("# TYPE objectstore_http_requests_in_flight gauge"));
    // The scrape itself is in flight while it renders.
    assert!(sample(&text, "objectstore_http_requests_in_flight", &[]).unwrap_or(0.0) >= 1.0);
}

#[tokio::test]
async fn metrics_are_served_while_max_requests_is_zero() {
    let s = Memory::start_with(|c| c.http.max_requests = 0).await;
    let r = s.client.get(s.object("u", "_", "k")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = scrape(&s).await;
    let rejected = sample(
        &text,
        "objectstore_admission_rejections_total",
        &[("reason", "in_flight")],
    );
    assert!(rejected.unwrap_or(0.0) > 0.0, "{text}");
    let labels = [
        ("route", "/v1/objects/{usecase}/{scopes}/{*key}"),
        ("status", "503"),
    ];
    let count = sample(&text, "objectstore_http_requests_total", &labels);
    assert!(count.unwrap_or(0.0) > 0.0, "{text}");
}

#[tokio::test]
async fn killswitch_and_rate_limit_rejections_are_counted() {
    let s = Memory::start_with(|c| {
        c.killswitches.push(Killswitch {
            usecase: Some("metrics-blocked".into()),
            ..Killswitch::default()
        });
        c.rate_limits.throughput.global_rps = Some(1);
    })
    .await;
    let r = s
        .client
        .get(s.object("metrics-blocked", "_", "k"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let mut limited = false;
    for _ in 0..3 {
        let r = s.client.get(s.object("u", "_", "k")).send().await.unwrap();
        limited |= r.status() == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(limited);
    let text = scrape(&s).await;
    for reason in ["killswitch", "rate_limit"] {
        let n = sample(
            &text,
            "objectstore_admission_rejections_total",
            &[("reason", reason)],
        );
        assert!(n.unwrap_or(0.0) > 0.0, "{reason}:\n{text}");
    }
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let s = Memory::start().await;
    let given = s
        .client
        .get(s.url("/health"))
        .header("x-request-id", "abc-123_XYZ")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "abc-123_XYZ");

    let generated = s.client.get(s.url("/health")).send().await.unwrap();
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    // Values with spaces or too long are replaced by a generated id.
    for bad in ["has space".to_owned(), "x".repeat(129)] {
        let r = s
            .client
            .get(s.object("u", "_", "k"))
            .header("x-request-id", bad.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let echoed = r.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(echoed, bad);
        assert!(uuid::Uuid::parse_str(echoed).is_ok(), "{echoed}");
    }
}

#[tokio::test]
async fn concurrency_rejections_are_counted() {
    let clock = objectstore_service::clock::ManualClock::new();
    let backend = objectstore_service::backend::memory::MemoryBackend::new("memory", clock.clone());
    let config = objectstore_service::service::ServiceConfig {
        max_concurrency: 0,
        ..objectstore_service::service::ServiceConfig::default()
    };
    let service = objectstore_service::service::StorageService::new(
        std::sync::Arc::new(backend),
        clock,
        config,
    );
    let server = objectstore_server::testing::TestServer::start(service).await;
    let client = common::client();
    let r = client
        .put(server.url("/v1/objects/u/_/k"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let text = client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let n = sample(
        &text,
        "objectstore_admission_rejections_total",
        &[("reason", "concurrency")],
    );
    assert!(n.unwrap_or(0.0) > 0.0, "{text}");
}

#[tokio::test]
async fn tiered_routing_decisions_are_counted() {
    let server = objectstore_server::testing::TestServer::start_configured(|_| {})
        .await
        .unwrap();
    let client = common::client();
    let small = client
        .put(server.url("/v1/objects/u/_/small"))
        .body("tiny")
        .send()
        .await
        .unwrap();
    assert_eq!(small.status(), StatusCode::OK);
    let large = client
        .put(server.url("/v1/objects/u/_/large"))
        .body(vec![7u8; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(large.status(), StatusCode::OK);
    let text = client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for tier in ["high_volume", "long_term"] {
        let n = sample(&text, "objectstore_tiered_writes_total", &[("tier", tier)]);
        assert!(n.unwrap_or(0.0) > 0.0, "{tier}:\n{text}");
    }
    server.shutdown().await.unwrap();
}
