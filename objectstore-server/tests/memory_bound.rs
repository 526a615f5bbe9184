//! Bounded memory: the real `objectstore` binary (zero config: embedded + filesystem under
//! `./data`) streams several large objects at once, PUT and then GET, 1 GiB through it in
//! total, and its resident memory stays bounded, independent of object size.
//!
//! The bodies are generated on the fly and checked on the fly: the test never holds an
//! object in memory. The server's RSS is sampled from `/proc/<pid>/status` (`VmRSS`) while
//! the transfers run, and its peak (`VmHWM`) is read at the end.
//!
//! Measured (debug build, 2026-11-22, 4 × 128 MiB up, then down, ~4 s on a loaded 2-core
//! machine): idle 25 MiB, peak (`VmHWM`) 32-33 MiB. The bound (96 MiB) leaves headroom for
//! allocator behaviour, yet is below what buffering a single one of the objects would need.
//!
//! The same bound holds for S3 multipart uploads through the S3 listener: 8 at once, each in
//! 8 MiB parts (a part is what an S3 client sends in one request, so a server that buffered a
//! part would need 64 MiB for them alone). Measured (debug build, 2026-12-06, 8 × 64 MiB,
//! on a loaded 2-core machine): peak (`VmHWM`) 57 MiB.

mod common;

use std::time::Duration;

use common::binary::free_port;
use common::process::{start, start_with};
use futures::StreamExt;

const OBJECTS: usize = 4;
const OBJECT_SIZE: usize = 128 * 1024 * 1024;
const CHUNK: usize = 256 * 1024;
/// The peak resident set the server may reach (see the module docs for measured values).
const BOUND: u64 = 96 * 1024 * 1024;

/// A field of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

/// The payload of object `n` repeats a pattern of prime length, shifted per object: cheap
/// to generate and to check with slice comparisons (a debug build checks 1 GiB byte by
/// byte far too slowly), yet a lost, repeated or foreign chunk shows.
const PERIOD: usize = 4093;

struct Pattern(bytes::Bytes);

impl Pattern {
    fn new() -> Self {
        let len = CHUNK + 2 * PERIOD;
        Self((0..len).map(|i| ((i % PERIOD) * 7 % 251) as u8).collect())
    }

    /// Bytes `offset..offset + len` of object `n` (`len <= CHUNK + PERIOD`).
    fn slice(&self, n: usize, offset: usize, len: usize) -> bytes::Bytes {
        let start = (offset + n * 7) % PERIOD;
        self.0.slice(start..start + len)
    }
}

fn body(n: usize, pattern: &std::sync::Arc<Pattern>) -> reqwest::Body {
    let pattern = pattern.clone();
    let chunks = (0..OBJECT_SIZE)
        .step_by(CHUNK)
        .map(move |start| Ok::<_, std::io::Error>(pattern.slice(n, start, CHUNK)));
    reqwest::Body::wrap_stream(futures::stream::iter(chunks))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_large_objects_keeps_the_server_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = start(dir.path(), port).await;
    let pid = child.id().unwrap();
    let base = format!("http://127.0.0.1:{port}/v1/objects/memory/_");
    let client = common::client();
    let idle = status_bytes(pid, "VmRSS");

    let sampler = RssSampler::start(pid);

    let pattern = std::sync::Arc::new(Pattern::new());
    let puts = (0..OBJECTS).map(|n| {
        let (client, url) = (client.clone(), format!("{base}/big-{n}"));
        let pattern = pattern.clone();
        async move {
            let response = client
                .put(url)
                .body(body(n, &pattern))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "PUT {n}");
        }
    });
    futures::future::join_all(puts).await;

    let gets = (0..OBJECTS).map(|n| {
        let (client, url) = (client.clone(), format!("{base}/big-{n}"));
        let pattern = pattern.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            assert_eq!(response.status(), 200, "GET {n}");
            let mut stream = response.bytes_stream();
            let mut offset = 0;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.unwrap();
                for piece in chunk.chunks(CHUNK) {
                    let expected = pattern.slice(n, offset, piece.len());
                    assert!(piece == expected, "object {n}: wrong bytes at {offset}");
                    offset += piece.len();
                }
            }
            assert_eq!(offset, OBJECT_SIZE, "GET {n}: size");
        }
    });
    futures::future::join_all(gets).await;

    sampler
        .finish(&format!(
            "with {OBJECTS} large objects (idle {} MiB)",
            idle >> 20
        ))
        .await;
    child.kill().await.unwrap();
}

/// Samples the `VmRSS` of a process every 50 ms from `start` until `finish`.
struct RssSampler {
    pid: u32,
    stop: tokio::sync::oneshot::Sender<()>,
    /// Yields the largest value seen.
    task: tokio::task::JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut max = 0;
            loop {
                max = max.max(status_bytes(pid, "VmRSS"));
                tokio::select! {
                    _ = &mut stopped => return max,
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        });
        Self { pid, stop, task }
    }

    /// Stops sampling, prints the sampled maximum and the peak (`VmHWM`) of the process
    /// (`what`: the load measured), and asserts that neither reaches [`BOUND`].
    async fn finish(self, what: &str) {
        let _ = self.stop.send(());
        let sampled = self.task.await.unwrap();
        let peak = status_bytes(self.pid, "VmHWM");
        #[allow(
            clippy::print_stderr,
            reason = "the measured values, for updating the documented ones"
        )]
        {
            eprintln!(
                "server RSS {what}: sampled max {} MiB, peak (VmHWM) {} MiB",
                sampled >> 20,
                peak >> 20
            );
        }
        assert!(
            peak.max(sampled) < BOUND,
            "server peak RSS {} MiB exceeds {} MiB",
            peak >> 20,
            BOUND >> 20
        );
    }
}

/// The text of the first `<tag>` element of `xml`.
fn element<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .map(|i| i + open.len())
        .unwrap_or_else(|| panic!("no {tag} in {xml}"));
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    &xml[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_multipart_uploads_keep_the_server_memory_bounded() {
    const UPLOADS: usize = 8;
    const PART: usize = 8 * 1024 * 1024;
    const PARTS: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let (port, s3_port) = (free_port(), free_port());
    let env = [("OS__S3__ADDR".to_owned(), format!("127.0.0.1:{s3_port}"))];
    let mut child = start_with(dir.path(), port, &env).await;
    let pid = child.id().unwrap();
    let s3 = format!("http://127.0.0.1:{s3_port}");
    let client = common::client();
    let created = client.put(format!("{s3}/memory")).send().await.unwrap();
    assert_eq!(created.status(), 200);
    let sampler = RssSampler::start(pid);

    let pattern = std::sync::Arc::new(Pattern::new());
    let uploads = (0..UPLOADS).map(|n| {
        let (client, url) = (client.clone(), format!("{s3}/memory/s3-big-{n}"));
        let pattern = pattern.clone();
        async move {
            let initiated = client.post(format!("{url}?uploads")).send().await.unwrap();
            assert_eq!(initiated.status(), 200, "initiate {n}");
            let text = initiated.text().await.unwrap();
            let upload = element(&text, "UploadId").to_owned();
            let mut parts = String::new();
            for p in 0..PARTS {
                let chunks = (0..PART).step_by(CHUNK).map({
                    let pattern = pattern.clone();
                    move |start| Ok::<_, std::io::Error>(pattern.slice(n, p * PART + start, CHUNK))
                });
                let response = client
                    .put(format!("{url}?partNumber={}&uploadId={upload}", p + 1))
                    .header("content-length", PART)
                    .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200, "upload {n} part {p}");
                let etag = response.headers()["etag"].to_str().unwrap().to_owned();
                parts.push_str(&format!(
                    "<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag></Part>",
                    p + 1
                ));
            }
            let completed = client
                .post(format!("{url}?uploadId={upload}"))
                .body(format!(
                    "<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>"
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(completed.status(), 200, "complete {n}");
            let text = completed.text().await.unwrap();
            assert!(
                text.contains("<CompleteMultipartUploadResult"),
                "complete {n}: {text}"
            );
            let head = client.head(&url).send().await.unwrap();
            assert_eq!(
                head.headers()["content-length"],
                (PART * PARTS).to_string().as_str(),
                "size of upload {n}"
            );
        }
    });
    futures::future::join_all(uploads).await;

    sampler
        .finish(&format!("during {UPLOADS} S3 multipart uploads"))
        .await;
    child.kill().await.unwrap();
}
