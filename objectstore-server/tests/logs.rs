//! Logs of the real binary: `logging.format: json` gives one JSON object per line, every
//! request's lines carry its request id, and no credential (token header, pre-signed query) ever reaches the log, even at trace level
//! for the server's own crates. In process: a request shed by the in-flight limit is logged
//! like any other request.

mod common;

use std::time::Duration;

use objectstore_types::Permission;

use common::binary::free_port;

#[tokio::test]
async fn json_logs_carry_request_ids_and_never_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let server_keys = common::auth::keys();
    // A token for the configured kid, signed with a different key: authentication fails.
    let token = common::auth::keys().token(
        "kid1",
        "logs-u",
        "_",
        &Permission::ALL,
        Duration::from_secs(600),
    );
    let signature = token.rsplit('.').next().unwrap().to_owned();
    let port = free_port();
    let keys = format!(
        "{{kid1={{key_files=[\"{}\"],max_permissions=[\"object.read\",\"object.write\"]}}}}",
        server_keys.public.display()
    );
    let mut cmd = common::process::objectstore(dir.path());
    cmd.env(
        "RUST_LOG",
        "info,objectstore_server=trace,objectstore_service=trace",
    )
    .env("OS__LOGGING__FORMAT", "json")
    .env("OS__HTTP_ADDR", format!("127.0.0.1:{port}"))
    .env("OS__S3__ENABLED", "false")
    .env("OS__AUTH__KEYS", keys)
    .env("OS__AUTH__ENFORCE", "true");
    let (mut child, mut lines, mut log) = common::process::spawn_listening(&mut cmd).await;

    let base = format!("http://127.0.0.1:{port}");
    let client = common::client();
    let rejected = client
        .get(format!("{base}/v1/objects/logs-u/_/k"))
        .header("x-os-auth", format!("Bearer {token}"))
        .header("x-request-id", "logs-req-1")
        .send()
        .await
        .unwrap();
    assert_eq!(rejected.status(), 401);
    let presigned = client
        .get(format!(
            "{base}/v1/objects/logs-u/_/k?os_kid=kid1&os_exp=9999999999&os_sig=SIGSECRETVALUE"
        ))
        .header("x-request-id", "logs-req-2")
        .send()
        .await
        .unwrap();
    assert!(
        presigned.status().is_client_error(),
        "{}",
        presigned.status()
    );

    common::process::signal(&child, "INT").await;
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            log.push(line);
        }
    })
    .await
    .unwrap();
    assert!(child.wait().await.unwrap().success());

    let text = log.join("\n");
    for line in &log {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
        assert!(parsed.is_ok(), "not a JSON log line: {line}");
    }
    for id in ["logs-req-1", "logs-req-2"] {
        assert!(text.contains(id), "no log line of {id}:\n{text}");
    }
    for secret in [token.as_str(), signature.as_str(), "SIGSECRETVALUE"] {
        assert!(
            !text.contains(secret),
            "a credential leaked into the log:\n{text}"
        );
    }
}

/// A request answered 503 by `http.max_requests` (shed before any handler runs) has a log
/// line with its `request_id`, `method` and `path`, like every other request.
#[tokio::test]
async fn shed_requests_are_logged_with_their_request_fields() {
    let logs = common::Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter("objectstore_server=debug")
        .with_writer(logs.clone())
        .finish();
    // This test's runtime is single-threaded: the server's tasks log on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    let s = common::Memory::start_with(|c| c.http.max_requests = 0).await;
    let shed = s
        .client
        .put(s.object("shed-u", "_", "k"))
        .header("x-request-id", "shed-req-1")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(shed.status(), 503);
    s.server.shutdown().await.unwrap();

    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("shed-req-1"))
        .unwrap_or_else(|| panic!("no log line of the shed request:\n{text}"));
    let line: serde_json::Value = serde_json::from_str(line).unwrap();
    let span = &line["span"];
    assert_eq!(span["request_id"], "shed-req-1", "{line}");
    assert_eq!(span["method"], "PUT", "{line}");
    assert_eq!(span["path"], "/v1/objects/shed-u/_/k", "{line}");
    assert_eq!(line["fields"]["status"], 503, "{line}");
}

/// A server whose stderr cannot be written (a full disk: `/dev/full` answers every write
/// with `ENOSPC`) keeps serving, even logging every request at debug level: log lines are
/// dropped, requests are answered, the process stays up.
#[tokio::test]
async fn an_unwritable_log_loses_lines_not_requests() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let mut child = common::process::objectstore(dir.path())
        .env("RUST_LOG", "debug")
        .env("OS__HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("OS__S3__ENABLED", "false")
        .arg("run")
        .stdout(std::process::Stdio::null())
        .stderr(full)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn objectstore run");
    let base = format!("http://127.0.0.1:{port}");
    let client = common::client();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/health")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the server exited");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 0..20 {
        let url = format!("{base}/v1/objects/full-log/_/k{i}");
        let put = client.put(&url).body(format!("v{i}")).send().await.unwrap();
        assert_eq!(put.status(), 200);
        let get = client.get(&url).send().await.unwrap();
        assert_eq!(get.status(), 200);
        assert_eq!(get.text().await.unwrap(), format!("v{i}"));
        let missing = client.get(format!("{url}-missing")).send().await.unwrap();
        assert_eq!(missing.status(), 404);
    }
    assert!(child.try_wait().unwrap().is_none(), "the server exited");
    common::process::signal(&child, "INT").await;
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}
