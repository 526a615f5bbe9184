//! `/metrics` and request ids, in process (docs/operations.md).
//!
//! The Prometheus recorder is process-wide, so servers of this test binary share it: every
//! assertion is "this series exists with a count above zero", never an exact total.

mod common;

use common::{Memory, send};
use http::StatusCode;

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
    let put = s.put(s.object("metrics-u", "_", "k"), "hello world").await;
    assert_eq!(put.status(), StatusCode::OK);
    let get = s.get(s.object("metrics-u", "_", "k")).await;
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(get.text().await.unwrap(), "hello world");
    let missing = s.get(s.object("metrics-u", "_", "missing")).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let unknown = s.get(s.url("/nowhere")).await;
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

/// A route the router registers with and without a trailing `/` is one route with one
/// `route` label: the template without the `/`.
#[tokio::test]
async fn slash_forms_of_a_route_count_under_one_label() {
    let s = Memory::start().await;
    for path in ["/v1/objects/label-u/_", "/v1/objects/label-u/_/"] {
        let r = s.post(s.url(path), "x").await;
        assert_eq!(r.status(), StatusCode::CREATED, "{path}");
        let multipart = s.url(&path.replace("objects/", "objects:multipart/"));
        let r = send(s.client.post(multipart)).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let text = scrape(&s).await;
    for (route, status) in [
        ("/v1/objects/{usecase}/{scopes}", "201"),
        ("/v1/objects:multipart/{usecase}/{scopes}", "200"),
    ] {
        let labels = [("method", "POST"), ("route", route), ("status", status)];
        let count = sample(&text, "objectstore_http_requests_total", &labels);
        assert!(count.unwrap_or(0.0) >= 2.0, "{labels:?}:\n{text}");
        let slashed = format!("{route}/");
        let labels = [("route", slashed.as_str())];
        let count = sample(&text, "objectstore_http_requests_total", &labels);
        assert_eq!(count, None, "a second label for {route}:\n{text}");
    }
}

#[tokio::test]
async fn metrics_are_served_while_max_requests_is_zero() {
    let s = Memory::start_with(|c| c.http.max_requests = 0).await;
    let r = s.get(s.object("u", "_", "k")).await;
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
    let s = Memory::start_with(|c| common::block_and_limit_to_1_rps(c, "metrics-blocked")).await;
    let r = s.get(s.object("metrics-blocked", "_", "k")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let mut limited = false;
    for _ in 0..3 {
        let r = s.get(s.object("u", "_", "k")).await;
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
        .get_with(s.url("/health"), &[("x-request-id", "abc-123_XYZ")])
        .await;
    assert_eq!(given.headers()["x-request-id"], "abc-123_XYZ");

    let generated = s.get(s.url("/health")).await;
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    // Values with spaces or too long are replaced by a generated id.
    for bad in ["has space".to_owned(), "x".repeat(129)] {
        let r = s
            .get_with(s.object("u", "_", "k"), &[("x-request-id", bad.as_str())])
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let echoed = r.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(echoed, bad);
        assert!(uuid::Uuid::parse_str(echoed).is_ok(), "{echoed}");
    }
}

#[tokio::test]
async fn concurrency_rejections_are_counted() {
    let config = objectstore_service::service::ServiceConfig {
        max_concurrency: 0,
        ..objectstore_service::service::ServiceConfig::default()
    };
    let server = Memory::start_with_service(config, |_| {}).await;
    let r = server.put(server.url("/v1/objects/u/_/k"), "x").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let text = server.text("/metrics").await;
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
    let small = send(client.put(server.url("/v1/objects/u/_/small")).body("tiny")).await;
    assert_eq!(small.status(), StatusCode::OK);
    let large = vec![7u8; 2 * 1024 * 1024];
    let large = send(client.put(server.url("/v1/objects/u/_/large")).body(large)).await;
    assert_eq!(large.status(), StatusCode::OK);
    let text = common::text(client.get(server.url("/metrics"))).await;
    for tier in ["high_volume", "long_term"] {
        let n = sample(&text, "objectstore_tiered_writes_total", &[("tier", tier)]);
        assert!(n.unwrap_or(0.0) > 0.0, "{tier}:\n{text}");
    }
    server.shutdown().await.unwrap();
}

/// The metrics documented in docs/metrics.md: `(name, type)` of every table row between
/// the `metrics:begin` and `metrics:end` markers.
fn documented_metrics() -> Vec<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md");
    let text = std::fs::read_to_string(path).expect("docs/metrics.md exists");
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.contains("<!-- metrics:begin -->") {
            inside = true;
        } else if line.contains("<!-- metrics:end -->") {
            inside = false;
        } else if inside && let Some(rest) = line.strip_prefix("| `") {
            let mut cols = rest.split('|');
            let name = cols.next().unwrap_or_default().trim().trim_end_matches('`');
            let kind = cols.next().unwrap_or_default().trim();
            out.push((name.to_owned(), kind.to_owned()));
        }
    }
    out
}

/// Metrics that the workload of [`every_documented_metric_is_exported`] leaves at zero
/// (they count rare events: a failed cleanup or sweep, a recovered record, a body cut off
/// as too slow).
const MAY_BE_ZERO: &[&str] = &[
    "objectstore_http_request_body_cutoffs_total",
    "objectstore_integrity_failures_total",
    "objectstore_tiered_recovery_records_total",
    "objectstore_tiered_change_log_depth",
    "objectstore_tiered_recovery_oldest_record_age_seconds",
    "objectstore_object_requests_in_flight",
    "objectstore_storage_tasks_running",
    "objectstore_embedded_compaction_errors_total",
];

/// A workload over the default layout (embedded high-volume + filesystem long-term, both
/// metered) that touches every documented metric, then one scrape: every metric of
/// docs/metrics.md is there with its documented type, counters that the workload must have
/// moved are positive, histograms have samples, and every exported `objectstore_` metric is
/// documented (and in the code's catalogue).
#[tokio::test]
async fn every_documented_metric_is_exported() {
    use objectstore_service::backend::embedded::EmbeddedBackend;
    use objectstore_service::backend::filesystem::FilesystemBackend;
    use objectstore_service::clock::ManualClock;
    use objectstore_service::service::{ServiceConfig, StorageService};
    use objectstore_service::tiered::TieredConfig;
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let hv = EmbeddedBackend::open(&dir.path().join("hv"), clock.clone()).unwrap();
    let embedded = hv.clone();
    let lt = FilesystemBackend::open(&dir.path().join("lt"), clock.clone()).unwrap();
    let config = TieredConfig {
        background: false,
        ..TieredConfig::default()
    };
    let tiered = Arc::new(objectstore_server::storage::tiered(
        Arc::new(hv),
        Arc::new(lt.clone()),
        clock.clone(),
        config,
    ));
    let service = StorageService::new(tiered.clone(), clock.clone(), ServiceConfig::default());
    let server = objectstore_server::testing::TestServer::start_with(service, |c| {
        c.killswitches.push(common::killswitch("docs-blocked"));
    })
    .await;
    let client = common::client();
    let url = |path: &str| server.url(path);

    // Objects: inline and long-term writes, an overwrite (cleanup), reads, a delete.
    let small = send(client.put(url("/v1/objects/docs/_/small")).body("tiny")).await;
    assert_eq!(small.status(), StatusCode::OK);
    for _ in 0..2 {
        let body = vec![1u8; 2 * 1024 * 1024];
        let large = send(client.put(url("/v1/objects/docs/_/large")).body(body)).await;
        assert_eq!(large.status(), StatusCode::OK);
    }
    for key in ["small", "large"] {
        let got = send(client.get(url(&format!("/v1/objects/docs/_/{key}")))).await;
        assert_eq!(got.status(), StatusCode::OK);
        got.bytes().await.unwrap();
    }
    let head = send(client.head(url("/v1/objects/docs/_/small"))).await;
    assert!(head.status().is_success(), "{}", head.status());
    let deleted = send(client.delete(url("/v1/objects/docs/_/small"))).await;
    assert!(deleted.status().is_success());
    // An admission rejection.
    let blocked = send(client.get(url("/v1/objects/docs-blocked/_/k"))).await;
    assert_eq!(blocked.status(), StatusCode::FORBIDDEN);
    // A long-term error: listing the parts of an aborted upload.
    let initiated = common::text(client.put(url("/v1/objects:multipart/docs/_/parts"))).await;
    let initiated: serde_json::Value = serde_json::from_str(&initiated).unwrap();
    let upload_id = initiated["upload_id"].as_str().unwrap().to_owned();
    let query = format!("parts?upload_id={upload_id}");
    let aborted = send(client.delete(url(&format!("/v1/objects:multipart/docs/_/{query}")))).await;
    assert!(aborted.status().is_success());
    let parts = url(&format!("/v1/objects:multipart:parts/docs/_/{query}"));
    let listed = send(client.get(parts)).await;
    assert_eq!(listed.status(), StatusCode::NOT_FOUND);
    // An expired object for the sweepers.
    let short = client.put(url("/v1/objects/docs/_/short"));
    let ttl = send(short.header("x-sn-expiration", "ttl:1s").body("soon gone")).await;
    assert_eq!(ttl.status(), StatusCode::OK);
    clock.advance(std::time::Duration::from_secs(10));
    let swept = tiered.sweep_expired().await.unwrap();
    assert!(swept.objects >= 1, "{swept:?}");
    tiered.recover_now(false).await.unwrap();
    let stats = lt.sweep_once(1000).await.unwrap();
    assert!(stats.pass_complete, "{stats:?}");

    // A mid-size object in the embedded store's value log, overwritten, then compacted.
    for fill in [2u8, 3] {
        let mid = client
            .put(url("/v1/objects/docs/_/mid"))
            .body(vec![fill; 100 * 1024])
            .send()
            .await
            .unwrap();
        assert_eq!(mid.status(), StatusCode::OK);
    }
    let compacted = embedded.compact_now(Some(0.0)).await.unwrap();
    assert!(compacted.moved_bytes > 0, "{compacted:?}");

    // Background cleanups (the overwritten large object) have run once `join` returns.
    objectstore_service::backend::Component::join(tiered.as_ref()).await;

    let text = common::text(client.get(url("/metrics"))).await;
    let documented = documented_metrics();
    assert!(documented.len() >= 20, "{documented:?}");
    let mut problems = Vec::new();
    for (name, kind) in &documented {
        let type_line = format!("# TYPE {name} {kind}");
        if !text.contains(&type_line) {
            problems.push(format!("{name}: no `{type_line}` in the scrape"));
            continue;
        }
        let value = match kind.as_str() {
            "histogram" => sample(&text, &format!("{name}_count"), &[]),
            _ => sample(&text, name, &[]),
        };
        let Some(value) = value else {
            problems.push(format!("{name}: no sample"));
            continue;
        };
        // Every series of a counter summed would be better; one positive series suffices.
        let positive = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| {
                let series = if kind == "histogram" {
                    format!("{name}_count")
                } else {
                    name.clone()
                };
                l.starts_with(&format!("{series}{{")) || l.starts_with(&format!("{series} "))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .any(|v| v > 0.0);
        if !MAY_BE_ZERO.contains(&name.as_str()) && !positive {
            problems.push(format!("{name}: no positive sample (first: {value})"));
        }
    }
    // Specific series the workload must have produced.
    for (name, labels) in [
        (
            "objectstore_backend_operation_duration_seconds_count",
            &[("tier", "high_volume"), ("backend", "embedded")][..],
        ),
        (
            "objectstore_backend_operation_duration_seconds_count",
            &[
                ("tier", "long_term"),
                ("backend", "filesystem"),
                ("operation", "put"),
            ][..],
        ),
        (
            "objectstore_backend_errors_total",
            &[
                ("tier", "long_term"),
                ("operation", "list_parts"),
                ("kind", "not_found"),
            ][..],
        ),
        (
            "objectstore_tiered_writes_total",
            &[("tier", "long_term")][..],
        ),
        (
            "objectstore_tiered_cleanups_total",
            &[("outcome", "ok")][..],
        ),
        (
            "objectstore_tiered_sweep_rows_total",
            &[("result", "object_deleted")][..],
        ),
        (
            "objectstore_tiered_recovery_passes_total",
            &[("outcome", "ok")][..],
        ),
        (
            "objectstore_admission_rejections_total",
            &[("reason", "killswitch")][..],
        ),
    ] {
        if sample(&text, name, labels).unwrap_or(0.0) <= 0.0 {
            problems.push(format!("{name}{labels:?}: missing or zero"));
        }
    }
    // Nothing exported is undocumented, and the code's catalogue matches the doc.
    let names: Vec<&str> = documented.iter().map(|(n, _)| n.as_str()).collect();
    for line in text
        .lines()
        .filter(|l| l.starts_with("# TYPE objectstore_"))
    {
        let name = line.split(' ').nth(2).unwrap_or_default();
        if !names.contains(&name) {
            problems.push(format!("{name}: exported but not in docs/metrics.md"));
        }
    }
    let catalogue: Vec<&str> = objectstore_server::metrics::CATALOGUE
        .iter()
        .map(|(n, _, _)| *n)
        .collect();
    for name in &names {
        if !catalogue.contains(name) {
            problems.push(format!("{name}: documented but not in metrics::CATALOGUE"));
        }
    }
    for name in &catalogue {
        if !names.contains(name) {
            problems.push(format!(
                "{name}: in metrics::CATALOGUE but not in docs/metrics.md"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n\nscrape:\n{text}",
        problems.join("\n")
    );
}
