//! The official Rust client (`objectstore-client` 0.3.0 from crates.io) against our server.
//!
//! Every test starts the real binary (tiered storage: embedded HV + filesystem LT) and talks
//! to it only through the client's public API. 0.3.0 removed the multipart API from the Rust
//! client; large uploads are covered through plain puts (streamed) and resumable uploads.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::time::Duration;

use futures_util::StreamExt as _;
use objectstore_client::{
    Client, Compression, Error, ExpirationPolicy, ExpiryExtension, ExtendExpiryResponse,
    OperationResult, Session, UploadProgress, Usecase,
};
use objectstore_client_e2e::TestServer;

fn session(server: &TestServer, usecase: Usecase, org: u64) -> Session {
    let client = Client::builder(server.url()).build().expect("client");
    client
        .session(usecase.for_project(org, 7))
        .expect("session")
}

/// The payload of `key`, which must exist.
async fn read(s: &Session, key: &str) -> bytes::Bytes {
    let object = s.get(key).send().await.unwrap().expect("stored object");
    object.payload().await.unwrap()
}

/// Stores `body` uncompressed under `key`.
async fn put_uncompressed(s: &Session, key: &str, body: impl Into<bytes::Bytes>) {
    s.put(body).key(key).compress(None).send().await.unwrap();
}

/// An upload that stands at `offset`.
fn incomplete(offset: u64) -> UploadProgress {
    UploadProgress::Incomplete { offset }
}

/// A fresh server and the `e2e-usecase` session on it.
fn start() -> (TestServer, Session) {
    let server = TestServer::start();
    let s = plain(&server);
    (server, s)
}

fn plain(server: &TestServer) -> Session {
    session(server, Usecase::from_static("e2e-usecase"), 1)
}

#[tokio::test]
async fn put_get_head_delete_uncompressed() {
    let (_server, s) = start();
    let key = s
        .put("plain bytes")
        .compress(None)
        .content_type("text/plain")
        .send()
        .await
        .unwrap()
        .key;
    assert!(!key.is_empty());

    let got = s.get(&key).send().await.unwrap().expect("stored object");
    assert_eq!(got.metadata.content_type, "text/plain");
    assert_eq!(got.metadata.compression, None);
    assert!(got.metadata.time_created.is_some());
    assert_eq!(got.payload().await.unwrap(), "plain bytes");

    let head = s.head(&key).send().await.unwrap().expect("metadata");
    assert_eq!(head.content_type, "text/plain");

    s.delete(&key).send().await.unwrap();
    assert!(s.get(&key).send().await.unwrap().is_none());
    assert!(s.head(&key).send().await.unwrap().is_none());
    // Deleting again is not an error.
    s.delete(&key).send().await.unwrap();
}

#[tokio::test]
async fn zstd_is_the_default_and_stored_verbatim() {
    let (_server, s) = start();
    let key = s.put("squeeze me").send().await.unwrap().key;

    let raw = s.get(&key).decompress(false).send().await.unwrap().unwrap();
    assert_eq!(raw.metadata.compression, Some(Compression::Zstd));
    let bytes = raw.payload().await.unwrap();
    assert_eq!(zstd::decode_all(&bytes[..]).unwrap(), b"squeeze me");

    let decoded = s.get(&key).send().await.unwrap().unwrap();
    assert_eq!(decoded.metadata.compression, None);
    assert_eq!(decoded.payload().await.unwrap(), "squeeze me");
}

#[tokio::test]
async fn gzip_round_trips() {
    let server = TestServer::start();
    let s = session(
        &server,
        Usecase::from_static("e2e-gzip").with_compression(Compression::Gzip),
        2,
    );
    let key = s.put("gzip body").send().await.unwrap().key;
    let raw = s.get(&key).decompress(false).send().await.unwrap().unwrap();
    assert_eq!(raw.metadata.compression, Some(Compression::Gzip));
    let bytes = raw.payload().await.unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "stored bytes are a gzip stream");
    let decoded = s.get(&key).send().await.unwrap().unwrap();
    assert_eq!(decoded.payload().await.unwrap(), "gzip body");
}

#[tokio::test]
async fn precompressed_payload_is_not_touched() {
    let (_server, s) = start();
    let compressed = zstd::encode_all(&b"already small"[..], 3).unwrap();
    let key = s
        .put(compressed.clone())
        .precompressed(Compression::Zstd)
        .send()
        .await
        .unwrap()
        .key;
    let raw = s.get(&key).decompress(false).send().await.unwrap().unwrap();
    assert_eq!(raw.payload().await.unwrap().as_ref(), &compressed[..]);
}

#[tokio::test]
async fn metadata_round_trips_including_unicode() {
    let (_server, s) = start();
    let key = s
        .put("meta")
        .key("with-metadata")
        .origin("Ünknown-源")
        .filename("réport-📄.pdf")
        .append_metadata("release", "vérsion-1.0-🚀")
        .append_metadata("note", "100% done")
        .send()
        .await
        .unwrap()
        .key;
    assert_eq!(key, "with-metadata");
    for metadata in [
        s.get(&key).send().await.unwrap().unwrap().metadata,
        s.head(&key).send().await.unwrap().unwrap(),
    ] {
        assert_eq!(metadata.origin.as_deref(), Some("Ünknown-源"));
        assert_eq!(metadata.filename.as_deref(), Some("réport-📄.pdf"));
        assert_eq!(
            metadata.custom.get("release").map(String::as_str),
            Some("vérsion-1.0-🚀")
        );
        assert_eq!(
            metadata.custom.get("note").map(String::as_str),
            Some("100% done")
        );
    }
}

#[tokio::test]
async fn unusual_keys_round_trip() {
    let (_server, s) = start();
    for key in [
        "1/shard-0.json",
        "nested/path/segments",
        "with space",
        "café-unicode",
        "emoji-😀",
        "100%literal-percent",
        "looks%20encoded",
        "semi;colon",
        "equals=sign",
        "plus+sign",
        "quote'apostrophe",
    ] {
        let stored = s
            .put(format!("body of {key}"))
            .compress(None)
            .key(key)
            .send()
            .await
            .unwrap()
            .key;
        assert_eq!(stored, key);
        let got = s
            .get(key)
            .send()
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} not found"));
        assert_eq!(
            got.payload().await.unwrap(),
            format!("body of {key}"),
            "{key}"
        );
    }
}

#[tokio::test]
async fn overwrite_replaces_payload_and_metadata() {
    let (_server, s) = start();
    s.put("first")
        .key("over")
        .origin("a")
        .compress(None)
        .send()
        .await
        .unwrap();
    put_uncompressed(&s, "over", "second").await;
    let got = s.get("over").send().await.unwrap().unwrap();
    assert_eq!(got.metadata.origin, None);
    assert_eq!(got.payload().await.unwrap(), "second");
}

#[tokio::test]
async fn scopes_isolate_objects() {
    let server = TestServer::start();
    let a = session(&server, Usecase::from_static("e2e-usecase"), 100);
    let b = session(&server, Usecase::from_static("e2e-usecase"), 200);
    a.put("mine").key("shared-name").send().await.unwrap();
    assert!(b.get("shared-name").send().await.unwrap().is_none());
    assert!(a.get("shared-name").send().await.unwrap().is_some());
}

#[tokio::test]
async fn large_objects_cross_the_tier_threshold() {
    let (_server, s) = start();
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    put_uncompressed(&s, "big", big.clone()).await;
    let got = s.get("big").send().await.unwrap().unwrap();
    assert_eq!(got.payload().await.unwrap().as_ref(), &big[..]);

    // Large over small and small over large.
    put_uncompressed(&s, "big", "small again").await;
    assert_eq!(read(&s, "big").await, "small again");
    s.put(big.clone()).key("big").send().await.unwrap();
    assert_eq!(read(&s, "big").await.as_ref(), &big[..]);
}

#[tokio::test]
async fn expiration_policy_beyond_a_year_round_trips() {
    let (_server, s) = start();
    let policy = ExpirationPolicy::TimeToLive(Duration::from_secs(400 * 86_400 + 4711));
    let key = s
        .put("long")
        .expiration_policy(policy)
        .send()
        .await
        .unwrap()
        .key;
    let head = s.head(&key).send().await.unwrap().unwrap();
    assert_eq!(head.expiration_policy, policy);
    let created = head.time_created.expect("created");
    assert_eq!(
        head.time_expires,
        Some(created + Duration::from_secs(400 * 86_400 + 4711))
    );
}

#[tokio::test]
async fn extend_expiry_outcomes() {
    let (_server, s) = start();
    let day = Duration::from_secs(86_400);
    let key = s
        .put("ttl")
        .expiration_policy(ExpirationPolicy::TimeToLive(day))
        .send()
        .await
        .unwrap()
        .key;

    let r = s
        .extend_expiry(&key, ExpiryExtension::FromCreation(3 * day))
        .send()
        .await
        .unwrap();
    assert_eq!(r, ExtendExpiryResponse::Satisfied);
    let head = s.head(&key).send().await.unwrap().unwrap();
    assert_eq!(
        head.time_expires,
        Some(head.time_created.unwrap() + 3 * day)
    );
    assert_eq!(
        head.expiration_policy,
        ExpirationPolicy::TimeToLive(3 * day)
    );

    // A shorter target leaves everything as it was.
    let r = s
        .extend_expiry(&key, ExpiryExtension::FromCreation(2 * day))
        .send()
        .await
        .unwrap();
    assert_eq!(r, ExtendExpiryResponse::Satisfied);
    assert_eq!(s.head(&key).send().await.unwrap().unwrap(), head);

    let r = s
        .extend_expiry("missing", ExpiryExtension::FromNow(day))
        .send()
        .await
        .unwrap();
    assert_eq!(r, ExtendExpiryResponse::NotFound);

    let manual = s.put("manual").send().await.unwrap().key;
    let r = s
        .extend_expiry(&manual, ExpiryExtension::FromNow(day))
        .send()
        .await
        .unwrap();
    assert_eq!(r, ExtendExpiryResponse::Rejected);
}

#[tokio::test]
async fn batch_mixes_operations_and_reports_each() {
    let (_server, s) = start();
    let results: Vec<_> = s
        .many()
        .push(s.put("one").compress(None).filename("one.txt").key("b-1"))
        .push(s.put("two").key("b-2"))
        .push(s.put("three").compress(None).key("b-3"))
        .send()
        .await
        .collect()
        .await;
    let mut keys: Vec<String> = results
        .iter()
        .map(|r| match r {
            OperationResult::Put(key, Ok(_)) => key.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    keys.sort();
    assert_eq!(keys, ["b-1", "b-2", "b-3"]);

    let results: Vec<_> = s
        .many()
        .push(s.get("b-1"))
        .push(s.get("b-2"))
        .push(s.get("b-missing"))
        .push(s.head("b-3"))
        .push(s.delete("b-3"))
        .send()
        .await
        .collect()
        .await;
    assert_eq!(results.len(), 5);
    let mut gets = BTreeMap::new();
    for result in results {
        match result {
            OperationResult::Get(key, r) => {
                let body = match r.unwrap() {
                    Some(resp) => Some((
                        resp.metadata.filename.clone(),
                        resp.payload().await.unwrap(),
                    )),
                    None => None,
                };
                gets.insert(key, body);
            }
            OperationResult::Head(key, r) => {
                assert_eq!(key, "b-3", "head result present: {:?}", r.is_ok())
            }
            OperationResult::Delete(key, r) => {
                assert_eq!(key, "b-3");
                r.unwrap();
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(gets["b-1"].as_ref().unwrap().0.as_deref(), Some("one.txt"));
    assert_eq!(gets["b-1"].as_ref().unwrap().1, "one");
    assert_eq!(gets["b-2"].as_ref().unwrap().1, "two");
    assert!(gets["b-missing"].is_none());
    assert!(s.get("b-3").send().await.unwrap().is_none());
}

#[tokio::test]
async fn batch_generates_keys_and_falls_back_for_large_inserts() {
    let (_server, s) = start();
    let big = vec![7u8; 2 * 1024 * 1024];
    let results: Vec<_> = s
        .many()
        .push(s.put("keyless").compress(None))
        .push(s.put(big.clone()).compress(None).key("b-big"))
        .send()
        .await
        .collect()
        .await;
    let mut generated = None;
    for result in results {
        match result {
            OperationResult::Put(key, Ok(_)) if key == "b-big" => {}
            OperationResult::Put(key, Ok(_)) => generated = Some(key),
            other => panic!("unexpected {other:?}"),
        }
    }
    let generated = generated.expect("generated key reported");
    assert!(!generated.is_empty());
    assert_eq!(read(&s, &generated).await, "keyless");
    assert_eq!(read(&s, "b-big").await.as_ref(), &big[..]);
}

#[tokio::test]
async fn batch_of_many_empty_inserts() {
    let (_server, s) = start();
    let mut many = s.many();
    for i in 0..1000 {
        many = many.push(
            s.put(Vec::<u8>::new())
                .compress(None)
                .key(&format!("empty-{i}")),
        );
    }
    many.send()
        .await
        .error_for_failures()
        .await
        .unwrap_or_else(|e| panic!("failures: {:?}", e.collect::<Vec<_>>()));
    let got = s.get("empty-999").send().await.unwrap().unwrap();
    assert!(got.payload().await.unwrap().is_empty());
}

#[tokio::test]
async fn resumable_upload_with_offsets_and_resume() {
    let (_server, s) = start();
    let upload = s
        .create_upload(6)
        .key("resumable")
        .content_type("text/plain")
        .compression(None)
        .send()
        .await
        .unwrap()
        .expect("accepted");
    assert_eq!(upload.key(), "resumable");
    assert_eq!(upload.granularity(), Some(0));
    assert_eq!(upload.progress().send().await.unwrap(), incomplete(0));
    assert_eq!(upload.put(0, "abc").send().await.unwrap(), incomplete(3));

    let resumed = s.resume_upload(upload.key(), upload.token().clone());
    assert_eq!(resumed.progress().send().await.unwrap(), incomplete(3));
    assert!(matches!(
        resumed.put(0, "xyz").send().await.unwrap_err(),
        Error::UploadOffsetMismatch { offset: 3 }
    ));
    assert!(
        resumed.put(3, "defg").send().await.is_err(),
        "past the declared length"
    );
    assert_eq!(
        resumed.put(3, "def").send().await.unwrap(),
        UploadProgress::Complete
    );

    let got = s.get("resumable").send().await.unwrap().unwrap();
    assert_eq!(got.metadata.content_type, "text/plain");
    assert_eq!(got.payload().await.unwrap(), "abcdef");
    assert!(
        resumed.progress().send().await.is_err(),
        "session is terminal"
    );
}

#[tokio::test]
async fn resumable_upload_cancel_publishes_nothing() {
    let (_server, s) = start();
    let upload = s
        .create_upload(6)
        .key("cancelled")
        .send()
        .await
        .unwrap()
        .expect("accepted");
    upload.put(0, "abc").send().await.unwrap();
    upload.cancel().send().await.unwrap();
    assert!(matches!(
        upload.progress().send().await,
        Err(Error::ResumableUploadUnavailable)
    ));
    assert!(s.get("cancelled").send().await.unwrap().is_none());
}

#[tokio::test]
async fn streamed_put_from_reader() {
    let (_server, s) = start();
    let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 13) as u8).collect();
    s.put_read(std::io::Cursor::new(data.clone()))
        .key("from-reader")
        .send()
        .await
        .unwrap();
    let raw = s
        .get("from-reader")
        .decompress(false)
        .send()
        .await
        .unwrap()
        .unwrap();
    let compressed = raw.payload().await.unwrap();
    let mut decoded = Vec::new();
    zstd::Decoder::new(&compressed[..])
        .unwrap()
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, data);
}

#[test]
fn sigint_shuts_down_cleanly() {
    let mut server = TestServer::start();
    assert_eq!(server.stop(), Some(0));
}
