//! Checks of the [`HighVolumeBackend`] tiering primitives: tombstone-aware puts, reads and
//! deletes, and expiry scans. Compare-and-write is checked in [`super::compare_and_write`], the
//! change log in [`super::change_log`].

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use objectstore_types::range::ByteRange;
use objectstore_types::{ContentRange, ExpirationPolicy, Metadata, ObjectId, time};

use super::{Ctx, id, read_found, read_inline, stamped, with_size};
use crate::backend::{
    GetResponse, HighVolumeBackend, MAX_INLINE_BYTES, TieredGet, TieredMetadata, TieredWrite,
    Tombstone,
};
use crate::error::Error;

/// A tombstone pointing at revision `target` with `metadata` (size 5 MiB).
pub fn tombstone(target: &str, metadata: &Metadata) -> Tombstone {
    Tombstone {
        target: id(target),
        metadata: with_size(metadata, 5 * 1024 * 1024),
    }
}

/// Metadata with an explicit deadline (TTL policy), created 100 s before it.
pub fn expiring_at(deadline: SystemTime) -> Metadata {
    Metadata {
        expiration_policy: ExpirationPolicy::TimeToLive(Duration::from_secs(100)),
        time_created: Some(deadline - Duration::from_secs(100)),
        time_expires: Some(deadline),
        ..Metadata::default()
    }
}

pub(super) async fn row(b: &dyn HighVolumeBackend, key: &ObjectId) -> TieredMetadata {
    b.head(key).await.expect("head failed")
}

pub(super) async fn cas(
    b: &dyn HighVolumeBackend,
    key: &ObjectId,
    current: Option<&str>,
    write: TieredWrite,
) -> bool {
    let current = current.map(id);
    b.compare_and_write(key, current.as_ref(), write)
        .await
        .expect("compare_and_write failed")
}

/// `put` writes inline data over nothing or inline data, and returns a
/// tombstone (even an expired one) instead of replacing it.
pub async fn put_respects_tombstones(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let key = id("pnt/inline");
    let m1 = stamped(ExpirationPolicy::Manual, cx.now());
    let r = b.put(&key, &m1, Bytes::from_static(b"one")).await;
    assert_eq!(r.expect("put failed"), None);
    assert_eq!(
        row(b, &key).await,
        TieredMetadata::Object(with_size(&m1, 3))
    );
    let m2 = Metadata {
        content_type: "text/csv".into(),
        ..m1.clone()
    };
    let r = b.put(&key, &m2, Bytes::from_static(b"second")).await;
    assert_eq!(r.expect("put failed"), None);
    assert_eq!(
        row(b, &key).await,
        TieredMetadata::Object(with_size(&m2, 6))
    );

    let key = id("pnt/tombstone");
    let t = tombstone(
        "pnt/tombstone/rev",
        &stamped(
            ExpirationPolicy::TimeToLive(Duration::from_secs(10)),
            cx.now(),
        ),
    );
    assert!(cas(b, &key, None, TieredWrite::Tombstone(t.clone())).await);
    let r = b.put(&key, &m1, Bytes::from_static(b"x")).await;
    assert_eq!(
        r.expect("put failed"),
        Some(t.clone()),
        "tombstone not returned"
    );
    assert_eq!(
        row(b, &key).await,
        TieredMetadata::Tombstone(t.clone()),
        "tombstone replaced"
    );
    cx.advance(Duration::from_secs(60));
    let r = b.put(&key, &m1, Bytes::from_static(b"x")).await;
    assert_eq!(
        r.expect("put failed"),
        Some(t),
        "expired tombstone not returned"
    );
}

/// Inline payloads over [`MAX_INLINE_BYTES`] are refused with [`Error::TooLarge`] and store
/// nothing, by `put` and by `compare_and_write`; exactly the limit is stored.
pub async fn payloads_over_the_inline_limit_are_refused(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let key = id("big");
    let m = Metadata::default();
    let over = Bytes::from(vec![7u8; MAX_INLINE_BYTES + 1]);
    let err = b
        .put(&key, &m, over.clone())
        .await
        .expect_err("bodies over the limit must fail");
    assert!(matches!(err, Error::TooLarge(_)), "{err:?}");
    let write = TieredWrite::Object(m.clone(), over);
    let err = b
        .compare_and_write(&key, None, write)
        .await
        .expect_err("inline writes over the limit must fail");
    assert!(matches!(err, Error::TooLarge(_)), "{err:?}");
    assert!(row(b, &key).await.into_object().is_none());
    // Exactly the limit is fine.
    b.put(&key, &m, Bytes::from(vec![7u8; MAX_INLINE_BYTES]))
        .await
        .expect("put failed");
    let (metadata, bytes) = read_inline(b, &key).await.expect("the object is stored");
    assert_eq!(metadata.size, Some(MAX_INLINE_BYTES as u64));
    assert_eq!(bytes.len(), MAX_INLINE_BYTES);
}

/// `get` / `head` tell absent, inline (with ranges) and tombstone
/// rows apart; expired inline rows are absent.
pub async fn get_distinguishes_rows(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let absent = id("gt/absent");
    assert!(matches!(
        b.get(&absent, None).await.expect("get failed"),
        TieredGet::NotFound
    ));
    assert_eq!(row(b, &absent).await, TieredMetadata::NotFound);

    let inline = id("gt/inline");
    let m = stamped(
        ExpirationPolicy::TimeToLive(Duration::from_secs(60)),
        cx.now(),
    );
    b.put(&inline, &m, Bytes::from_static(b"0123456789"))
        .await
        .expect("put failed");
    let TieredGet::Object(response) = b.get(&inline, None).await.expect("get failed") else {
        panic!("inline row not returned as an object");
    };
    let (got, range, bytes) = read_found(response).await;
    assert_eq!(
        (got, range, bytes),
        (with_size(&m, 10), None, b"0123456789".to_vec())
    );
    let TieredGet::Object(response) = b
        .get(&inline, Some(ByteRange::Suffix(3)))
        .await
        .expect("get failed")
    else {
        panic!("inline row not returned as an object");
    };
    let (_, range, bytes) = read_found(response).await;
    assert_eq!(
        range,
        Some(ContentRange {
            start: 7,
            end: 9,
            total: 10
        })
    );
    assert_eq!(bytes, b"789");
    assert!(matches!(
        b.get(&inline, Some(ByteRange::From(10)))
            .await
            .expect("get failed"),
        TieredGet::Object(GetResponse::RangeNotSatisfiable(_))
    ));

    let tomb = id("gt/tombstone");
    let t = tombstone(
        "gt/tombstone/rev",
        &stamped(ExpirationPolicy::Manual, cx.now()),
    );
    assert!(cas(b, &tomb, None, TieredWrite::Tombstone(t.clone())).await);
    match b.get(&tomb, None).await.expect("get failed") {
        TieredGet::Tombstone(got) => assert_eq!(got, t),
        _ => panic!("tombstone not returned as one"),
    }
    assert_eq!(row(b, &tomb).await, TieredMetadata::Tombstone(t));

    cx.advance(Duration::from_secs(120));
    assert!(matches!(
        b.get(&inline, None).await.expect("get failed"),
        TieredGet::NotFound
    ));
    assert_eq!(
        row(b, &inline).await,
        TieredMetadata::NotFound,
        "expired inline row visible"
    );
}

/// Tombstones come back raw from the tiered reads even when expired.
pub async fn row_reads_return_expired_tombstones_raw(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let key = id("raw/expired");
    let t = tombstone(
        "raw/expired/rev",
        &stamped(
            ExpirationPolicy::TimeToLive(Duration::from_secs(10)),
            cx.now(),
        ),
    );
    assert!(cas(b, &key, None, TieredWrite::Tombstone(t.clone())).await);
    cx.advance(Duration::from_secs(3600));
    match b
        .get(&key, Some(ByteRange::From(0)))
        .await
        .expect("get failed")
    {
        TieredGet::Tombstone(got) => assert_eq!(got, t),
        _ => panic!("expired tombstone not returned by get"),
    }
    assert_eq!(row(b, &key).await, TieredMetadata::Tombstone(t));
}

/// Tiered reads bump the TTI deadline of inline rows (reporting the old one) but never
/// touch a tombstone.
pub async fn row_reads_bump_inline_tti_only(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let tti = ExpirationPolicy::TimeToIdle(Duration::from_secs(400));
    let inline = id("tti/inline");
    let m = stamped(tti, cx.now());
    b.put(&inline, &m, Bytes::from_static(b"x"))
        .await
        .expect("put failed");
    let tomb = id("tti/tombstone");
    let t = tombstone("tti/tombstone/rev", &m);
    assert!(cas(b, &tomb, None, TieredWrite::Tombstone(t.clone())).await);

    cx.advance(Duration::from_secs(150));
    let bumped = time::ceil_to_second(cx.now()) + Duration::from_secs(400);
    assert_eq!(
        row(b, &inline).await,
        TieredMetadata::Object(with_size(&m, 1)),
        "must report the old deadline"
    );
    let mut after = with_size(&m, 1);
    after.time_expires = Some(bumped);
    let TieredGet::Object(response) = b.get(&inline, None).await.expect("get failed") else {
        panic!("inline row not returned as an object");
    };
    assert_eq!(
        read_found(response).await.0,
        after,
        "inline TTI deadline not bumped"
    );

    for _ in 0..2 {
        assert_eq!(
            row(b, &tomb).await,
            TieredMetadata::Tombstone(t.clone()),
            "tombstone was bumped"
        );
        assert!(
            matches!(b.get(&tomb, None).await.expect("get failed"), TieredGet::Tombstone(ref got) if *got == t)
        );
    }
}

/// `delete` deletes inline rows (live or expired) and returns tombstones
/// without deleting them.
pub async fn delete_keeps_tombstones(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let m = stamped(
        ExpirationPolicy::TimeToLive(Duration::from_secs(10)),
        cx.now(),
    );
    let r = b.delete(&id("dnt/absent")).await.expect("delete failed");
    assert_eq!(r, None);
    let (inline, expired) = (id("dnt/inline"), id("dnt/expired"));
    b.put(&expired, &m, Bytes::from_static(b"x"))
        .await
        .expect("put failed");
    cx.advance(Duration::from_secs(60));
    let m = stamped(ExpirationPolicy::Manual, cx.now());
    b.put(&inline, &m, Bytes::from_static(b"x"))
        .await
        .expect("put failed");
    let far = cx.now() + Duration::from_secs(100 * 365 * 86_400);
    let scanned = async |key: &ObjectId| {
        let rows = b
            .scan_expired(far, None, 100)
            .await
            .expect("scan_expired failed");
        rows.iter().any(|r| r.id == *key)
    };
    assert!(scanned(&expired).await, "the expired row is not stored");
    for key in [&inline, &expired] {
        let r = b.delete(key).await.expect("delete failed");
        assert_eq!(r, None);
    }
    assert!(!scanned(&expired).await, "the expired row was not deleted");
    assert_eq!(row(b, &inline).await, TieredMetadata::NotFound);
    let tomb = id("dnt/tombstone");
    let t = tombstone("dnt/tombstone/rev", &m);
    assert!(cas(b, &tomb, None, TieredWrite::Tombstone(t.clone())).await);
    let r = b.delete(&tomb).await.expect("delete failed");
    assert_eq!(r, Some(t.clone()));
    assert_eq!(
        row(b, &tomb).await,
        TieredMetadata::Tombstone(t),
        "the tombstone was deleted"
    );
}

/// `delete_if_expired` deletes only rows whose deadline is earlier than `now`, returning
/// the tombstone when the row was one.
pub async fn delete_if_expired_checks_the_deadline(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let deadline = time::ceil_to_second(cx.now()) + Duration::from_secs(60);
    let m = expiring_at(deadline);
    let (inline, tomb, manual) = (id("die/inline"), id("die/tombstone"), id("die/manual"));
    b.put(&inline, &m, Bytes::from_static(b"x"))
        .await
        .expect("put failed");
    let t = tombstone("die/tombstone/rev", &m);
    assert!(cas(b, &tomb, None, TieredWrite::Tombstone(t.clone())).await);
    let never = stamped(ExpirationPolicy::Manual, cx.now());
    b.put(&manual, &never, Bytes::from_static(b"x"))
        .await
        .expect("put failed");

    let die = async |key: &ObjectId, now: SystemTime| {
        b.delete_if_expired(key, now)
            .await
            .expect("delete_if_expired failed")
    };
    // At the deadline nothing is expired yet.
    assert_eq!(die(&inline, deadline).await, None);
    assert_eq!(die(&tomb, deadline).await, None);
    assert_eq!(
        row(b, &inline).await,
        TieredMetadata::Object(with_size(&m, 1)),
        "deleted a live row"
    );
    assert_eq!(
        row(b, &tomb).await,
        TieredMetadata::Tombstone(t.clone()),
        "deleted a live tombstone"
    );
    let later = deadline + Duration::from_secs(1);
    assert_eq!(die(&inline, later).await, None);
    assert_eq!(
        die(&tomb, later).await,
        Some(t),
        "the deleted tombstone must be returned"
    );
    assert_eq!(
        die(&manual, later + Duration::from_secs(86_400 * 365)).await,
        None
    );
    assert_eq!(die(&id("die/absent"), later).await, None);
    // Nothing but the manual row is left.
    let left = b
        .scan_expired(later + Duration::from_secs(86_400 * 365), None, 100)
        .await
        .expect("scan failed");
    assert!(left.is_empty(), "expired rows left: {left:?}");
    assert_eq!(row(b, &tomb).await, TieredMetadata::NotFound);
    assert_eq!(
        row(b, &manual).await,
        TieredMetadata::Object(with_size(&never, 1))
    );
}

/// `scan_expired` lists rows with a deadline earlier than `now` by `(deadline, path)`,
/// pages with a cursor and a limit, and reports tombstones.
pub async fn scan_expired_orders_and_pages(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let base = time::ceil_to_second(cx.now()) + Duration::from_secs(1000);
    let at = |s: u64| base + Duration::from_secs(s);
    for (key, secs) in [
        ("scan/d", 10),
        ("scan/b", 20),
        ("scan/c", 30),
        ("scan/edge", 40),
        ("scan/live", 1000),
    ] {
        b.put(&id(key), &expiring_at(at(secs)), Bytes::from("x"))
            .await
            .expect("put failed");
    }
    b.put(
        &id("scan/manual"),
        &stamped(ExpirationPolicy::Manual, cx.now()),
        Bytes::from("x"),
    )
    .await
    .expect("put failed");
    let t = tombstone("scan/a/rev", &expiring_at(at(20)));
    assert!(cas(b, &id("scan/a"), None, TieredWrite::Tombstone(t.clone())).await);

    let now = at(40);
    let all = b.scan_expired(now, None, 100).await.expect("scan failed");
    let listed: Vec<(String, SystemTime, bool)> = all
        .iter()
        .map(|r| (r.id.key().to_string(), r.expires, r.tombstone.is_some()))
        .collect();
    let want = vec![
        ("scan/d".to_string(), at(10), false),
        ("scan/a".to_string(), at(20), true),
        ("scan/b".to_string(), at(20), false),
        ("scan/c".to_string(), at(30), false),
    ];
    assert_eq!(
        listed, want,
        "wrong rows or order (a row at exactly `now` is not expired)"
    );
    assert_eq!(all[1].tombstone, Some(t));

    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = b
            .scan_expired(now, cursor.as_ref(), 2)
            .await
            .expect("scan failed");
        assert!(page.len() <= 2, "limit ignored");
        let Some(last) = page.last() else { break };
        cursor = Some((last.expires, last.id.as_storage_path()));
        paged.extend(page);
    }
    assert_eq!(paged, all, "paging with the cursor differs from one scan");
    assert!(
        b.scan_expired(at(5), None, 100)
            .await
            .expect("scan failed")
            .is_empty()
    );
}
