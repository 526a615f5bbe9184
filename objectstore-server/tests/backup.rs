//! The backup procedure of docs/deployment.md ("Backup and restore"): stop the server,
//! copy the whole data directory (high-volume store and long-term store together), start a
//! server on the copy: every object (inline and long-term, with its metadata) is back.

mod common;

use std::path::Path;

use common::send;
use http::StatusCode;
use objectstore_server::config::{HighVolumeConfig, LongTermConfig, StorageConfig};
use objectstore_server::testing::TestServer;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test]
async fn stop_copy_start_restores_every_object() {
    let mut server = TestServer::start_configured(|_| {}).await.unwrap();
    let client = common::client();
    let large = vec![9u8; 3 * 1024 * 1024 / 2];
    let objects: [(&str, Vec<u8>); 3] = [
        ("small", b"inline bytes".to_vec()),
        ("large", large.clone()),
        ("replaced", b"first".to_vec()),
    ];
    for (key, body) in &objects {
        let put = client.put(server.url(&format!("/v1/objects/backup/_/{key}")));
        let r = send(put.header("content-type", "text/plain").body(body.clone())).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Overwrite a large object with another one (the old revision is cleaned up).
    let replacement = vec![3u8; 2 * 1024 * 1024];
    let replace = client.put(server.url("/v1/objects/backup/_/replaced"));
    let r = send(replace.body(replacement.clone())).await;
    assert_eq!(r.status(), StatusCode::OK);
    let data = server.dir();
    // 1. Stop (waits for requests and background work); the directory lives on with
    // `server`.
    server.begin_shutdown();
    server.wait().await.unwrap();
    // 2. Copy the data directory.
    let backup = tempfile::tempdir().unwrap();
    copy_dir(&data.join("hv"), &backup.path().join("hv"));
    copy_dir(&data.join("lt"), &backup.path().join("lt"));
    // 3. Restore elsewhere: a server on the copy.
    let restored_root = backup.path().to_owned();
    let restored = TestServer::start_configured(move |c| {
        let StorageConfig::Tiered {
            high_volume,
            long_term,
            ..
        } = &mut c.storage
        else {
            panic!("the test configuration is tiered");
        };
        *high_volume = HighVolumeConfig::Embedded {
            path: restored_root.join("hv"),
            value_log: Default::default(),
        };
        *long_term = LongTermConfig::Filesystem {
            path: restored_root.join("lt"),
        };
    })
    .await
    .unwrap();
    let expected = [
        ("small", b"inline bytes".to_vec()),
        ("large", large),
        ("replaced", replacement),
    ];
    for (key, body) in expected {
        let r = send(client.get(restored.url(&format!("/v1/objects/backup/_/{key}")))).await;
        assert_eq!(r.status(), StatusCode::OK, "{key}");
        assert_eq!(r.bytes().await.unwrap().as_ref(), body.as_slice(), "{key}");
    }
    restored.shutdown().await.unwrap();
    drop(server);
}
