//! Hostile input for the wire types: arbitrary bytes and strings for the metadata header
//! codec, free-form values, expiration policies, usecases, scopes, storage paths and byte
//! ranges (beyond the per-module property tests). Parsing must never panic; what parses
//! must survive its own encoding (round trip), and an accepted scope list or storage path
//! never holds a path-traversal segment.

use std::time::SystemTime;

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

use crate::metadata::{Metadata, decode_free_form};
use crate::range::ByteRange;
use crate::{ExpirationPolicy, ObjectId, Scopes, Usecase};

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("content-type".to_owned()),
        Just("content-encoding".to_owned()),
        Just("x-sn-expiration".to_owned()),
        Just("x-sn-origin".to_owned()),
        Just("x-sn-filename".to_owned()),
        Just("x-sn-time-created".to_owned()),
        Just("x-sn-time-expires".to_owned()),
        "x-snme-[a-z0-9_-]{0,12}",
        "[a-z-]{1,12}",
    ]
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        "(ttl|tti|manual)(:[0-9a-z ]{0,12})?".prop_map(String::into_bytes),
        "[ -~]{0,40}".prop_map(String::into_bytes),
        "(%[0-9A-Fa-f]{0,2}|[a-z]){0,12}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x4057),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn metadata_headers_parse_or_fail_and_round_trip(
        headers in proptest::collection::vec((header_name(), header_value()), 0..8),
    ) {
        let mut map = HeaderMap::new();
        for (name, value) in &headers {
            let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value))
            else {
                continue;
            };
            map.append(name, value);
        }
        if let Ok(metadata) = Metadata::from_headers(&map) {
            let mut stamped = metadata;
            stamped.stamp(SystemTime::UNIX_EPOCH);
            let again = Metadata::from_headers(&stamped.to_headers());
            prop_assert!(again.is_ok(), "{:?} -> {:?}", stamped, again);
            let mut again = again.unwrap();
            // Server-owned times are ignored on input.
            again.time_created = stamped.time_created;
            again.time_expires = stamped.time_expires;
            prop_assert_eq!(again, stamped);
        }
    }

    #[test]
    fn free_form_values_decode_or_fail(raw in "\\PC{0,40}|(%[0-9A-Fa-f]{0,2}){0,10}") {
        let _ = decode_free_form("x-sn-filename", &raw);
    }

    #[test]
    fn expiration_policies_parse_or_fail_and_round_trip(s in "\\PC{0,24}|(ttl|tti):[0-9]{0,30}[a-z]{0,3}") {
        if let Ok(policy) = s.parse::<ExpirationPolicy>() {
            prop_assert_eq!(policy.to_string().parse::<ExpirationPolicy>(), Ok(policy));
        }
    }

    #[test]
    fn usecases_parse_or_fail(s in "\\PC{0,70}") {
        if let Ok(usecase) = Usecase::new(s.clone()) {
            prop_assert_eq!(usecase.as_str(), s.as_str());
            prop_assert!(!s.contains('/') && !s.contains('\0') && s != ".." && s != ".");
        }
    }

    #[test]
    fn scopes_parse_or_fail_and_round_trip(s in "\\PC{0,40}|([a-z.%0-9]{0,6}=[a-z.%/\\\\0-9]{0,6};){0,4}") {
        if let Ok(scopes) = Scopes::parse(&s) {
            prop_assert_eq!(Scopes::parse(&scopes.as_api_path()), Ok(scopes.clone()));
            for scope in scopes.iter() {
                for part in [scope.name(), scope.value()] {
                    prop_assert!(part != ".." && part != "." && !part.contains('/'), "{:?}", s);
                }
            }
        }
    }

    #[test]
    fn storage_paths_parse_or_fail_and_round_trip(s in "\\PC{0,60}|[a-z]{1,4}/([a-z.=;]{0,6}/){0,3}[a-z./]{0,8}") {
        if let Some(id) = ObjectId::from_storage_path(&s) {
            prop_assert_eq!(ObjectId::from_storage_path(&id.as_storage_path()), Some(id.clone()));
            for segment in id.key().as_str().split('/') {
                prop_assert!(segment != ".." && segment != ".", "{:?}", s);
            }
        }
    }

    #[test]
    fn range_headers_parse_or_fail_and_resolve_inside(
        s in "bytes=[0-9, -]{0,40}|[a-z]{0,6}=?[0-9]{0,25}-?[0-9]{0,25}",
        total in any::<u64>(),
    ) {
        if let Ok(Some(range)) = ByteRange::parse(&s)
            && let Some(resolved) = range.resolve(total)
        {
            prop_assert!(resolved.start <= resolved.end && resolved.end < total);
        }
    }
}
