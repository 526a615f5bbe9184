//! Credential loading and the permission check.

use std::time::Duration;

use super::*;

fn config(pairs: &[(&str, CredentialConfig)]) -> BTreeMap<String, CredentialConfig> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn caller(key: &str) -> s3s::auth::Credentials {
    s3s::auth::Credentials {
        access_key: key.to_owned(),
        secret_key: SecretKey::from("ignored"),
    }
}

#[test]
fn no_credentials_is_open() {
    let authority = Authority::load(&BTreeMap::new()).unwrap();
    assert!(authority.is_open());
    let usecase = Usecase::new("anything").unwrap();
    authority
        .authorize(None, &usecase, Permission::Delete)
        .unwrap();
}

#[test]
fn grants_limit_usecases_and_permissions() {
    let reader = CredentialConfig {
        secret_access_key: Some(Secret::new("s1")),
        usecases: Some(vec!["photos".into()]),
        permissions: Some(vec![Permission::Read]),
        ..CredentialConfig::default()
    };
    let admin = CredentialConfig {
        secret_access_key: Some(Secret::new("s2")),
        ..CredentialConfig::default()
    };
    let authority = Authority::load(&config(&[("READER", reader), ("ADMIN", admin)])).unwrap();
    let photos = Usecase::new("photos").unwrap();
    let docs = Usecase::new("docs").unwrap();

    authority
        .authorize(Some(&caller("READER")), &photos, Permission::Read)
        .unwrap();
    for (who, usecase, permission) in [
        ("READER", &photos, Permission::Write),
        ("READER", &docs, Permission::Read),
        ("UNKNOWN", &photos, Permission::Read),
    ] {
        let err = authority
            .authorize(Some(&caller(who)), usecase, permission)
            .unwrap_err();
        assert_eq!(
            *err.code(),
            S3ErrorCode::AccessDenied,
            "{who} {usecase} {permission}"
        );
    }
    let err = authority
        .authorize(None, &photos, Permission::Read)
        .unwrap_err();
    assert_eq!(*err.code(), S3ErrorCode::AccessDenied);
    for permission in Permission::ALL {
        authority
            .authorize(Some(&caller("ADMIN")), &docs, permission)
            .unwrap();
    }
    assert!(authority.may_see(Some(&caller("READER")), "photos"));
    assert!(!authority.may_see(Some(&caller("READER")), "docs"));
}

#[tokio::test]
async fn secrets_come_from_config_or_file_and_unknown_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, "from-file\n").unwrap();
    let c = CredentialConfig {
        secret_access_key_file: Some(file),
        ..CredentialConfig::default()
    };
    let store = SecretStore(Authority::load(&config(&[("AK", c)])).unwrap());
    assert_eq!(
        store.get_secret_key("AK").await.unwrap().expose(),
        "from-file"
    );
    let err = store.get_secret_key("NOPE").await.unwrap_err();
    assert_eq!(*err.code(), S3ErrorCode::InvalidAccessKeyId);
}

#[test]
fn bad_credentials_are_refused_naming_the_key_not_the_secret() {
    let secret = || Some(Secret::new("hunter2"));
    let cases = [
        (
            "has/slash",
            CredentialConfig {
                secret_access_key: secret(),
                ..Default::default()
            },
        ),
        ("AK", CredentialConfig::default()),
        (
            "AK",
            CredentialConfig {
                secret_access_key: secret(),
                secret_access_key_file: Some("/x".into()),
                ..Default::default()
            },
        ),
        (
            "AK",
            CredentialConfig {
                secret_access_key: Some(Secret::new("")),
                ..Default::default()
            },
        ),
        (
            "AK",
            CredentialConfig {
                secret_access_key: secret(),
                usecases: Some(vec!["no.dots".into()]),
                ..Default::default()
            },
        ),
        (
            "AK",
            CredentialConfig {
                secret_access_key_file: Some("/no/such/file".into()),
                ..Default::default()
            },
        ),
    ];
    for (id, c) in cases {
        let err = Authority::load(&config(&[(id, c)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(id), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
    let debug = format!(
        "{:?}",
        CredentialConfig {
            secret_access_key: secret(),
            ..Default::default()
        }
    );
    assert!(!debug.contains("hunter2"), "{debug}");
}

#[test]
fn sigv2_headers_must_be_recent() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let date = |t: SystemTime| {
        let mut buf = Vec::new();
        s3s::dto::Timestamp::from(t)
            .format(s3s::dto::TimestampFormat::HttpDate, &mut buf)
            .unwrap();
        String::from_utf8(buf).unwrap()
    };
    let headers = |d: String| {
        let mut h = http::HeaderMap::new();
        h.insert("authorization", "AWS AK:sig".parse().unwrap());
        h.insert("date", d.parse().unwrap());
        h
    };
    check_sigv2_date(&headers(date(now - Duration::from_secs(60))), now).unwrap();
    let err =
        check_sigv2_date(&headers(date(now - Duration::from_secs(16 * 60))), now).unwrap_err();
    assert_eq!(*err.code(), S3ErrorCode::RequestTimeTooSkewed);
    // SigV4 is s3s's business.
    let mut v4 = http::HeaderMap::new();
    v4.insert(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=x".parse().unwrap(),
    );
    check_sigv2_date(&v4, now).unwrap();
}
