//! The server (in process) on a Bigtable high-volume tier (the emulator) and a filesystem
//! long-term tier: put, get, HEAD and delete of a small object (a Bigtable row) and a large
//! one (a tombstone row in Bigtable, the bytes on the filesystem).
//!
//! Needs `OS_TEST_BIGTABLE_EMULATOR` (`eval "$(scripts/services/bigtable.sh)"`) and the cargo
//! feature `bigtable`. Without the variable: when the emulator binary is not on this machine
//! the test prints one line saying so and passes; otherwise it fails when `CI=true` and
//! prints one skip line elsewhere. Every run uses a fresh table.

#[cfg(feature = "bigtable")]
mod common;

/// One line, written to the stream directly: the harness captures `eprintln!` of passing
/// tests, and a skip must be visible.
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[cfg(not(feature = "bigtable"))]
#[test]
fn server_on_bigtable_and_filesystem() {
    say(
        "skipped server_on_bigtable_and_filesystem: needs the cargo feature `bigtable` \
         (cargo test -p objectstore-server --all-features)",
    );
}

#[cfg(feature = "bigtable")]
mod emulator {
    use crate::common::{client, send};
    use http::StatusCode;
    use objectstore_server::config::{HighVolumeConfig, LongTermConfig, StorageConfig};
    use objectstore_server::testing::TestServer;
    use objectstore_service::backend::bigtable::BigtableConfig;

    use super::say;

    const VAR: &str = "OS_TEST_BIGTABLE_EMULATOR";

    fn endpoint() -> Option<String> {
        let unset = std::env::var(VAR).map_or(true, |v| v.is_empty());
        if unset && !objectstore_service::testing::bigtable_emulator_installed() {
            say("bigtable: emulator not present on this machine, Bigtable tests not run");
            return None;
        }
        let fix = "run `eval \"$(scripts/services/bigtable.sh)\"`";
        let test = "server_on_bigtable_and_filesystem";
        Some(objectstore_service::testing::external(test, &[VAR], fix)?.remove(0))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn server_on_bigtable_and_filesystem() {
        let Some(endpoint) = endpoint() else {
            return;
        };
        let table = format!("srv{}", uuid::Uuid::new_v4().simple());
        let server = TestServer::start_configured(|c| {
            c.storage = StorageConfig::Tiered {
                high_volume: HighVolumeConfig::Bigtable(BigtableConfig {
                    endpoint: Some(endpoint.clone()),
                    ..BigtableConfig::new("test-project", "test-instance", table.clone())
                }),
                long_term: LongTermConfig::Filesystem {
                    path: c.http.down_marker.with_file_name("lt"),
                },
                settings: Default::default(),
            };
        })
        .await
        .unwrap();
        let c = client();
        let small = server.url("/v1/objects/app/org=1/small");
        let large = server.url("/v1/objects/app/org=1/large");
        let big = crate::common::data::pattern(3 * 1024 * 1024 + 17);

        for (url, body, expiration) in [
            (&small, b"tiny".to_vec(), "tti:1d"),
            (&large, big.clone(), "ttl:30d"),
        ] {
            let r = send(c.put(url).header("x-sn-expiration", expiration).body(body)).await;
            assert_eq!(r.status(), StatusCode::OK, "PUT {url}");
        }
        let r = send(c.get(&small)).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-sn-expiration"], "tti:1d");
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"tiny");
        let r = send(c.get(&large)).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-sn-expiration"], "ttl:30d");
        assert_eq!(r.bytes().await.unwrap().to_vec(), big);
        let r = send(c.head(&large)).await;
        assert_eq!(r.headers()["x-sn-size"], big.len().to_string());

        // Overwrite the large object with a small one (tombstone -> inline).
        let r = send(c.put(&large).body("now small")).await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = send(c.get(&large)).await;
        assert_eq!(r.text().await.unwrap(), "now small");

        for url in [&small, &large, &server.url("/v1/objects/app/org=1/never")] {
            let r = send(c.delete(url)).await;
            assert_eq!(r.status(), StatusCode::NO_CONTENT, "DELETE {url}");
        }
        for url in [&small, &large] {
            let r = send(c.get(url)).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "GET {url} after delete");
        }
        server.shutdown().await.unwrap();
    }
}
