//! The mapping's examples through the S3 wrappers and the bucket rules (the round-trip
//! properties of the key are proven on `objectstore_types::listing`).

use objectstore_types::id::MAX_SCOPES;
use objectstore_types::listing::EXAMPLES;
use objectstore_types::{ObjectContext, ObjectKey, Scopes};

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
    // `a=b/` is not an objectstore key: the S3 key is refused.
    let refused = [("_", "a=b/", "a=b/")];
    for &(scopes, key, s3) in EXAMPLES.iter().chain(&refused) {
        if ObjectKey::new(key).is_err() {
            assert!(object_id(&usecase(), s3).is_err(), "{s3}");
            continue;
        }
        let id = id(scopes, key);
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
