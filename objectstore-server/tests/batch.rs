//! The batch route through the full request pipeline (docs/http-api.md §8): routing, the
//! per-operation guard (usecase policy), and framework rejections.

mod common;

use common::{Memory, send};
use http::StatusCode;

fn body(parts: &[(&[(&str, &str)], &str)]) -> String {
    let mut out = String::new();
    for (headers, payload) in parts {
        out.push_str("--XyZ\r\ncontent-disposition: form-data; name=\"part\"\r\n");
        for (k, v) in *headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(payload);
        out.push_str("\r\n");
    }
    out.push_str("--XyZ--\r\n");
    out
}

/// POSTs the multipart/form-data `body` (boundary `XyZ`) to `path`.
async fn post_batch(s: &Memory, path: &str, body: String) -> reqwest::Response {
    let request = s.client.post(s.url(path));
    let form = "multipart/form-data; boundary=XyZ";
    send(request.header("content-type", form).body(body)).await
}

/// `(index, status)` of every response part.
fn statuses(text: &str) -> Vec<(usize, u16)> {
    let mut out = Vec::new();
    for part in text.split("--os-boundary-").skip(1) {
        let header = |name: &str| {
            part.lines().find_map(|l| {
                l.strip_prefix(name)
                    .map(|v| v.trim_start_matches(':').trim().to_owned())
            })
        };
        if let (Some(i), Some(s)) = (
            header("x-sn-batch-operation-index"),
            header("x-sn-batch-operation-status"),
        ) {
            let code = s.split(' ').next().unwrap().parse().unwrap();
            out.push((i.parse().unwrap(), code));
        }
    }
    out.sort_unstable();
    out
}

#[tokio::test]
async fn batch_executes_operations_with_the_usecase_policy() {
    let s = Memory::start_with(|c| {
        let mut rules = objectstore_server::admission::UsecaseConfig::default();
        rules.expiration.manual.allowed = false;
        c.usecases.0.insert("limited".into(), rules);
    })
    .await;
    let expiring = [("x-sn-expiration", "ttl:1d")];
    s.put_with(s.object("limited", "org=1", "existing"), &expiring, "old")
        .await;
    let request = body(&[
        (
            &[
                ("x-sn-batch-operation-kind", "insert"),
                ("x-sn-batch-operation-key", "new"),
                ("x-sn-expiration", "ttl:1h"),
            ],
            "payload",
        ),
        (
            &[
                ("x-sn-batch-operation-kind", "insert"),
                ("x-sn-batch-operation-key", "manual"),
            ],
            "refused",
        ),
        (
            &[
                ("x-sn-batch-operation-kind", "get"),
                ("x-sn-batch-operation-key", "existing"),
            ],
            "",
        ),
        (
            &[
                ("x-sn-batch-operation-kind", "head"),
                ("x-sn-batch-operation-key", "missing"),
            ],
            "",
        ),
        (
            &[
                ("x-sn-batch-operation-kind", "delete"),
                ("x-sn-batch-operation-key", "existing"),
            ],
            "",
        ),
    ]);
    let r = post_batch(&s, "/v1/objects:batch/limited/org=1/", request).await;
    assert_eq!(r.status(), StatusCode::OK);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    assert_eq!(
        r.headers()["server"],
        format!("objectstore/{}", objectstore_server::VERSION)
    );
    let text = r.text().await.unwrap();
    let got = statuses(&text);
    assert_eq!(got.len(), 5, "{text}");
    assert_eq!(got[0], (0, 201));
    assert_eq!(got[1], (1, 400), "manual policy refused for this usecase");
    assert!(
        matches!(got[2], (2, 200) | (2, 404)),
        "get races the delete: {got:?}"
    );
    assert_eq!(got[3], (3, 404));
    assert_eq!(got[4], (4, 204));

    let created = s.get(s.object("limited", "org=1", "new")).await;
    assert_eq!(created.text().await.unwrap(), "payload");
    let refused = s.get(s.object("limited", "org=1", "manual")).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn batch_rejections() {
    let s = Memory::start().await;
    let mixed = s.client.post(s.url("/v1/objects:batch/u/_/"));
    let mixed = mixed.header("content-type", "multipart/mixed; boundary=XyZ");
    let r = send(mixed.body(body(&[]))).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post_batch(&s, "/v1/objects:batch/u/bad.scope=1/", body(&[])).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().starts_with("Invalid URL:"));
    let r = post_batch(&s, "/v1/objects:batch/u/_", body(&[])).await;
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "the trailing slash is required"
    );
}

fn keda_bytes(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix("objectstore_bytes_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no objectstore_bytes_total in {text}"))
}

#[tokio::test]
async fn batch_payloads_are_charged_to_bandwidth() {
    let payload = "x".repeat(5000);
    let s = Memory::start_with(|c| {
        c.rate_limits.bandwidth.global_bps = Some(1000);
        c.rate_limits.bandwidth.burst_ms = 1000;
    })
    .await;
    let before = keda_bytes(&s.text("/keda").await);
    let insert = body(&[(
        &[
            ("x-sn-batch-operation-kind", "insert"),
            ("x-sn-batch-operation-key", "big"),
        ],
        &payload,
    )]);
    let r = post_batch(&s, "/v1/objects:batch/bw/_/", insert.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(statuses(&r.text().await.unwrap()), vec![(0, 201)]);
    let after_insert = keda_bytes(&s.text("/keda").await);
    assert!(
        after_insert - before >= insert.len() as u64,
        "request bytes charged: {before} -> {after_insert}"
    );

    // 5 s of debt at 1000 B/s exceeds the 1 s burst: the next request is limited.
    let r = s.get(s.object("bw", "_", "big")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn batch_get_payloads_are_charged_in_report_only_mode() {
    let payload = "y".repeat(4000);
    let s = Memory::start_with(|c| {
        c.rate_limits.bandwidth.global_bps = Some(1000);
        c.rate_limits.bandwidth.report_only = true;
    })
    .await;
    let put = s.put(s.object("bw", "_", "obj"), payload.clone()).await;
    assert_eq!(put.status(), StatusCode::OK);
    let before = keda_bytes(&s.text("/keda").await);
    let get = body(&[(
        &[
            ("x-sn-batch-operation-kind", "get"),
            ("x-sn-batch-operation-key", "obj"),
        ],
        "",
    )]);
    let r = post_batch(&s, "/v1/objects:batch/bw/_/", get.clone()).await;
    assert_eq!(r.status(), StatusCode::OK, "report_only never rejects");
    let text = r.text().await.unwrap();
    assert!(text.contains(&payload));
    let after = keda_bytes(&s.text("/keda").await);
    assert!(
        after - before >= (get.len() + payload.len()) as u64,
        "request and response bytes charged: {before} -> {after}"
    );
}
