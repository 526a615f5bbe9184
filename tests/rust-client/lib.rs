//! Test harness: starts the real `objectstore` binary on a free loopback port with a fresh
//! data directory, and stops it with SIGINT (asserting a clean exit) when dropped.

use std::io::Read as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process.
pub struct TestServer {
    child: Option<Child>,
    port: u16,
    _dir: tempfile::TempDir,
}

fn binary() -> PathBuf {
    let path = std::env::var_os("OBJECTSTORE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/objectstore")
        });
    assert!(
        path.exists(),
        "server binary {} not found: build it (cargo build --bin objectstore) or set OBJECTSTORE_BIN",
        path.display()
    );
    path
}

impl TestServer {
    /// Starts a server on tiered storage (embedded HV + filesystem LT), auth off.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let root = dir.path().display();
        let config = format!(
            "http_addr: \"127.0.0.1:{port}\"\nauth:\n  enforce: false\nstorage:\n  type: tiered\n  high_volume: {{type: embedded, path: \"{root}/hv\"}}\n  long_term: {{type: filesystem, path: \"{root}/lt\"}}\ns3:\n  enabled: false\n"
        );
        let config_path = dir.path().join("config.yaml");
        std::fs::write(&config_path, config).expect("write config");
        let child = Command::new(binary())
            .arg("-c")
            .arg(&config_path)
            .arg("run")
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let mut server = Self {
            child: Some(child),
            port,
            _dir: dir,
        };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("server exited early with {status}: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not listen within 20 s: {}", self.stderr());
    }

    fn stderr(&mut self) -> String {
        let mut out = String::new();
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            if let Some(mut err) = child.stderr.take() {
                let _ = err.read_to_string(&mut out);
            }
        }
        out
    }

    /// The server's base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Sends SIGINT and returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        panic!("server did not exit within 15 s of SIGINT");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(code) = self.stop()
            && code != 0
            && !std::thread::panicking()
        {
            panic!("server exited with code {code} after SIGINT");
        }
    }
}
