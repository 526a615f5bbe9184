//! The hook backend forwards what is not overridden and applies what is.

use std::sync::Arc;

use futures::FutureExt;
use objectstore_types::{ObjectContext, ObjectKey, Scopes, Usecase};

use super::*;
use crate::clock::ManualClock;
use crate::error::Error;
use crate::stream;

fn id(key: &str) -> ObjectId {
    ObjectId::new(
        ObjectContext {
            usecase: Usecase::new("testing").unwrap(),
            scopes: Scopes::empty(),
        },
        ObjectKey::new(key).unwrap(),
    )
}

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

/// One override per kind of disturbance.
#[derive(Debug)]
struct Disturb {
    gate: Arc<Gate>,
}

#[async_trait]
impl Hooks for Disturb {
    // Fail.
    async fn delete_object(&self, _inner: &MemoryBackend, _id: &ObjectId) -> Result<()> {
        Err(Error::Internal("simulated delete failure".into()))
    }

    // Conflict.
    async fn compare_and_write(
        &self,
        _inner: &MemoryBackend,
        _id: &ObjectId,
        _current: Option<&ObjectId>,
        _write: TieredWrite,
    ) -> Result<bool> {
        Ok(false)
    }

    // Pause.
    async fn get_metadata(&self, inner: &MemoryBackend, id: &ObjectId) -> Result<Option<Metadata>> {
        self.gate.pause().await;
        inner.get_metadata(id).await
    }

    // Panic.
    async fn log_len(&self, _inner: &MemoryBackend) -> Result<u64> {
        panic!("simulated panic")
    }

    // Fail after commit.
    async fn put_non_tombstone(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        metadata: &Metadata,
        payload: Bytes,
    ) -> Result<Option<Tombstone>> {
        inner.put_non_tombstone(id, metadata, payload).await?;
        Err(Error::Internal("simulated lost response".into()))
    }
}

#[tokio::test]
async fn overrides_apply_and_everything_else_forwards() {
    let inner = MemoryBackend::new("hv", ManualClock::new());
    let gate = Gate::new();
    let hooked = HookBackend::new(
        inner.clone(),
        Disturb {
            gate: Arc::clone(&gate),
        },
    );
    assert_eq!(hooked.name(), "hv");

    // Forwarded.
    hooked
        .put_object(&id("a"), &Metadata::default(), stream::single("abc"))
        .await
        .unwrap();
    assert_eq!(&inner.entry(&id("a")).expect_object().1[..], b"abc");

    // Fail: nothing changes.
    assert!(hooked.delete_object(&id("a")).await.is_err());
    assert!(inner.contains(&id("a")));

    // Conflict: reported, nothing written.
    let write = TieredWrite::Tombstone(tombstone("a/rev"));
    assert!(
        !hooked
            .compare_and_write(&id("a"), None, write)
            .await
            .unwrap()
    );
    inner.entry(&id("a")).expect_object();

    // Pause: the call waits for the test.
    let call = tokio::spawn({
        let hooked = hooked.clone();
        async move { hooked.get_metadata(&id("a")).await }
    });
    gate.reached().await;
    assert!(!call.is_finished());
    gate.release();
    let metadata = call.await.unwrap().unwrap().unwrap();
    assert_eq!(metadata.size, Some(3));

    // Panic.
    let panicked = std::panic::AssertUnwindSafe(hooked.log_len())
        .catch_unwind()
        .await;
    assert!(panicked.is_err());

    // Fail after commit: the error is reported but the write happened.
    let put = hooked
        .put_non_tombstone(&id("b"), &Metadata::default(), Bytes::from_static(b"xy"))
        .await;
    assert!(put.is_err());
    assert_eq!(&inner.entry(&id("b")).expect_object().1[..], b"xy");
}

#[tokio::test]
async fn faults_follow_rules_and_count_calls() {
    let inner = MemoryBackend::new("lt", ManualClock::new());
    let faults = Faults::new()
        .on(Method::PutObject, Calls::Nth(2), Fault::Fail)
        .on(Method::DeleteObject, Calls::From(1), Fault::FailAfterCommit);
    let hooked = HookBackend::new(inner.clone(), faults.clone());

    for (i, expect_ok) in [(1, true), (2, false), (3, true)] {
        let body = format!("v{i}");
        let r = hooked
            .put_object(&id("k"), &Metadata::default(), stream::single(body))
            .await;
        assert_eq!(r.is_ok(), expect_ok, "put #{i}");
    }
    assert_eq!(faults.calls(Method::PutObject), 3);
    assert_eq!(&inner.entry(&id("k")).expect_object().1[..], b"v3");

    let err = hooked.delete_object(&id("k")).await.unwrap_err();
    assert!(
        err.is_retryable(),
        "injected failures look like backend failures"
    );
    inner.entry(&id("k")).expect_not_found();
    assert_eq!(faults.calls(Method::GetObject), 0);

    faults.clear();
    hooked.delete_object(&id("k")).await.unwrap();
    assert_eq!(faults.calls(Method::DeleteObject), 2);
}

#[tokio::test]
async fn faults_pause_after_the_inner_call() {
    let inner = MemoryBackend::new("lt", ManualClock::new());
    let gate = Gate::new();
    let faults = Faults::new()
        .on(
            Method::PutObject,
            Calls::All,
            Fault::PauseAfter(Arc::clone(&gate)),
        )
        .on(Method::LogLen, Calls::All, Fault::Panic);
    let hooked = HookBackend::new(inner.clone(), faults);

    let call = tokio::spawn({
        let hooked = hooked.clone();
        async move {
            hooked
                .put_object(&id("p"), &Metadata::default(), stream::single("p"))
                .await
        }
    });
    gate.reached().await;
    // Committed, but the call has not answered yet.
    assert!(inner.contains(&id("p")));
    assert!(!call.is_finished());
    gate.release();
    call.await.unwrap().unwrap();

    let panicked = std::panic::AssertUnwindSafe(hooked.log_len())
        .catch_unwind()
        .await;
    assert!(panicked.is_err());
}
