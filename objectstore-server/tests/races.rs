//! Races over HTTP: many concurrent writers and deleters on the same few keys, with sizes on
//! both sides of the 1 MiB routing threshold, against a server on the default tiered layout
//! (embedded high-volume + filesystem long-term under a temporary directory).
//!
//! Afterwards (last writer wins, no mix):
//!
//! * every key holds exactly one of the payloads written to it, byte for byte, with that
//!   write's metadata (content type and a custom field naming the write), or is absent
//!   only if a delete of it was acknowledged;
//! * after a graceful stop (which waits for background cleanup), the long-term directory
//!   holds exactly one blob per key that holds a large object: no unreferenced blob.
//!
//! The schedule is seeded (fixed seed, bounded counts); the interleaving is whatever the
//! runtime makes of it, and every interleaving must satisfy the invariants.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use common::requests::with_headers;
use common::send;
use futures::StreamExt;
use objectstore_server::testing::TestServer;
use objectstore_service::backend::embedded::EmbeddedBackend;
use objectstore_service::backend::filesystem::FilesystemBackend;
use objectstore_service::check::{CheckOptions, check};

const THRESHOLD: usize = 1024 * 1024;
const KEYS: usize = 3;
const WRITERS: usize = 8;
const WRITES_PER_WRITER: usize = 6;
const DELETERS: usize = 2;
const DELETES_PER_DELETER: usize = 6;
/// Sizes across the threshold: inline, at it, just over it, clearly large.
const SIZES: [usize; 5] = [
    100,
    THRESHOLD - 1,
    THRESHOLD,
    THRESHOLD + 1,
    THRESHOLD + THRESHOLD / 2,
];

/// A tiny deterministic generator (xorshift64*), seeded per task.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// One write: its tag names writer and sequence number; the payload is derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Write {
    writer: usize,
    seq: usize,
    size: usize,
}

impl Write {
    fn tag(&self) -> String {
        format!("w{}-{}-{}", self.writer, self.seq, self.size)
    }

    fn content_type(&self) -> String {
        format!("application/x-race-{}", self.writer)
    }

    /// Byte `i` of the payload: depends on the write and the position, so that a mix of two
    /// writes (or a shifted chunk) is detected.
    fn byte(&self, i: usize) -> u8 {
        (i as u64)
            .wrapping_mul(31)
            .wrapping_add((self.writer * 7 + self.seq * 13) as u64) as u8
    }

    /// The payload in 64 KiB chunks, generated on the fly.
    fn body(self) -> reqwest::Body {
        let chunks = (0..self.size).step_by(64 * 1024).map(move |start| {
            let end = (start + 64 * 1024).min(self.size);
            let chunk: Vec<u8> = (start..end).map(|i| self.byte(i)).collect();
            Ok::<_, std::io::Error>(chunk)
        });
        reqwest::Body::wrap_stream(futures::stream::iter(chunks))
    }
}

fn key_name(key: usize) -> String {
    format!("race-{key}")
}

/// What the tasks did, per key: acknowledged writes and whether a delete was acknowledged.
#[derive(Debug, Default)]
struct History {
    writes: BTreeMap<usize, Vec<Write>>,
    deleted: BTreeSet<usize>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_and_deleters_leave_one_whole_write_per_key() {
    // The data directory outlives the server (its own temporary directory does not).
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start_configured(|config| {
        config.storage = TestServer::config(data.path()).storage;
    })
    .await
    .unwrap();
    let client = common::client();
    let url = |key: usize| {
        server.url(&format!(
            "/v1/objects/races/_/{}",
            common::python_path(&key_name(key))
        ))
    };

    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let (client, urls) = (client.clone(), (0..KEYS).map(url).collect::<Vec<_>>());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(writer as u64 + 1);
            let mut done = Vec::new();
            for seq in 0..WRITES_PER_WRITER {
                let key = rng.below(KEYS);
                let write = Write {
                    writer,
                    seq,
                    size: SIZES[rng.below(SIZES.len())],
                };
                let headers = [
                    ("content-type", write.content_type()),
                    ("x-snme-tag", write.tag()),
                ];
                let put = with_headers(client.put(&urls[key]), &headers);
                let response = send(put.body(write.body())).await;
                assert!(
                    response.status().is_success(),
                    "{write:?}: {}",
                    response.status()
                );
                done.push((key, Some(write)));
            }
            done
        }));
    }
    for deleter in 0..DELETERS {
        let (client, urls) = (client.clone(), (0..KEYS).map(url).collect::<Vec<_>>());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(1000 + deleter as u64);
            let mut done = Vec::new();
            for _ in 0..DELETES_PER_DELETER {
                let key = rng.below(KEYS);
                let response = send(client.delete(&urls[key])).await;
                assert_eq!(response.status(), 204, "delete {key}");
                done.push((key, None));
                tokio::task::yield_now().await;
            }
            done
        }));
    }
    let mut history = History::default();
    for task in tasks {
        for (key, write) in task.await.unwrap() {
            match write {
                Some(write) => history.writes.entry(key).or_default().push(write),
                None => {
                    history.deleted.insert(key);
                }
            }
        }
    }

    let mut large = 0;
    for key in 0..KEYS {
        let response = send(client.get(url(key))).await;
        if response.status() == 404 {
            assert!(
                history.deleted.contains(&key),
                "key {key} absent without an acknowledged delete"
            );
            continue;
        }
        assert_eq!(response.status(), 200, "key {key}");
        let tag = response
            .headers()
            .get("x-snme-tag")
            .expect("the tag of the write")
            .to_str()
            .unwrap()
            .to_owned();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let write = history
            .writes
            .get(&key)
            .and_then(|writes| writes.iter().find(|w| w.tag() == tag))
            .copied()
            .unwrap_or_else(|| panic!("key {key}: {tag} was never written to it"));
        assert_eq!(
            content_type,
            write.content_type(),
            "key {key}: metadata mix"
        );
        let mut stream = response.bytes_stream();
        let mut offset = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            for (i, byte) in chunk.iter().enumerate() {
                assert_eq!(
                    *byte,
                    write.byte(offset + i),
                    "key {key}: byte {}",
                    offset + i
                );
            }
            offset += chunk.len();
        }
        assert_eq!(offset, write.size, "key {key}: size");
        if write.size > THRESHOLD {
            large += 1;
        }
    }

    // A graceful stop waits for the background cleanups; then the long-term directory must
    // hold exactly the blobs the large objects reference.
    server.shutdown().await.unwrap();
    assert_eq!(
        common::data::lt_blobs(&data.path().join("lt")),
        large,
        "unreferenced (or missing) long-term blobs"
    );

    // And the consistency checker agrees: no dangling tombstone, no unreferenced blob of
    // any age, nothing due in the change log.
    let clock = objectstore_service::clock::system();
    let hv = EmbeddedBackend::open(&data.path().join("hv"), clock.clone()).unwrap();
    let lt = FilesystemBackend::open(&data.path().join("lt"), clock.clone()).unwrap();
    let options = CheckOptions {
        grace: Duration::ZERO,
        ..CheckOptions::default()
    };
    let report = check(Arc::new(hv), Arc::new(lt), clock, &options)
        .await
        .unwrap();
    assert!(report.is_clean(), "check after the races: {report:?}");
    assert_eq!(report.problems(), 0, "{report:?}");
    assert_eq!(report.blobs, large as u64, "{report:?}");
}
