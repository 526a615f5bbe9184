//! The catalog of the tiered engine: conditional writes (small, large, deletes, multipart
//! completes; early refusal and the atomic commit; races of many writers), the listing
//! through the high-volume index, and the listing of open uploads.

use std::time::Duration;

use objectstore_types::{ExpirationPolicy, Metadata, Usecase};

use super::*;
use crate::backend::catalog::{Catalog, UploadQuery};
use crate::backend::{ListQuery, Precondition};
use crate::clock::Clock as _;
use crate::digest::entity_tag;
use crate::error::Error;

fn absent() -> Precondition {
    Precondition::Absent
}

/// Metadata that makes the object's tag distinct (`custom[racer] = n`).
fn racer(n: usize) -> Metadata {
    let mut m = Metadata::default();
    m.custom.insert("racer".into(), n.to_string());
    m
}

async fn put_if(
    storage: &TieredStorage,
    id: &ObjectId,
    metadata: &Metadata,
    body: Vec<u8>,
    pre: &Precondition,
) -> crate::Result<()> {
    storage
        .put_if(id, metadata, stream::single(body), pre)
        .await
        .map(|_receipt| ())
}

/// The current entity tag of `id` (which must exist).
async fn tag(storage: &TieredStorage, id: &ObjectId) -> String {
    entity_tag(&storage.head(id).await.unwrap().expect("object exists"))
}

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: crate::Result<T>) {
    match result {
        Err(Error::PreconditionFailed(_)) => {}
        other => panic!("expected PreconditionFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn conditional_puts_judge_inline_and_tombstone_rows() {
    let (env, storage) = env_and_storage();
    for (name, size) in [("small", 10), ("large", LARGE)] {
        let key = id(&format!("cond/{name}"));
        put_if(&storage, &key, &racer(1), payload(size, 1), &absent())
            .await
            .unwrap();
        assert_refused(put_if(&storage, &key, &racer(2), payload(size, 2), &absent()).await);
        let wrong = Precondition::ETagMatches("0123".into());
        assert_refused(put_if(&storage, &key, &racer(2), payload(size, 2), &wrong).await);
        assert_eq!(read(&storage, &key).await, Some(payload(size, 1)));
        let current = Precondition::ETagMatches(tag(&storage, &key).await);
        put_if(&storage, &key, &racer(3), payload(size, 3), &current)
            .await
            .unwrap();
        assert_eq!(read(&storage, &key).await, Some(payload(size, 3)));
        // The tag of the replaced object no longer matches.
        assert_refused(put_if(&storage, &key, &racer(4), payload(size, 4), &current).await);
    }
    env.settled(&storage).await;
}

#[tokio::test]
async fn a_refused_large_put_stores_nothing_and_reads_no_body() {
    let (env, storage, key) = fresh("cond/refused");
    put(&storage, &key, &payload(LARGE, 1)).await.unwrap();
    let lt_before = env.lt.ids();
    // A body that fails if read: the refusal comes before it.
    let body = futures::stream::once(async {
        Err::<Bytes, _>(std::io::Error::other("the body must not be read"))
    })
    .boxed();
    let result = storage
        .put_if(&key, &Metadata::default(), body, &absent())
        .await;
    assert_refused(result);
    settle(&storage).await;
    assert_eq!(env.lt.ids(), lt_before, "a refused write stored a blob");
    env.assert_consistent();
}

#[tokio::test]
async fn expired_objects_count_as_absent() {
    let (env, storage) = env_and_storage();
    let mut ttl = Metadata {
        expiration_policy: ExpirationPolicy::TimeToLive(Duration::from_secs(10)),
        ..Metadata::default()
    };
    ttl.stamp(env.clock.now());
    for (name, size) in [("small", 10), ("large", LARGE)] {
        let key = id(&format!("cond/expired/{name}"));
        storage
            .put(&key, &ttl, stream::single(payload(size, 1)))
            .await
            .unwrap();
    }
    env.clock.advance(Duration::from_secs(11));
    for (name, size) in [("small", 10), ("large", LARGE)] {
        let key = id(&format!("cond/expired/{name}"));
        let stale = Precondition::ETagMatches(entity_tag(&ttl));
        assert_refused(put_if(&storage, &key, &racer(1), payload(size, 2), &stale).await);
        put_if(&storage, &key, &racer(1), payload(size, 2), &absent())
            .await
            .unwrap();
        assert_eq!(read(&storage, &key).await, Some(payload(size, 2)));
    }
    env.settled(&storage).await;
}

#[tokio::test]
async fn conditional_deletes() {
    let (env, storage) = env_and_storage();
    for (name, size) in [("small", 10), ("large", LARGE)] {
        let key = id(&format!("cond/delete/{name}"));
        put(&storage, &key, &payload(size, 1)).await.unwrap();
        let wrong = Precondition::ETagMatches("nope".into());
        assert_refused(storage.delete_if(&key, &wrong).await);
        assert!(read(&storage, &key).await.is_some());
        let current = Precondition::ETagMatches(tag(&storage, &key).await);
        storage.delete_if(&key, &current).await.unwrap();
        assert_eq!(read(&storage, &key).await, None);
        assert_refused(storage.delete_if(&key, &current).await);
    }
    env.settled(&storage).await;
}

#[tokio::test]
async fn conditional_completes_leave_a_refused_upload_open() {
    let (env, storage, key) = fresh("cond/multipart");
    put(&storage, &key, b"existing").await.unwrap();
    let (upload_id, parts) = upload(&storage, &key, &[payload(100, 1), payload(50, 2)]).await;
    let refused = storage
        .complete_multipart_if(&key, &upload_id, &parts, &absent())
        .await;
    assert!(
        matches!(refused, Err(Error::PreconditionFailed(_))),
        "{refused:?}"
    );
    assert_eq!(read(&storage, &key).await, Some(b"existing".to_vec()));
    let current = Precondition::ETagMatches(tag(&storage, &key).await);
    let done = storage
        .complete_multipart_if(&key, &upload_id, &parts, &current)
        .await
        .unwrap();
    assert_eq!(done, None);
    let mut expected = payload(100, 1);
    expected.extend(payload(50, 2));
    assert_eq!(read(&storage, &key).await, Some(expected));
    // A retry of the committed complete succeeds whatever its precondition now says.
    let retried = storage
        .complete_multipart_if(&key, &upload_id, &parts, &absent())
        .await
        .unwrap();
    assert_eq!(retried, None);
    settle(&storage).await;
    env.clock
        .advance(TieredConfig::default().multipart_deadline * 2);
    storage.recover_now(false).await.unwrap();
    env.settled(&storage).await;
}

/// Sixteen writers race (writing distinct objects, numbered from `first`); returns how
/// many succeeded, were refused, or conflicted.
async fn race(
    storage: &Arc<TieredStorage>,
    key: &ObjectId,
    size: usize,
    pre: &Precondition,
    first: usize,
) -> (usize, usize, usize) {
    let tasks: Vec<_> = (first..first + 16)
        .map(|i| {
            let (storage, key, pre) = (Arc::clone(storage), key.clone(), pre.clone());
            tokio::spawn(async move {
                let body = payload(size, i as u8 + 10);
                put_if(&storage, &key, &racer(i), body, &pre).await
            })
        })
        .collect();
    let mut counts = (0, 0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => counts.0 += 1,
            Err(Error::PreconditionFailed(_)) => counts.1 += 1,
            Err(Error::Conflict(_)) => counts.2 += 1,
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_conditional_writers_have_exactly_the_allowed_winners() {
    let env = Env::new();
    let storage = Arc::new(env.storage());
    for (name, size) in [("small", 10), ("large", LARGE)] {
        let key = id(&format!("cond/race/{name}"));
        let (won, refused, conflicts) = race(&storage, &key, size, &absent(), 0).await;
        assert_eq!((won, refused + conflicts), (1, 15), "If-None-Match: *");
        assert_eq!(
            conflicts, 0,
            "If-None-Match losers are refused, not conflicts"
        );
        let current = Precondition::ETagMatches(tag(&storage, &key).await);
        let (won, _, _) = race(&storage, &key, size, &current, 100).await;
        assert_eq!(won, 1, "If-Match {name}");
    }
    env.settled(&storage).await;
}

#[tokio::test]
async fn listing_and_open_uploads() {
    let (_env, storage) = env_and_storage();
    put(&storage, &id("list/a"), b"a").await.unwrap();
    put(&storage, &id("list/b"), &payload(LARGE, 1))
        .await
        .unwrap();
    put(&storage, &id("other"), b"o").await.unwrap();
    let usecase = Usecase::new("testing").unwrap();
    let page = storage
        .list(&ListQuery::new(usecase.clone(), "testing=value/list/", 10))
        .await
        .unwrap();
    let listed: Vec<(&str, Option<u64>)> = page
        .rows
        .iter()
        .map(|r| (r.key.as_str(), r.metadata.size))
        .collect();
    assert_eq!(
        listed,
        [
            ("testing=value/list/a", Some(1)),
            ("testing=value/list/b", Some(LARGE as u64))
        ]
    );

    let (first, _) = upload(&storage, &id("up/x"), &[payload(10, 1)]).await;
    let (second, parts) = upload(&storage, &id("up/y"), &[payload(10, 2)]).await;
    let (third, _) = upload(&storage, &id("up/y"), &[]).await;
    let query = |after| UploadQuery {
        usecase: usecase.clone(),
        prefix: b"testing=value/up/".to_vec(),
        after,
        limit: 10,
    };
    let open = storage.list_uploads(&query(None)).await.unwrap();
    let mut y_ids = [second.clone(), third.clone()];
    y_ids.sort();
    let ids: Vec<&str> = open.uploads.iter().map(|u| u.upload_id.as_str()).collect();
    assert_eq!(ids, [first.as_str(), y_ids[0].as_str(), y_ids[1].as_str()]);
    assert!(!open.truncated);
    let after_x = query(Some((b"testing=value/up/x".to_vec(), None)));
    let rest = storage.list_uploads(&after_x).await.unwrap();
    assert_eq!(rest.uploads.len(), 2);
    let one = storage
        .list_uploads(&UploadQuery {
            limit: 1,
            ..query(None)
        })
        .await
        .unwrap();
    assert!(one.truncated && one.uploads.len() == 1);

    storage.abort_multipart(&id("up/x"), &first).await.unwrap();
    complete(&storage, &id("up/y"), &second, &parts).await;
    let open = storage.list_uploads(&query(None)).await.unwrap();
    let ids: Vec<&str> = open.uploads.iter().map(|u| u.upload_id.as_str()).collect();
    assert_eq!(
        ids,
        [third.as_str()],
        "aborted or completed uploads are listed"
    );
    let late = storage.complete_multipart(&id("up/x"), &first, &[]).await;
    assert!(matches!(late, Err(Error::NotFound(_))), "{late:?}");
}
