use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream;
use objectstore_types::Metadata;
use tokio::sync::Semaphore;

use super::*;
use crate::error::Error;
use crate::service::ServiceConfig;
use crate::service::tests::{Action, context, id, probed_service};

fn config(max: usize, pct: u8) -> ServiceConfig {
    ServiceConfig {
        max_concurrency: max,
        bulk_concurrency_pct: pct,
        ..ServiceConfig::default()
    }
}

fn key(k: &str) -> ObjectKey {
    ObjectKey::new(k).unwrap()
}

fn insert(k: &str, payload: &'static [u8]) -> BatchOp {
    BatchOp::Insert {
        key: Some(key(k)),
        metadata: Box::default(),
        payload: Bytes::from_static(payload),
    }
}

fn indexed(ops: Vec<BatchOp>) -> impl Stream<Item = (usize, BatchOp)> + Send + 'static {
    stream::iter(ops.into_iter().enumerate())
}

/// Collects all results by index, checking that each index appears exactly once.
async fn by_index(
    results: BoxStream<'static, (usize, Result<BatchOutcome>)>,
) -> BTreeMap<usize, Result<BatchOutcome>> {
    let mut out = BTreeMap::new();
    let all: Vec<_> = results.collect().await;
    for (index, result) in all {
        assert!(out.insert(index, result).is_none(), "index {index} twice");
    }
    out
}

#[tokio::test]
async fn every_kind_of_operation_runs() {
    let (service, memory, _probe, _events) = probed_service(ServiceConfig::default());
    for k in ["seeded", "doomed"] {
        let body = crate::stream::single(Bytes::from_static(b"seed"));
        service.put(id(k), Metadata::default(), body).await.unwrap();
    }
    let ops = vec![
        BatchOp::Get { key: key("seeded") },
        BatchOp::Get {
            key: key("missing"),
        },
        BatchOp::Head { key: key("seeded") },
        BatchOp::Head {
            key: key("missing"),
        },
        insert("new", b"payload"),
        BatchOp::Insert {
            key: None,
            metadata: Box::default(),
            payload: Bytes::new(),
        },
        BatchOp::Delete { key: key("doomed") },
    ];
    let mut results = by_index(service.batch(context(), indexed(ops))).await;
    assert_eq!(results.len(), 7);

    let Ok(BatchOutcome::Get {
        key: k,
        response: GetResponse::Found { body, .. },
    }) = results.remove(&0).unwrap()
    else {
        panic!("get of a seeded object")
    };
    assert_eq!(k.as_str(), "seeded");
    assert_eq!(crate::stream::read_to_vec(body).await.unwrap(), b"seed");
    assert!(matches!(
        results.remove(&1).unwrap(),
        Ok(BatchOutcome::Get {
            response: GetResponse::NotFound,
            ..
        })
    ));
    assert!(matches!(
        results.remove(&2).unwrap(),
        Ok(BatchOutcome::Head {
            metadata: Some(_),
            ..
        })
    ));
    assert!(matches!(
        results.remove(&3).unwrap(),
        Ok(BatchOutcome::Head { metadata: None, .. })
    ));
    let Ok(BatchOutcome::Insert { key: k }) = results.remove(&4).unwrap() else {
        panic!("insert with a key")
    };
    assert_eq!(k.as_str(), "new");
    let (stored, bytes) = memory.entry(&id("new")).expect_object();
    assert_eq!(&bytes[..], b"payload");
    assert!(stored.time_created.is_some(), "batch inserts are stamped");
    let Ok(BatchOutcome::Insert { key: generated }) = results.remove(&5).unwrap() else {
        panic!("insert without a key")
    };
    assert!(uuid::Uuid::parse_str(generated.as_str()).is_ok());
    assert!(memory.contains(&id(generated.as_str())));
    assert!(matches!(
        results.remove(&6).unwrap(),
        Ok(BatchOutcome::Delete { .. })
    ));
    assert!(!memory.contains(&id("doomed")));
    assert!(memory.contains(&id("seeded")));
    assert_eq!(service.tasks_running(), 0);
}

#[tokio::test]
async fn an_empty_batch_yields_nothing() {
    let (service, _memory, _probe, _events) = probed_service(ServiceConfig::default());
    let results = by_index(service.batch(context(), indexed(Vec::new()))).await;
    assert!(results.is_empty());
}

/// Runs `n` paused inserts and checks that exactly `window` of them start before any is
/// released.
async fn check_window(config: ServiceConfig, n: usize, window: usize) {
    let (service, _memory, probe, mut events) = probed_service(config);
    assert_eq!(service.batch_window(), window);
    let gate = Arc::new(Semaphore::new(0));
    probe.on_all(Action::Pause(gate.clone()));
    let keys: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
    let ops = keys
        .iter()
        .map(|k| BatchOp::Insert {
            key: Some(key(k)),
            metadata: Box::default(),
            payload: Bytes::from_static(b"x"),
        })
        .collect();
    let run = tokio::spawn(by_index(service.batch(context(), indexed(ops))));

    for _ in 0..window {
        events.arrived.recv().await.unwrap();
    }
    // Give any op beyond the window every chance to start (it must not).
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(
        events.arrived.try_recv().is_err(),
        "more than {window} ops started"
    );
    assert_eq!(service.limiter().bulk_running(), window);

    gate.add_permits(n);
    let results = run.await.unwrap();
    assert_eq!(results.len(), n);
    assert!(
        results
            .values()
            .all(|r| matches!(r, Ok(BatchOutcome::Insert { .. })))
    );
    assert_eq!(probe.max_in_flight(), window);
    assert_eq!(
        (service.tasks_running(), service.limiter().bulk_running()),
        (0, 0)
    );
}

#[tokio::test]
async fn at_most_the_window_runs_at_once() {
    check_window(config(1000, 60), 3 * BATCH_WINDOW, BATCH_WINDOW).await;
}

#[tokio::test]
async fn the_window_shrinks_to_the_bulk_share() {
    // ceil(10 × 30%) = 3 bulk permits.
    check_window(config(10, 30), 10, 3).await;
}

#[tokio::test]
async fn results_come_in_completion_order() {
    let (service, _memory, probe, _events) = probed_service(ServiceConfig::default());
    let gate = Arc::new(Semaphore::new(0));
    probe.on("slow", Action::Pause(gate.clone()));
    let ops = vec![insert("slow", b"1"), insert("fast", b"2")];
    let mut results = service.batch(context(), indexed(ops));
    let (first, result) = results.next().await.unwrap();
    assert_eq!(first, 1, "the unpaused op finishes first");
    assert!(matches!(result, Ok(BatchOutcome::Insert { .. })));
    gate.add_permits(1);
    let (second, result) = results.next().await.unwrap();
    assert_eq!(second, 0);
    assert!(matches!(result, Ok(BatchOutcome::Insert { .. })));
    assert!(results.next().await.is_none());
}

#[tokio::test]
async fn a_failing_and_a_panicking_op_affect_only_themselves() {
    let (service, memory, probe, _events) = probed_service(ServiceConfig::default());
    probe.on("fails", Action::Fail);
    probe.on("panics", Action::Panic);
    let ops = vec![
        insert("a", b"a"),
        insert("fails", b"x"),
        BatchOp::Get { key: key("panics") },
        insert("b", b"b"),
        BatchOp::Head { key: key("a") },
    ];
    let mut results = by_index(service.batch(context(), indexed(ops))).await;
    assert_eq!(results.len(), 5);
    assert!(matches!(
        results.remove(&1).unwrap(),
        Err(Error::Backend { .. })
    ));
    let Err(Error::Internal(message)) = results.remove(&2).unwrap() else {
        panic!("a panic becomes an internal error")
    };
    assert!(message.contains("injected panic on panics"), "{message}");
    for index in [0, 3, 4] {
        assert!(results.remove(&index).unwrap().is_ok(), "op {index}");
    }
    assert!(memory.contains(&id("a")) && memory.contains(&id("b")));
    assert!(!memory.contains(&id("fails")));
    assert_eq!(
        (service.tasks_running(), service.limiter().bulk_running()),
        (0, 0)
    );
}

#[tokio::test]
async fn zero_concurrency_makes_every_op_overloaded() {
    let (service, memory, _probe, _events) = probed_service(config(0, 60));
    let ops = (0..5)
        .map(|i| BatchOp::Get {
            key: key(&format!("k{i}")),
        })
        .collect();
    let results = by_index(service.batch(context(), indexed(ops))).await;
    assert_eq!(results.keys().copied().collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    assert!(
        results
            .values()
            .all(|r| matches!(r, Err(Error::Overloaded)))
    );
    assert!(memory.is_empty());
}

#[tokio::test]
async fn ops_without_a_bulk_permit_in_time_are_overloaded() {
    let (service, memory, _probe, _events) = probed_service(ServiceConfig {
        max_concurrency: 2,
        concurrency_timeout: Duration::from_millis(20),
        bulk_concurrency_pct: 50,
        ..ServiceConfig::default()
    });
    // Another batch holds the only bulk permit.
    let held = service.limiter().acquire_bulk().await.unwrap();
    let results = by_index(service.batch(context(), indexed(vec![insert("a", b"a")]))).await;
    assert!(matches!(results[&0], Err(Error::Overloaded)));
    assert!(memory.is_empty());
    // Single operations still get the rest.
    assert!(service.head(id("a")).await.unwrap().is_none());
    drop(held);
    let results = by_index(service.batch(context(), indexed(vec![insert("a", b"a")]))).await;
    assert!(matches!(results[&0], Ok(BatchOutcome::Insert { .. })));
}

#[tokio::test]
async fn a_get_body_in_a_batch_holds_its_bulk_permit() {
    let (service, _memory, _probe, _events) = probed_service(ServiceConfig::default());
    let results = by_index(service.batch(context(), indexed(vec![insert("k", b"abc")]))).await;
    assert!(results[&0].is_ok());
    let mut results = service.batch(context(), indexed(vec![BatchOp::Get { key: key("k") }]));
    let Some((
        0,
        Ok(BatchOutcome::Get {
            response: GetResponse::Found { body, .. },
            ..
        }),
    )) = results.next().await
    else {
        panic!("the stored object")
    };
    assert_eq!(service.limiter().bulk_running(), 1);
    assert_eq!(crate::stream::read_to_vec(body).await.unwrap(), b"abc");
    assert_eq!(
        (service.tasks_running(), service.limiter().bulk_running()),
        (0, 0)
    );
}

#[tokio::test]
async fn spawned_ops_finish_after_the_results_are_dropped() {
    let (service, memory, probe, mut events) = probed_service(ServiceConfig::default());
    let gate = Arc::new(Semaphore::new(0));
    probe.on("k", Action::Pause(gate.clone()));
    let mut results = service.batch(context(), indexed(vec![insert("k", b"abc")]));
    // Start the op, then drop the batch while it is paused inside the backend.
    let pending = tokio::select! {
        biased;
        _ = results.next() => false,
        arrived = events.arrived.recv() => arrived.as_deref() == Some("k"),
    };
    assert!(pending);
    drop(results);
    gate.add_permits(1);
    assert_eq!(events.finished.recv().await.as_deref(), Some("k"));
    assert_eq!(&memory.entry(&id("k")).expect_object().1[..], b"abc");
}
