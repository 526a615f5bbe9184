//! The decorator forwards what no rule touches and applies what the rules say; metering
//! changes nothing.

use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use objectstore_types::Metadata;

use super::Decorated;
use super::faults::{Calls, Fault, Faults, Gate};
use super::metering::Metering;
use super::*;
use crate::backend::Expected;
use crate::backend::memory::MemoryBackend;
use crate::backend::{
    Backend, ChangeLog, Component, HighVolumeBackend, LongTermBackend, TieredWrite, Tombstone,
};
use crate::clock::ManualClock;
use crate::conformance::id;
use crate::error::Error;
use crate::stream;

fn tombstone(target: &str) -> Tombstone {
    let metadata = Metadata {
        size: Some(1),
        ..Metadata::default()
    };
    Tombstone {
        target: id(target),
        metadata,
    }
}

#[tokio::test]
async fn overrides_apply_and_everything_else_forwards() {
    let inner = MemoryBackend::new("hv", ManualClock::new());
    let gate = Gate::new();
    let faults = Faults::new()
        // Fail.
        .on(Method::Delete, Calls::All, Fault::Fail)
        // Conflict.
        .on(Method::CompareAndWrite, Calls::All, Fault::reply(|| false))
        // Pause.
        .on(
            Method::Head,
            Calls::All,
            Fault::PauseBefore(Arc::clone(&gate)),
        )
        // Panic.
        .on(Method::CountRecords, Calls::All, Fault::Panic)
        // Fail after commit.
        .on(Method::Put, Calls::From(2), Fault::FailAfterCommit);
    let hooked = Decorated::new(Arc::new(inner.clone()), faults);
    assert_eq!(hooked.name(), "hv");

    // Forwarded.
    Backend::put(
        &hooked,
        &id("a"),
        &Metadata::default(),
        stream::single("abc"),
    )
    .await
    .unwrap();
    assert_eq!(&inner.entry(&id("a")).expect_object().1[..], b"abc");

    // Fail: nothing changes.
    assert!(Backend::delete(&hooked, &id("a")).await.is_err());
    assert!(inner.contains(&id("a")));

    // Conflict: reported, nothing written.
    let write = TieredWrite::Tombstone(tombstone("a/rev"));
    assert!(
        !hooked
            .compare_and_write(&id("a"), &Expected::revision(None), write)
            .await
            .unwrap()
    );
    inner.entry(&id("a")).expect_object();

    // Pause: the call waits for the test.
    let call = tokio::spawn({
        let hooked = hooked.clone();
        async move { Backend::head(&hooked, &id("a")).await }
    });
    gate.reached().await;
    assert!(!call.is_finished());
    gate.release();
    let metadata = call.await.unwrap().unwrap().unwrap();
    assert_eq!(metadata.size, Some(3));

    // Panic.
    let panicked = std::panic::AssertUnwindSafe(hooked.count_records())
        .catch_unwind()
        .await;
    assert!(panicked.is_err());

    // Fail after commit: the error is reported but the write happened.
    let put = HighVolumeBackend::put(
        &hooked,
        &id("b"),
        &Metadata::default(),
        Bytes::from_static(b"xy"),
    )
    .await;
    assert!(put.is_err());
    assert_eq!(&inner.entry(&id("b")).expect_object().1[..], b"xy");
}

#[tokio::test]
async fn faults_follow_rules_and_count_calls() {
    let inner = MemoryBackend::new("lt", ManualClock::new());
    let faults = Faults::new()
        .on(Method::Put, Calls::Nth(2), Fault::Fail)
        .on(Method::Delete, Calls::From(1), Fault::FailAfterCommit);
    let hooked = Decorated::new(Arc::new(inner.clone()), faults.clone());

    for (i, expect_ok) in [(1, true), (2, false), (3, true)] {
        let body = format!("v{i}");
        let r = Backend::put(
            &hooked,
            &id("k"),
            &Metadata::default(),
            stream::single(body),
        )
        .await;
        assert_eq!(r.is_ok(), expect_ok, "put #{i}");
    }
    assert_eq!(faults.calls(Method::Put), 3);
    assert_eq!(&inner.entry(&id("k")).expect_object().1[..], b"v3");

    let err = Backend::delete(&hooked, &id("k")).await.unwrap_err();
    assert!(
        err.is_retryable(),
        "injected failures look like backend failures"
    );
    inner.entry(&id("k")).expect_not_found();
    assert_eq!(faults.calls(Method::Get), 0);

    faults.clear();
    Backend::delete(&hooked, &id("k")).await.unwrap();
    assert_eq!(faults.calls(Method::Delete), 2);
}

#[tokio::test]
async fn faults_pause_after_the_inner_call() {
    let inner = MemoryBackend::new("lt", ManualClock::new());
    let gate = Gate::new();
    let faults = Faults::new()
        .on(
            Method::Put,
            Calls::All,
            Fault::PauseAfter(Arc::clone(&gate)),
        )
        .on(Method::CountRecords, Calls::All, Fault::Panic);
    let hooked = Decorated::new(Arc::new(inner.clone()), faults);

    let call = tokio::spawn({
        let hooked = hooked.clone();
        async move { Backend::put(&hooked, &id("p"), &Metadata::default(), stream::single("p")).await }
    });
    gate.reached().await;
    // Committed, but the call has not answered yet.
    assert!(inner.contains(&id("p")));
    assert!(!call.is_finished());
    gate.release();
    call.await.unwrap().unwrap();

    let panicked = std::panic::AssertUnwindSafe(hooked.count_records())
        .catch_unwind()
        .await;
    assert!(panicked.is_err());
}

#[tokio::test]
#[should_panic(expected = "answers a `u64`, but the call returns a `bool`")]
async fn a_reply_of_the_wrong_type_panics_clearly() {
    let inner = MemoryBackend::new("hv", ManualClock::new());
    let faults = Faults::new().on(Method::CompareAndWrite, Calls::All, Fault::reply(|| 7u64));
    let hooked = Decorated::new(Arc::new(inner), faults);
    let _ = hooked
        .compare_and_write(&id("k"), &Expected::revision(None), TieredWrite::Delete)
        .await;
}

/// Flips every payload byte on the way in and on the way out.
#[derive(Debug)]
struct Flip;

fn flip(body: crate::stream::PayloadStream) -> crate::stream::PayloadStream {
    use futures::StreamExt as _;
    let flipped = |b: Bytes| Bytes::from(b.iter().map(|x| x ^ 0xff).collect::<Vec<u8>>());
    body.map(move |chunk| chunk.map(flipped)).boxed()
}

impl Around for Flip {
    fn body_in(
        &self,
        _: &Call<'_>,
        body: crate::stream::PayloadStream,
    ) -> crate::stream::PayloadStream {
        flip(body)
    }

    fn body_out(
        &self,
        _: &Call<'_>,
        body: crate::stream::PayloadStream,
    ) -> crate::stream::PayloadStream {
        flip(body)
    }
}

#[tokio::test]
async fn body_hooks_wrap_the_payload_streams_in_and_out() {
    let inner = MemoryBackend::new("lt", ManualClock::new());
    let flipped = Decorated::new(Arc::new(inner.clone()), Flip);
    Backend::put(
        &flipped,
        &id("k"),
        &Metadata::default(),
        stream::single("abc"),
    )
    .await
    .unwrap();
    let stored = inner.entry(&id("k")).expect_object().1;
    assert_eq!(
        &stored[..],
        &[!b'a', !b'b', !b'c'],
        "put bodies go through body_in"
    );
    let read = crate::conformance::read_object(&flipped, &id("k"))
        .await
        .unwrap();
    assert_eq!(read.1, b"abc", "get bodies go through body_out");
    // Parts too, and the high-volume reads.
    let upload = flipped
        .initiate_multipart(&id("m"), &Metadata::default())
        .await
        .unwrap();
    let etag = (flipped
        .upload_part(&id("m"), &upload, 1, 2, stream::single("xy"))
        .await)
        .unwrap();
    let part = crate::backend::CompletedPart {
        part_number: 1,
        etag,
    };
    inner
        .complete_multipart(&id("m"), &upload, &[part])
        .await
        .unwrap();
    assert_eq!(
        &inner.entry(&id("m")).expect_object().1[..],
        &[!b'x', !b'y']
    );
    let row = crate::conformance::read_inline(&flipped, &id("m"))
        .await
        .unwrap();
    assert_eq!(row.1, b"xy");
}

#[tokio::test]
async fn metering_forwards_results_and_errors_unchanged() {
    let memory = MemoryBackend::new("memory", ManualClock::new());
    let metered = Decorated::new(Arc::new(memory), Metering::new("standalone"));
    assert_eq!(metered.name(), "memory");
    assert_eq!(Backend::head(&metered, &id("k")).await.expect("head"), None);
    let missing = metered
        .list_parts(crate::backend::PartsQuery::all(&id("k"), "nope"))
        .await;
    assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
}
