//! The real `objectstore` binary: commands, zero-config start-up, and a clean exit 0 on
//! SIGINT.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::binary::free_port;
use common::process::{keygen, objectstore, signal, start, success_stdout};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

/// SIGINT to `child`, then its exit status (it must exit within 30 s).
async fn interrupt(child: &mut Child) -> std::process::ExitStatus {
    signal(child, "INT").await;
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits after SIGINT")
        .unwrap()
}

#[tokio::test]
async fn zero_config_run_serves_and_exits_0_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = start(dir.path(), port).await;
    let base = format!("http://127.0.0.1:{port}");
    let c = common::client();

    let put = c
        .put(format!("{base}/v1/objects/u/_/k"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let get = c
        .get(format!("{base}/v1/objects/u/_/k"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.text().await.unwrap(), "hello");
    assert!(
        dir.path().join("data/hv").is_dir(),
        "embedded store under ./data/hv"
    );
    assert!(
        dir.path().join("data/lt").is_dir(),
        "filesystem store under ./data/lt"
    );

    let health = objectstore(dir.path())
        .env("OS__HTTP_ADDR", format!("127.0.0.1:{port}"))
        .arg("healthcheck")
        .status()
        .await
        .unwrap();
    assert!(health.success());

    let down = objectstore(dir.path()).arg("down").status().await.unwrap();
    assert!(down.success());
    let ready = c.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);

    let status = interrupt(&mut child).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn version_healthcheck_and_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = objectstore(dir.path())
        .arg("version")
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.trim()
            .starts_with(&format!("objectstore@{}", objectstore_server::VERSION)),
        "{text}"
    );

    let unhealthy = objectstore(dir.path())
        .env("OS__HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
        .arg("healthcheck")
        .output()
        .await
        .unwrap();
    assert_eq!(unhealthy.status.code(), Some(1));

    let bad = objectstore(dir.path())
        .env("OS__HTTP__MAX_REQUESTS", "lots")
        .arg("run")
        .output()
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8(bad.stderr).unwrap();
    assert!(stderr.contains("http.max_requests"), "{stderr}");

    let file = dir.path().join("config.yml");
    std::fs::write(&file, "storage:\n  type: bigtable\n").unwrap();
    let bad = objectstore(dir.path())
        .args(["-c", file.to_str().unwrap(), "run"])
        .output()
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8(bad.stderr).unwrap();
    assert!(
        stderr.contains("storage") && stderr.contains("bigtable"),
        "{stderr}"
    );

    let usage = objectstore(dir.path()).arg("fly").output().await.unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

#[tokio::test]
async fn configured_filesystem_storage_via_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = dir.path().join("config.yml");
    std::fs::write(
        &file,
        format!(
            "http_addr: 127.0.0.1:{port}\nstorage:\n  type: filesystem\n  path: {}\nlogging:\n  format: json\n",
            dir.path().join("objects").display()
        ),
    )
    .unwrap();
    let mut child = objectstore(dir.path())
        .args(["--config", file.to_str().unwrap(), "run"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let line = lines.next_line().await.unwrap().expect("a log line");
            if line.contains("objectstore listening") {
                return line;
            }
        }
    })
    .await
    .unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&first).expect("JSON log line");
    assert_eq!(parsed["fields"]["backend"], "filesystem");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let status = interrupt(&mut child).await;
    assert_eq!(status.code(), Some(0));
    assert!(dir.path().join("objects").is_dir());
}

#[tokio::test]
async fn key_token_and_presign_tools() {
    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path(), "ops").await;
    let private = dir.path().join("ops.private.pem");
    assert!(private.is_file() && dir.path().join("ops.public.pem").is_file());

    let out = objectstore(dir.path())
        .args([
            "token",
            "--kid",
            "ops",
            "--key",
            "ops.private.pem",
            "--usecase",
            "app",
        ])
        .args(["--scopes", "org=1", "--permission", "object.read"])
        .output()
        .await
        .unwrap();
    let jwt = success_stdout(out);
    assert_eq!(jwt.trim().split('.').count(), 3, "{jwt}");

    let out = objectstore(dir.path())
        .args(["presign", "--kid", "ops", "--key", "ops.private.pem"])
        .arg("http://127.0.0.1:8888/v1/objects/app/org=1/k")
        .output()
        .await
        .unwrap();
    let url = success_stdout(out);
    assert!(
        url.contains("?os_kid=ops&") && url.contains("&os_sig="),
        "{url}"
    );

    let bad = objectstore(dir.path())
        .args([
            "presign",
            "--kid",
            "ops",
            "--key",
            "ops.private.pem",
            "--method",
            "PUT",
        ])
        .arg("http://127.0.0.1:8888/v1/objects/app/org=1/k")
        .output()
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
}

/// Command line and configuration errors of the server-side commands exit 2 (docs/cli.md),
/// also those that only show when the key file is read or the server starts.
#[tokio::test]
async fn usage_and_configuration_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    keygen(d, "ops").await;
    let signer = ["--kid", "ops", "--key", "ops.private.pem"];
    let missing = ["--kid", "ops", "--key", "missing.pem"];
    let url = "http://127.0.0.1:8888/v1/objects/app/_/k";
    let cases: [(&str, Vec<&str>); 4] = [
        (
            "a scope without a value",
            [
                &["token"][..],
                &signer,
                &["--usecase", "app", "--scopes", "org"],
            ]
            .concat(),
        ),
        (
            "token with a missing key file",
            [&["token"][..], &missing, &["--usecase", "app"]].concat(),
        ),
        (
            "an object key without -u",
            [&["presign"][..], &signer, &["k"]].concat(),
        ),
        (
            "presign with a missing key file",
            [&["presign"][..], &missing, &[url]].concat(),
        ),
    ];
    for (what, args) in cases {
        let out = objectstore(d).args(&args).output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(out.stdout.is_empty(), "{what}");
        assert!(stderr.starts_with("error: "), "{what}: {stderr}");
    }

    let keys = format!(
        "{{k={{key_files=[\"{}\"],max_permissions=[\"object.read\"]}}}}",
        d.join("missing.pem").display()
    );
    for (what, var, value, named) in [
        (
            "metrics.addr",
            "OS__METRICS__ADDR",
            "ftp://nowhere".to_owned(),
            "metrics.addr",
        ),
        ("a missing key file", "OS__AUTH__KEYS", keys, "missing.pem"),
    ] {
        let out = objectstore(d)
            .env("OS__HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
            .env(var, value)
            .arg("run")
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(stderr.contains(named), "{what}: {stderr}");
    }
}

/// `token` takes the key, usecase and scopes like `presign` and the client commands: `-u`,
/// repeated `-s`, `--private-key`, and the `OBJECTSTORE_*` variables.
#[tokio::test]
async fn token_takes_the_options_of_presign_and_the_client() {
    use base64::Engine as _;

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    keygen(d, "ops").await;
    let out = objectstore(d)
        .env("OBJECTSTORE_KID", "ops")
        .env("OBJECTSTORE_USECASE", "app")
        .args(["token", "--private-key", "ops.private.pem"])
        .args([
            "-s",
            "org=1",
            "-s",
            "project=2",
            "--permission",
            "object.read",
        ])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let token = String::from_utf8(out.stdout).unwrap();
    let parts: Vec<&str> = token.trim().split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let decode = |part: &str| -> serde_json::Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    assert_eq!(decode(parts[0])["kid"], "ops");
    let claims = decode(parts[1]);
    assert_eq!(
        claims["res"],
        serde_json::json!({"os:usecase": "app", "org": "1", "project": "2"})
    );
    assert_eq!(claims["permissions"], serde_json::json!(["object.read"]));
}

#[tokio::test]
async fn sighup_reloads_killswitches_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "killswitches: []\n").unwrap();
    let mut child = objectstore(dir.path())
        .env("OS__HTTP_ADDR", format!("127.0.0.1:{port}"))
        .arg("-c")
        .arg(&config)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let c = common::client();
    let url = format!("http://127.0.0.1:{port}/v1/objects/blocked/_/k");
    let mut up = false;
    for _ in 0..600 {
        if c.get(&url).send().await.is_ok_and(|r| r.status() == 404) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "server did not come up");

    std::fs::write(&config, "killswitches:\n  - usecase: blocked\n").unwrap();
    signal(&child, "HUP").await;
    let mut status = 0;
    for _ in 0..100 {
        status = c.get(&url).send().await.unwrap().status().as_u16();
        if status == 403 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 403, "the killswitch from the reloaded file applies");
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP must not stop the server"
    );

    let exit = interrupt(&mut child).await;
    assert_eq!(exit.code(), Some(0));
}

#[tokio::test]
async fn sighup_without_a_config_file_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = start(dir.path(), port).await;
    signal(&child, "HUP").await;
    let c = common::client();
    let health = c
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP must not stop the server"
    );
    let exit = interrupt(&mut child).await;
    assert_eq!(exit.code(), Some(0));
}
