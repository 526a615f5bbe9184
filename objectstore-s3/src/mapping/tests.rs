//! The mapping's examples and its two round-trip properties (seeded proptest).

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
    let cases = [
        ("org=1;project=2", "a/b.txt", "org=1/project=2/a/b.txt"),
        ("_", "a/b.txt", "a/b.txt"),
        ("_", "year=2024/x", "_/year=2024/x"),
        ("org=1", "year=2024/x", "org=1/_/year=2024/x"),
        ("_", "a=b", "a=b"),
        ("a=b", "c=d", "a=b/c=d"),
        ("_", "_/plain", "_/plain"),
        ("_", "_/a=b/c", "_/_/a=b/c"),
        ("_", "_", "_"),
        ("_", "_/_", "_/_"),
        ("_", "a=b=c/d", "a=b=c/d"),
        ("_", "a=b/", "a=b/"),
    ];
    for (scopes, key, s3) in cases {
        let Ok(object_key) = ObjectKey::new(key) else {
            // `a=b/` is not an objectstore key: the S3 key is refused.
            assert!(object_id(&usecase(), s3).is_err(), "{s3}");
            continue;
        };
        let id = ObjectId::new(
            ObjectContext {
                usecase: usecase(),
                scopes: Scopes::parse(scopes).unwrap(),
            },
            object_key,
        );
        assert_eq!(s3_key(&id).unwrap(), s3, "{scopes} {key}");
        assert_eq!(object_id(&usecase(), s3).unwrap(), id, "{s3}");
    }
}

#[test]
fn invalid_keys_are_refused_with_a_reason() {
    for bad in [
        "", "/a", "a/", "a//b", "a/../b", "..", "./a", "a/.", "nul\0", "org=1/",
    ] {
        let err = object_id(&usecase(), bad).unwrap_err();
        assert!(matches!(err, NameError::Key { .. }), "{bad:?}: {err}");
    }
    let too_many = "a=1/".repeat(MAX_SCOPES + 1) + "k";
    assert!(object_id(&usecase(), &too_many).is_err());
    let just_enough = "a=1/".repeat(MAX_SCOPES) + "k";
    assert_eq!(
        object_id(&usecase(), &just_enough)
            .unwrap()
            .scopes()
            .iter()
            .count(),
        MAX_SCOPES
    );
    assert!(matches!(
        object_id(&usecase(), &"k".repeat(1025)),
        Err(NameError::KeyTooLong(_))
    ));
}

#[test]
fn objects_with_long_s3_keys_are_reported() {
    let long = id("org=1", &"k".repeat(1024));
    assert!(matches!(s3_key(&long), Err(NameError::KeyTooLong(_))));
    assert_eq!(s3_key(&id("_", &"k".repeat(1024))).unwrap().len(), 1024);
}

#[test]
fn bucket_names() {
    for good in ["abc", "My_Bucket-1", &"a".repeat(64)] {
        assert!(bucket_usecase(good).is_ok(), "{good}");
    }
    for bad in [
        "ab",
        "a.b.c",
        "has space",
        "s3.buckets",
        &"a".repeat(65),
        "é-é",
    ] {
        assert!(bucket_usecase(bad).is_err(), "{bad}");
    }
    assert_eq!(
        usecase_bucket(&Usecase::new("test.name").unwrap()),
        None,
        "usecases with dots have no bucket"
    );
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

fn s3_key_strategy() -> impl Strategy<Value = String> {
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

    /// Every object has one S3 key, and that key addresses the object.
    #[test]
    fn object_to_s3_key_round_trips(
        scopes in proptest::collection::vec(scope(), 0..4),
        key in s3_key_strategy(),
    ) {
        let Ok(key) = ObjectKey::new(key) else { return Ok(()) };
        let id = ObjectId::new(
            ObjectContext { usecase: usecase(), scopes: Scopes::from_vec(scopes).unwrap() },
            key,
        );
        let s3 = s3_key(&id).unwrap();
        prop_assert_eq!(object_id(&usecase(), &s3).unwrap(), id);
    }

    /// Every S3 key that maps addresses an object whose S3 key it is: no two S3 keys share
    /// an object.
    #[test]
    fn s3_key_to_object_round_trips(s3 in s3_key_strategy()) {
        if let Ok(id) = object_id(&usecase(), &s3) {
            prop_assert_eq!(s3_key(&id).unwrap(), s3);
        }
    }

    /// Scope-heavy keys near the scope limit.
    #[test]
    fn many_scopes_round_trip(n in 0usize..=MAX_SCOPES, tail in s3_key_strategy()) {
        let s3 = format!("{}{tail}", "x=1/".repeat(n));
        if let Ok(id) = object_id(&usecase(), &s3) {
            prop_assert_eq!(s3_key(&id).unwrap(), s3);
        }
    }
}
