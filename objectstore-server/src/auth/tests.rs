use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use http::{HeaderMap, HeaderValue};
use objectstore_types::{Permission, Permissions, Scopes, Usecase};

use objectstore_auth::tools::{self, keygen, presign_url, read_private_key};

use super::keys::Key;
use super::*;

fn signing_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// Directory with `kid` (versions from seeds 1 and 2, all permissions) and `ro` (read only).
fn directory() -> KeyDirectory {
    KeyDirectory::from_keys([
        (
            "kid".to_owned(),
            Key {
                versions: vec![
                    signing_key(1).verifying_key(),
                    signing_key(2).verifying_key(),
                ],
                max_permissions: Permissions::ALL,
            },
        ),
        (
            "ro".to_owned(),
            Key {
                versions: vec![signing_key(3).verifying_key()],
                max_permissions: [Permission::Read].into_iter().collect(),
            },
        ),
        (
            "none".to_owned(),
            Key {
                versions: vec![signing_key(4).verifying_key()],
                max_permissions: Permissions::NONE,
            },
        ),
    ])
}

fn now() -> SystemTime {
    SystemTime::now()
}

fn token(
    kid: &str,
    seed: u8,
    scopes: &[(&str, &str)],
    perms: &[Permission],
    exp: SystemTime,
) -> String {
    let scopes: Vec<(String, String)> = scopes
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    objectstore_auth::jwt::mint(kid, &signing_key(seed), "attachments", &scopes, perms, exp)
        .unwrap()
}

fn auth() -> Authenticator {
    Authenticator::new(true, directory()).unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn authenticate(h: &HeaderMap, query: Option<&str>) -> Result<Grant, AuthError> {
    auth().authenticate(
        RequestCredentials {
            method: "GET",
            raw_path: "/v1/objects/attachments/org=1/k",
            raw_query: query,
            headers: h,
        },
        now(),
    )
}

fn bearer(t: &str) -> HeaderMap {
    headers(&[("x-os-auth", &format!("Bearer {t}"))])
}

/// Whether `grant` allows `permission` on `usecase` with `scopes`.
fn allows(grant: &Grant, permission: Permission, usecase: &str, scopes: &Scopes) -> bool {
    grant
        .authorize(permission, &self::usecase(usecase), scopes)
        .is_ok()
}

fn usecase(u: &str) -> Usecase {
    Usecase::new(u).unwrap()
}

#[test]
fn every_permission_against_every_operation() {
    let exp = now() + Duration::from_secs(60);
    let scopes = Scopes::parse("org=1;project=2").unwrap();
    let subsets: Vec<Vec<Permission>> = vec![
        vec![],
        vec![Permission::Read],
        vec![Permission::Write],
        vec![Permission::Delete],
        vec![Permission::Read, Permission::Write],
        vec![Permission::Read, Permission::Delete],
        vec![Permission::Write, Permission::Delete],
        Permission::ALL.to_vec(),
    ];
    for granted in &subsets {
        let t = token("kid", 1, &[("org", "1"), ("project", "2")], granted, exp);
        let grant = authenticate(&bearer(&t), None).unwrap();
        for op in Permission::ALL {
            let result = grant.authorize(op, &usecase("attachments"), &scopes);
            assert_eq!(
                result.is_ok(),
                granted.contains(&op),
                "granted {granted:?}, op {op}"
            );
        }
    }
}

#[test]
fn key_ceiling_limits_token_permissions() {
    let exp = now() + Duration::from_secs(60);
    let t = token("ro", 3, &[("org", "1")], &Permission::ALL, exp);
    let grant = authenticate(&bearer(&t), None).unwrap();
    let scopes = Scopes::parse("org=1").unwrap();
    assert!(allows(&grant, Permission::Read, "attachments", &scopes));
    assert!(!allows(&grant, Permission::Write, "attachments", &scopes));
    let t = token("none", 4, &[("org", "1")], &Permission::ALL, exp);
    let grant = authenticate(&bearer(&t), None).unwrap();
    assert!(!allows(&grant, Permission::Read, "attachments", &scopes));
}

#[test]
fn usecase_and_scope_matching() {
    let exp = now() + Duration::from_secs(60);
    let t = token(
        "kid",
        1,
        &[("org", "1"), ("project", "*")],
        &Permission::ALL,
        exp,
    );
    let grant = authenticate(&bearer(&t), None).unwrap();
    let ok = |u: &str, s: &str| {
        grant
            .authorize(Permission::Read, &usecase(u), &Scopes::parse(s).unwrap())
            .is_ok()
    };
    assert!(ok("attachments", "org=1;project=99"), "wildcard value");
    assert!(
        ok("attachments", "org=1"),
        "token scopes absent from the path are ignored"
    );
    assert!(ok("attachments", "_"));
    assert!(!ok("attachments", "org=2"), "scope value mismatch");
    assert!(
        !ok("attachments", "org=1;team=3"),
        "scope missing from token"
    );
    assert!(!ok("other", "org=1"), "usecase mismatch");
    assert!(!ok("attachment", "org=1"), "no usecase prefix matching");
}

#[test]
fn key_rotation_accepts_every_version() {
    let exp = now() + Duration::from_secs(60);
    for seed in [1, 2] {
        assert!(
            authenticate(
                &bearer(&token("kid", seed, &[], &[Permission::Read], exp)),
                None
            )
            .is_ok(),
            "version {seed}"
        );
    }
    let foreign = token("kid", 9, &[], &[Permission::Read], exp);
    assert!(matches!(
        authenticate(&bearer(&foreign), None),
        Err(AuthError::Unauthorized(_))
    ));
    let unknown = token("nope", 1, &[], &[Permission::Read], exp);
    assert!(matches!(
        authenticate(&bearer(&unknown), None),
        Err(AuthError::Unauthorized(_))
    ));
}

#[test]
fn expiry_with_leeway() {
    let within = now() - Duration::from_secs(30);
    assert!(
        authenticate(
            &bearer(&token("kid", 1, &[], &[Permission::Read], within)),
            None
        )
        .is_ok()
    );
    let expired = now() - Duration::from_secs(120);
    assert!(matches!(
        authenticate(
            &bearer(&token("kid", 1, &[], &[Permission::Read], expired)),
            None
        ),
        Err(AuthError::Unauthorized(_))
    ));
}

fn raw_jwt(header: &str, claims: &str, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

fn claims_json(extra: &str) -> String {
    let exp = now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 60;
    format!(
        r#"{{"exp":{exp},"res":{{"os:usecase":"attachments"}},"permissions":["object.read"]{extra}}}"#
    )
}

#[test]
fn wrong_algorithms_are_rejected() {
    let claims = claims_json("");
    // alg none, unsigned.
    let none = raw_jwt(r#"{"alg":"none","kid":"kid"}"#, &claims, b"");
    assert!(matches!(
        authenticate(&bearer(&none), None),
        Err(AuthError::Unauthorized(_))
    ));
    // HS256 keyed with the public key bytes (the classic confusion attack).
    let hs = {
        use jsonwebtoken::{Algorithm, EncodingKey, Header};
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("kid".into());
        let value: serde_json::Value = serde_json::from_str(&claims).unwrap();
        jsonwebtoken::encode(
            &header,
            &value,
            &EncodingKey::from_secret(signing_key(1).verifying_key().as_bytes()),
        )
        .unwrap()
    };
    assert!(matches!(
        authenticate(&bearer(&hs), None),
        Err(AuthError::Unauthorized(_))
    ));
}

#[test]
fn malformed_tokens_and_claims() {
    let no_kid = {
        let t = token(
            "kid",
            1,
            &[],
            &[Permission::Read],
            now() + Duration::from_secs(60),
        );
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[0] = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","typ":"JWT"}"#);
        parts.join(".")
    };
    assert!(matches!(
        authenticate(&bearer(&no_kid), None),
        Err(AuthError::BadRequest(_))
    ));
    assert!(matches!(
        authenticate(&bearer("garbage"), None),
        Err(AuthError::Unauthorized(_))
    ));
    assert!(matches!(
        authenticate(&HeaderMap::new(), None),
        Err(AuthError::BadRequest(_))
    ));
    // A header without the Bearer prefix counts as no header token.
    assert!(matches!(
        authenticate(&headers(&[("x-os-auth", "Token abc")]), None),
        Err(AuthError::BadRequest(_))
    ));

    let sign = |claims: &str| {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        use jsonwebtoken::{Algorithm, EncodingKey, Header};
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("kid".into());
        let value: serde_json::Value = serde_json::from_str(claims).unwrap();
        let der = signing_key(1).to_pkcs8_der().unwrap();
        jsonwebtoken::encode(&header, &value, &EncodingKey::from_ed_der(der.as_bytes())).unwrap()
    };
    assert!(
        authenticate(
            &bearer(&sign(&claims_json(r#","aud":"objectstore","iss":"relay""#))),
            None
        )
        .is_ok()
    );
    for bad in [r#","aud":"other""#, r#","iss":"someone""#] {
        assert!(
            matches!(
                authenticate(&bearer(&sign(&claims_json(bad))), None),
                Err(AuthError::Unauthorized(_))
            ),
            "{bad}"
        );
    }
    let exp = now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 60;
    for bad in [
        format!(r#"{{"exp":{exp},"res":{{"os:usecase":"a","org":1}},"permissions":[]}}"#),
        format!(r#"{{"exp":{exp},"res":{{"os:usecase":"a"}},"permissions":["object.admin"]}}"#),
        format!(r#"{{"exp":{exp},"permissions":[]}}"#),
        r#"{"res":{"os:usecase":"a"},"permissions":[]}"#.to_owned(),
    ] {
        assert!(
            matches!(
                authenticate(&bearer(&sign(&bad)), None),
                Err(AuthError::Unauthorized(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn header_wins_over_query_and_query_works_alone() {
    let good = token(
        "kid",
        1,
        &[],
        &[Permission::Read],
        now() + Duration::from_secs(60),
    );
    assert!(authenticate(&bearer(&good), Some("os_auth=garbage")).is_ok());
    assert!(authenticate(&HeaderMap::new(), Some(&format!("os_auth={good}"))).is_ok());
    assert!(
        authenticate(
            &headers(&[("authorization", &format!("bearer {good}"))]),
            None
        )
        .is_ok()
    );
    // x-os-auth is looked at first, even when it is bad.
    let both = headers(&[
        ("x-os-auth", "Bearer garbage"),
        ("authorization", &format!("Bearer {good}")),
    ]);
    assert!(authenticate(&both, None).is_err());
}

#[test]
fn inactive_and_report_only_modes() {
    let inactive = Authenticator::new(false, KeyDirectory::default()).unwrap();
    let creds = RequestCredentials {
        method: "PUT",
        raw_path: "/x",
        raw_query: Some("os_sig=bad"),
        headers: &HeaderMap::new(),
    };
    assert_eq!(inactive.authenticate(creds, now()), Ok(Grant::All));
    let report = Authenticator::new(false, directory()).unwrap();
    assert_eq!(report.authenticate(creds, now()), Ok(Grant::All));
    assert!(Authenticator::new(true, KeyDirectory::default()).is_err());
}

/// Report-only mode (`enforce: false` with keys) logs what enforcing would refuse and lets
/// it through, for a valid credential as for an invalid one; enforcing refuses the same.
#[test]
fn report_only_lets_valid_tokens_through_beyond_their_permissions() {
    let exp = now() + Duration::from_secs(60);
    // A read-write token of the read-only key: its effective permissions are `object.read`.
    let asked = [Permission::Read, Permission::Write];
    let capped = bearer(&token("ro", 3, &[("org", "1")], &asked, exp));
    let creds = |h| RequestCredentials {
        method: "PUT",
        raw_path: "/v1/objects/attachments/org=1/k",
        raw_query: None,
        headers: h,
    };
    let org1 = Scopes::parse("org=1").unwrap();
    let org2 = Scopes::parse("org=2").unwrap();
    let cases = [
        (Permission::Write, "attachments", &org1), // beyond max_permissions
        (Permission::Read, "other", &org1),        // another usecase
        (Permission::Read, "attachments", &org2),  // another scope
    ];
    let enforcing = auth().authenticate(creds(&capped), now()).unwrap();
    let report = Authenticator::new(false, directory())
        .unwrap()
        .authenticate(creds(&capped), now())
        .unwrap();
    assert!(matches!(report, Grant::Unenforced(_)), "{report:?}");
    for (permission, u, scopes) in cases {
        assert!(
            enforcing
                .authorize(permission, &usecase(u), scopes)
                .is_err(),
            "{permission:?} {u} {scopes:?}"
        );
        assert_eq!(
            report.authorize(permission, &usecase(u), scopes),
            Ok(()),
            "{permission:?} {u} {scopes:?}"
        );
    }
    // What the token does allow is allowed either way.
    assert_eq!(
        enforcing.authorize(Permission::Read, &usecase("attachments"), &org1),
        Ok(())
    );
}

const PATH: &str = "/v1/objects/testing/org=17;project=42/foo/bar";

fn presigned_query(kid: &str, seed: u8, ts: SystemTime, secs: u64) -> String {
    objectstore_auth::presign::sign(
        "GET",
        PATH,
        kid,
        &signing_key(seed),
        ts,
        Duration::from_secs(secs),
    )
}

fn check_presigned(method: &str, query: &str) -> Result<Grant, AuthError> {
    auth().authenticate(
        RequestCredentials {
            method,
            raw_path: PATH,
            raw_query: Some(query),
            headers: &HeaderMap::new(),
        },
        now(),
    )
}

#[test]
fn presigned_urls_verify_and_grant_reads_only() {
    let q = presigned_query("kid", 2, now(), 3600);
    let grant = check_presigned("GET", &q).unwrap();
    assert_eq!(grant, Grant::Presigned);
    assert!(
        check_presigned("HEAD", &q).is_ok(),
        "GET and HEAD signatures are interchangeable"
    );
    let scopes = Scopes::parse("org=17").unwrap();
    assert!(allows(&grant, Permission::Read, "testing", &scopes));
    assert!(!allows(&grant, Permission::Write, "testing", &scopes));
    assert!(matches!(
        check_presigned("PUT", &q),
        Err(AuthError::Forbidden(_))
    ));
}

#[test]
fn presigned_failures_have_the_specified_status() {
    let ts = now();
    assert!(matches!(
        check_presigned("GET", &presigned_query("nope", 1, ts, 60)),
        Err(AuthError::Unauthorized(_))
    ));
    assert!(matches!(
        check_presigned("GET", &presigned_query("kid", 1, ts, 8 * 86_400)),
        Err(AuthError::BadRequest(_))
    ));
    let old = ts - Duration::from_secs(7200);
    assert!(matches!(
        check_presigned("GET", &presigned_query("kid", 1, old, 3600)),
        Err(AuthError::Unauthorized(_))
    ));
    let future = ts + Duration::from_secs(3600);
    assert!(matches!(
        check_presigned("GET", &presigned_query("kid", 1, future, 3600)),
        Err(AuthError::Unauthorized(_))
    ));
    let skewed = ts + Duration::from_secs(30);
    assert!(
        check_presigned("GET", &presigned_query("kid", 1, skewed, 3600)).is_ok(),
        "60 s skew tolerated"
    );
    assert!(matches!(
        check_presigned("GET", &presigned_query("ro", 1, ts, 60)),
        Err(AuthError::Unauthorized(_))
    ));
    assert!(check_presigned("GET", &presigned_query("ro", 3, ts, 60)).is_ok());
    assert!(matches!(
        check_presigned("GET", &presigned_query("none", 4, ts, 60)),
        Err(AuthError::Forbidden(_))
    ));
    for missing in ["os_kid", "os_timestamp", "os_duration"] {
        let q: Vec<&str> = presigned_query("kid", 1, ts, 60)
            .leak()
            .split('&')
            .filter(|p| !p.starts_with(missing))
            .collect();
        assert!(
            matches!(
                check_presigned("GET", &q.join("&")),
                Err(AuthError::BadRequest(_))
            ),
            "{missing}"
        );
    }
    assert!(matches!(
        check_presigned("GET", "os_sig=abc&os_kid=kid&os_timestamp=x&os_duration=1"),
        Err(AuthError::BadRequest(_))
    ));
}

#[test]
fn tampering_any_signature_character_is_rejected() {
    let q = presigned_query("kid", 1, now(), 3600);
    let (base, sig) = q.split_once("&os_sig=").unwrap();
    assert!(check_presigned("GET", &q).is_ok());
    for i in 0..sig.len() {
        for replacement in ['A', 'B', '_'] {
            let mut chars: Vec<char> = sig.chars().collect();
            if chars[i] == replacement {
                continue;
            }
            chars[i] = replacement;
            let tampered: String = chars.into_iter().collect();
            let result = check_presigned("GET", &format!("{base}&os_sig={tampered}"));
            assert!(
                result.is_err(),
                "tampered position {i} with {replacement} accepted"
            );
        }
    }
    // Tampering with the signed parameters or the path fails too.
    let longer = q.replace("os_duration=3600", "os_duration=3601");
    assert!(check_presigned("GET", &longer).is_err());
    let other_path = auth().authenticate(
        RequestCredentials {
            method: "GET",
            raw_path: "/v1/objects/testing/org=17;project=42/foo/baz",
            raw_query: Some(&q),
            headers: &HeaderMap::new(),
        },
        now(),
    );
    assert!(other_path.is_err());
}

/// Keys from `keygen`, a token and a pre-signed URL from the signing tools of
/// `objectstore_auth` verify here.
#[test]
fn generated_keys_work_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = keygen(&dir.path().join("test")).unwrap();
    assert!(
        keygen(&dir.path().join("test")).is_err(),
        "never overwrites"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&private).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let directory = KeyDirectory::load(
        &[(
            "k1".to_owned(),
            KeyConfig {
                key_files: vec![public],
                max_permissions: Permission::ALL.to_vec(),
            },
        )]
        .into(),
    )
    .unwrap();
    let auth = Authenticator::new(true, directory).unwrap();
    let key = read_private_key(&private).unwrap();

    let t = tools::token(
        "k1",
        &key,
        "attachments",
        "org=1",
        &[Permission::Read],
        Duration::from_secs(60),
    )
    .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("x-os-auth", format!("Bearer {t}").parse().unwrap());
    let grant = auth
        .authenticate(
            RequestCredentials {
                method: "GET",
                raw_path: "/v1/objects/attachments/org=1/k",
                raw_query: None,
                headers: &headers,
            },
            SystemTime::now(),
        )
        .unwrap();
    assert!(matches!(grant, Grant::Token(_)));

    let url = presign_url(
        "get",
        "http://127.0.0.1:8888/v1/objects/attachments/org=1/a%20b",
        "k1",
        &key,
        Duration::from_secs(300),
    )
    .unwrap();
    let (path, query) = url
        .trim_start_matches("http://127.0.0.1:8888")
        .split_once('?')
        .unwrap();
    let creds = RequestCredentials {
        method: "HEAD",
        raw_path: path,
        raw_query: Some(query),
        headers: &HeaderMap::new(),
    };
    assert_eq!(
        auth.authenticate(creds, SystemTime::now()),
        Ok(Grant::Presigned)
    );
}
