//! The long-term store is untrusted, seen from the HTTP API (docs/guarantees.md): a store
//! that keeps other bytes than it was sent fails the write with a 500 and keeps nothing;
//! a store that returns other bytes than it kept gets the response cut (or a 500 before the
//! first byte), never a complete-looking 200; `objectstore check --deep` finds a blob
//! damaged at rest and never repairs it; and the reported case itself: curl's default
//! content type against an S3 store (moto) that keeps 0 bytes of such a body.

mod common;

use std::sync::Arc;

use common::binary::{ServerProcess, objectstore};
use common::tiered::TieredServer;
use common::{client, json};
use http::StatusCode;
use objectstore_server::testing::TestServer;
use objectstore_service::backend::around::Decorated;
use objectstore_service::backend::around::corrupt::{Corrupt, Damage};
use objectstore_service::digest::Md5;

/// A server over the tiered engine (memory high-volume store, filesystem long-term store
/// behind the returned `Corrupt`), objects above `threshold` bytes in the long-term store.
async fn start(threshold: usize) -> (TieredServer, Corrupt) {
    let corrupt = Corrupt::new();
    let wrap = |fs| Arc::new(Decorated::new(Arc::new(fs), corrupt.clone())) as _;
    (TieredServer::start(Some(threshold), wrap).await, corrupt)
}

fn body(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 241) as u8 ^ seed).collect()
}

#[tokio::test]
async fn a_write_the_store_keeps_wrong_is_a_500_and_nothing_changes() {
    let (s, corrupt) = start(1024 * 1024).await;
    let url = s.object("big");
    let old = body(2_000_000, 1);
    assert_eq!(
        s.client
            .put(&url)
            .body(old.clone())
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // The filesystem store reports its file's size: a lost or added byte shows.
    for damage in [Damage::Truncate(1), Damage::Pad(1)] {
        corrupt.set_write(Some(damage));
        let put = s
            .client
            .put(&url)
            .body(body(2_000_000, 2))
            .send()
            .await
            .unwrap();
        assert_eq!(
            put.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{damage:?}"
        );
        let error = json(put).await;
        let text = error.to_string();
        assert!(
            text.contains("integrity check failed"),
            "{damage:?}: {text}"
        );
        assert!(text.contains("objects/big/"), "names the object: {text}");
        corrupt.set_write(None);
        let get = s.client.get(&url).send().await.unwrap();
        assert_eq!(get.headers()["etag"], Md5::of(&old).quoted());
        assert_eq!(get.bytes().await.unwrap().to_vec(), old, "{damage:?}");
    }
}

#[tokio::test]
async fn a_read_the_store_returns_wrong_never_looks_complete() {
    let (s, corrupt) = start(1024 * 1024).await;
    let url = s.object("big");
    let stored = body(2_000_000, 3);
    s.client
        .put(&url)
        .body(stored.clone())
        .send()
        .await
        .unwrap();
    for damage in [
        Damage::Truncate(10),
        Damage::Pad(10),
        Damage::Flip(1_500_000),
    ] {
        corrupt.set_read(Some(damage));
        let get = s.client.get(&url).send().await.unwrap();
        // The headers went out with the first chunks; the body must fail.
        assert_eq!(get.status(), StatusCode::OK, "{damage:?}");
        assert_eq!(get.headers()["content-length"], "2000000");
        match get.bytes().await {
            Err(_) => {}
            Ok(bytes) => panic!(
                "{damage:?}: a corrupt body of {} bytes was served",
                bytes.len()
            ),
        }
    }
    corrupt.set_read(None);
    let get = s.client.get(&url).send().await.unwrap();
    assert_eq!(
        get.bytes().await.unwrap().to_vec(),
        stored,
        "the stored object is intact"
    );
}

#[tokio::test]
async fn a_read_failing_before_the_first_byte_is_a_500() {
    // A 16-byte threshold: a small object lives in the long-term store, read in one chunk.
    let (s, corrupt) = start(16).await;
    let url = s.object("small");
    s.client.put(&url).body(body(1000, 4)).send().await.unwrap();
    corrupt.set_read(Some(Damage::Truncate(1)));
    let get = s.client.get(&url).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let text = json(get).await.to_string();
    assert!(text.contains("integrity check failed"), "{text}");
}

/// `check --deep` on the real binary's default layout: a byte flipped at rest in the
/// filesystem store is found by a deep check only, and `--repair` leaves it alone.
#[test]
fn check_deep_reports_a_blob_damaged_at_rest_and_never_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path(), &[]);
    let put = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .put(format!("{}/v1/objects/app/_/big", server.url))
        .body(body(1_600_000, 5))
        .send()
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(server.interrupt().code(), Some(0));

    // Flip the last byte of the one object file (its payload ends the file).
    let files = common::files_below(&dir.path().join("data/lt/objects"));
    assert_eq!(files.len(), 1, "one blob: {files:?}");
    let mut bytes = std::fs::read(&files[0]).unwrap();
    *bytes.last_mut().unwrap() ^= 0xFF;
    std::fs::write(&files[0], &bytes).unwrap();

    let run = |args: &[&str]| {
        let out = objectstore(dir.path())
            .arg("check")
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code(), text)
    };
    let (code, text) = run(&[]);
    assert_eq!(code, Some(0), "a shallow check does not read blobs: {text}");
    let (code, text) = run(&["--deep"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("corrupt objects (never repaired): 1"),
        "{text}"
    );
    assert!(text.contains("md5:"), "{text}");
    let (code, text) = run(&["--deep", "--repair"]);
    assert_eq!(code, Some(1), "a corrupt object stays a problem: {text}");
    assert_eq!(
        std::fs::read(&files[0]).unwrap(),
        bytes,
        "the repair left the blob alone"
    );
}

/// The reported case: curl's default `content-type: application/x-www-form-urlencoded` on a
/// 2 MB PUT to an S3 long-term store (moto keeps 0 bytes of such a body and answers 200).
/// The PUT must not be acknowledged unless the store kept the bytes, and a GET must never
/// be an empty reply behind promising headers.
#[cfg(feature = "s3")]
#[tokio::test]
async fn curl_form_content_type_on_moto_fails_the_put_or_stores_the_bytes() {
    use objectstore_server::config::{LongTermConfig, StorageConfig};

    const VARS: [&str; 5] = [
        "OS_TEST_S3_ENDPOINT",
        "OS_TEST_S3_BUCKET",
        "OS_TEST_S3_REGION",
        "OS_TEST_S3_ACCESS_KEY_ID",
        "OS_TEST_S3_SECRET_ACCESS_KEY",
    ];
    let fix = "run `eval \"$(scripts/services/moto.sh)\"`";
    let Some(v) = objectstore_service::testing::external("curl_form_content_type", &VARS, fix)
    else {
        return;
    };
    let s3 = serde_json::from_value(serde_json::json!({
        "endpoint": v[0],
        "bucket": v[1],
        "region": v[2],
        "access_key_id": v[3],
        "secret_access_key": v[4],
        "allow_http": true,
        "from_env": false,
        "prefix": format!("integrity-{}", uuid::Uuid::new_v4().simple()),
    }))
    .unwrap();
    let server = TestServer::start_configured(|config| {
        if let StorageConfig::Tiered { long_term, .. } = &mut config.storage {
            *long_term = LongTermConfig::S3(s3);
        }
    })
    .await
    .unwrap();
    let url = server.url("/v1/objects/t/org=1/big");
    let data = body(2_000_000, 6);
    let put = client()
        .put(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    let status = put.status();
    let text = put.text().await.unwrap();
    let get = client().get(&url).send().await.unwrap();
    if status == StatusCode::OK {
        // Stored: then it must be the bytes sent.
        assert_eq!(get.status(), StatusCode::OK);
        assert_eq!(get.bytes().await.unwrap().to_vec(), data);
    } else {
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{text}");
        assert!(text.contains("integrity check failed"), "{text}");
        assert_eq!(get.status(), StatusCode::NOT_FOUND, "nothing was committed");
    }
}

#[cfg(not(feature = "s3"))]
#[test]
fn curl_form_content_type_on_moto_fails_the_put_or_stores_the_bytes() {
    objectstore_service::testing::skip(
        "curl_form_content_type",
        "the cargo feature `s3` is off",
        "run with `--features s3` (or `--all-features`)",
    );
}
