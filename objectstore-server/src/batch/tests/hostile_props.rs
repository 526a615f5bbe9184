//! Hostile input for the batch parser: arbitrary bytes, arbitrary content types and random
//! mutations (flipped, inserted, deleted bytes; truncation) of well-formed requests, in any
//! chunking. The parser must never panic and never answer 5xx: a response is either a
//! request-level 4xx or a 200 whose parts are all well-formed, none with a 5xx status.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, StatusCode};
use proptest::prelude::*;

use super::support::*;
use objectstore_types::Metadata;

use crate::batch::{BatchGuard, OpKind, OpRejection, handle};

/// Admits every operation.
struct AllowAll;

impl BatchGuard for AllowAll {
    fn check(&self, _: OpKind, _: Option<&Metadata>) -> Result<(), OpRejection> {
        Ok(())
    }
}

/// Runs one request through the batch handler and checks the answer.
fn check(headers: &HeaderMap, body: &[u8], chunk: usize) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (service, _) = service();
        let body = chunked(body, chunk.max(1));
        let response = handle(service, context(), headers, body, Arc::new(AllowAll)).await;
        let status = response.status();
        prop_assert!(!status.is_server_error(), "request status {}", status);
        if status != StatusCode::OK {
            prop_assert!(status.is_client_error(), "request status {}", status);
            return Ok(());
        }
        let parts = parse_response(response).await;
        for index in parts.order.iter() {
            let part = parts.get(*index);
            prop_assert!(part.status < 500, "part {}: status {}", index, part.status);
        }
        Ok(())
    })
}

/// A well-formed request of a few operations, as bytes.
fn valid_request() -> impl Strategy<Value = Vec<u8>> {
    let op = prop_oneof![
        "[a-z]{1,8}".prop_map(|k| Op::get(&k)),
        "[a-z]{1,8}".prop_map(|k| Op::delete(&k)),
        ("[a-z]{1,8}", proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(k, body)| Op::insert(&k, body)),
        ("[a-z]{1,8}", "\\PC{0,16}")
            .prop_map(|(k, v)| Op::insert(&k, "x").header("x-sn-expiration", v)),
    ];
    proptest::collection::vec(op, 1..5).prop_map(|ops| multipart(&ops))
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn mutate(mut body: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if body.is_empty() {
            break;
        }
        let at = |i: usize| i % body.len();
        match *m {
            Mutation::Flip(i, b) => {
                let i = at(i);
                body[i] ^= b | 1;
            }
            Mutation::Insert(i, b) => {
                let i = at(i);
                body.insert(i, b);
            }
            Mutation::Delete(i) => {
                let i = at(i);
                body.remove(i);
            }
            Mutation::Truncate(i) => {
                let i = at(i);
                body.truncate(i);
            }
        }
    }
    body
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (
            any::<usize>(),
            prop_oneof![
                Just(b'-'),
                Just(b'\r'),
                Just(b'\n'),
                Just(b':'),
                any::<u8>()
            ]
        )
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x00b5_711e),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic_or_fail_with_5xx(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        chunk in 1usize..64,
    ) {
        check(&multipart_headers(), &body, chunk)?;
    }

    #[test]
    fn mutated_requests_never_panic_or_fail_with_5xx(
        body in valid_request(),
        mutations in proptest::collection::vec(mutation(), 1..6),
        chunk in prop_oneof![Just(usize::MAX), 1usize..32],
    ) {
        check(&multipart_headers(), &mutate(body, &mutations), chunk)?;
    }

    #[test]
    fn arbitrary_content_types_never_panic_or_fail_with_5xx(
        content_type in proptest::collection::vec(any::<u8>(), 0..64),
        body in valid_request(),
    ) {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_bytes(&content_type) {
            headers.insert(http::header::CONTENT_TYPE, value);
        }
        check(&headers, &body, usize::MAX)?;
    }
}

#[test]
fn the_mutation_helper_mutates() {
    let body = b"abcdef".to_vec();
    assert_eq!(mutate(body.clone(), &[Mutation::Truncate(3)]), b"abc");
    assert_eq!(mutate(body.clone(), &[Mutation::Delete(0)]), b"bcdef");
    assert_eq!(mutate(body, &[Mutation::Insert(1, b'-')]), b"a-bcdef");
}
