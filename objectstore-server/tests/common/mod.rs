//! Shared helpers of the HTTP-level tests: an in-process server over the in-memory backend,
//! a client and short forms of its requests ([`requests`]), URL encoding like the official
//! clients, raw HTTP for byte-exact requests, admission set-ups, payloads and files on disk
//! ([`data`]), a server over the tiered engine ([`tiered`]) and the real binary ([`binary`],
//! [`process`]). Helpers send and read; what a test asserts stays in the test.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::sync::Arc;

use objectstore_server::admission::Killswitch;
use objectstore_server::config::Config;
use objectstore_server::testing::TestServer;
use objectstore_service::backend::memory::MemoryBackend;
use objectstore_service::clock::ManualClock;
use objectstore_service::service::{ServiceConfig, StorageService};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server over a fresh in-memory backend with a manual clock.
pub struct Memory {
    pub server: TestServer,
    pub backend: MemoryBackend,
    pub clock: Arc<ManualClock>,
    pub client: reqwest::Client,
}

impl Memory {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        Self::start_with_service(ServiceConfig::default(), configure).await
    }

    /// With the storage service's own limits (`service`) too.
    pub async fn start_with_service(
        service: ServiceConfig,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let clock = ManualClock::new();
        let backend = MemoryBackend::new("memory", clock.clone());
        let service = StorageService::new(Arc::new(backend.clone()), clock.clone(), service);
        let server = TestServer::start_with(service, configure).await;
        Self {
            server,
            backend,
            clock,
            client: client(),
        }
    }

    /// `http://addr/v1/objects/{usecase}/{scopes}/{encoded key}`.
    pub fn object(&self, usecase: &str, scopes: &str, key: &str) -> String {
        self.server.url(&format!(
            "/v1/objects/{usecase}/{scopes}/{}",
            python_path(key)
        ))
    }

    /// `http://addr{path}`.
    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }
}

/// A killswitch that blocks every request of `usecase`.
pub fn killswitch(usecase: &str) -> Killswitch {
    Killswitch {
        usecase: Some(usecase.into()),
        ..Killswitch::default()
    }
}

/// Blocks `usecase` with a killswitch and limits the whole server to one request a second
/// (a bucket of one token).
pub fn block_and_limit_to_1_rps(config: &mut Config, usecase: &str) {
    config.killswitches.push(killswitch(usecase));
    config.rate_limits.throughput.global_rps = Some(1);
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// The Python client's path encoding: `quote(path, safe="/:@!$&'()*+,;=")`.
pub fn python_path(key: &str) -> String {
    const PY: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'/')
        .remove(b':')
        .remove(b'@')
        .remove(b'!')
        .remove(b'$')
        .remove(b'&')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')')
        .remove(b'*')
        .remove(b'+')
        .remove(b',')
        .remove(b';')
        .remove(b'=');
    utf8_percent_encode(key, PY).to_string()
}

/// The Rust client's encoding: the key split on `/`, each segment encoded with the `url`
/// crate's path-segment set (controls, space, `"#<>?`{}/%`).
pub fn rust_path(key: &str) -> String {
    const SEGMENT: &AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'<')
        .add(b'>')
        .add(b'?')
        .add(b'`')
        .add(b'{')
        .add(b'}')
        .add(b'/')
        .add(b'%');
    key.split('/')
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// A response read off the wire as is.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    /// Header lines exactly as sent (`name: value`).
    pub header_lines: Vec<String>,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<String> {
        self.header_lines.iter().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// Sends `request` (a complete HTTP/1.1 request; `Connection: close` is added) and reads
/// the response, without any client-side normalization of the path.
pub async fn raw(addr: std::net::SocketAddr, method: &str, target: &str, extra: &str) -> Raw {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request =
        format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.expect("read");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let header_lines: Vec<String> = lines.map(str::to_owned).collect();
    let mut body = buf[split + 4..].to_vec();
    let chunked = header_lines
        .iter()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Raw {
        status,
        header_lines,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            std::str::from_utf8(&data[..line_end])
                .expect("chunk size")
                .trim(),
            16,
        )
        .expect("hex chunk size");
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Every file below `dir`, recursively (directories left out), in no particular order.
pub fn files_below(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut stack = vec![dir.to_owned()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read a directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// The JSON body of a response.
pub async fn json(response: reqwest::Response) -> serde_json::Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

/// Log output captured in memory, for a `tracing_subscriber` writer.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Keys and tokens for tests with auth.
pub mod auth;
/// The real binary as a server process (synchronous helpers).
pub mod binary;
/// Payload patterns and files on disk.
pub mod data;
/// The real binary under tokio (async helpers).
pub mod process;
/// Short forms of repeated requests.
pub mod requests;
/// An in-process server over the tiered engine.
pub mod tiered;

#[allow(unused_imports, reason = "each test binary uses a different subset")]
pub use requests::{send, text};
