//! Hostile input for authentication: arbitrary and mutated JWTs, `Authorization` headers,
//! pre-signed queries and paths. Verification must never panic; anything but an intact
//! credential is a typed [`AuthError`] (400 / 401 / 403), and a mutated credential that
//! still verifies grants exactly what the original did.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use ed25519_dalek::SigningKey;
use http::{HeaderMap, HeaderValue};
use objectstore_types::{Permission, Permissions};
use proptest::prelude::*;

use super::keys::Key;
use super::*;

fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[9; 32])
}

fn directory() -> KeyDirectory {
    KeyDirectory::from_keys([(
        "k".to_owned(),
        Key {
            versions: vec![signing_key().verifying_key()],
            max_permissions: Permissions::ALL,
        },
    )])
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// Minted once: signing and verifying are slow in a debug build.
static TOKEN: LazyLock<String> = LazyLock::new(|| {
    objectstore_auth::jwt::mint(
        "k",
        &signing_key(),
        "usecase",
        &[("org".to_owned(), "1".to_owned())],
        &[Permission::Read, Permission::Write],
        now() + Duration::from_secs(3600),
    )
    .unwrap()
});

fn valid_token() -> String {
    TOKEN.clone()
}

const PATH: &str = "/v1/objects/usecase/org=1/key";

fn valid_presigned_query() -> String {
    objectstore_auth::presign::sign(
        "GET",
        PATH,
        "k",
        &signing_key(),
        now(),
        Duration::from_secs(600),
    )
}

/// `text` with the byte at `at` (modulo its length) replaced by `with` (kept ASCII).
fn mutate(text: &str, at: usize, with: u8) -> String {
    let mut bytes = text.as_bytes().to_vec();
    if !bytes.is_empty() {
        let i = at % bytes.len();
        bytes[i] = with % 128;
    }
    String::from_utf8(bytes).unwrap()
}

fn authenticate(
    auth: &Authenticator,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Grant, AuthError> {
    let credentials = RequestCredentials {
        method: "GET",
        raw_path,
        raw_query,
        headers,
    };
    auth.authenticate(credentials, now())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0xa07),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_tokens_are_refused(token in "\\PC{0,200}") {
        prop_assert!(jwt::verify(&token, &directory(), now()).is_err());
    }

    #[test]
    fn arbitrary_jwt_shaped_tokens_are_refused(
        parts in proptest::collection::vec("[A-Za-z0-9_=-]{0,80}", 0..5),
    ) {
        let token = parts.join(".");
        prop_assert!(jwt::verify(&token, &directory(), now()).is_err());
    }

    #[test]
    fn mutated_tokens_never_grant_more(at in any::<usize>(), with in any::<u8>()) {
        let mutated = mutate(&valid_token(), at, with);
        if let Ok(grant) = jwt::verify(&mutated, &directory(), now()) {
            let original = jwt::verify(&valid_token(), &directory(), now()).unwrap();
            prop_assert_eq!(grant, original);
        }
    }

    #[test]
    fn arbitrary_authorization_headers_are_refused(
        value in proptest::collection::vec(any::<u8>(), 0..200),
        query in proptest::option::of("\\PC{0,100}"),
    ) {
        let auth = Authenticator::new(true, directory()).unwrap();
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            headers.insert(http::header::AUTHORIZATION, value);
        }
        prop_assert!(authenticate(&auth, PATH, query.as_deref(), &headers).is_err());
    }

    #[test]
    fn arbitrary_presigned_queries_and_paths_are_refused(
        query in "\\PC{0,200}",
        path in "\\PC{0,80}",
    ) {
        let query = format!("{query}&os_sig=x");
        let auth = Authenticator::new(true, directory()).unwrap();
        let result = authenticate(&auth, &path, Some(&query), &HeaderMap::new());
        prop_assert!(result.is_err());
    }

    #[test]
    fn mutated_presigned_urls_never_verify_elsewhere(
        at in any::<usize>(),
        with in any::<u8>(),
        mutate_path in any::<bool>(),
    ) {
        let query = valid_presigned_query();
        let (path, query) = if mutate_path {
            (mutate(PATH, at, with), query)
        } else {
            (PATH.to_owned(), mutate(&query, at, with))
        };
        let verified = presign::verify("GET", &path, &query, &directory(), now());
        if verified.is_ok() {
            // Only an equivalent request may still verify (e.g. a case change in a
            // percent-escape, or the same byte written back).
            prop_assert_eq!(
                presign::canonical_string("GET", &path, Some(&query)),
                presign::canonical_string("GET", PATH, Some(&valid_presigned_query()))
            );
        }
    }
}

#[test]
fn the_intact_credentials_verify() {
    assert!(jwt::verify(&valid_token(), &directory(), now()).is_ok());
    let query = valid_presigned_query();
    presign::verify("GET", PATH, &query, &directory(), now()).unwrap();
}
