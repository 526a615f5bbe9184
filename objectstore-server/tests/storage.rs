//! The server over the real storage engines built from configuration: the default tiered
//! layout (embedded + filesystem) and a standalone filesystem store.

mod common;

use common::{client, json, send};
use http::StatusCode;
use objectstore_server::config::{LongTermConfig, StorageConfig};
use objectstore_server::testing::TestServer;
use serde_json::json;

async fn exercise(server: &TestServer) {
    let c = client();
    let small = server.url("/v1/objects/app/org=1/small/key");
    let large = server.url("/v1/objects/app/org=1/large%20key");
    let big = common::data::pattern(3 * 1024 * 1024 + 17);

    let headers = [
        ("content-type", "text/plain"),
        ("x-sn-expiration", "tti:1d"),
    ];
    let r = send(common::requests::with_headers(c.put(&small), &headers).body("tiny")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let chunks = big
        .chunks(64 * 1024)
        .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
        .collect::<Vec<_>>();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let r = send(c.put(&large).body(body)).await;
    assert_eq!(r.status(), StatusCode::OK);

    let r = send(c.get(&small)).await;
    assert_eq!(r.headers()["x-sn-expiration"], "tti:1d");
    assert_eq!(r.text().await.unwrap(), "tiny");
    let r = send(c.get(&large)).await;
    assert_eq!(r.headers()["content-length"], big.len().to_string());
    assert_eq!(r.bytes().await.unwrap().to_vec(), big);
    let r = send(c.get(&large).header("range", "bytes=1048570-1048580")).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 1048570-1048580/{}", big.len())
    );
    assert_eq!(r.bytes().await.unwrap().to_vec(), big[1048570..=1048580]);
    let r = send(c.head(&large)).await;
    assert_eq!(r.headers()["x-sn-size"], big.len().to_string());

    // Multipart.
    let init = json(send(c.put(server.url("/v1/objects:multipart/app/org=1/mp"))).await).await;
    let upload_id = init["upload_id"].as_str().unwrap().to_owned();
    let mut parts = Vec::new();
    for (n, data) in [(1, "first "), (2, "second")] {
        let part = server.url(&format!(
            "/v1/objects:multipart:parts/app/org=1/mp?upload_id={upload_id}&part_number={n}"
        ));
        let r = send(c.put(part).header("content-length", data.len()).body(data)).await;
        assert_eq!(r.status(), StatusCode::OK);
        parts.push(json!({"part_number": n, "etag": json(r).await["etag"]}));
    }
    let complete = c.post(server.url(&format!(
        "/v1/objects:multipart:complete/app/org=1/mp?upload_id={upload_id}"
    )));
    let complete = complete.header("content-type", "application/json");
    let text = common::text(complete.body(json!({ "parts": parts }).to_string())).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(text.trim()).unwrap(),
        json!({"key": "mp"})
    );
    let r = send(c.get(server.url("/v1/objects/app/org=1/mp"))).await;
    assert_eq!(r.text().await.unwrap(), "first second");

    // Resumable.
    let create = c.post(server.url("/v1/objects/app/org=1/?upload_type=resumable"));
    let headers = [("upload-length", "6"), ("content-length", "0")];
    let created = json(send(common::requests::with_headers(create, &headers)).await).await;
    let key = created["key"].as_str().unwrap();
    let session = created["session"].as_str().unwrap();
    for (offset, data, status) in [("0", "abc", 204), ("3", "def", 201)] {
        let chunk = c.put(server.url(&format!("/v1/objects/app/org=1/{key}?session={session}")));
        let headers = [("upload-offset", offset), ("content-length", "3")];
        let r = send(common::requests::with_headers(chunk, &headers).body(data)).await;
        assert_eq!(r.status().as_u16(), status);
    }
    let r = send(c.get(server.url(&format!("/v1/objects/app/org=1/{key}")))).await;
    assert_eq!(r.text().await.unwrap(), "abcdef");

    // Delete, including a missing object.
    for url in [&small, &large, &server.url("/v1/objects/app/org=1/never")] {
        let r = send(c.delete(url)).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(send(c.get(&large)).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn default_tiered_storage() {
    let server = TestServer::start_configured(|_| {}).await.unwrap();
    assert!(matches!(
        server.server_config().storage,
        StorageConfig::Tiered { .. }
    ));
    exercise(&server).await;
    let dir = server.dir();
    assert!(dir.join("hv").is_dir() && dir.join("lt").is_dir());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn standalone_filesystem_storage() {
    let server = TestServer::start_configured(|c| {
        c.storage = StorageConfig::Standalone(LongTermConfig::Filesystem {
            path: c.http.down_marker.with_file_name("fs"),
        });
    })
    .await
    .unwrap();
    exercise(&server).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn unopenable_storage_names_the_key() {
    let err = TestServer::start_configured(|c| {
        c.storage = StorageConfig::Standalone(LongTermConfig::Filesystem {
            path: "/proc/forbidden/objectstore".into(),
        });
    })
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("storage.path"), "{err:#}");
}
