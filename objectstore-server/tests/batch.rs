//! The batch route through the full request pipeline (spec section 7): routing, the
//! per-operation guard (usecase policy), and framework rejections.

mod common;

use common::Memory;
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
    s.client
        .put(s.object("limited", "org=1", "existing"))
        .header("x-sn-expiration", "ttl:1d")
        .body("old")
        .send()
        .await
        .unwrap();
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
    let r = s
        .client
        .post(s.url("/v1/objects:batch/limited/org=1/"))
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(request)
        .send()
        .await
        .unwrap();
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

    let created = s
        .client
        .get(s.object("limited", "org=1", "new"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.text().await.unwrap(), "payload");
    let refused = s
        .client
        .get(s.object("limited", "org=1", "manual"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn batch_rejections() {
    let s = Memory::start().await;
    let r = s
        .client
        .post(s.url("/v1/objects:batch/u/_/"))
        .header("content-type", "multipart/mixed; boundary=XyZ")
        .body(body(&[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .client
        .post(s.url("/v1/objects:batch/u/bad.scope=1/"))
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(body(&[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().starts_with("Invalid URL:"));
    let r = s
        .client
        .post(s.url("/v1/objects:batch/u/_"))
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(body(&[]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "the trailing slash is required"
    );
}
