//! DogStatsD export (`metrics.addr`): the metrics of a workload arrive as DogStatsD lines on
//! a UDP socket, renamed with `metrics.prefix` and tagged with `metrics.tags`, while
//! `/metrics` keeps working (fan-out). Its own test binary: the recorder is process-wide.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use http::StatusCode;
use objectstore_server::config::MetricsConfig;

/// One DogStatsD line: `name:value|type|#tag:value,...`.
#[derive(Debug)]
struct Line {
    name: String,
    kind: String,
    tags: Vec<String>,
}

fn parse(line: &str) -> Option<Line> {
    let (name, rest) = line.split_once(':')?;
    let mut parts = rest.split('|');
    let _value = parts.next()?;
    let kind = parts.next()?.to_owned();
    let tags = parts
        .find_map(|p| p.strip_prefix('#'))
        .map(|t| t.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    Some(Line {
        name: name.to_owned(),
        kind,
        tags,
    })
}

#[tokio::test]
async fn workload_metrics_reach_a_dogstatsd_agent() {
    let agent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let config = MetricsConfig {
        addr: Some(agent.local_addr().unwrap().to_string()),
        prefix: "ostest".into(),
        tags: BTreeMap::from([("deployment".to_owned(), "ci".to_owned())]),
        flush_interval: Duration::from_millis(50),
        ..MetricsConfig::default()
    };
    objectstore_server::metrics::init(&config).unwrap();

    let s = common::Memory::start().await;
    let put = s.put(s.object("statsd", "_", "k"), "payload").await;
    assert_eq!(put.status(), StatusCode::OK);
    // Prometheus still sees everything (fan-out).
    let text = s.text("/metrics").await;
    assert!(text.contains("objectstore_http_requests_total{"), "{text}");

    // Read packets until the request counter and the latency distribution of the PUT
    // arrived (the exporter flushes every 50 ms; the timeout only bounds a failure).
    let mut seen_counter = false;
    let mut seen_latency = false;
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut buf = vec![0u8; 65536];
    while !(seen_counter && seen_latency) {
        let n = tokio::time::timeout_at(deadline, agent.recv(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no complete metrics before timeout; got:\n{received:#?}"))
            .unwrap();
        let packet = String::from_utf8_lossy(&buf[..n]).into_owned();
        for line in packet.lines().filter_map(parse) {
            let put_route = line.tags.iter().any(|t| t == "method:PUT")
                && line
                    .tags
                    .iter()
                    .any(|t| t == "route:/v1/objects/{usecase}/{scopes}/{*key}");
            let tagged = line.tags.iter().any(|t| t == "deployment:ci");
            if line.name == "ostest.http_requests_total" && put_route && tagged {
                assert_eq!(line.kind, "c", "{line:?}");
                seen_counter = true;
            }
            if line.name == "ostest.http_request_duration_seconds" && put_route && tagged {
                assert_eq!(line.kind, "d", "{line:?}");
                seen_latency = true;
            }
            assert!(
                !line.name.contains("objectstore_"),
                "the Prometheus prefix leaked into DogStatsD: {line:?}"
            );
        }
        received.push(packet);
    }
}
