//! Execution-side behaviour: parsing and execution overlap, get payloads stream, storage
//! failures and overload become per-operation parts, and a payload failing mid-stream
//! aborts the response instead of truncating a part.

use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use http::StatusCode;
use objectstore_service::backend::GetResponse;
use objectstore_service::backend::around::faults::{Calls, Fault, Faults};
use objectstore_service::backend::around::{Around, Decorated, Method};
use objectstore_service::backend::memory::MemoryBackend;
use objectstore_service::clock::ManualClock;
use objectstore_service::service::{ServiceConfig, StorageService};
use objectstore_service::stream as payload;
use objectstore_types::Metadata;

use super::support::*;
use crate::batch::{AllowAll, handle};

/// A service over a fresh memory backend decorated with `around`.
fn hooked(around: impl Around, config: ServiceConfig) -> (StorageService, MemoryBackend) {
    let clock = ManualClock::new();
    let inner = MemoryBackend::new("memory", clock.clone());
    let backend = Decorated::new(Arc::new(inner.clone()), around);
    (StorageService::new(Arc::new(backend), clock, config), inner)
}

#[tokio::test]
async fn large_get_payloads_stream_through() {
    let (service, _) = service();
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    service
        .put(id("big"), Metadata::default(), payload::single(big.clone()))
        .await
        .unwrap();
    let parts = run(&service, &[Op::get("big")]).await;
    assert_eq!(parts.get(0).status, 200);
    assert_eq!(parts.get(0).body.len(), big.len());
    assert!(parts.get(0).body[..] == big[..]);
}

/// Parsing and execution overlap: the first operation's part is in the response before the
/// client has sent the rest of the request. (A handler that collected the whole request
/// first would never produce it: the generous timeout only turns that hang into a failure,
/// a correct handler never comes near it.)
#[tokio::test]
async fn executes_while_the_request_is_still_arriving() {
    let (service, _) = service();
    // The first part up to the next delimiter (so its data is known to be complete), then
    // the second part and the closing delimiter.
    let whole = multipart(&[Op::insert("first", "1"), Op::insert("second", "2")]);
    let split = 2
        + String::from_utf8_lossy(&whole[2..])
            .find(&format!("--{BOUNDARY}"))
            .unwrap()
        + 2
        + BOUNDARY.len();
    let (first, rest) = (whole[..split].to_vec(), whole[split..].to_vec());

    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    tx.send(Ok(Bytes::from(first))).await.unwrap();

    let response = handle(
        service.clone(),
        context(),
        &multipart_headers(),
        body,
        Arc::new(AllowAll),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = response.into_body().into_data_stream();
    let mut seen = Vec::new();
    let wait_for_first = async {
        while !String::from_utf8_lossy(&seen).contains("x-sn-batch-operation-index: 0") {
            seen.extend_from_slice(&stream.next().await.unwrap().unwrap());
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), wait_for_first)
        .await
        .expect("the first part must arrive before the request is complete");
    assert!(String::from_utf8_lossy(&seen).contains("201 Created"));

    tx.send(Ok(Bytes::from(rest))).await.unwrap();
    drop(tx);
    while let Some(chunk) = stream.next().await {
        seen.extend_from_slice(&chunk.unwrap());
    }
    let text = String::from_utf8_lossy(&seen);
    assert!(text.contains("x-sn-batch-operation-index: 1"));
    assert!(text.trim_end().ends_with("--"));
}

#[tokio::test]
async fn overloaded_service_answers_429_parts() {
    let config = ServiceConfig {
        max_concurrency: 0,
        ..ServiceConfig::default()
    };
    let (service, backend) = hooked(Faults::new(), config);
    let parts = run(
        &service,
        &[Op::insert("a", "1"), Op::get("a"), Op::raw("get", None)],
    )
    .await;
    parts.assert_indexes(3);
    assert_eq!(parts.statuses(), vec![429, 429, 400]);
    assert_eq!(
        parts.get(0).detail(),
        "service error: concurrency limit reached"
    );
    assert!(backend.is_empty());
}

#[tokio::test]
async fn storage_failures_and_panics_are_isolated_500_parts() {
    let faults = Faults::new()
        .on(Method::Put, Calls::Nth(2), Fault::Fail)
        .on(Method::Head, Calls::All, Fault::Panic);
    let (service, backend) = hooked(faults.clone(), ServiceConfig::default());
    let parts = run(
        &service,
        &[
            Op::insert("a", "1"),
            Op::insert("b", "2"),
            Op::insert("c", "3"),
            Op::head("a"),
        ],
    )
    .await;
    parts.assert_indexes(4);
    let mut inserts: Vec<u16> = (0..3).map(|i| parts.get(i).status).collect();
    inserts.sort_unstable();
    assert_eq!(inserts, vec![201, 201, 500]);
    assert_eq!(parts.get(3).status, 500);
    assert!(parts.get(3).detail().contains("panicked"));
    assert_eq!(backend.len(), 2);
    assert_eq!(faults.calls(Method::Put), 3);
}

/// Serves every get with a body that fails after its first chunk.
fn broken_bodies() -> Faults {
    let response = || {
        let body = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"first bytes")),
            Err(std::io::Error::other("disk on fire")),
        ])
        .boxed();
        GetResponse::Found {
            metadata: Metadata {
                size: Some(100),
                ..Metadata::default()
            },
            range: None,
            body,
        }
    };
    Faults::new().on(Method::Get, Calls::All, Fault::reply(response))
}

#[tokio::test]
async fn a_payload_failing_mid_stream_aborts_the_response() {
    let (service, _) = hooked(broken_bodies(), ServiceConfig::default());
    let response = handle(
        service,
        context(),
        &multipart_headers(),
        Body::from(multipart(&[Op::get("a")])),
        Arc::new(AllowAll),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body().into_data_stream();
    let mut seen = Vec::new();
    let mut failed = false;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => seen.extend_from_slice(&bytes),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(
        failed,
        "the body must end with an error, not a truncated part"
    );
    let text = String::from_utf8_lossy(&seen);
    assert!(text.contains("200 OK"));
    assert!(text.ends_with("first bytes"));
    assert!(!text.contains("--\r\n") && !text.trim_end().ends_with("--"));
}
