//! Checks of the [`Backend`] contract (module docs of [`crate::backend`]).

use std::time::Duration;

use objectstore_types::range::ByteRange;
use objectstore_types::{ContentRange, ExpirationPolicy, Metadata, time};

use super::{
    Ctx, chunked, failing, full_metadata, id, pattern, read_found, read_object, stamped, with_size,
};
use crate::backend::{Backend, ExpiryTarget, ExtendOutcome, GetResponse};
use crate::error::Error;
use crate::stream;

const DAY: Duration = Duration::from_secs(86_400);

/// Put then get: payload and every metadata field come back, with `size` set by the
/// backend; HEAD agrees.
pub async fn round_trip_keeps_every_metadata_field(cx: &Ctx<dyn Backend>) {
    let b = &*cx.backend;
    let key = id("round-trip/ünïcode key");
    let metadata = full_metadata(cx.now());
    let payload = pattern(1000, 1);
    b.put(&key, &metadata, stream::single(payload.clone()))
        .await
        .expect("put failed");
    let (got, bytes) = read_object(b, &key)
        .await
        .expect("the object was not found");
    assert_eq!(bytes, payload, "payload changed");
    assert_eq!(
        got,
        with_size(&metadata, 1000),
        "metadata changed or size not set"
    );
    let head = b.head(&key).await.expect("head failed");
    assert_eq!(
        head,
        Some(with_size(&metadata, 1000)),
        "HEAD disagrees with GET"
    );
}

/// Absent objects: GET (with and without range) is `NotFound`, HEAD is `None`.
pub async fn missing_objects_read_as_absent(cx: &Ctx<dyn Backend>) {
    let b = &*cx.backend;
    let key = id("missing");
    assert!(matches!(
        b.get(&key, None).await.expect("get failed"),
        GetResponse::NotFound
    ));
    assert!(matches!(
        b.get(&key, Some(ByteRange::From(0)))
            .await
            .expect("get failed"),
        GetResponse::NotFound
    ));
    assert_eq!(b.head(&key).await.expect("head failed"), None);
}

/// An overwrite replaces the payload and *all* metadata (no field of the old revision
/// survives).
pub async fn overwrite_replaces_payload_and_metadata(cx: &Ctx<dyn Backend>) {
    let b = &*cx.backend;
    let key = id("overwrite");
    let first = full_metadata(cx.now());
    b.put(&key, &first, stream::single(pattern(500, 2)))
        .await
        .expect("first put failed");
    cx.advance(Duration::from_secs(5));
    let second = Metadata {
        content_type: "application/json".into(),
        ..stamped(ExpirationPolicy::Manual, cx.now())
    };
    b.put(&key, &second, stream::single("{}"))
        .await
        .expect("second put failed");
    let (got, bytes) = read_object(b, &key)
        .await
        .expect("the object was not found");
    assert_eq!(bytes, b"{}", "payload not replaced");
    assert_eq!(
        got,
        with_size(&second, 2),
        "metadata not replaced as a whole"
    );
}

/// Bounded, open and suffix ranges resolve against the size; the response reports the
/// resolved range and the whole object's metadata; ranges past the end are unsatisfiable.
pub async fn ranges_resolve_against_the_size(cx: &Ctx<dyn Backend>) {
    let b = &*cx.backend;
    let key = id("ranges");
    let payload = b"0123456789abcdefghijkl".to_vec(); // 22 bytes
    let metadata = stamped(ExpirationPolicy::Manual, cx.now());
    b.put(&key, &metadata, stream::single(payload.clone()))
        .await
        .expect("put failed");
    let cases = [
        (ByteRange::Bounded(0, 4), 0, 4),
        (ByteRange::Bounded(5, 100), 5, 21),
        (ByteRange::Bounded(21, 21), 21, 21),
        (ByteRange::From(7), 7, 21),
        (ByteRange::From(0), 0, 21),
        (ByteRange::Suffix(9), 13, 21),
        (ByteRange::Suffix(100), 0, 21),
    ];
    for (range, start, end) in cases {
        let response = b.get(&key, Some(range)).await.expect("get failed");
        let (got, resolved, bytes) = read_found(response).await;
        let want = ContentRange {
            start,
            end,
            total: 22,
        };
        assert_eq!(resolved, Some(want), "{range:?} resolved wrongly");
        assert_eq!(
            bytes,
            &payload[start as usize..=end as usize],
            "{range:?} returned the wrong bytes"
        );
        assert_eq!(got, with_size(&metadata, 22), "{range:?}: metadata wrong");
    }
    for range in [ByteRange::From(22), ByteRange::Bounded(30, 40)] {
        match b.get(&key, Some(range)).await.expect("get failed") {
            GetResponse::RangeNotSatisfiable(m) => {
                assert_eq!(m.size, Some(22), "416 must carry the size");
            }
            other => panic!("{range:?} should be unsatisfiable, got {other:?}"),
        }
    }
}

/// Zero-length objects: stored with size 0, read back empty; every range is unsatisfiable.
pub async fn zero_length_objects(cx: &Ctx<dyn Backend>) {
    let b = &*cx.backend;
    let key = id("empty");
    let metadata = stamped(ExpirationPolicy::Manual, cx.now());
    b.put(&key, &metadata, stream::empty())
        .await
        .expect("put failed");
    let (got, bytes) = read_object(b, &key)
        .await
        .expect("the object was not found");
    assert!(bytes.is_empty());
    assert_eq!(got.size, Some(0), "size of an empty object");
    for range in [ByteRange::From(0), ByteRange::Suffix(1)] {
        assert!(
            matches!(
                b.get(&key, Some(range)).await.expect("get failed"),
                GetResponse::RangeNotSatisfiable(_)
            ),
            "{range:?} of an empty object must be unsatisfiable"
        );
    }
}

/// Delete removes the object; deleting it again, or a never-written key, succeeds.
pub async fn delete_removes_and_missing_delete_succeeds(cx: &Ctx<dyn Backend>) {
    let b = &*cx.backend;
    let key = id("delete");
    b.put(
        &key,
        &stamped(ExpirationPolicy::Manual, cx.now()),
        stream::single("x"),
    )
    .await
    .expect("put failed");
    b.delete(&key).await.expect("delete failed");
    assert!(read_object(b, &key).await.is_none(), "still readable");
    assert_eq!(b.head(&key).await.expect("head failed"), None);
    b.delete(&key).await.expect("second delete failed");
    b.delete(&id("delete/never-written"))
        .await
        .expect("deleting a missing object must succeed");
}

/// A body stream that fails stores nothing: a new key stays absent, an existing object
/// keeps its payload and metadata. The error is [`Error::ClientStream`].
pub async fn failed_stream_stores_nothing(cx: &Ctx<dyn Backend>) {
    let b = &*cx.backend;
    let fresh = id("failing/fresh");
    let err = b
        .put(
            &fresh,
            &stamped(ExpirationPolicy::Manual, cx.now()),
            failing(&pattern(64 * 1024, 3)),
        )
        .await
        .expect_err("a failing stream must fail the put");
    assert!(
        matches!(err, Error::ClientStream(_)),
        "expected ClientStream, got {err:?}"
    );
    assert!(
        read_object(b, &fresh).await.is_none(),
        "a failed put stored an object"
    );

    let existing = id("failing/existing");
    let before = stamped(ExpirationPolicy::Manual, cx.now());
    b.put(&existing, &before, stream::single("old"))
        .await
        .expect("put failed");
    let after = Metadata {
        content_type: "image/png".into(),
        ..stamped(ExpirationPolicy::Manual, cx.now())
    };
    b.put(&existing, &after, failing(b"new bytes"))
        .await
        .expect_err("a failing stream must fail the put");
    let (m, bytes) = read_object(b, &existing)
        .await
        .expect("a failed overwrite removed the object");
    assert_eq!(bytes, b"old", "a failed overwrite changed the payload");
    assert_eq!(
        m,
        with_size(&before, 3),
        "a failed overwrite changed the metadata"
    );
}

/// A 1 MiB body in 64 KiB chunks (and one in tiny chunks) is stored exactly, in order.
pub async fn multi_chunk_streams_are_stored_in_order(cx: &Ctx<dyn Backend>) {
    let b = &*cx.backend;
    for (key, len, chunk) in [
        ("chunks/64k", 1024 * 1024, 64 * 1024),
        ("chunks/tiny", 3000, 7),
    ] {
        let key = id(key);
        let payload = pattern(len, 4);
        let metadata = stamped(ExpirationPolicy::Manual, cx.now());
        b.put(&key, &metadata, chunked(&payload, chunk))
            .await
            .expect("put failed");
        let (m, bytes) = read_object(b, &key)
            .await
            .expect("the object was not found");
        assert_eq!(m.size, Some(len as u64), "size of a {len}-byte object");
        assert!(
            bytes == payload,
            "a {len}-byte object in {chunk}-byte chunks changed"
        );
    }
}

/// A TTL object is readable up to and including its deadline and absent right after.
pub async fn ttl_objects_read_as_absent_once_expired(cx: &Ctx<dyn Backend>) {
    let b = &*cx.backend;
    let key = id("ttl");
    let metadata = stamped(
        ExpirationPolicy::TimeToLive(Duration::from_secs(60)),
        cx.now(),
    );
    let deadline = metadata.time_expires.expect("stamped TTL has a deadline");
    b.put(&key, &metadata, stream::single("ttl"))
        .await
        .expect("put failed");
    cx.advance_to(deadline);
    let (m, _) = read_object(b, &key)
        .await
        .expect("an object is live at its deadline");
    assert_eq!(
        m.time_expires,
        Some(deadline),
        "reading a TTL object moved its deadline"
    );
    cx.advance(Duration::from_secs(1));
    assert!(
        read_object(b, &key).await.is_none(),
        "expired object still readable"
    );
    assert_eq!(b.head(&key).await.expect("head failed"), None);
    assert!(matches!(
        b.get(&key, Some(ByteRange::From(0)))
            .await
            .expect("get failed"),
        GetResponse::NotFound
    ));
    b.delete(&key)
        .await
        .expect("deleting an expired object must succeed");
}

/// TTI: reads inside the debounce window leave the deadline alone; a later read moves it
/// to `ceil(now) + tti` but reports the deadline from before the access; GET and HEAD both
/// count; the object then outlives its original deadline.
pub async fn tti_reads_bump_the_deadline_debounced(cx: &Ctx<dyn Backend>) {
    let b = &*cx.backend;
    let tti = Duration::from_secs(400); // debounce: 100 s
    for (key, via_get) in [("tti/head", false), ("tti/get", true)] {
        let key = id(key);
        let metadata = stamped(ExpirationPolicy::TimeToIdle(tti), cx.now());
        let original = metadata.time_expires.expect("stamped TTI has a deadline");
        b.put(&key, &metadata, stream::single("tti"))
            .await
            .expect("put failed");
        let read = async || -> Metadata {
            if via_get {
                read_object(b, &key).await.expect("TTI object not found").0
            } else {
                b.head(&key)
                    .await
                    .expect("head failed")
                    .expect("TTI object not found")
            }
        };
        // Within the debounce window: no bump.
        cx.advance(Duration::from_secs(50));
        assert_eq!(
            read().await.time_expires,
            Some(original),
            "early read reported wrongly"
        );
        assert_eq!(
            read().await.time_expires,
            Some(original),
            "bumped inside the debounce window"
        );
        // Past the window: bumped, reported as before.
        cx.advance(Duration::from_secs(100));
        let bumped = time::ceil_to_second(cx.now()) + tti;
        assert_eq!(
            read().await.time_expires,
            Some(original),
            "the bumping read must report the old deadline"
        );
        assert_eq!(
            read().await.time_expires,
            Some(bumped),
            "deadline not bumped to ceil(now) + tti"
        );
        // The original deadline has passed, the object lives on.
        cx.advance_to(original + Duration::from_secs(1));
        assert!(
            read_object(b, &key).await.is_some(),
            "a bumped TTI object expired at its old deadline"
        );
    }
}

/// `extend_expiry` on live objects: missing, manual, already-sufficient, moved (TTL
/// lifetime recomputed, TTI duration kept), from creation; the payload never changes.
pub async fn extend_expiry_outcomes(cx: &Ctx<dyn Backend>) {
    let b = &*cx.backend;
    let now = cx.now();
    let extend = async |key: &str, target: ExpiryTarget| {
        b.extend_expiry(&id(key), target, cx.now())
            .await
            .expect("extend_expiry failed")
    };
    assert_eq!(
        extend("ext/missing", ExpiryTarget::AfterNow(DAY)).await,
        ExtendOutcome::NotFound
    );

    let manual = stamped(ExpirationPolicy::Manual, now);
    b.put(&id("ext/manual"), &manual, stream::single("m"))
        .await
        .expect("put failed");
    assert_eq!(
        extend("ext/manual", ExpiryTarget::AfterNow(DAY)).await,
        ExtendOutcome::Rejected
    );

    let ttl = stamped(ExpirationPolicy::TimeToLive(DAY), now);
    let created = ttl.time_created.expect("stamped");
    b.put(&id("ext/ttl"), &ttl, stream::single("ttl"))
        .await
        .expect("put failed");
    // Already sufficient: nothing changes.
    for target in [
        ExpiryTarget::At(now),
        ExpiryTarget::AfterNow(Duration::ZERO),
        ExpiryTarget::AfterCreation(DAY / 2),
    ] {
        assert_eq!(
            extend("ext/ttl", target).await,
            ExtendOutcome::Satisfied,
            "{target:?}"
        );
    }
    let head = b.head(&id("ext/ttl")).await.expect("head failed");
    assert_eq!(
        head,
        Some(with_size(&ttl, 3)),
        "a sufficient deadline was changed"
    );
    // From creation: TTL becomes the whole lifetime.
    assert_eq!(
        extend("ext/ttl", ExpiryTarget::AfterCreation(3 * DAY)).await,
        ExtendOutcome::Satisfied
    );
    let (m, bytes) = read_object(b, &id("ext/ttl")).await.expect("object gone");
    assert_eq!(bytes, b"ttl", "extension changed the payload");
    assert_eq!(m.time_expires, Some(created + 3 * DAY));
    assert_eq!(m.expiration_policy, ExpirationPolicy::TimeToLive(3 * DAY));
    assert_eq!(
        m,
        Metadata {
            time_expires: m.time_expires,
            expiration_policy: m.expiration_policy,
            ..with_size(&ttl, 3)
        },
        "extension changed other metadata"
    );
    // From now, and at an absolute instant (rounded up to a second).
    cx.advance(Duration::from_secs(10));
    assert_eq!(
        extend("ext/ttl", ExpiryTarget::AfterNow(5 * DAY)).await,
        ExtendOutcome::Satisfied
    );
    let want = time::ceil_to_second(cx.now()) + 5 * DAY;
    let m = b
        .head(&id("ext/ttl"))
        .await
        .expect("head failed")
        .expect("gone");
    assert_eq!(m.time_expires, Some(want));
    let at = want + DAY + Duration::from_millis(300);
    assert_eq!(
        extend("ext/ttl", ExpiryTarget::At(at)).await,
        ExtendOutcome::Satisfied
    );
    let m = b
        .head(&id("ext/ttl"))
        .await
        .expect("head failed")
        .expect("gone");
    assert_eq!(m.time_expires, Some(time::ceil_to_second(at)));

    // TTI keeps its duration.
    let tti = stamped(ExpirationPolicy::TimeToIdle(DAY), cx.now());
    b.put(&id("ext/tti"), &tti, stream::single("tti"))
        .await
        .expect("put failed");
    assert_eq!(
        extend("ext/tti", ExpiryTarget::AfterNow(5 * DAY)).await,
        ExtendOutcome::Satisfied
    );
    let m = b
        .head(&id("ext/tti"))
        .await
        .expect("head failed")
        .expect("gone");
    assert_eq!(m.expiration_policy, ExpirationPolicy::TimeToIdle(DAY));
    assert_eq!(
        m.time_expires,
        Some(time::ceil_to_second(cx.now()) + 5 * DAY),
        "TTI deadline not extended"
    );
}

/// `extend_expiry` of an expired object is `NotFound`; of an object without a creation
/// time, from creation, `Rejected`.
pub async fn extend_expiry_of_expired_or_timeless_objects(cx: &Ctx<dyn Backend>) {
    let b = &*cx.backend;
    let ttl = stamped(
        ExpirationPolicy::TimeToLive(Duration::from_secs(10)),
        cx.now(),
    );
    b.put(&id("ext/expired"), &ttl, stream::single("x"))
        .await
        .expect("put failed");
    cx.advance(Duration::from_secs(60));
    let outcome = b
        .extend_expiry(&id("ext/expired"), ExpiryTarget::AfterNow(DAY), cx.now())
        .await
        .expect("extend_expiry failed");
    assert_eq!(
        outcome,
        ExtendOutcome::NotFound,
        "expired objects cannot be extended"
    );
    assert!(
        read_object(b, &id("ext/expired")).await.is_none(),
        "extension revived an object"
    );

    let timeless = Metadata {
        expiration_policy: ExpirationPolicy::TimeToLive(DAY),
        time_created: None,
        time_expires: Some(time::ceil_to_second(cx.now()) + DAY),
        ..Metadata::default()
    };
    b.put(&id("ext/timeless"), &timeless, stream::single("x"))
        .await
        .expect("put failed");
    let outcome = b
        .extend_expiry(
            &id("ext/timeless"),
            ExpiryTarget::AfterCreation(3 * DAY),
            cx.now(),
        )
        .await
        .expect("extend_expiry failed");
    assert_eq!(
        outcome,
        ExtendOutcome::Rejected,
        "from-creation needs a creation time"
    );
}
