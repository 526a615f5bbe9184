//! The real `objectstore` binary as a child process: command builder, free ports, start-up
//! (waiting for the "listening" line) and signals. Shared by `binary.rs` and `torture.rs`.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// `objectstore` in `dir` (its working directory, so the zero-config store is `dir/data`).
pub fn objectstore(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_objectstore"));
    cmd.current_dir(dir)
        .env_remove("RUST_LOG")
        .env("OS__HTTP__DOWN_MARKER", dir.join("down"))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Starts `objectstore run` and waits for its "listening" log line.
pub async fn start(dir: &std::path::Path, port: u16) -> Child {
    let mut child = objectstore(dir)
        .env("OS__HTTP_ADDR", format!("127.0.0.1:{port}"))
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let listening = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("objectstore listening") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(listening, "server exited before listening");
    // Keep draining stderr so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// Sends SIGINT (graceful shutdown).
pub async fn sigint(child: &Child) {
    let pid = child.id().unwrap().to_string();
    let status = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success());
}
