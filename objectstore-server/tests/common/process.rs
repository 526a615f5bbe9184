//! The real `objectstore` binary for async tests (tokio processes): a command with a clean
//! environment, a started server, signals. `binary.rs` has the blocking equivalents.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

/// `objectstore` run in `dir` with a clean environment ([`super::binary::clean`]), the S3
/// listener on a free port, killed when dropped.
pub fn objectstore(dir: &Path) -> Command {
    let mut cmd = Command::from(super::binary::clean(dir));
    // The S3 listener's default port is fixed; any free one will do here.
    cmd.env("OS__S3__ADDR", "127.0.0.1:0").kill_on_drop(true);
    cmd
}

/// Starts `objectstore run` in `dir` on `port` and waits for its "listening" log line;
/// stderr keeps being drained so the server never blocks on a full pipe.
pub async fn start(dir: &Path, port: u16) -> Child {
    start_with(dir, port, &[]).await
}

/// [`start`] with the environment overrides `env` (`OS__...` configuration).
pub async fn start_with(dir: &Path, port: u16, env: &[(String, String)]) -> Child {
    let mut cmd = objectstore(dir);
    cmd.env("OS__HTTP_ADDR", format!("127.0.0.1:{port}"))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let (child, mut lines, _) = spawn_listening(&mut cmd).await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// The stderr lines of a server process still to be read.
pub type StderrLines = Lines<BufReader<ChildStderr>>;

/// Spawns `cmd run` (stdout discarded, stderr piped) and waits for its "listening" log
/// line; returns the child, the stderr lines still to come, and those read so far (the
/// listening line last). The caller keeps reading the lines, or the server blocks on a
/// full pipe.
pub async fn spawn_listening(cmd: &mut Command) -> (Child, StderrLines, Vec<String>) {
    let mut child = cmd
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
            let listening = line.contains("objectstore listening");
            log.push(line);
            if listening {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(listening, "server did not start:\n{}", log.join("\n"));
    (child, lines, log)
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
    let out = objectstore(dir).args(["keygen", prefix]).output().await;
    success_stdout(out.unwrap());
}

/// The stdout of a command that must have succeeded (its stderr shown otherwise).
pub fn success_stdout(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
