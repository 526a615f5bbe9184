//! The server over the real storage engines built from configuration: the default tiered
//! layout (embedded + filesystem) and a standalone filesystem store.

mod common;

use common::{client, json};
use http::StatusCode;
use objectstore_server::config::{LongTermConfig, StorageConfig};
use objectstore_server::testing::TestServer;
use serde_json::json;

async fn exercise(server: &TestServer) {
    let c = client();
    let small = server.url("/v1/objects/app/org=1/small/key");
    let large = server.url("/v1/objects/app/org=1/large%20key");
    let big: Vec<u8> = (0..(3 * 1024 * 1024 + 17))
        .map(|i| (i % 251) as u8)
        .collect();

    let r = c
        .put(&small)
        .header("content-type", "text/plain")
        .header("x-sn-expiration", "tti:1d")
        .body("tiny")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .put(&large)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(
            big.chunks(64 * 1024)
                .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                .collect::<Vec<_>>(),
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let r = c.get(&small).send().await.unwrap();
    assert_eq!(r.headers()["x-sn-expiration"], "tti:1d");
    assert_eq!(r.text().await.unwrap(), "tiny");
    let r = c.get(&large).send().await.unwrap();
    assert_eq!(r.headers()["content-length"], big.len().to_string());
    assert_eq!(r.bytes().await.unwrap().to_vec(), big);
    let r = c
        .get(&large)
        .header("range", "bytes=1048570-1048580")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 1048570-1048580/{}", big.len())
    );
    assert_eq!(r.bytes().await.unwrap().to_vec(), big[1048570..=1048580]);
    let r = c.head(&large).send().await.unwrap();
    assert_eq!(r.headers()["x-sn-size"], big.len().to_string());

    // Multipart.
    let init = json(
        c.put(server.url("/v1/objects:multipart/app/org=1/mp"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let upload_id = init["upload_id"].as_str().unwrap().to_owned();
    let mut parts = Vec::new();
    for (n, data) in [(1, "first "), (2, "second")] {
        let r = c
            .put(server.url(&format!(
                "/v1/objects:multipart:parts/app/org=1/mp?upload_id={upload_id}&part_number={n}"
            )))
            .header("content-length", data.len())
            .body(data)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        parts.push(json!({"part_number": n, "etag": json(r).await["etag"]}));
    }
    let r = c
        .post(server.url(&format!(
            "/v1/objects:multipart:complete/app/org=1/mp?upload_id={upload_id}"
        )))
        .header("content-type", "application/json")
        .body(json!({ "parts": parts }).to_string())
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(text.trim()).unwrap(),
        json!({"key": "mp"})
    );
    let r = c
        .get(server.url("/v1/objects/app/org=1/mp"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "first second");

    // Resumable.
    let created = json(
        c.post(server.url("/v1/objects/app/org=1/?upload_type=resumable"))
            .header("upload-length", "6")
            .header("content-length", "0")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let key = created["key"].as_str().unwrap();
    let session = created["session"].as_str().unwrap();
    for (offset, data, status) in [("0", "abc", 204), ("3", "def", 201)] {
        let r = c
            .put(server.url(&format!("/v1/objects/app/org=1/{key}?session={session}")))
            .header("upload-offset", offset)
            .header("content-length", "3")
            .body(data)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status);
    }
    let r = c
        .get(server.url(&format!("/v1/objects/app/org=1/{key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "abcdef");

    // Delete, including a missing object.
    for url in [&small, &large, &server.url("/v1/objects/app/org=1/never")] {
        let r = c.delete(url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(
        c.get(&large).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
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
