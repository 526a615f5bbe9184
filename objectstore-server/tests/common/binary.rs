//! The real `objectstore` binary as a server process: a free loopback port, a temporary
//! working directory (zero-config storage under `./data`), environment overrides, and
//! a kill on drop.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A free port on 127.0.0.1 (the listener is closed again before returning).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr").port()
}

/// `objectstore` run in `dir` with a clean environment: no `RUST_LOG`, the down marker
/// inside `dir`, no stdin. The S3 listener is left at its configured default.
pub fn clean(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_objectstore"));
    cmd.current_dir(dir)
        .env_remove("RUST_LOG")
        .env("OS__HTTP__DOWN_MARKER", dir.join("down"))
        .stdin(Stdio::null());
    cmd
}

/// `objectstore` with a clean environment for tests ([`clean`]), run in `dir`, without the
/// S3 listener (it would take the fixed default port 8889 in every test server).
pub fn objectstore(dir: &Path) -> Command {
    let mut cmd = clean(dir);
    cmd.env("OS__S3__ENABLED", "false");
    cmd
}

/// A running `objectstore run`, killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The working directory.
    pub dir: PathBuf,
}

impl ServerProcess {
    /// Starts `objectstore run` in `dir` with `env` and waits until it listens.
    pub fn start(dir: &Path, env: &[(&str, String)]) -> Self {
        let port = free_port();
        let mut cmd = objectstore(dir);
        cmd.env("OS__HTTP_ADDR", format!("127.0.0.1:{port}"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn objectstore run");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let listening = loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("objectstore listening") => break true,
                Some(Ok(line)) => seen.push(line),
                _ => break false,
            }
        };
        assert!(
            listening,
            "server exited before listening:\n{}",
            seen.join("\n")
        );
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir: dir.to_owned(),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// SIGKILL (a crash), then waits for the process to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGINT (graceful shutdown), then waits for the exit; its status.
    pub fn interrupt(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT failed");
        self.child.wait().expect("wait for the server")
    }
}
