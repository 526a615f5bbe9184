//! ETags and the untrusted long-term store: every object gets the MD5 of its bytes as its
//! ETag; a long-term store that truncates, pads or flips bytes on write or on read (the
//! [`Corrupt`] decorator) never gets a corrupt write acknowledged or a corrupt read served
//! as success, for puts, multipart uploads and reads.

use objectstore_types::range::ByteRange;

use super::*;
use crate::Error;
use crate::backend::around::corrupt::{Corrupt, Damage};
use crate::backend::around::faults::{Calls, Fault, Faults};
use crate::digest::{Md5, multipart_etag};
use crate::integrity::{Check, IntegrityError};

/// Every kind of damage, at a place inside a 2 MiB body.
const DAMAGES: [Damage; 3] = [Damage::Truncate(1), Damage::Pad(3), Damage::Flip(1_000_000)];

/// The integrity failure behind `error`; panics when there is none.
#[track_caller]
fn integrity(error: &Error) -> &IntegrityError {
    IntegrityError::find(error).unwrap_or_else(|| panic!("not an integrity failure: {error:?}"))
}

/// A GET that must not look like success: an error of the call, or a body that ends in an
/// error before all its bytes arrived. Returns the integrity failure found.
async fn read_fails(storage: &TieredStorage, key: &ObjectId, range: Option<ByteRange>) -> Check {
    match storage.get(key, range).await {
        Err(error) => integrity(&error).check,
        Ok(GetResponse::Found { metadata, body, .. }) => {
            let mut body = body;
            let mut seen = 0u64;
            while let Some(item) = body.next().await {
                match item {
                    Ok(chunk) => seen += chunk.len() as u64,
                    Err(error) => {
                        let check = IntegrityError::find(&error)
                            .unwrap_or_else(|| panic!("not an integrity failure: {error:?}"))
                            .check;
                        assert!(
                            metadata.size.is_none_or(|s| seen < s) || range.is_some(),
                            "all {seen} bytes arrived before the error"
                        );
                        return check;
                    }
                }
            }
            panic!("a corrupt body was served whole ({seen} bytes)")
        }
        Ok(other) => panic!("a corrupt read answered {other:?}"),
    }
}

// --- ETags ---

#[tokio::test]
async fn every_write_gets_the_md5_of_its_bytes_as_etag() {
    let (env, storage) = env_and_storage();
    let (small, large) = (id("etag/small"), id("etag/large"));
    let large_body = payload(LARGE, 7);

    let receipt = storage
        .put(&small, &Metadata::default(), stream::single("hello"))
        .await
        .unwrap();
    let md5 = Md5::of(b"hello");
    assert_eq!(receipt.etag.as_deref(), Some(md5.hex().as_str()));
    assert_eq!((receipt.size, receipt.md5), (Some(5), Some(md5)));
    let (inline, _) = env.hv.entry(&small).expect_object();
    assert_eq!(inline.etag, Some(md5.hex()));

    let receipt = storage
        .put(&large, &Metadata::default(), chunked(4, LARGE / 4))
        .await
        .unwrap();
    let mut expected = Vec::new();
    for i in 0..4u8 {
        expected.extend(vec![i; LARGE / 4]);
    }
    let md5 = Md5::of(&expected);
    assert_eq!(receipt.etag, Some(md5.hex()));
    let tombstone = env.hv.entry(&large).expect_tombstone();
    assert_eq!(tombstone.metadata.etag, Some(md5.hex()));
    assert_eq!(
        tombstone.metadata.crc32c,
        Some(crate::digest::crc32c(&expected))
    );
    let (lt_metadata, _) = env.lt.entry(&tombstone.target).expect_object();
    assert_eq!(
        lt_metadata.etag, None,
        "the revision's own metadata carries no ETag"
    );
    assert_eq!(
        storage.head(&large).await.unwrap().unwrap().etag,
        Some(md5.hex())
    );

    // A client cannot set it.
    let forged = Metadata {
        etag: Some("0".repeat(32)),
        ..Metadata::default()
    };
    storage
        .put(&large, &forged, stream::single(large_body.clone()))
        .await
        .unwrap();
    assert_eq!(
        storage.head(&large).await.unwrap().unwrap().etag,
        Some(Md5::of(&large_body).hex())
    );
    env.settled(&storage).await;
}

#[tokio::test]
async fn objects_stored_before_etags_are_read_without_one() {
    let (env, storage, key) = fresh("etag/old");
    put(&storage, &key, &payload(LARGE, 1)).await.unwrap();
    // Rewrite the tombstone as an older version stored it: no ETag.
    let mut tombstone = env.hv.entry(&key).expect_tombstone();
    tombstone.metadata.etag = None;
    tombstone.metadata.crc32c = None;
    env.hv.insert_raw(&key, Entry::Tombstone(tombstone));
    assert_eq!(storage.head(&key).await.unwrap().unwrap().etag, None);
    assert_eq!(read(&storage, &key).await.unwrap(), payload(LARGE, 1));
}

#[tokio::test]
async fn multipart_parts_are_named_by_their_md5_and_the_object_by_md5_of_md5s() {
    let (env, storage, key) = fresh("etag/multipart");
    let parts = [payload(300, 1), payload(200, 2), payload(100, 3)];
    let (upload_id, completed) = upload(&storage, &key, &parts).await;
    let md5s: Vec<Md5> = parts.iter().map(|p| Md5::of(p)).collect();
    for (part, md5) in completed.iter().zip(&md5s) {
        assert_eq!(part.etag, md5.quoted(), "part {}", part.part_number);
    }
    let listed = storage
        .list_parts(crate::backend::PartsQuery::all(&key, &upload_id))
        .await
        .unwrap();
    let listed: Vec<&str> = listed.parts.iter().map(|p| p.etag.as_str()).collect();
    let quoted: Vec<String> = md5s.iter().map(Md5::quoted).collect();
    assert_eq!(
        listed, quoted,
        "list_parts names parts by the ETags handed out"
    );

    // The store's own ETag of a part is not what a client knows it by.
    let upload = crate::tiered::multipart::decode(&key, &upload_id).unwrap();
    let store_parts = (env.lt)
        .list_parts(crate::backend::PartsQuery::all(
            &upload.revision,
            &upload.lt_upload,
        ))
        .await
        .unwrap();
    let store_etag = store_parts.parts[0].etag.clone();
    let wrong = [CompletedPart {
        part_number: 1,
        etag: store_etag,
    }];
    let rejection = storage
        .complete_multipart(&key, &upload_id, &wrong)
        .await
        .unwrap()
        .expect("an unknown ETag is rejected");
    assert_eq!(rejection.code, "InvalidPart");

    // Unquoted ETags are accepted too.
    let mut unquoted = completed.clone();
    unquoted[1].etag = md5s[1].hex();
    complete(&storage, &key, &upload_id, &unquoted).await;
    let etag = storage.head(&key).await.unwrap().unwrap().etag.unwrap();
    assert_eq!(etag, multipart_etag(&md5s));
    assert!(etag.ends_with("-3"), "{etag}");
    let mut whole = Vec::new();
    for p in &parts {
        whole.extend_from_slice(p);
    }
    assert_eq!(read(&storage, &key).await.unwrap(), whole);
    settle(&storage).await;
}

// --- Writes ---

#[tokio::test]
async fn a_large_write_the_store_keeps_wrong_fails_and_leaves_the_old_object() {
    for damage in DAMAGES {
        for silent in [false, true] {
            let env = Env::new();
            let key = id("corrupt/write");
            let old = payload(LARGE, 1);
            put(&env.storage(), &key, &old).await.unwrap();
            let mut corrupt = Corrupt::new().on_write(damage);
            if silent {
                corrupt = corrupt.silent_receipts();
            }
            let storage = env.with_lt_around(corrupt);
            let result = put(&storage, &key, &payload(LARGE, 2)).await;
            settle(&storage).await;
            // A flipped byte keeps the size: a store that reports nothing but the size
            // lets it through; the read catches it (below).
            if silent && matches!(damage, Damage::Flip(_)) {
                result.expect("a size-only check accepts a flip");
                assert_eq!(read_fails(&env.storage(), &key, None).await, Check::Crc32c);
                continue;
            }
            let error = result.expect_err("a corrupt write must fail");
            let check = integrity(&error).check;
            assert!(
                matches!(check, Check::Size | Check::Md5),
                "{damage:?}: {check:?}"
            );
            assert_eq!(
                read(&env.storage(), &key).await.unwrap(),
                old,
                "{damage:?}: the old object must stay"
            );
            env.assert_consistent();
        }
    }
}

#[tokio::test]
async fn a_store_that_loses_an_acknowledged_revision_fails_the_write() {
    let env = Env::new();
    let key = id("corrupt/lost");
    // The store acknowledges, reports nothing, and then has no such revision.
    let silent = Decorated::new(Arc::new(env.lt.clone()), Corrupt::new().silent_receipts());
    let faults = Faults::new().on(Method::Head, Calls::All, Fault::reply(|| None::<Metadata>));
    let lt = Arc::new(Decorated::new(Arc::new(silent), faults));
    let storage = env.storage_on(Arc::new(env.hv.clone()), lt);
    let error = put(&storage, &key, &payload(LARGE, 3))
        .await
        .expect_err("a missing revision must fail the write");
    assert_eq!(integrity(&error).check, Check::Missing);
    settle(&storage).await;
    env.hv.entry(&key).expect_not_found();
    env.assert_consistent();
}

#[tokio::test]
async fn small_writes_never_touch_the_long_term_store() {
    let env = Env::new();
    let storage = env.with_lt_around(Corrupt::new().on_write(Damage::Flip(0)));
    put(&storage, &id("corrupt/small"), b"inline")
        .await
        .unwrap();
    assert_eq!(
        read(&storage, &id("corrupt/small")).await.unwrap(),
        b"inline"
    );
}

// --- Reads ---

#[tokio::test]
async fn a_corrupt_read_never_looks_like_success() {
    for damage in DAMAGES {
        let env = Env::new();
        let key = id("corrupt/read");
        // Several chunks, so that bytes flow before the damage shows.
        env.storage()
            .put(&key, &Metadata::default(), chunked(8, LARGE / 8))
            .await
            .unwrap();
        let storage = env.with_lt_around(Corrupt::new().on_read(damage));
        let check = read_fails(&storage, &key, None).await;
        let expected = match damage {
            Damage::Flip(_) => Check::Crc32c,
            _ => Check::Size,
        };
        assert_eq!(check, expected, "{damage:?}");
        // The stored object is intact: a healthy read returns it.
        let whole = read(&env.storage(), &key).await.unwrap();
        assert_eq!(whole.len(), LARGE);
    }
}

#[tokio::test]
async fn a_read_failing_before_the_first_byte_is_an_error_of_the_call() {
    let env = Env::new();
    let key = id("corrupt/first-byte");
    put(&env.storage(), &key, &payload(LARGE, 5)).await.unwrap();
    // One chunk, truncated: the whole check happens before anything is answered.
    let storage = env.with_lt_around(Corrupt::new().on_read(Damage::Truncate(10)));
    let error = storage
        .get(&key, None)
        .await
        .expect_err("the read must fail as a call");
    assert_eq!(integrity(&error).check, Check::Size);
    // A store failing outright before the first byte.
    let faults = Faults::new().on(
        Method::Get,
        Calls::All,
        Fault::reply(move || GetResponse::Found {
            metadata: Metadata::default(),
            range: None,
            body: futures::stream::iter(vec![Err(std::io::Error::other("reset"))]).boxed(),
        }),
    );
    let storage = env.with_lt_around(faults);
    let error = storage
        .get(&key, None)
        .await
        .expect_err("a 5xx, not an empty reply");
    assert!(matches!(error, Error::Backend { .. }), "{error:?}");
}

#[tokio::test]
async fn ranges_are_checked_for_their_length() {
    let env = Env::new();
    let key = id("corrupt/range");
    put(&env.storage(), &key, &payload(LARGE, 6)).await.unwrap();
    for damage in [Damage::Truncate(1), Damage::Pad(1)] {
        let storage = env.with_lt_around(Corrupt::new().on_read(damage));
        let check = read_fails(&storage, &key, Some(ByteRange::Bounded(10, 100_009))).await;
        assert_eq!(check, Check::Size, "{damage:?}");
    }
}

// --- Multipart ---

#[tokio::test]
async fn a_part_the_store_keeps_wrong_is_refused_and_not_stored() {
    for damage in DAMAGES {
        let env = Env::new();
        let key = id("corrupt/part");
        let healthy = env.storage();
        let upload_id = healthy
            .initiate_multipart(&key, &Metadata::default())
            .await
            .unwrap();
        let part = payload(1_200_000, 8);
        let corrupt = Corrupt::new().on_write(damage);
        let storage = env.with_lt_around(corrupt.clone());
        let result = storage
            .upload_part(
                &key,
                &upload_id,
                1,
                part.len() as u64,
                stream::single(part.clone()),
            )
            .await;
        let error = result.expect_err("a corrupt part must be refused");
        let check = integrity(&error).check;
        assert!(
            matches!(check, Check::Size | Check::Md5),
            "{damage:?}: {check:?}"
        );
        let listed = healthy
            .list_parts(crate::backend::PartsQuery::all(&key, &upload_id))
            .await
            .unwrap();
        assert!(
            listed.parts.is_empty(),
            "{damage:?}: a refused part is listed"
        );

        // The client uploads the part again and completes with the ETag it got.
        corrupt.set_write(None);
        let done = upload_part(&storage, &key, &upload_id, 1, &part).await;
        assert_eq!(done.etag, Md5::of(&part).quoted());
        complete(&storage, &key, &upload_id, &[done]).await;
        assert_eq!(read(&healthy, &key).await.unwrap(), part);
        assert_eq!(
            healthy.head(&key).await.unwrap().unwrap().etag,
            Some(multipart_etag(&[Md5::of(&part)]))
        );
        settle(&storage).await;
    }
}

#[tokio::test]
async fn an_assembly_of_the_wrong_size_is_not_committed() {
    let env = Env::new();
    let key = id("corrupt/assembly");
    let healthy = env.storage();
    put(&healthy, &key, &payload(LARGE, 1)).await.unwrap();
    let (upload_id, parts) = upload(&healthy, &key, &[payload(1000, 2), payload(500, 3)]).await;
    // The store assembles, then reports a size that is not the parts' sum.
    let faults = Faults::new().on(
        Method::Head,
        Calls::All,
        Fault::reply(|| {
            Some(Metadata {
                size: Some(1499),
                ..Metadata::default()
            })
        }),
    );
    let storage = env.with_lt_around(faults);
    let error = storage
        .complete_multipart(&key, &upload_id, &parts)
        .await
        .expect_err("a wrong-sized assembly must not commit");
    assert_eq!(integrity(&error).check, Check::Size);
    settle(&storage).await;
    assert_eq!(read(&healthy, &key).await.unwrap(), payload(LARGE, 1));
}

// --- Through the storage service: resumable uploads and batches ---

/// A storage service over the tiered engine on `env`, its long-term calls through
/// `corrupt`, with a 16-byte threshold (batch inserts go to the long-term tier).
fn service_over(env: &Env, corrupt: Corrupt) -> crate::service::StorageService {
    let config = TieredConfig {
        threshold: 16,
        ..Env::config()
    };
    let storage = env.storage_with(Arc::new(env.hv.clone()), decorate(&env.lt, corrupt), config);
    crate::service::StorageService::new(
        Arc::new(storage),
        env.shared_clock(),
        crate::service::ServiceConfig::default(),
    )
}

#[tokio::test]
async fn a_resumable_chunk_the_store_keeps_wrong_is_not_persisted() {
    use crate::resumable::ChunkOutcome;

    for damage in DAMAGES {
        let env = Env::new();
        let corrupt = Corrupt::new().on_write(damage);
        let service = service_over(&env, corrupt.clone());
        let key = id("corrupt/resumable");
        let (first, second) = (payload(1_100_000, 1), payload(1_000, 2));
        let total = (first.len() + second.len()) as u64;
        let session = service
            .create_upload(key.clone(), Metadata::default(), total)
            .await
            .unwrap();
        let token = session.token.as_str();
        let write = |offset: u64, bytes: Vec<u8>| {
            let len = bytes.len() as u64;
            service.write_chunk(key.clone(), token, offset, len, stream::single(bytes))
        };
        let error = write(0, first.clone())
            .await
            .expect_err("a corrupt chunk must fail");
        integrity(&error);
        assert_eq!(
            service.query_offset(key.clone(), token).await.unwrap(),
            0,
            "{damage:?}: nothing of a corrupt chunk counts as persisted"
        );
        // The client resends from the persisted offset once the store behaves.
        corrupt.set_write(None);
        let n = first.len() as u64;
        assert_eq!(
            write(0, first.clone()).await.unwrap(),
            ChunkOutcome::Incomplete { offset: n }
        );
        assert_eq!(
            write(n, second.clone()).await.unwrap(),
            ChunkOutcome::Complete
        );
        let mut whole = first.clone();
        whole.extend_from_slice(&second);
        let storage = env.storage();
        assert_eq!(read(&storage, &key).await.unwrap(), whole);
        let etag = storage.head(&key).await.unwrap().unwrap().etag;
        assert_eq!(
            etag,
            Some(multipart_etag(&[Md5::of(&first), Md5::of(&second)]))
        );
        service.join().await;
    }
}

#[tokio::test]
async fn a_batch_insert_the_store_keeps_wrong_fails_alone() {
    use crate::batch::{BatchOp, BatchOutcome};

    for damage in DAMAGES {
        let env = Env::new();
        let service = service_over(&env, Corrupt::new().on_write(damage));
        let insert = |key: &str, len: usize| BatchOp::Insert {
            key: Some(ObjectKey::new(key).unwrap()),
            metadata: Box::default(),
            payload: Bytes::from(payload(len, 9)),
        };
        // Damage offsets lie inside the large payload.
        let ops = vec![insert("batch-large", 1_200_000), insert("batch-small", 10)];
        let results: Vec<_> = service
            .batch(
                id("x").context,
                futures::stream::iter(ops.into_iter().enumerate()),
            )
            .collect()
            .await;
        for (index, result) in results {
            match (index, result) {
                (0, Err(error)) => {
                    integrity(&error);
                }
                (1, Ok(BatchOutcome::Insert { .. })) => {}
                (index, other) => panic!("{damage:?}: op {index}: {other:?}"),
            }
        }
        let storage = env.storage();
        assert_eq!(read(&storage, &id("batch-large")).await, None);
        assert_eq!(
            read(&storage, &id("batch-small")).await.unwrap(),
            payload(10, 9)
        );
        service.join().await;
        env.assert_consistent();
    }
}

#[tokio::test]
async fn multipart_objects_and_ranges_are_checked_for_their_length() {
    let env = Env::new();
    let key = id("corrupt/multipart-read");
    let parts = [payload(300_000, 1), payload(200_000, 2)];
    let storage = env.storage();
    let (upload_id, completed) = upload(&storage, &key, &parts).await;
    complete(&storage, &key, &upload_id, &completed).await;
    assert_eq!(storage.head(&key).await.unwrap().unwrap().crc32c, None);
    for (damage, caught) in [(Damage::Truncate(1), true), (Damage::Flip(10), false)] {
        let storage = env.with_lt_around(Corrupt::new().on_read(damage));
        if caught {
            assert_eq!(read_fails(&storage, &key, None).await, Check::Size);
        } else {
            // The documented limit: no whole-object checksum for a multipart object.
            let bytes = read(&storage, &key).await.unwrap();
            assert_eq!(bytes.len(), 500_000);
        }
    }
}
