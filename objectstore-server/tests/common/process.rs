//! The real `objectstore` binary for async tests (tokio processes): a command with a clean
//! environment, a started server, signals. `binary.rs` has the blocking equivalents.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// `objectstore` run in `dir`: no `RUST_LOG`, the down marker inside `dir`, the S3 listener
/// on a free port, no stdin, killed when dropped.
pub fn objectstore(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_objectstore"));
    cmd.current_dir(dir)
        .env_remove("RUST_LOG")
        .env("OS__HTTP__DOWN_MARKER", dir.join("down"))
        // The S3 listener's default port is fixed; any free one will do here.
        .env("OS__S3__ADDR", "127.0.0.1:0")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Starts `objectstore run` in `dir` on `port` and waits for its "listening" log line;
/// stderr keeps being drained so the server never blocks on a full pipe.
pub async fn start(dir: &Path, port: u16) -> Child {
    start_with(dir, port, &[]).await
}

/// [`start`] with the environment overrides `env` (`OS__...` configuration).
pub async fn start_with(dir: &Path, port: u16, env: &[(String, String)]) -> Child {
    let mut child = objectstore(dir)
        .env("OS__HTTP_ADDR", format!("127.0.0.1:{port}"))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    // The bound only ends a start-up that hangs (external services may be slow to answer).
    let listening = tokio::time::timeout(Duration::from_secs(120), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("objectstore listening") {
                return true;
            }
            log.push(line);
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(listening, "server did not start:\n{}", log.join("\n"));
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// Sends the signal `name` (`INT`, `HUP`, ...) to `child`.
pub async fn signal(child: &Child, name: &str) {
    let pid = child.id().unwrap().to_string();
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success(), "kill -{name} failed");
}

/// `objectstore keygen <prefix>` in `dir`, which must succeed.
pub async fn keygen(dir: &Path, prefix: &str) {
    let out = objectstore(dir)
        .args(["keygen", prefix])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
