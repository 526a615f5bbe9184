//! The fault matrix: for every tiered protocol, every backend call fails **once** (before
//! its effect, or after it: the effect landed, the answer is lost) while the instance keeps
//! running. Distinct from the crash matrix (module `crash`), where the instance dies at the
//! fault and another one recovers.
//!
//! Each case first traces the protocol without a fault, splitting the calls into the
//! caller's (foreground) and the background cleanup's, then replays it once per call and
//! mode. After the faulted run, the same instance settles (`join`), retries its own failed
//! cleanups (`recover_now`), retries a failed multipart complete and waits out the
//! multipart deadline. Each case asserts:
//!
//! * **what the caller saw**: a fault before a foreground call's effect fails the operation
//!   (except the best-effort TTI bump); a fault in the background cleanup never does;
//! * **what is stored**: `Ok` → the new state; an error → the old or the new state, never a
//!   mix (bytes, size and metadata of one revision);
//! * **what cleanup leaves**: every tombstone's blob exists, no blob is unreferenced, the
//!   change log is empty and no multipart upload is open.

use std::time::{Duration, SystemTime};

use objectstore_types::{ExpirationPolicy, Metadata};

use super::crash_hooks::{Crash, When};
use super::*;
use crate::backend::{ExpiryTarget, ExtendOutcome};
use crate::clock::Clock as _;

const AFTER_DEADLINE: Duration = Duration::from_secs(26 * 3600);
const TTI: Duration = Duration::from_secs(3600);
const TTL: Duration = Duration::from_secs(600);
const EXTENDED: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// A small write over a small object (inline, no LT).
    SmallWrite,
    /// A large write of a new key.
    LargeWrite,
    /// A large write over a large object.
    LargeOverwrite,
    /// A small write over a large object's tombstone.
    SmallOverTombstone,
    /// A delete of a large object.
    Delete,
    /// A multipart complete over a large object.
    MultipartComplete,
    /// `extend_expiry` of a large object (tombstone CAS).
    ExtendExpiry,
    /// A read of a large TTI object past the debounce window (best-effort bump).
    TtiBump,
}

/// A value: its fill byte and length, with a content type naming it, so that a mix of two
/// revisions' bytes and metadata is detected.
fn value(fill: u8, len: usize) -> (Vec<u8>, String) {
    (payload(len, fill), format!("value/{}-{len}", fill as char))
}

fn old_value(protocol: Protocol) -> (Vec<u8>, String) {
    match protocol {
        Protocol::SmallWrite => value(b'o', 8),
        _ => value(b'o', 64),
    }
}

fn new_value(protocol: Protocol) -> (Vec<u8>, String) {
    match protocol {
        Protocol::SmallWrite | Protocol::SmallOverTombstone => value(b'n', 8),
        _ => value(b'n', 64),
    }
}

fn metadata_for(content_type: &str, policy: ExpirationPolicy, now: SystemTime) -> Metadata {
    let mut metadata = Metadata {
        content_type: content_type.to_owned(),
        expiration_policy: policy,
        ..Metadata::default()
    };
    metadata.stamp(now);
    metadata
}

/// What a read shows: bytes (checked against size and content type) and the stored
/// deadline, or absent.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Absent,
    Value {
        content_type: String,
        bytes: Vec<u8>,
    },
}

async fn look(storage: &TieredStorage, key: &ObjectId, label: &str) -> Seen {
    match storage.get(key, None).await.unwrap() {
        GetResponse::Found { metadata, body, .. } => {
            let bytes = stream::read_to_vec(body).await.unwrap();
            assert_eq!(metadata.size, Some(bytes.len() as u64), "{label}: size");
            let fill = bytes.first().copied().unwrap_or_default();
            assert!(bytes.iter().all(|b| *b == fill), "{label}: mixed bytes");
            let expected = value(fill, bytes.len()).1;
            assert_eq!(metadata.content_type, expected, "{label}: metadata mix");
            Seen::Value {
                content_type: metadata.content_type,
                bytes,
            }
        }
        GetResponse::NotFound => Seen::Absent,
        other => panic!("{label}: unexpected {other:?}"),
    }
}

fn seen((bytes, content_type): (Vec<u8>, String)) -> Seen {
    Seen::Value {
        content_type,
        bytes,
    }
}

/// The stored deadline of `key` (inline row or tombstone), read without the storage (no
/// bump).
fn stored_deadline(env: &Env, key: &ObjectId) -> Option<SystemTime> {
    match env.hv.entry(key) {
        Entry::Tombstone(t) => t.metadata.time_expires,
        Entry::Object(metadata, _) => metadata.time_expires,
        Entry::NotFound => None,
    }
}

/// One faulted (or traced) run.
struct Run {
    env: Env,
    storage: TieredStorage,
    result: crate::Result<()>,
    /// Calls made by the operation and its cleanup (later ones are the checks').
    calls: usize,
    /// Calls made before the operation returned (the rest are background cleanup).
    foreground: usize,
    upload: Option<(String, Vec<CompletedPart>)>,
    /// The deadline before the operation (expiry protocols).
    deadline_before: Option<SystemTime>,
}

async fn run(protocol: Protocol, hooks: &Crash) -> Run {
    let (env, key) = (Env::new(), id("fault"));
    let healthy = env.tiny_storage();
    let now = env.clock.now();
    let (old_bytes, old_type) = old_value(protocol);
    let policy = match protocol {
        Protocol::ExtendExpiry => ExpirationPolicy::TimeToLive(TTL),
        Protocol::TtiBump => ExpirationPolicy::TimeToIdle(TTI),
        _ => ExpirationPolicy::Manual,
    };
    let mut upload_state = None;
    if protocol != Protocol::LargeWrite {
        let metadata = metadata_for(&old_type, policy, now);
        healthy
            .put(&key, &metadata, stream::single(old_bytes))
            .await
            .unwrap();
    }
    let (new_bytes, new_type) = new_value(protocol);
    if protocol == Protocol::MultipartComplete {
        let metadata = metadata_for(&new_type, ExpirationPolicy::Manual, now);
        let upload_id = healthy.initiate_multipart(&key, &metadata).await.unwrap();
        let etag = healthy
            .upload_part(&key, &upload_id, 1, 64, stream::single(new_bytes.clone()))
            .await
            .unwrap();
        let parts = vec![CompletedPart {
            part_number: 1,
            etag,
        }];
        upload_state = Some((upload_id, parts));
    }
    settle(&healthy).await;
    if protocol == Protocol::TtiBump {
        // Past the debounce window (tti / 4), before the deadline.
        env.clock.advance(TTI / 2);
    }
    let deadline_before = stored_deadline(&env, &key);

    let hv = decorate(&env.hv, hooks.clone());
    let lt = decorate(&env.lt, hooks.clone());
    let storage = env.storage_with(hv, lt, Env::tiny_threshold());
    let now = env.clock.now();
    let metadata = metadata_for(&new_type, ExpirationPolicy::Manual, now);
    // Inline in the test task: background cleanups cannot start before it returns.
    let result = match protocol {
        Protocol::SmallWrite
        | Protocol::LargeWrite
        | Protocol::LargeOverwrite
        | Protocol::SmallOverTombstone => storage
            .put(&key, &metadata, stream::single(new_bytes))
            .await
            .map(drop),
        Protocol::Delete => storage.delete(&key).await,
        Protocol::MultipartComplete => {
            let (upload_id, parts) = upload_state.clone().unwrap_or_default();
            match storage.complete_multipart(&key, &upload_id, &parts).await {
                Ok(None) => Ok(()),
                Ok(Some(rejection)) => panic!("unexpected rejection {rejection:?}"),
                Err(error) => Err(error),
            }
        }
        Protocol::ExtendExpiry => storage
            .extend_expiry(&key, ExpiryTarget::AfterNow(EXTENDED), now)
            .await
            .map(|outcome| assert_eq!(outcome, ExtendOutcome::Satisfied)),
        Protocol::TtiBump => match storage.get(&key, None).await {
            Ok(GetResponse::Found { body, .. }) => stream::read_to_vec(body)
                .await
                .map(drop)
                .map_err(|e| crate::Error::backend("lt", "read body", e)),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(error) => Err(error),
        },
    };
    let foreground = hooks.trace().len();
    settle(&storage).await;
    let calls = hooks.trace().len();
    Run {
        env,
        storage,
        result,
        foreground,
        calls,
        upload: upload_state,
        deadline_before,
    }
}

/// Checks what the caller saw and what is stored, then lets the same instance finish its
/// cleanups and checks what they leave.
async fn check(protocol: Protocol, run: Run, label: &str) {
    let Run {
        env,
        storage,
        result,
        upload,
        deadline_before,
        ..
    } = run;
    let key = id("fault");
    let old = match protocol {
        Protocol::LargeWrite => Seen::Absent,
        _ => seen(old_value(protocol)),
    };
    let new = match protocol {
        Protocol::Delete => Seen::Absent,
        Protocol::ExtendExpiry | Protocol::TtiBump => seen(old_value(protocol)),
        _ => seen(new_value(protocol)),
    };
    let deadline = stored_deadline(&env, &key);
    let stored = look(&storage, &key, label).await;
    if result.is_ok() {
        assert_eq!(stored, new, "{label}: acknowledged, but not stored");
    } else {
        assert!(stored == old || stored == new, "{label}: {stored:?}");
    }
    match protocol {
        Protocol::ExtendExpiry => {
            let extended = deadline.is_some_and(|d| d >= env.clock.now() + EXTENDED);
            if result.is_ok() {
                assert!(extended, "{label}: acknowledged extension lost");
            } else {
                assert!(extended || deadline == deadline_before, "{label}");
            }
        }
        Protocol::TtiBump => {
            assert!(deadline >= deadline_before, "{label}: deadline moved back");
        }
        _ => {}
    }

    // Cleanup: the instance's own failed cleanups, then (multipart) a retry of a failed
    // complete and the upload's deadline.
    storage.recover_now(false).await.unwrap();
    if protocol == Protocol::MultipartComplete {
        let (upload_id, parts) = upload.unwrap_or_default();
        let retried = storage.complete_multipart(&key, &upload_id, &parts).await;
        assert_eq!(retried.unwrap(), None, "{label}: retry");
        settle(&storage).await;
        assert_eq!(look(&storage, &key, label).await, new, "{label}: retried");
        env.clock.advance(AFTER_DEADLINE);
        storage.recover_now(false).await.unwrap();
        settle(&storage).await;
    }
    let after = look(&storage, &key, label).await;
    let expected = if protocol == Protocol::MultipartComplete {
        new
    } else {
        stored
    };
    assert_eq!(after, expected, "{label}: cleanup changed the value");
    env.assert_consistent();
}

/// Whether a fault before foreground call `index` may leave the operation succeeding:
/// the best-effort steps, the TTI bump (a compare-and-write after the read) and the
/// multipart commit marker (the log append after the commit).
fn best_effort(protocol: Protocol, trace: &[(&'static str, Method)], index: usize) -> bool {
    let after_commit = trace[..index].contains(&("hv", Method::CompareAndWrite));
    match protocol {
        Protocol::TtiBump => trace[index] == ("hv", Method::CompareAndWrite),
        Protocol::MultipartComplete => trace[index] == ("hv", Method::AppendRecord) && after_commit,
        _ => false,
    }
}

async fn fail_everywhere(protocol: Protocol) {
    let tracer = Crash::default();
    let traced = run(protocol, &tracer).await;
    assert!(traced.result.is_ok(), "{protocol:?} fails without a fault");
    let (foreground, calls) = (traced.foreground, traced.calls);
    check(protocol, traced, &format!("{protocol:?} without fault")).await;
    let trace = tracer.trace()[..calls].to_vec();
    let guarded = !matches!(
        protocol,
        Protocol::SmallWrite | Protocol::ExtendExpiry | Protocol::TtiBump
    );
    // `join` releases the lease; a guarded protocol's cleanup also removes its record.
    let background = calls - foreground;
    assert!(
        background > usize::from(guarded),
        "{protocol:?}: background calls {trace:?}"
    );
    assert!(!trace.is_empty(), "{protocol:?}: no backend call");

    for (index, call) in trace.iter().copied().enumerate() {
        for when in [When::FailBefore, When::FailAfter] {
            let label = format!("{protocol:?}, fail {when:?} call #{index} {call:?}");
            let faulted = run(protocol, &Crash::at(index, when)).await;
            if index >= foreground {
                assert!(faulted.result.is_ok(), "{label}: a cleanup fault failed it");
            } else if when == When::FailBefore && !best_effort(protocol, &trace, index) {
                assert!(faulted.result.is_err(), "{label}: fault swallowed");
            }
            check(protocol, faulted, &label).await;
        }
    }
}

#[tokio::test]
async fn fail_once_during_small_write() {
    fail_everywhere(Protocol::SmallWrite).await;
}

#[tokio::test]
async fn fail_once_during_large_write() {
    fail_everywhere(Protocol::LargeWrite).await;
}

#[tokio::test]
async fn fail_once_during_large_overwrite() {
    fail_everywhere(Protocol::LargeOverwrite).await;
}

#[tokio::test]
async fn fail_once_during_small_write_over_tombstone() {
    fail_everywhere(Protocol::SmallOverTombstone).await;
}

#[tokio::test]
async fn fail_once_during_delete() {
    fail_everywhere(Protocol::Delete).await;
}

#[tokio::test]
async fn fail_once_during_multipart_complete() {
    fail_everywhere(Protocol::MultipartComplete).await;
}

#[tokio::test]
async fn fail_once_during_expiry_extension() {
    fail_everywhere(Protocol::ExtendExpiry).await;
}

#[tokio::test]
async fn fail_once_during_tti_bump() {
    fail_everywhere(Protocol::TtiBump).await;
}
