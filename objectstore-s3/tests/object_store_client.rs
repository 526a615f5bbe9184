//! The `object_store` crate's `AmazonS3` client against the S3 front: put, get, ranges,
//! head, copy, `WriteMultipart`, bulk delete, attributes, and the seeds' artifact transport
//! pattern (a tar through `WriteMultipart` with 8 MiB parts and 8 in flight, a manifest
//! written last, both read back and cross-checked).

mod support;

use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions,
    PutPayload, WriteMultipart,
};
use objectstore_types::{ObjectContext, ObjectId, ObjectKey, Scopes, Usecase};
use sha2::{Digest as _, Sha256};
use support::Harness;

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

#[tokio::test]
async fn put_get_head_and_ranges() {
    let (_h, store) = Harness::with_bucket("things").await;
    for (name, len) in [
        ("small.bin", 1000usize),
        ("large.bin", 3 * 1024 * 1024 + 17),
    ] {
        let data = pseudo_random(len, len as u64);
        let path = Path::from(name);
        let put = store
            .put(&path, PutPayload::from(data.clone()))
            .await
            .unwrap();
        let etag = put.e_tag.clone().expect("PUT returns an ETag");
        // A 32-hex-digit ETag is the MD5 (the engine stamps it on every single write).
        assert_eq!(
            etag.trim_matches('"'),
            objectstore_service::digest::Md5::of(&data).hex(),
            "an ETag that is 32 hex digits is the MD5: {etag}"
        );

        let got = store.get(&path).await.unwrap();
        assert_eq!(got.meta.size, len as u64);
        assert_eq!(got.meta.e_tag.as_deref(), Some(etag.as_str()));
        assert_eq!(got.bytes().await.unwrap().as_ref(), data.as_slice());

        let head = store.head(&path).await.unwrap();
        assert_eq!(head.e_tag.as_deref(), Some(etag.as_str()));
        assert_eq!(head.size, len as u64);

        let range = store.get_range(&path, 10..20).await.unwrap();
        assert_eq!(range.as_ref(), &data[10..20]);
        for (range, expected) in [
            (GetRange::Offset(len as u64 - 5), &data[len - 5..]),
            (GetRange::Suffix(7), &data[len - 7..]),
        ] {
            let options = GetOptions {
                range: Some(range),
                ..GetOptions::default()
            };
            let got = store.get_opts(&path, options).await.unwrap();
            assert_eq!(got.bytes().await.unwrap().as_ref(), expected);
        }
        let beyond = GetOptions {
            range: Some(GetRange::Offset(len as u64 + 10)),
            ..GetOptions::default()
        };
        assert!(
            store.get_opts(&path, beyond).await.is_err(),
            "416 for {name}"
        );

        // Conditional reads with the ETag.
        let not_modified = GetOptions {
            if_none_match: Some(etag.clone()),
            ..GetOptions::default()
        };
        let err = store.get_opts(&path, not_modified).await.unwrap_err();
        assert!(
            matches!(err, object_store::Error::NotModified { .. }),
            "{err}"
        );
        let wrong = GetOptions {
            if_match: Some("\"other\"".into()),
            ..GetOptions::default()
        };
        let err = store.get_opts(&path, wrong).await.unwrap_err();
        assert!(
            matches!(err, object_store::Error::Precondition { .. }),
            "{err}"
        );
    }
    let missing = store.get(&Path::from("nope")).await.unwrap_err();
    assert!(
        matches!(missing, object_store::Error::NotFound { .. }),
        "{missing}"
    );
}

#[tokio::test]
async fn copy_keeps_bytes_and_attributes() {
    let (_h, store) = Harness::with_bucket("copies").await;
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, "text/csv".into());
    attributes.insert(Attribute::Metadata("origin-team".into()), "storage".into());
    let options = PutOptions {
        attributes,
        ..PutOptions::default()
    };
    let data = pseudo_random(2 * 1024 * 1024, 9);
    store
        .put_opts(&Path::from("src.csv"), data.clone().into(), options)
        .await
        .unwrap();
    store
        .copy(&Path::from("src.csv"), &Path::from("dst/copy.csv"))
        .await
        .unwrap();
    let got = store.get(&Path::from("dst/copy.csv")).await.unwrap();
    assert_eq!(
        got.attributes
            .get(&Attribute::ContentType)
            .map(|v| v.as_ref()),
        Some("text/csv")
    );
    assert_eq!(
        got.attributes
            .get(&Attribute::Metadata("origin-team".into()))
            .map(|v| v.as_ref()),
        Some("storage")
    );
    assert_eq!(got.bytes().await.unwrap().as_ref(), data.as_slice());
}

#[tokio::test]
async fn standard_attributes_round_trip_and_a_storage_class_is_refused() {
    let (_h, store) = Harness::with_bucket("attrs").await;
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::CacheControl, "no-cache".into());
    attributes.insert(Attribute::ContentLanguage, "en-GB".into());
    attributes.insert(Attribute::ContentDisposition, "inline".into());
    attributes.insert(Attribute::ContentEncoding, "br".into());
    let options = PutOptions {
        attributes: attributes.clone(),
        ..PutOptions::default()
    };
    let path = Path::from("x");
    store
        .put_opts(&path, Bytes::from_static(b"x").into(), options)
        .await
        .unwrap();
    let got = store.get(&path).await.unwrap();
    for (attribute, value) in &attributes {
        assert_eq!(
            got.attributes.get(attribute).map(|v| v.as_ref()),
            Some(value.as_ref()),
            "{attribute:?}"
        );
    }
    let mut glacier = Attributes::new();
    glacier.insert(Attribute::StorageClass, "GLACIER".into());
    let options = PutOptions {
        attributes: glacier,
        ..PutOptions::default()
    };
    let err = store
        .put_opts(&Path::from("y"), Bytes::from_static(b"y").into(), options)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("NotImplemented"), "{err}");
    assert!(
        store.head(&Path::from("y")).await.is_err(),
        "nothing stored"
    );
}

#[tokio::test]
async fn bulk_delete_removes_every_key() {
    let (_h, store) = Harness::with_bucket("bulk").await;
    let mut paths = Vec::new();
    for i in 0..40 {
        let path = Path::from(format!("org={}/item-{i}", i % 3));
        store
            .put(&path, Bytes::from(vec![i as u8; 10]).into())
            .await
            .unwrap();
        paths.push(path);
    }
    paths.push(Path::from("never-written"));
    let deleted: Vec<Path> = store
        .delete_stream(futures::stream::iter(paths.clone()).map(Ok).boxed())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(deleted.len(), paths.len());
    for path in &paths {
        assert!(matches!(
            store.head(path).await,
            Err(object_store::Error::NotFound { .. })
        ));
    }
}

/// The seeds' artifact transport: a tar through `WriteMultipart` (8 MiB parts, 8 in
/// flight), a manifest with its digest written last, both read back and cross-checked.
#[tokio::test]
async fn artifact_transport_pattern() {
    let (_h, store) = Harness::with_bucket("artifacts").await;
    let tar = pseudo_random(3 * 8 * 1024 * 1024 + 123_457, 42);
    let tar_path = Path::from("builds/run-7/artifact.tar");
    let upload = store.put_multipart(&tar_path).await.unwrap();
    let mut writer = WriteMultipart::new_with_chunk_size(upload, 8 * 1024 * 1024);
    for piece in tar.chunks(1024 * 1024 + 3) {
        writer.wait_for_capacity(8).await.unwrap();
        writer.write(piece);
    }
    writer.finish().await.unwrap();
    let manifest = format!(
        "{{\"artifact\":\"{tar_path}\",\"size\":{},\"sha256\":\"{}\"}}",
        tar.len(),
        hex::encode(Sha256::digest(&tar))
    );
    let manifest_path = Path::from("builds/run-7/manifest.json");
    store
        .put(&manifest_path, manifest.clone().into_bytes().into())
        .await
        .unwrap();

    let read_manifest = store
        .get(&manifest_path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(read_manifest.as_ref(), manifest.as_bytes());
    let read_tar = store.get(&tar_path).await.unwrap().bytes().await.unwrap();
    assert_eq!(read_tar.len(), tar.len());
    assert_eq!(
        hex::encode(Sha256::digest(&read_tar)),
        hex::encode(Sha256::digest(&tar)),
        "the tar read back matches the manifest's digest"
    );
}

#[tokio::test]
async fn s3_keys_map_to_scopes_both_ways() {
    let (h, store) = Harness::with_bucket("mapped").await;
    store
        .put(
            &Path::from("org=1/project=2/a/b.txt"),
            Bytes::from_static(b"scoped").into(),
        )
        .await
        .unwrap();
    let id = ObjectId::new(
        ObjectContext {
            usecase: Usecase::new("mapped").unwrap(),
            scopes: Scopes::parse("org=1;project=2").unwrap(),
        },
        ObjectKey::new("a/b.txt").unwrap(),
    );
    let metadata = h
        .service
        .head(id)
        .await
        .unwrap()
        .expect("stored with scopes");
    assert_eq!(metadata.size, Some(6));

    // An unscoped key that looks like a scope is reachable under `_/`.
    let unscoped = ObjectId::new(
        ObjectContext {
            usecase: Usecase::new("mapped").unwrap(),
            scopes: Scopes::empty(),
        },
        ObjectKey::new("year=2024/data").unwrap(),
    );
    h.service
        .put(
            unscoped,
            objectstore_types::Metadata::default(),
            objectstore_service::stream::single(Bytes::from_static(b"hive")),
        )
        .await
        .unwrap();
    let got = store.get(&Path::from("_/year=2024/data")).await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"hive");
    assert!(store.head(&Path::from("year=2024/data")).await.is_err());
}

#[tokio::test]
async fn list_with_delimiter_prefix_and_offset() {
    let (_h, store) = Harness::with_bucket("listed").await;
    let names = [
        "a.txt",
        "dir/one",
        "dir/sub/deep",
        "dir/two",
        "org=1/x",
        "z/é",
    ];
    for name in names {
        // `Path::parse` keeps `é` as is (`Path::from` would percent-encode it).
        let path = Path::parse(name).unwrap();
        store
            .put(&path, Bytes::from(name.as_bytes().to_vec()).into())
            .await
            .unwrap();
    }
    let all: Vec<String> = store
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all, names, "every key, in S3 order");
    let listed = store.list_with_delimiter(None).await.unwrap();
    let objects: Vec<String> = listed
        .objects
        .iter()
        .map(|m| m.location.to_string())
        .collect();
    let prefixes: Vec<String> = listed
        .common_prefixes
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(objects, ["a.txt"]);
    assert_eq!(prefixes, ["dir", "org=1", "z"]);
    let dir = store
        .list_with_delimiter(Some(&Path::from("dir")))
        .await
        .unwrap();
    let objects: Vec<String> = dir.objects.iter().map(|m| m.location.to_string()).collect();
    assert_eq!(objects, ["dir/one", "dir/two"]);
    assert_eq!(dir.common_prefixes, [Path::from("dir/sub")]);
    assert_eq!(dir.objects[0].size, 7);
    let after: Vec<String> = store
        .list_with_offset(None, &Path::from("dir/sub/deep"))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(after, ["dir/two", "org=1/x", "z/é"]);
}

#[tokio::test]
async fn conditional_create_update_and_copy() {
    let (h, store) = Harness::with_bucket("cond").await;
    let path = Path::from("state.json");
    let create = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    let first = store
        .put_opts(&path, Bytes::from_static(b"v1").into(), create.clone())
        .await
        .unwrap();
    let err = store
        .put_opts(&path, Bytes::from_static(b"v0").into(), create.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::AlreadyExists { .. }),
        "{err}"
    );
    let update = |e_tag: Option<String>| PutOptions {
        mode: PutMode::Update(object_store::UpdateVersion {
            e_tag,
            version: None,
        }),
        ..PutOptions::default()
    };
    // Another length: objects stored without an MD5 (before the engine stamps one) have a
    // tag derived from size and metadata, equal for same-sized writes within one second.
    let second = store
        .put_opts(
            &path,
            Bytes::from_static(b"v2!").into(),
            update(first.e_tag.clone()),
        )
        .await
        .unwrap();
    assert_ne!(second.e_tag, first.e_tag);
    let err = store
        .put_opts(
            &path,
            Bytes::from_static(b"v3").into(),
            update(first.e_tag.clone()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::Precondition { .. }),
        "{err}"
    );
    let got = store.get(&path).await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"v2!");
    let missing = store
        .put_opts(
            &Path::from("nothing"),
            Bytes::from_static(b"x").into(),
            update(second.e_tag),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(missing, object_store::Error::Precondition { .. }),
        "{missing}"
    );

    // Racing creators: exactly one wins.
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let create = create.clone();
            tokio::spawn(async move {
                let body = Bytes::from(format!("racer {i}"));
                store
                    .put_opts(&Path::from("lock"), body.into(), create)
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => won += 1,
            Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(won, 1, "racing PutMode::Create");

    // Copy if not exists (the multipart variant: UploadPartCopy, then a conditional
    // complete).
    let copier = h.store_with("cond", |b| {
        b.with_config(
            object_store::aws::AmazonS3ConfigKey::CopyIfNotExists,
            "multipart",
        )
    });
    copier
        .copy_if_not_exists(&path, &Path::from("copy.json"))
        .await
        .unwrap();
    let err = copier
        .copy_if_not_exists(&path, &Path::from("copy.json"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::AlreadyExists { .. }),
        "{err}"
    );
    let copied = store.get(&Path::from("copy.json")).await.unwrap();
    assert_eq!(copied.bytes().await.unwrap().as_ref(), b"v2!");
}
