//! Checks of the [`LongTermBackend`] contract: objects above 1 MiB and multipart uploads.

use objectstore_types::range::ByteRange;
use objectstore_types::{ContentRange, ExpirationPolicy, Metadata, ObjectId};

use super::{
    Ctx, chunked, failing, full_metadata, id, pattern, read_found, read_object, stamped, with_size,
};
use crate::backend::{CompleteRejection, CompletedPart, GetResponse, LongTermBackend, PartsPage};
use crate::error::Error;
use crate::stream;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Initiates an upload of `key` with `metadata`; its id.
async fn initiate(b: &dyn LongTermBackend, key: &ObjectId, metadata: &Metadata) -> String {
    b.initiate_multipart(key, metadata)
        .await
        .expect("initiate failed")
}

async fn upload(
    b: &dyn LongTermBackend,
    key: &ObjectId,
    upload_id: &str,
    part: u32,
    data: &[u8],
) -> String {
    b.upload_part(
        key,
        upload_id,
        part,
        data.len() as u64,
        chunked(data, 64 * KIB),
    )
    .await
    .expect("upload_part failed")
}

async fn list(b: &dyn LongTermBackend, key: &ObjectId, upload_id: &str) -> PartsPage {
    b.list_parts(crate::backend::PartsQuery::all(key, upload_id))
        .await
        .expect("list_parts failed")
}

async fn complete(
    b: &dyn LongTermBackend,
    key: &ObjectId,
    upload_id: &str,
    parts: &[(u32, &str)],
) -> Option<CompleteRejection> {
    let parts: Vec<CompletedPart> = parts
        .iter()
        .map(|(n, etag)| CompletedPart {
            part_number: *n,
            etag: (*etag).to_owned(),
        })
        .collect();
    b.complete_multipart(key, upload_id, &parts)
        .await
        .expect("complete_multipart failed")
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: crate::Result<T>, what: &str) {
    match result {
        Err(Error::NotFound(_)) => {}
        other => panic!("{what}: expected Error::NotFound, got {other:?}"),
    }
}

/// A 3 MiB body in 64 KiB chunks is stored exactly; ranges across chunk boundaries work.
pub async fn large_multi_chunk_objects(cx: &Ctx<dyn LongTermBackend>) {
    let b = &*cx.backend;
    let key = id("large/3mib");
    let payload = pattern(3 * MIB, 5);
    let metadata = full_metadata(cx.now());
    b.put(&key, &metadata, chunked(&payload, 64 * KIB))
        .await
        .expect("put failed");
    let (m, bytes) = read_object(b, &key)
        .await
        .expect("the object was not found");
    assert_eq!(m, with_size(&metadata, 3 * MIB));
    assert!(bytes == payload, "a 3 MiB object changed");
    let (start, end) = (MIB - 10, 2 * MIB + 10);
    let response = b
        .get(&key, Some(ByteRange::Bounded(start as u64, end as u64)))
        .await
        .expect("get failed");
    let (_, range, bytes) = read_found(response).await;
    let total = (3 * MIB) as u64;
    assert_eq!(
        range,
        Some(ContentRange {
            start: start as u64,
            end: end as u64,
            total
        })
    );
    assert!(
        bytes == payload[start..=end],
        "a range of a large object is wrong"
    );
}

/// Parts uploaded out of order are listed ascending with their ETags and sizes, the
/// object appears only on completion, with the metadata from initiation (not re-stamped),
/// and the upload ends.
pub async fn multipart_round_trip(cx: &Ctx<dyn LongTermBackend>) {
    let b = &*cx.backend;
    let key = id("mp/round-trip");
    let metadata = full_metadata(cx.now());
    let upload_id = initiate(b, &key, &metadata).await;
    let parts = [
        pattern(100 * KIB, 1),
        pattern(200 * KIB, 2),
        pattern(50 * KIB, 3),
    ];
    let mut etags = Vec::new();
    for n in [3u32, 1, 2] {
        let etag = upload(b, &key, &upload_id, n, &parts[n as usize - 1]).await;
        assert!(
            etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
            "ETag {etag} is not quoted"
        );
        etags.push((n, etag));
    }
    etags.sort();
    assert!(
        read_object(b, &key).await.is_none(),
        "object visible before completion"
    );
    let page = list(b, &key, &upload_id).await;
    assert_eq!(page.next_marker, None);
    let listed: Vec<(u32, String, u64)> = page
        .parts
        .iter()
        .map(|p| (p.part_number, p.etag.clone(), p.size))
        .collect();
    let want: Vec<(u32, String, u64)> = etags
        .iter()
        .map(|(n, e)| (*n, e.clone(), parts[*n as usize - 1].len() as u64))
        .collect();
    assert_eq!(listed, want, "list_parts is wrong");

    cx.advance(std::time::Duration::from_secs(30));
    let refs: Vec<(u32, &str)> = etags.iter().map(|(n, e)| (*n, e.as_str())).collect();
    assert_eq!(complete(b, &key, &upload_id, &refs).await, None);
    let (m, bytes) = read_object(b, &key)
        .await
        .expect("completed object not found");
    assert!(bytes == parts.concat(), "parts not concatenated in order");
    assert_eq!(
        m,
        with_size(&metadata, 350 * KIB),
        "metadata must be the initiation's"
    );
    assert_not_found(
        b.list_parts(crate::backend::PartsQuery::all(&key, &upload_id))
            .await,
        "list_parts after complete",
    );
}

/// Completion assembles exactly the listed parts (a subset is allowed).
pub async fn multipart_complete_uses_listed_parts_in_order(cx: &Ctx<dyn LongTermBackend>) {
    let b = &*cx.backend;
    let key = id("mp/subset");
    let metadata = stamped(ExpirationPolicy::Manual, cx.now());
    let upload_id = initiate(b, &key, &metadata).await;
    let parts = [
        pattern(10 * KIB, 1),
        pattern(20 * KIB, 2),
        pattern(30 * KIB, 3),
    ];
    let mut etags = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        etags.push(upload(b, &key, &upload_id, i as u32 + 1, data).await);
    }
    let rejection = complete(b, &key, &upload_id, &[(1, &etags[0]), (3, &etags[2])]).await;
    assert_eq!(rejection, None);
    let (m, bytes) = read_object(b, &key)
        .await
        .expect("completed object not found");
    assert!(
        bytes == [&parts[0][..], &parts[2][..]].concat(),
        "wrong parts assembled"
    );
    assert_eq!(m.size, Some(40 * KIB as u64));
}

/// Completing over an existing object replaces its payload and metadata.
pub async fn multipart_complete_replaces_an_existing_object(cx: &Ctx<dyn LongTermBackend>) {
    let b = &*cx.backend;
    let key = id("mp/replace");
    b.put(&key, &full_metadata(cx.now()), stream::single("old"))
        .await
        .expect("put failed");
    let metadata = Metadata {
        content_type: "application/x-tar".into(),
        ..stamped(ExpirationPolicy::Manual, cx.now())
    };
    let upload_id = initiate(b, &key, &metadata).await;
    let etag = upload(b, &key, &upload_id, 1, b"new").await;
    assert_eq!(complete(b, &key, &upload_id, &[(1, &etag)]).await, None);
    let (m, bytes) = read_object(b, &key).await.expect("object not found");
    assert_eq!((m, bytes), (with_size(&metadata, 3), b"new".to_vec()));
}

/// `list_parts` pages by `max_parts` with the last part number as marker.
pub async fn multipart_list_parts_paginates(cx: &Ctx<dyn LongTermBackend>) {
    let b = &*cx.backend;
    let key = id("mp/pages");
    let metadata = stamped(ExpirationPolicy::Manual, cx.now());
    let upload_id = initiate(b, &key, &metadata).await;
    for n in 1..=5u32 {
        upload(b, &key, &upload_id, n, &pattern(n as usize * 100, n as u8)).await;
    }
    let page = |max: Option<u32>, marker: Option<u32>| {
        let (key, upload_id) = (&key, &upload_id);
        async move {
            let p = b
                .list_parts(crate::backend::PartsQuery {
                    max_parts: max,
                    marker,
                    ..crate::backend::PartsQuery::all(key, upload_id)
                })
                .await
                .expect("list_parts failed");
            let numbers: Vec<u32> = p.parts.iter().map(|p| p.part_number).collect();
            (numbers, p.next_marker)
        }
    };
    assert_eq!(page(Some(2), None).await, (vec![1, 2], Some(2)));
    assert_eq!(page(Some(2), Some(2)).await, (vec![3, 4], Some(4)));
    assert_eq!(page(Some(2), Some(4)).await, (vec![5], None));
    assert_eq!(page(Some(2), Some(5)).await, (vec![], None));
    assert_eq!(page(Some(5), None).await, (vec![1, 2, 3, 4, 5], None));
    assert_eq!(page(None, Some(3)).await, (vec![4, 5], None));
    let all = list(b, &key, &upload_id).await;
    let sizes: Vec<u64> = all.parts.iter().map(|p| p.size).collect();
    assert_eq!(sizes, vec![100, 200, 300, 400, 500]);
}

/// Abort ends the upload: later calls on it are `NotFound`, no object appears, and
/// aborting again (or an unknown upload) succeeds.
pub async fn multipart_abort(cx: &Ctx<dyn LongTermBackend>) {
    let b = &*cx.backend;
    let key = id("mp/abort");
    let metadata = stamped(ExpirationPolicy::Manual, cx.now());
    let upload_id = initiate(b, &key, &metadata).await;
    let etag = upload(b, &key, &upload_id, 1, b"part").await;
    b.abort_multipart(&key, &upload_id)
        .await
        .expect("abort failed");
    assert_not_found(
        b.list_parts(crate::backend::PartsQuery::all(&key, &upload_id))
            .await,
        "list_parts after abort",
    );
    assert_not_found(
        b.upload_part(&key, &upload_id, 2, 1, stream::single("x"))
            .await,
        "upload_part after abort",
    );
    let parts = [CompletedPart {
        part_number: 1,
        etag,
    }];
    assert_not_found(
        b.complete_multipart(&key, &upload_id, &parts).await,
        "complete after abort",
    );
    assert!(
        read_object(b, &key).await.is_none(),
        "an aborted upload left an object"
    );
    b.abort_multipart(&key, &upload_id)
        .await
        .expect("a second abort must succeed");
    b.abort_multipart(&key, "unknownupload0123")
        .await
        .expect("aborting an unknown upload must succeed");
}

/// Wrong ETags, missing parts and unordered part lists are rejected (`InvalidPart` /
/// `InvalidPartOrder`); nothing changes and the upload stays open.
pub async fn multipart_rejections_change_nothing(cx: &Ctx<dyn LongTermBackend>) {
    let b = &*cx.backend;
    let key = id("mp/reject");
    let old = full_metadata(cx.now());
    b.put(&key, &old, stream::single("old"))
        .await
        .expect("put failed");
    let metadata = stamped(ExpirationPolicy::Manual, cx.now());
    let upload_id = initiate(b, &key, &metadata).await;
    let e1 = upload(b, &key, &upload_id, 1, b"one").await;
    let e2 = upload(b, &key, &upload_id, 2, b"two").await;
    type Case<'a> = (&'a str, &'a [(u32, &'a str)], &'a [&'a str]);
    let cases: [Case<'_>; 4] = [
        (
            "etag mismatch",
            &[(1, "\"bogus\""), (2, &e2)],
            &["InvalidPart"],
        ),
        (
            "missing part",
            &[(1, &e1), (2, &e2), (3, &e2)],
            &["InvalidPart"],
        ),
        (
            "descending",
            &[(2, &e2), (1, &e1)],
            &["InvalidPartOrder", "InvalidPart"],
        ),
        (
            "duplicate",
            &[(1, &e1), (1, &e1)],
            &["InvalidPartOrder", "InvalidPart"],
        ),
    ];
    for (what, parts, codes) in cases {
        let rejection = complete(b, &key, &upload_id, parts)
            .await
            .unwrap_or_else(|| panic!("{what}: completion was not rejected"));
        assert!(
            codes.contains(&rejection.code.as_str()),
            "{what}: code {:?}",
            rejection.code
        );
        assert!(!rejection.message.is_empty(), "{what}: empty message");
        let (m, bytes) = read_object(b, &key)
            .await
            .expect("a rejected completion removed the object");
        assert_eq!(
            (m, bytes),
            (with_size(&old, 3), b"old".to_vec()),
            "{what}: object changed"
        );
        assert_eq!(
            list(b, &key, &upload_id).await.parts.len(),
            2,
            "{what}: upload changed"
        );
    }
    assert_eq!(
        complete(b, &key, &upload_id, &[(1, &e1), (2, &e2)]).await,
        None
    );
    assert_eq!(
        read_object(b, &key).await.expect("object not found").1,
        b"onetwo"
    );
}

/// Re-uploading a part replaces it: new ETag for new content (same ETag for the same
/// content), the old ETag no longer completes.
pub async fn multipart_reupload_replaces_the_part(cx: &Ctx<dyn LongTermBackend>) {
    let b = &*cx.backend;
    let key = id("mp/reupload");
    let metadata = stamped(ExpirationPolicy::Manual, cx.now());
    let upload_id = initiate(b, &key, &metadata).await;
    let first = upload(b, &key, &upload_id, 1, b"first content").await;
    let again = upload(b, &key, &upload_id, 1, b"first content").await;
    assert_eq!(first, again, "the ETag is a content hash");
    let second = upload(b, &key, &upload_id, 1, b"second, longer content").await;
    assert_ne!(first, second, "the ETag must change with the content");
    let page = list(b, &key, &upload_id).await;
    assert_eq!(page.parts.len(), 1);
    assert_eq!(
        (page.parts[0].etag.as_str(), page.parts[0].size),
        (second.as_str(), 22)
    );
    assert!(
        complete(b, &key, &upload_id, &[(1, &first)])
            .await
            .is_some(),
        "the replaced part's ETag completed"
    );
    assert_eq!(complete(b, &key, &upload_id, &[(1, &second)]).await, None);
    assert_eq!(
        read_object(b, &key).await.expect("object not found").1,
        b"second, longer content"
    );
}

/// A part body shorter or longer than its content length is `InvalidRequest` and stores
/// nothing.
pub async fn multipart_content_length_must_match(cx: &Ctx<dyn LongTermBackend>) {
    let b = &*cx.backend;
    let key = id("mp/length");
    let metadata = stamped(ExpirationPolicy::Manual, cx.now());
    let upload_id = initiate(b, &key, &metadata).await;
    for (declared, body) in [
        (10u64, pattern(5, 1)),
        (10, pattern(15, 1)),
        (0, pattern(1, 1)),
    ] {
        let r = b
            .upload_part(&key, &upload_id, 1, declared, chunked(&body, 4))
            .await;
        assert!(
            matches!(r, Err(Error::InvalidRequest(_))),
            "{} bytes declared as {declared}: {r:?}",
            body.len()
        );
    }
    assert!(
        list(b, &key, &upload_id).await.parts.is_empty(),
        "a bad part was stored"
    );
    upload(b, &key, &upload_id, 1, &pattern(10, 1)).await;
    assert_eq!(list(b, &key, &upload_id).await.parts.len(), 1);
}

/// A part whose body stream fails is not stored; an earlier upload of it stays.
pub async fn multipart_failed_part_stream_stores_nothing(cx: &Ctx<dyn LongTermBackend>) {
    let b = &*cx.backend;
    let key = id("mp/failing");
    let metadata = stamped(ExpirationPolicy::Manual, cx.now());
    let upload_id = initiate(b, &key, &metadata).await;
    let etag = upload(b, &key, &upload_id, 1, b"good").await;
    let r = b
        .upload_part(&key, &upload_id, 1, 1000, failing(&pattern(100, 9)))
        .await;
    assert!(
        matches!(r, Err(Error::ClientStream(_))),
        "expected ClientStream, got {r:?}"
    );
    let r = b
        .upload_part(&key, &upload_id, 2, 1000, failing(&pattern(100, 9)))
        .await;
    assert!(
        matches!(r, Err(Error::ClientStream(_))),
        "expected ClientStream, got {r:?}"
    );
    let page = list(b, &key, &upload_id).await;
    let listed: Vec<(u32, &str)> = page
        .parts
        .iter()
        .map(|p| (p.part_number, p.etag.as_str()))
        .collect();
    assert_eq!(
        listed,
        vec![(1, etag.as_str())],
        "a failed part upload changed the parts"
    );
}

/// Calls on an upload that ended by completion are `NotFound` (a repeated complete may
/// also succeed), and a made-up upload id is never accepted.
pub async fn multipart_unknown_upload_is_not_found(cx: &Ctx<dyn LongTermBackend>) {
    let b = &*cx.backend;
    let key = id("mp/unknown");
    let metadata = stamped(ExpirationPolicy::Manual, cx.now());
    let ended = b
        .initiate_multipart(&key, &metadata)
        .await
        .expect("initiate failed");
    let etag = upload(b, &key, &ended, 1, b"x").await;
    assert_eq!(complete(b, &key, &ended, &[(1, &etag)]).await, None);
    let parts = [CompletedPart {
        part_number: 1,
        etag,
    }];
    assert_not_found(
        b.upload_part(&key, &ended, 1, 1, stream::single("y")).await,
        "upload_part",
    );
    assert_not_found(
        b.list_parts(crate::backend::PartsQuery::all(&key, &ended))
            .await,
        "list_parts",
    );
    // A retried complete may report success (the tiered layer is retry-safe) or
    // `NotFound`, but must not reject the parts or change the object.
    match b.complete_multipart(&key, &ended, &parts).await {
        Ok(None) | Err(Error::NotFound(_)) => {}
        other => panic!("complete of a completed upload: {other:?}"),
    }
    assert_eq!(read_object(b, &key).await.expect("object gone").1, b"x");
    // A made-up id may also be refused as malformed, but never accepted.
    let made_up = "0123456789abcdef0123456789abcdef";
    match b
        .list_parts(crate::backend::PartsQuery::all(&key, made_up))
        .await
    {
        Err(Error::NotFound(_) | Error::InvalidRequest(_)) => {}
        other => panic!("made-up upload id: {other:?}"),
    }
}

/// Upload ids are distinct, non-empty and made of `[A-Za-z0-9_-]`; uploads of the same key
/// are independent.
pub async fn multipart_upload_ids_are_opaque_and_safe(cx: &Ctx<dyn LongTermBackend>) {
    let b = &*cx.backend;
    let key = id("mp/ids");
    let metadata = stamped(ExpirationPolicy::Manual, cx.now());
    let mut ids = Vec::new();
    for k in [&key, &key, &id("mp/ids-other")] {
        ids.push(
            b.initiate_multipart(k, &metadata)
                .await
                .expect("initiate failed"),
        );
    }
    for upload_id in &ids {
        assert!(
            !upload_id.is_empty()
                && upload_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "upload id {upload_id:?} has characters outside [A-Za-z0-9_-]"
        );
    }
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "ids repeat: {ids:?}"
    );
    let e0 = upload(b, &key, &ids[0], 1, b"zero").await;
    let e1 = upload(b, &key, &ids[1], 1, b"one").await;
    assert_eq!(complete(b, &key, &ids[1], &[(1, &e1)]).await, None);
    assert_eq!(
        read_object(b, &key).await.expect("object not found").1,
        b"one"
    );
    let page = list(b, &key, &ids[0]).await;
    assert_eq!(page.parts.len(), 1, "completing one upload touched another");
    assert_eq!(page.parts[0].etag, e0);
    assert!(matches!(
        b.get(&id("mp/ids-other"), None).await.expect("get failed"),
        GetResponse::NotFound
    ));
}
