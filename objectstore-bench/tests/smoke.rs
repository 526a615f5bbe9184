//! Smoke tests of the `objectstore-bench` binary: it runs every workload against a tiny
//! in-process server (and, when it has been built, against the real `objectstore` binary)
//! and reports every field. No timing is asserted anywhere: only that the run completes,
//! counts requests, and writes the JSON and markdown outputs with their fields.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

type Store = Arc<Mutex<HashMap<String, Bytes>>>;

/// A minimal stand-in for the objectstore API: objects in a map, batch inserts counted from
/// the request body, multipart accepted and stored as an empty object, and `/<n>.bin`
/// answering `n` bytes like the static reference.
async fn handle(store: Store, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let reply = |status: StatusCode, body: Bytes| {
        let mut r = Response::new(Full::new(body));
        *r.status_mut() = status;
        r
    };
    let stored = |p: &str| store.lock().unwrap().get(p).cloned();
    let resp = if let Some(n) = path.strip_prefix('/').and_then(|p| p.strip_suffix(".bin")) {
        let n: usize = n.parse().unwrap_or(0);
        reply(StatusCode::OK, Bytes::from(vec![7u8; n]))
    } else if path.starts_with("/v1/objects:batch/") {
        let text = String::from_utf8_lossy(&body);
        let n = text.matches("x-sn-batch-operation-kind: insert").count();
        let mut out = String::new();
        for i in 0..n {
            out.push_str(&format!(
                "--b\r\nx-sn-batch-operation-index: {i}\r\nx-sn-batch-operation-status: 201 Created\r\n\r\n\r\n"
            ));
        }
        out.push_str("--b--");
        let mut r = reply(StatusCode::OK, Bytes::from(out));
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("multipart/form-data; boundary=\"b\""),
        );
        r
    } else if path.starts_with("/v1/objects:multipart/") {
        reply(
            StatusCode::OK,
            Bytes::from(r#"{"key":"k","upload_id":"up/1"}"#),
        )
    } else if path.starts_with("/v1/objects:multipart:parts/") {
        reply(StatusCode::OK, Bytes::from(r#"{"etag":"\"e\""}"#))
    } else if path.starts_with("/v1/objects:multipart:complete/") {
        reply(StatusCode::OK, Bytes::from(r#"  {"key":"k"}"#))
    } else {
        match method {
            Method::PUT => {
                store.lock().unwrap().insert(path, body);
                reply(StatusCode::OK, Bytes::from(r#"{"key":"k"}"#))
            }
            Method::GET => match stored(&path) {
                Some(b) => reply(StatusCode::OK, b),
                None => reply(StatusCode::NOT_FOUND, Bytes::new()),
            },
            Method::HEAD => match stored(&path) {
                Some(_) => reply(StatusCode::NO_CONTENT, Bytes::new()),
                None => reply(StatusCode::NOT_FOUND, Bytes::new()),
            },
            Method::DELETE => {
                store.lock().unwrap().remove(&path);
                reply(StatusCode::NO_CONTENT, Bytes::new())
            }
            _ => reply(StatusCode::METHOD_NOT_ALLOWED, Bytes::new()),
        }
    };
    Ok(resp)
}

async fn mini_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store: Store = Arc::default();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| handle(store.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

fn bench() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_objectstore-bench"));
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    cmd
}

/// Runs a tiny `standard`-like set and returns the parsed JSON and the markdown report.
async fn tiny_run(
    dir: &Path,
    target: &str,
    reference: Option<&str>,
    pid: Option<u32>,
    rounds: usize,
) -> (serde_json::Value, String) {
    let json = dir.join("out.json");
    let report = dir.join("report.md");
    let fio = dir.join("fio.json");
    std::fs::write(
        &fio,
        r#"note: a warning line fio may print
{"jobs":[{"jobname":"w","write":{"bw_bytes":104857600},"read":{"bw_bytes":209715200}}]}"#,
    )
    .unwrap();
    let mut cmd = bench();
    cmd.arg("run")
        .args(["--target", &format!("ours={target}")])
        .args(["-c", "2", "-n", "6", "-d", "10", "--keys", "3"])
        .args(["--large-size", "2MiB", "--large-connections", "2"])
        .args(["--batch-ops", "5", "--batch-rounds", "1"])
        .args([
            "--parts",
            "2",
            "--part-size",
            "300KiB",
            "--multipart-rounds",
            "1",
        ])
        .args(["--fio-write".as_ref(), fio.as_os_str()])
        .args(["--fio-read".as_ref(), fio.as_os_str()])
        .args(["--json".as_ref(), json.as_os_str()])
        .args(["--report".as_ref(), report.as_os_str()])
        .args(["--note", "smoke run"])
        .args(["--rounds", &rounds.to_string()])
        .arg("small,mixed")
        .args(["batch", "multipart", "put-large", "get-large"]);
    if let Some(r) = reference {
        cmd.args(["--reference", r]);
    }
    if let Some(pid) = pid {
        cmd.args(["--pid", &pid.to_string()]);
        if reference.is_some() {
            cmd.args(["--reference-pid", &pid.to_string()]);
        }
    }
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("bench run finished")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed:\n{stdout}\n{stderr}");
    for column in [
        "workload", "ops/s", "MiB/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "vs ref",
    ] {
        assert!(
            stdout.contains(column),
            "missing column {column}:\n{stdout}"
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (json, std::fs::read_to_string(&report).unwrap())
}

fn result<'a>(
    json: &'a serde_json::Value,
    workload: &str,
    reference: bool,
) -> &'a serde_json::Value {
    json["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["workload"] == workload && r["reference"] == reference)
        .unwrap_or_else(|| panic!("no result for {workload} (reference: {reference})"))
}

fn op<'a>(result: &'a serde_json::Value, op: &str) -> &'a serde_json::Value {
    result["ops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["op"] == op)
        .unwrap_or_else(|| panic!("no op {op} in {result}"))
}

fn check_fields(json: &serde_json::Value, strict: bool) {
    for (workload, name) in [
        ("put:1KiB", "put"),
        ("put:100KiB", "put"),
        ("get:16KiB", "get"),
        ("head:1KiB", "head"),
        ("put-large", "put"),
        ("get-large", "get"),
        ("batch", "batch-5"),
        ("batch", "sequential-5"),
        ("multipart", "upload"),
    ] {
        let o = op(result(json, workload, false), name);
        for field in [
            "count",
            "errors",
            "ops_per_s",
            "bytes_per_s",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "max_ms",
        ] {
            assert!(
                o[field].is_number(),
                "{workload}/{name}: field {field} in {o}"
            );
        }
        if strict {
            assert_eq!(o["errors"], 0, "{workload}/{name}: {o}");
            assert!(o["count"].as_u64().unwrap() > 0, "{workload}/{name}: {o}");
        }
    }
    let mixed = result(json, "mixed", false);
    let total: u64 = mixed["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["count"].as_u64().unwrap() + o["errors"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 6, "mixed sends exactly the request budget: {mixed}");
    assert!(result(json, "batch", false)["speedup"].is_number() || !strict);
    assert!(json["fio_write"]["bytes_per_s"].is_number());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_every_workload_against_a_mini_server_and_reports_fields() {
    let dir = tempfile::tempdir().unwrap();
    let url = mini_server().await;
    let pid = std::process::id();
    let (json, report) = tiny_run(
        dir.path(),
        &url,
        Some(&format!("nginx={url}")),
        Some(pid),
        2,
    )
    .await;
    check_fields(&json, true);

    // Two rounds: every workload and reference ran twice.
    let results = json["results"].as_array().unwrap();
    for round in [0, 1] {
        for (workload, reference) in [
            ("put:1KiB", false),
            ("ref-get:1KiB", true),
            ("batch", false),
        ] {
            assert!(
                results.iter().any(|r| r["workload"] == workload
                    && r["reference"] == reference
                    && r["round"] == round),
                "{workload} round {round} missing"
            );
        }
    }

    // Exact request budgets: 6 PUTs, 6 GETs.
    assert_eq!(op(result(&json, "put:1KiB", false), "put")["count"], 6);
    assert_eq!(
        op(result(&json, "get:1KiB", false), "get")["bytes"],
        6 * 1024
    );
    assert_eq!(
        op(result(&json, "put-large", false), "put")["bytes"],
        2 * (2 << 20)
    );
    // The reference ran GETs of the same sizes, and memory was sampled.
    let reference = result(&json, "ref-get:1KiB", true);
    assert_eq!(reference["target"], "nginx");
    assert_eq!(op(reference, "get")["count"], 6);
    for field in ["cpu_ms", "runqueue_wait_ms", "hwm_kib"] {
        assert!(result(&json, "put:1KiB", false)["process"][field].is_u64());
        assert!(reference["process"][field].is_u64());
    }
    for field in ["peak_rss_kib", "peak_anon_kib", "peak_file_kib"] {
        let kib = result(&json, "put:1KiB", false)["process"][field].as_u64();
        assert!(kib.is_some_and(|k| k > 0), "{field}: {kib:?}");
    }

    for needle in [
        "smoke run",
        "## Targets",
        "median over 2 rounds",
        "| 1 KiB GET, keep-alive (ops/s) |",
        "| 1 KiB GET p99 latency |",
        "100 KiB PUT",
        "2MiB PUT, streamed",
        "batch of 5 x 1KiB inserts",
        "server peak anonymous RSS, small-object workloads",
        "## Server CPU per request",
        "fio sequential write",
        "### get-large",
    ] {
        assert!(
            report.contains(needle),
            "report lacks `{needle}`:\n{report}"
        );
    }
}

#[tokio::test]
async fn refuses_non_loopback_targets() {
    let out = bench()
        .args(["run", "--target", "http://192.0.2.1:80", "put:1KiB"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("non-loopback"));
}

fn real_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OBJECTSTORE_BIN") {
        return Some(PathBuf::from(p));
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/objectstore");
    p.is_file().then_some(p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_against_the_real_binary_when_built() {
    let Some(bin) = real_binary() else {
        #[allow(
            clippy::print_stdout,
            reason = "the skip line belongs in the test output"
        )]
        let () = println!(
            "skipped: no target/debug/objectstore; run `cargo build --bin objectstore` first"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = tokio::process::Command::new(bin)
        .arg("run")
        .current_dir(dir.path())
        .env("OS__HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("OS__S3__ENABLED", "false")
        .env("OS__HTTP__DOWN_MARKER", dir.path().join("down"))
        .env("OS__LOGGING__LEVEL", "WARN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let mut healthy = false;
    for _ in 0..120 {
        if let Some(status) = server.try_wait().unwrap() {
            #[allow(
                clippy::print_stdout,
                reason = "the skip line belongs in the test output"
            )]
            let () = println!(
                "skipped: {} exited ({status}) before serving (a placeholder build?)",
                real_binary().unwrap_or_default().display()
            );
            return;
        }
        let waited = bench()
            .args(["wait", &format!("{url}/health"), "--timeout", "1"])
            .stderr(Stdio::null())
            .status()
            .await
            .unwrap();
        if waited.success() {
            healthy = true;
            break;
        }
    }
    assert!(healthy, "server did not become healthy");
    let pid = server.id();
    let (json, report) = tiny_run(dir.path(), &url, None, pid, 1).await;
    check_fields(&json, false);
    assert!(report.contains("## Targets"));
    server.kill().await.unwrap();
}

/// `soak` overwrites and deletes against a server, measures the data directory it is given,
/// and writes its markdown section.
#[tokio::test]
async fn soak_reports_the_data_directory_against_live_bytes() {
    let server = mini_server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("blob"), vec![1u8; 300_000]).unwrap();
    let markdown = dir.path().join("soak.md");
    let out = bench()
        .arg("soak")
        .args(["--target", &server])
        .args(["--data-dir".as_ref(), data.as_os_str()])
        .args(["--duration", "1", "--settle", "0.2", "--interval", "0.3"])
        .args(["-c", "2", "--keys", "4", "--max-size", "64KiB"])
        .args(["--markdown".as_ref(), markdown.as_os_str()])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&markdown).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), text.trim());
    for needle in [
        "## Soak: data directory against live bytes",
        "| final ratio | largest ratio |",
        "| `blob` |",
        "| settling |",
    ] {
        assert!(text.contains(needle), "lacks `{needle}`:\n{text}");
    }
    // The row of figures: puts and deletes happened, none failed.
    let row = text
        .lines()
        .find(|l| l.starts_with("| ") && l.ends_with(" |") && l.contains(" <= 1.5 "))
        .unwrap_or_else(|| panic!("no figures row:\n{text}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert!(cells[1].parse::<u64>().unwrap() > 0, "puts: {row}");
    assert_eq!(cells[4], "0", "errors: {row}");
}
