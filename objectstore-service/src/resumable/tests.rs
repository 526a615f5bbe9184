use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream;
use objectstore_types::{ExpirationPolicy, ObjectContext, Scopes, Usecase};
use proptest::prelude::*;

use super::*;
use crate::backend::GetResponse;
use crate::backend::memory::MemoryBackend;
use crate::clock::{ManualClock, SharedClock};
use crate::service::ServiceConfig;

struct Fixture {
    service: StorageService,
    memory: MemoryBackend,
    clock: Arc<ManualClock>,
}

fn fixture() -> Fixture {
    let clock = ManualClock::new();
    let shared: SharedClock = clock.clone();
    let memory = MemoryBackend::new("memory", shared.clone());
    let service = StorageService::new(Arc::new(memory.clone()), shared, ServiceConfig::default());
    Fixture {
        service,
        memory,
        clock,
    }
}

fn id_in(scopes: &str, key: &str) -> ObjectId {
    ObjectId::new(
        ObjectContext {
            usecase: Usecase::new("resumable").unwrap(),
            scopes: Scopes::parse(scopes).unwrap(),
        },
        ObjectKey::new(key).unwrap(),
    )
}

fn id(key: &str) -> ObjectId {
    id_in("org=1", key)
}

fn metadata() -> Metadata {
    Metadata {
        content_type: "text/plain".into(),
        ..Metadata::default()
    }
}

fn body(bytes: &'static [u8]) -> PayloadStream {
    crate::stream::single(Bytes::from_static(bytes))
}

impl Fixture {
    async fn create(&self, key: &str, total: u64) -> ResumableSession {
        self.service
            .create_upload(id(key), metadata(), total)
            .await
            .unwrap()
    }

    async fn chunk(
        &self,
        key: &str,
        token: &str,
        offset: u64,
        bytes: &'static [u8],
    ) -> Result<ChunkOutcome> {
        self.service
            .write_chunk(id(key), token, offset, bytes.len() as u64, body(bytes))
            .await
    }

    /// [`StorageService::write_chunk`] of `len` declared bytes to `k`.
    async fn raw_chunk(
        &self,
        token: &str,
        offset: u64,
        len: u64,
        body: PayloadStream,
    ) -> Result<ChunkOutcome> {
        self.service
            .write_chunk(id("k"), token, offset, len, body)
            .await
    }

    /// The session of `k` stands at `offset`, and the chunk `bytes` there completes it
    /// with `whole`.
    async fn resumes_at(&self, token: &str, offset: u64, bytes: &'static [u8], whole: &[u8]) {
        assert_eq!(self.offset("k", token).await, offset);
        self.finish("k", token, offset, bytes, whole).await;
    }

    /// Stores `bytes` under `key` with a plain PUT.
    async fn store(&self, key: &str, bytes: &'static [u8]) {
        let put = self.service.put(id(key), metadata(), body(bytes)).await;
        put.unwrap();
    }

    /// The persisted offset of the session.
    async fn offset(&self, key: &str, token: &str) -> u64 {
        self.service.query_offset(id(key), token).await.unwrap()
    }

    /// Sends the last chunk and checks that the object now holds exactly `whole`.
    async fn finish(
        &self,
        key: &str,
        token: &str,
        offset: u64,
        bytes: &'static [u8],
        whole: &[u8],
    ) {
        assert_eq!(
            self.chunk(key, token, offset, bytes).await.unwrap(),
            ChunkOutcome::Complete
        );
        assert_eq!(self.read(key).await.expect("object missing").1, whole);
    }

    /// The errors of the three session calls for `token` on `object`: an offset query, a
    /// 3-byte chunk (`abc` at `offset`) and a cancel. Each call must fail.
    async fn refusals(&self, object: ObjectId, token: &str, offset: u64) -> [Error; 3] {
        let service = &self.service;
        let query = service.query_offset(object.clone(), token).await;
        let chunk = service.write_chunk(object.clone(), token, offset, 3, body(b"abc"));
        let chunk = chunk.await;
        let cancel = service.cancel_upload(object, token).await;
        [
            query.expect_err("the offset query must fail"),
            chunk.expect_err("the chunk must fail"),
            cancel.expect_err("the cancel must fail"),
        ]
    }

    async fn read(&self, key: &str) -> Option<(Metadata, Vec<u8>)> {
        match self.service.get(id(key), None).await.unwrap() {
            GetResponse::Found { metadata, body, .. } => {
                Some((metadata, crate::stream::read_to_vec(body).await.unwrap()))
            }
            GetResponse::NotFound => None,
            other => panic!("unexpected response {other:?}"),
        }
    }
}

/// A fixture with an upload of `total` bytes to `k` created; its token.
async fn open(total: u64) -> (Fixture, String) {
    let f = fixture();
    let token = f.create("k", total).await.token;
    (f, token)
}

fn incomplete(offset: u64) -> ChunkOutcome {
    ChunkOutcome::Incomplete { offset }
}

#[tokio::test]
async fn create_returns_a_canonical_token_and_granularity_zero() {
    let f = fixture();
    let session = f.create("k", 6).await;
    assert_eq!(session.key.as_str(), "k");
    assert_eq!(session.granularity, 0);
    assert!(!session.token.is_empty());
    assert!(
        session
            .token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "token {:?} is not unpadded base64url",
        session.token
    );
    let decoded = URL_SAFE_NO_PAD.decode(&session.token).unwrap();
    assert_eq!(URL_SAFE_NO_PAD.encode(decoded), session.token);
    assert_eq!(f.memory.pending_uploads(), 1);
    assert_eq!(f.offset("k", &session.token).await, 0);
    assert!(
        f.read("k").await.is_none(),
        "nothing is visible before completion"
    );
}

#[tokio::test]
async fn create_declines_an_empty_object() {
    let f = fixture();
    let err = f
        .service
        .create_upload(id("k"), metadata(), 0)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    assert_eq!(f.memory.pending_uploads(), 0);
}

#[tokio::test]
async fn chunks_in_order_then_the_last_one_publishes_the_object() {
    let f = fixture();
    let created_at = f.service.now();
    let mut md = metadata();
    md.expiration_policy = ExpirationPolicy::TimeToLive(Duration::from_secs(3600));
    let session = f.service.create_upload(id("k"), md, 9).await.unwrap();
    let token = session.token.as_str();
    // Time passes between creation and completion: the metadata stays as created.
    f.clock.advance(Duration::from_secs(100));

    assert_eq!(f.chunk("k", token, 0, b"abc").await.unwrap(), incomplete(3));
    assert_eq!(f.offset("k", token).await, 3);
    assert_eq!(f.chunk("k", token, 3, b"de").await.unwrap(), incomplete(5));
    assert!(f.read("k").await.is_none());
    assert_eq!(
        f.chunk("k", token, 5, b"fghi").await.unwrap(),
        ChunkOutcome::Complete
    );

    let (stored, bytes) = f.read("k").await.unwrap();
    assert_eq!(bytes, b"abcdefghi");
    assert_eq!(stored.content_type, "text/plain");
    assert_eq!(stored.size, Some(9));
    let mut expected = metadata();
    expected.expiration_policy = ExpirationPolicy::TimeToLive(Duration::from_secs(3600));
    expected.stamp(created_at);
    assert_eq!(stored.time_created, expected.time_created);
    assert_eq!(stored.time_expires, expected.time_expires);
    assert_eq!(f.memory.pending_uploads(), 0);
}

#[tokio::test]
async fn one_chunk_with_the_whole_object_completes() {
    let f = fixture();
    let session = f.create("k", 5).await;
    f.finish("k", &session.token, 0, b"hello", b"hello").await;
}

#[tokio::test]
async fn completion_replaces_the_previous_object() {
    let f = fixture();
    f.store("k", b"old object").await;
    let session = f.create("k", 3).await;
    assert_eq!(
        f.chunk("k", &session.token, 0, b"ab").await.unwrap(),
        incomplete(2)
    );
    assert_eq!(
        f.read("k").await.unwrap().1,
        b"old object",
        "invisible until complete"
    );
    f.finish("k", &session.token, 2, b"c", b"abc").await;
}

#[tokio::test]
async fn a_chunk_at_the_wrong_offset_reports_the_persisted_offset() {
    let (f, token) = open(6).await;
    // Before anything was written.
    assert_eq!(
        f.chunk("k", &token, 2, b"cd").await.unwrap(),
        ChunkOutcome::OffsetMismatch { offset: 0 }
    );
    f.chunk("k", &token, 0, b"abc").await.unwrap();
    for offset in [0, 1, 4] {
        assert_eq!(
            f.chunk("k", &token, offset, b"xy").await.unwrap(),
            ChunkOutcome::OffsetMismatch { offset: 3 },
            "chunk at {offset}"
        );
    }
    f.resumes_at(&token, 3, b"def", b"abcdef").await;
}

#[tokio::test]
async fn a_chunk_beyond_the_total_is_invalid_and_changes_nothing() {
    let (f, token) = open(6).await;
    f.chunk("k", &token, 0, b"abc").await.unwrap();
    let err = f.chunk("k", &token, 3, b"defg").await.unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    // Also when the offset is wrong, and when offset + length overflows.
    let err = f.chunk("k", &token, 5, b"xy").await.unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    let err = f
        .raw_chunk(&token, u64::MAX, 2, body(b"xy"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    f.resumes_at(&token, 3, b"def", b"abcdef").await;
}

#[tokio::test]
async fn a_zero_length_chunk_writes_nothing_and_reports_the_offset() {
    let (f, token) = open(6).await;
    assert_eq!(f.chunk("k", &token, 0, b"").await.unwrap(), incomplete(0));
    f.chunk("k", &token, 0, b"ab").await.unwrap();
    for offset in [0, 2, 5, 6] {
        assert_eq!(
            f.chunk("k", &token, offset, b"").await.unwrap(),
            incomplete(2),
            "empty chunk at {offset}"
        );
    }
    assert_eq!(f.offset("k", &token).await, 2);
}

#[tokio::test]
async fn a_body_that_breaks_midway_persists_nothing_of_the_chunk() {
    let (f, token) = open(6).await;
    f.chunk("k", &token, 0, b"ab").await.unwrap();
    let broken: PayloadStream = Box::pin(stream::iter([
        Ok(Bytes::from_static(b"c")),
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    ]));
    let err = f.raw_chunk(&token, 2, 4, broken).await.unwrap_err();
    assert!(matches!(err, Error::ClientStream(_)), "{err:?}");
    assert_eq!(f.offset("k", &token).await, 2);
    // A body shorter than its declared length is refused the same way.
    let err = f.raw_chunk(&token, 2, 4, body(b"cd")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    assert_eq!(f.offset("k", &token).await, 2);
    // The retry from the persisted offset completes the upload.
    f.finish("k", &token, 2, b"cdef", b"abcdef").await;
}

#[tokio::test]
async fn the_session_is_gone_after_completion() {
    let (f, token) = open(3).await;
    f.chunk("k", &token, 0, b"abc").await.unwrap();
    for err in f.refusals(id("k"), &token, 0).await {
        assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    }
    let err = f.chunk("k", &token, 3, b"").await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(f.read("k").await.unwrap().1, b"abc", "the object stays");
}

#[tokio::test]
async fn cancel_discards_the_bytes_and_ends_the_session() {
    let f = fixture();
    f.store("old", b"previous").await;
    for key in ["new", "old"] {
        let session = f.create(key, 6).await;
        let token = session.token.as_str();
        f.chunk(key, token, 0, b"abc").await.unwrap();
        f.service.cancel_upload(id(key), token).await.unwrap();

        for err in f.refusals(id(key), token, 3).await {
            assert!(matches!(err, Error::NotFound(_)), "{err:?}");
        }
    }
    assert!(f.read("new").await.is_none(), "nothing is published");
    assert_eq!(f.read("old").await.unwrap().1, b"previous", "untouched");
    assert_eq!(f.memory.pending_uploads(), 0);
}

#[tokio::test]
async fn two_sessions_for_one_key_coexist_and_the_last_to_complete_wins() {
    let f = fixture();
    let a = f.create("k", 2).await;
    let b = f.create("k", 3).await;
    assert_ne!(a.token, b.token);
    f.chunk("k", &a.token, 0, b"a").await.unwrap();
    f.finish("k", &b.token, 0, b"bbb", b"bbb").await;
    f.finish("k", &a.token, 1, b"a", b"aa").await;
}

#[tokio::test]
async fn a_token_for_another_object_names_no_session() {
    let (f, token) = open(6).await;
    for other in [id("other"), id_in("org=2", "k"), id_in("_", "k")] {
        for err in f.refusals(other.clone(), &token, 0).await {
            assert!(matches!(err, Error::NotFound(_)), "{other}: {err:?}");
        }
    }
    assert_eq!(f.offset("k", &token).await, 0);
    assert!(f.read("other").await.is_none());
}

#[tokio::test]
async fn malformed_tokens_are_invalid_requests() {
    let (f, token) = open(6).await;
    let raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
    let mut wrong_version = raw.clone();
    wrong_version[0] = 2;
    let padded = format!("{token}{}", "=".repeat((4 - token.len() % 4) % 4 + 4));
    let standard_alphabet = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&raw);
    let mut malformed = vec![
        String::new(),
        "!!!!".into(),
        padded,
        format!("{token} "),
        URL_SAFE_NO_PAD.encode(&raw[..TOKEN_HEAD_LEN]),
        URL_SAFE_NO_PAD.encode(wrong_version),
        URL_SAFE_NO_PAD.encode([&raw[..TOKEN_HEAD_LEN], b"../x"].concat()),
        URL_SAFE_NO_PAD.encode([&raw[..TOKEN_HEAD_LEN], "ü".as_bytes()].concat()),
    ];
    if standard_alphabet != token {
        malformed.push(standard_alphabet);
    }
    // Non-canonical: valid bytes whose encoding ends in a character with unused bits set.
    let mut uneven = raw.clone();
    while uneven.len() % 3 == 0 {
        uneven.push(b'a');
    }
    let canonical = URL_SAFE_NO_PAD.encode(&uneven);
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = alphabet.find(canonical.chars().last().unwrap()).unwrap();
    // The lowest bit of the last character is always unused, so it is 0 when canonical.
    let bumped = alphabet.chars().nth(last + 1).unwrap();
    malformed.push(format!("{}{bumped}", &canonical[..canonical.len() - 1]));
    for bad in &malformed {
        for err in f.refusals(id("k"), bad, 0).await {
            assert!(matches!(err, Error::InvalidRequest(_)), "{bad:?}: {err:?}");
        }
    }
    assert_eq!(f.offset("k", &token).await, 0);
}

#[tokio::test]
async fn every_altered_byte_of_a_token_is_rejected() {
    let f = fixture();
    let session = f.create("k", 6).await;
    let raw = URL_SAFE_NO_PAD.decode(&session.token).unwrap();
    for i in 0..raw.len() {
        let mut altered = raw.clone();
        // Keep the upload id in its alphabet so that only the binding can catch it.
        altered[i] = match altered[i] {
            b'a' => b'b',
            b'0' => b'1',
            other if i >= TOKEN_HEAD_LEN => {
                if other == b'f' {
                    b'e'
                } else {
                    b'a'
                }
            }
            other => other ^ 0x01,
        };
        let token = URL_SAFE_NO_PAD.encode(&altered);
        let err = f.service.query_offset(id("k"), &token).await.unwrap_err();
        assert!(
            matches!(err, Error::NotFound(_) | Error::InvalidRequest(_)),
            "byte {i}: {err:?}"
        );
        // A forged total is caught by the check even though it decodes fine.
        if (1..9).contains(&i) {
            assert!(matches!(err, Error::NotFound(_)), "byte {i}: {err:?}");
        }
    }
}

#[tokio::test]
async fn a_well_formed_token_for_an_unknown_upload_is_not_found() {
    let f = fixture();
    let forged = SessionToken::new(&id("k"), "0123456789abcdef".into(), 6).encode();
    for err in f.refusals(id("k"), &forged, 0).await {
        assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    }
    assert!(f.read("k").await.is_none());
}

#[tokio::test]
async fn an_interrupted_completion_is_finished_by_the_next_chunk() {
    let f = fixture();
    let session = f.create("k", 6).await;
    let token = SessionToken::decode(&session.token).unwrap();
    // All bytes arrived as parts, but the completion never ran (e.g. a crash in step 8).
    for (n, bytes) in [(1, &b"abc"[..]), (2, &b"def"[..])] {
        f.service
            .upload_part(id("k"), token.upload_id.clone(), n, 3, body(bytes))
            .await
            .unwrap();
    }
    assert_eq!(f.offset("k", &session.token).await, 6);
    f.finish("k", &session.token, 6, b"", b"abcdef").await;
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        rng_seed: proptest::test_runner::RngSeed::Fixed(185),
        ..ProptestConfig::default()
    })]

    #[test]
    fn tokens_round_trip_and_are_canonical(
        total in 1u64..,
        upload_id in "[A-Za-z0-9_-]{1,200}",
        key in "[a-z0-9]{1,20}(/[a-z0-9]{1,20}){0,3}",
    ) {
        let object = id(&key);
        let token = SessionToken::new(&object, upload_id.clone(), total);
        let text = token.encode();
        prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let decoded = SessionToken::for_object(&text, &object).unwrap();
        prop_assert_eq!(decoded.total, total);
        prop_assert_eq!(&decoded.upload_id, &upload_id);
        prop_assert_eq!(&decoded.encode(), &text);
        let other = id(&format!("{key}x"));
        prop_assert!(matches!(SessionToken::for_object(&text, &other), Err(Error::NotFound(_))));
    }
}

mod completion_failures {
    use super::*;
    use crate::backend::around::faults::{Calls, Fault, Faults};
    use crate::backend::around::{Decorated, Method};

    fn faulty(faults: Faults) -> (StorageService, MemoryBackend) {
        let clock: SharedClock = ManualClock::new();
        let memory = MemoryBackend::new("memory", clock.clone());
        let backend = Decorated::new(Arc::new(memory.clone()), faults);
        let service = StorageService::new(Arc::new(backend), clock, ServiceConfig::default());
        (service, memory)
    }

    async fn upload(
        service: &StorageService,
        bytes: &'static [u8],
    ) -> (String, Result<ChunkOutcome>) {
        let session = service
            .create_upload(id("k"), metadata(), bytes.len() as u64)
            .await
            .unwrap();
        let outcome = service
            .write_chunk(id("k"), &session.token, 0, bytes.len() as u64, body(bytes))
            .await;
        (session.token, outcome)
    }

    /// The first completion attempt meets `fault`; the upload still completes, on the
    /// second attempt.
    async fn completes_on_the_second_attempt(fault: Fault) {
        let faults = Faults::new().on(Method::CompleteMultipart, Calls::Nth(1), fault);
        let (service, memory) = faulty(faults.clone());
        let (_, outcome) = upload(&service, b"abc").await;
        assert_eq!(outcome.unwrap(), ChunkOutcome::Complete);
        assert_eq!(faults.calls(Method::CompleteMultipart), 2);
        assert_eq!(&memory.entry(&id("k")).expect_object().1[..], b"abc");
    }

    #[tokio::test]
    async fn a_failed_attempt_is_retried() {
        completes_on_the_second_attempt(Fault::Fail).await;
    }

    #[tokio::test]
    async fn a_lost_answer_of_a_committed_completion_is_complete() {
        completes_on_the_second_attempt(Fault::FailAfterCommit).await;
    }

    #[tokio::test]
    async fn a_lasting_failure_keeps_the_bytes_for_a_later_completion() {
        let faults = Faults::new().on(Method::CompleteMultipart, Calls::All, Fault::Fail);
        let (service, memory) = faulty(faults.clone());
        let (token, outcome) = upload(&service, b"abc").await;
        assert!(matches!(outcome, Err(Error::Backend { .. })), "{outcome:?}");
        assert_eq!(faults.calls(Method::CompleteMultipart), COMPLETE_ATTEMPTS);
        assert!(!memory.contains(&id("k")));
        assert_eq!(service.query_offset(id("k"), &token).await.unwrap(), 3);

        faults.clear();
        let outcome = service
            .write_chunk(id("k"), &token, 3, 0, crate::stream::empty())
            .await
            .unwrap();
        assert_eq!(outcome, ChunkOutcome::Complete);
        assert_eq!(&memory.entry(&id("k")).expect_object().1[..], b"abc");
    }
}
