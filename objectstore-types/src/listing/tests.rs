//! The listing key's examples and its two round-trip properties (seeded proptest).

use proptest::prelude::*;

use super::*;

fn usecase() -> Usecase {
    Usecase::new("bucket").unwrap()
}

fn id(scopes: &str, key: &str) -> ObjectId {
    ObjectId::new(
        ObjectContext {
            usecase: usecase(),
            scopes: Scopes::parse(scopes).unwrap(),
        },
        ObjectKey::new(key).unwrap(),
    )
}

#[test]
fn documented_examples() {
    for &(scopes, key, listed) in EXAMPLES {
        let id = id(scopes, key);
        assert_eq!(listing_key(&id).unwrap(), listed, "{scopes} {key}");
        assert_eq!(parse(&usecase(), listed).unwrap(), id, "{listed}");
    }
}

#[test]
fn invalid_strings_do_not_parse() {
    for bad in [
        "", "/a", "a/", "a//b", "a/../b", "..", "./a", "a/.", "nul\0", "org=1/", "a=b/",
    ] {
        let err = parse(&usecase(), bad).unwrap_err();
        assert!(
            matches!(err, ListingKeyError::InvalidKey(_)),
            "{bad:?}: {err}"
        );
    }
    let too_many = "a=1/".repeat(MAX_SCOPES + 1) + "k";
    assert_eq!(
        parse(&usecase(), &too_many),
        Err(ListingKeyError::TooManyScopes)
    );
    let just_enough = "a=1/".repeat(MAX_SCOPES) + "k";
    let parsed = parse(&usecase(), &just_enough).unwrap();
    assert_eq!(parsed.scopes().iter().count(), MAX_SCOPES);
    assert_eq!(
        parse(&usecase(), &"k".repeat(1025)),
        Err(ListingKeyError::TooLong(1025))
    );
}

#[test]
fn objects_with_long_keys_have_no_listing_key() {
    assert_eq!(listing_key(&id("org=1", &"k".repeat(1024))), None);
    assert_eq!(
        listing_key(&id("_", &"k".repeat(1024))).unwrap().len(),
        1024
    );
}

#[test]
fn prefix_end_bounds_every_extension() {
    assert_eq!(prefix_end(b""), None);
    assert_eq!(prefix_end(b"a/"), Some(b"a0".to_vec()));
    assert_eq!(prefix_end(&[b'a', 0xff]), Some(b"b".to_vec()));
    let end = prefix_end("é".as_bytes()).unwrap();
    for s in ["é", "é/", "é\u{10ffff}", "éz"] {
        assert!(s.as_bytes() < end.as_slice(), "{s}");
    }
    assert!("ê".as_bytes() >= end.as_slice());
}

/// Segments that exercise every rule: scope-like ones, the terminator, plain words, and
/// characters that are valid in keys but not in scopes.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c]{1,2}=[0-2]{1,2}",
        Just(SCOPES_END.to_owned()),
        "[a-c_=]{1,4}",
        "[a-z0-9 .é$!()+'-]{1,6}",
    ]
}

fn key_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(segment(), 1..8).prop_map(|s| s.join("/"))
}

fn scope() -> impl Strategy<Value = Scope> {
    ("[a-c]{1,2}", "[0-2]{1,2}").prop_map(|(n, v)| Scope::new(n, v).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2048,
        rng_seed: proptest::test_runner::RngSeed::Fixed(14),
        ..ProptestConfig::default()
    })]

    /// Every object has one listing key, and that key parses back to the object.
    #[test]
    fn object_to_listing_key_round_trips(
        scopes in proptest::collection::vec(scope(), 0..4),
        key in key_strategy(),
    ) {
        let Ok(key) = ObjectKey::new(key) else { return Ok(()) };
        let id = ObjectId::new(
            ObjectContext { usecase: usecase(), scopes: Scopes::from_vec(scopes).unwrap() },
            key,
        );
        let listed = listing_key(&id).unwrap();
        prop_assert_eq!(parse(&usecase(), &listed).unwrap(), id);
    }

    /// Every string that parses is the listing key of the object it names: no two listing
    /// keys share an object.
    #[test]
    fn listing_key_to_object_round_trips(listed in key_strategy()) {
        if let Ok(id) = parse(&usecase(), &listed) {
            prop_assert_eq!(listing_key(&id).unwrap(), listed);
        }
    }

    /// Scope-heavy keys near the scope limit.
    #[test]
    fn many_scopes_round_trip(n in 0usize..=MAX_SCOPES, tail in key_strategy()) {
        let listed = format!("{}{tail}", "x=1/".repeat(n));
        if let Ok(id) = parse(&usecase(), &listed) {
            prop_assert_eq!(listing_key(&id).unwrap(), listed);
        }
    }
}
