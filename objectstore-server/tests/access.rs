//! Authentication, authorization and admission through the HTTP pipeline
//! (docs/http-api.md §3.1, §11, §12): statuses, body formats and the order of checks.

mod common;

use std::time::Duration;

use common::auth::{Keys, keys};
use common::{Memory, json, send};
use http::StatusCode;
use objectstore_auth::tools::{presign_url, read_private_key};
use objectstore_server::auth::KeyConfig;
use objectstore_types::Permission;

async fn auth_server(keys: &Keys, max: &[Permission]) -> Memory {
    let entry = keys.config(max);
    Memory::start_with(move |c| {
        c.auth.keys.insert("test_kid".into(), entry);
    })
    .await
}

/// The `x-os-auth` header carrying `token`.
fn bearer(token: &str) -> [(&'static str, String); 1] {
    [("x-os-auth", format!("Bearer {token}"))]
}

fn mint(keys: &Keys, usecase: &str, scopes: &str, permissions: &[Permission]) -> String {
    keys.token(
        "test_kid",
        usecase,
        scopes,
        permissions,
        Duration::from_secs(60),
    )
}

#[tokio::test]
async fn tokens_are_verified_and_authorize_each_operation() {
    let keys = keys();
    let s = auth_server(&keys, &Permission::ALL).await;
    let url = s.object("u", "org=1", "k");
    let all = mint(&keys, "u", "org=1;project=2", &Permission::ALL);
    let read_only = objectstore_auth::jwt::mint(
        "test_kid",
        &read_private_key(&keys.private).unwrap(),
        "u",
        &[("org".to_owned(), "*".to_owned())],
        &[Permission::Read],
        std::time::SystemTime::now() + Duration::from_secs(60),
    )
    .unwrap();
    let other_org = mint(&keys, "u", "org=2", &Permission::ALL);
    let other_usecase = mint(&keys, "v", "org=1", &Permission::ALL);

    let r = s.put(&url, "x").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "no token");
    assert!(
        json(r).await["detail"]
            .as_str()
            .unwrap()
            .starts_with("auth error:")
    );
    let r = s.put_with(&url, &bearer("not.a.token"), "x").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let r = s.put_with(&url, &bearer(&all), "x").await;
    assert_eq!(r.status(), StatusCode::OK, "extra token scopes are ignored");
    let narrower = s.object("u", "org=1;project=3", "k");
    let r = s.get_with(&narrower, &bearer(&all)).await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "every request scope must be granted"
    );
    for (token, method, want) in [
        (&read_only, "GET", StatusCode::OK),
        (&read_only, "PUT", StatusCode::FORBIDDEN),
        (&read_only, "DELETE", StatusCode::FORBIDDEN),
        (&other_org, "GET", StatusCode::FORBIDDEN),
        (&other_usecase, "GET", StatusCode::FORBIDDEN),
    ] {
        let request = s.client.request(method.parse().unwrap(), &url);
        let r = send(
            request
                .header("authorization", format!("bearer {token}"))
                .body("y"),
        )
        .await;
        assert_eq!(r.status(), want, "{method}");
    }
    // `os_auth` query parameter.
    let r = s.get(format!("{url}?os_auth={read_only}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Internal routes need no token.
    let r = s.get(s.url("/health")).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn key_permissions_cap_tokens() {
    let keys = keys();
    let s = auth_server(&keys, &[Permission::Read]).await;
    let all = mint(&keys, "u", "_", &Permission::ALL);
    let r = s
        .put_with(s.object("u", "_", "k"), &bearer(&all), "x")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn presigned_urls_allow_reads_of_the_signed_path_only() {
    let keys = keys();
    let s = auth_server(&keys, &Permission::ALL).await;
    let url = s.object("u", "_", "signed key");
    let writer = mint(&keys, "u", "_", &Permission::ALL);
    s.put_with(&url, &bearer(&writer), "secret").await;
    let key = read_private_key(&keys.private).unwrap();
    let signed = presign_url("GET", &url, "test_kid", &key, Duration::from_secs(60)).unwrap();
    let r = s.get(&signed).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "secret");
    let r = s.head(&signed).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s.put(&signed, "x").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Change one character well inside the signature (`os_sig` is the last parameter; its
    // last character carries only two bits, so changing that one may not change the value).
    let at = signed.len() - 10;
    let replacement = if &signed[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{replacement}{}", &signed[..at], &signed[at + 1..]);
    let r = s.get(&tampered).await;
    assert!(matches!(r.status().as_u16(), 400 | 401), "{}", r.status());
}

/// A server in report-only mode (`auth.enforce: false`) with `keys` as `test_kid`.
async fn report_only_server(keys: &Keys, max: &[Permission]) -> Memory {
    let entry = keys.config(max);
    Memory::start_with(move |c| {
        c.auth.enforce = Some(false);
        c.auth.keys.insert("test_kid".into(), entry);
    })
    .await
}

#[tokio::test]
async fn enforce_false_with_keys_lets_failures_through() {
    let keys = keys();
    let s = report_only_server(&keys, &[]).await;
    let r = s.put(s.object("u", "_", "k"), "x").await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Report-only mode treats a valid token that does not allow the operation like a missing
/// one: logged, let through (what `auth.enforce: false` is documented to do).
#[tokio::test]
async fn enforce_false_lets_tokens_beyond_their_permissions_through() {
    let keys = keys();
    let s = report_only_server(&keys, &[Permission::Read]).await;
    let writer = mint(&keys, "u", "org=1", &Permission::ALL);
    let other_usecase = mint(&keys, "v", "org=1", &Permission::ALL);
    for (what, token) in [
        ("beyond max_permissions", &writer),
        ("other usecase", &other_usecase),
    ] {
        let r = s
            .put_with(s.object("u", "org=1", "k"), &bearer(token), "x")
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{what}");
        let delete = s.client.delete(s.object("u", "org=1", "k"));
        let r = send(delete.header("x-os-auth", format!("Bearer {token}"))).await;
        assert!(r.status().is_success(), "{what}: {}", r.status());
    }
}

#[tokio::test]
async fn killswitches_and_rate_limits_answer_plain_text() {
    let s = Memory::start_with(|c| common::block_and_limit_to_1_rps(c, "blocked")).await;
    let r = s.get(s.object("blocked", "_", "k")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.text().await.unwrap(),
        "Object access is disabled for this scope through killswitches"
    );
    // The bucket holds one token: the first request passes, the second is limited.
    let first = s.get(s.object("u", "_", "k")).await;
    assert_eq!(first.status(), StatusCode::NOT_FOUND);
    let second = s.get(s.object("u", "_", "k")).await;
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(second.headers().contains_key("retry-after"));
    assert_eq!(
        second.text().await.unwrap(),
        "Object access is rate limited"
    );
    let keda = s.text("/keda").await;
    assert!(keda.contains("objectstore_throughput_limit 1"), "{keda}");
}

#[tokio::test]
async fn unloadable_keys_fail_start_up_naming_the_kid() {
    let dir = tempfile::tempdir().unwrap();
    let err = objectstore_server::testing::TestServer::start_configured(|c| {
        c.storage = objectstore_server::config::StorageConfig::Standalone(
            objectstore_server::config::LongTermConfig::Filesystem {
                path: dir.path().join("fs"),
            },
        );
        c.auth.keys.insert(
            "broken".into(),
            KeyConfig {
                key_files: vec![dir.path().join("missing.pem")],
                max_permissions: vec![],
            },
        );
    })
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("auth.keys.broken"), "{err:#}");
}

/// Every permission subset against every operation: objects, PATCH, multipart, resumable
/// uploads and batch parts. Denied → 403 (a 403 part inside a batch); allowed → anything
/// but 403.
#[tokio::test]
async fn permission_matrix_over_every_operation() {
    let keys = keys();
    let s = auth_server(&keys, &Permission::ALL).await;
    let admin = mint(&keys, "u", "org=1", &Permission::ALL);
    let subsets: [&[Permission]; 8] = [
        &[],
        &[Permission::Read],
        &[Permission::Write],
        &[Permission::Delete],
        &[Permission::Read, Permission::Write],
        &[Permission::Read, Permission::Delete],
        &[Permission::Write, Permission::Delete],
        &Permission::ALL,
    ];
    let object = s.object("u", "org=1", "k");
    let base = s.url("");
    for granted in subsets {
        let token = mint(&keys, "u", "org=1", granted);
        let bearer = format!("Bearer {token}");
        let admin_bearer = format!("Bearer {admin}");
        // Fresh state for this subset: an object, a multipart upload and a resumable session.
        let c = &s.client;
        let put = send(c.put(&object).header("x-os-auth", &admin_bearer).body("x")).await;
        assert_eq!(put.status(), StatusCode::OK);
        let initiate = c.put(format!("{base}/v1/objects:multipart/u/org=1/k"));
        let initiate = send(initiate.header("x-os-auth", &admin_bearer)).await;
        let upload_id = json(initiate).await["upload_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let created = c.put(format!("{object}?upload_type=resumable"));
        let created = created.header("x-os-auth", &admin_bearer);
        let created = send(created.header("upload-length", "3")).await;
        let session = json(created).await["session"].as_str().unwrap().to_owned();

        let mp = |route: &str, query: &str| {
            format!("{base}/v1/{route}/u/org=1/k?upload_id={upload_id}{query}")
        };
        let requests: Vec<(&str, Permission, reqwest::RequestBuilder)> = vec![
            ("GET", Permission::Read, c.get(&object)),
            ("HEAD", Permission::Read, c.head(&object)),
            ("PUT", Permission::Write, c.put(&object).body("y")),
            (
                "POST",
                Permission::Write,
                c.post(format!("{base}/v1/objects/u/org=1/")).body("y"),
            ),
            (
                "PATCH",
                Permission::Write,
                c.patch(&object)
                    .header("content-type", "application/json")
                    .body(r#"{"extend_expiry":{"after":"1d","from":"now"}}"#),
            ),
            (
                "initiate",
                Permission::Write,
                c.post(format!("{base}/v1/objects:multipart/u/org=1/")),
            ),
            (
                "part",
                Permission::Write,
                c.put(mp("objects:multipart:parts", "&part_number=1"))
                    .body("p"),
            ),
            (
                "list",
                Permission::Write,
                c.get(mp("objects:multipart:parts", "")),
            ),
            (
                "complete",
                Permission::Write,
                c.post(mp("objects:multipart:complete", ""))
                    .header("content-type", "application/json")
                    .body(r#"{"parts":[]}"#),
            ),
            (
                "abort",
                Permission::Write,
                c.delete(mp("objects:multipart", "")),
            ),
            (
                "resumable create",
                Permission::Write,
                c.put(format!("{object}?upload_type=resumable"))
                    .header("upload-length", "3"),
            ),
            (
                "resumable query",
                Permission::Write,
                c.put(format!("{object}?session={session}"))
                    .header("upload-offset", "*"),
            ),
            (
                "resumable chunk",
                Permission::Write,
                c.put(format!("{object}?session={session}"))
                    .header("upload-offset", "0")
                    .body("abc"),
            ),
            (
                "resumable cancel",
                Permission::Write,
                c.delete(format!("{object}?session={session}")),
            ),
            ("DELETE", Permission::Delete, c.delete(&object)),
        ];
        for (name, needed, request) in requests {
            let status = send(request.header("x-os-auth", &bearer)).await.status();
            if granted.contains(&needed) {
                assert_ne!(status, StatusCode::FORBIDDEN, "{name} with {granted:?}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{name} with {granted:?}");
            }
        }

        // Batch parts: each part is authorized on its own.
        let mut batch = String::new();
        for (kind, key) in [
            ("get", "k"),
            ("head", "k"),
            ("insert", "b"),
            ("delete", "b"),
        ] {
            batch.push_str(&format!(
                "--XyZ\r\nx-sn-batch-operation-kind: {kind}\r\nx-sn-batch-operation-key: {key}\r\n\r\n\r\n"
            ));
        }
        batch.push_str("--XyZ--\r\n");
        let headers = [
            ("x-os-auth", bearer.as_str()),
            ("content-type", "multipart/form-data; boundary=XyZ"),
        ];
        let batch_url = format!("{base}/v1/objects:batch/u/org=1/");
        let r = send(common::requests::with_headers(c.post(batch_url), &headers).body(batch)).await;
        assert_eq!(r.status(), StatusCode::OK);
        let text = r.text().await.unwrap();
        for (index, needed) in [
            Permission::Read,
            Permission::Read,
            Permission::Write,
            Permission::Delete,
        ]
        .into_iter()
        .enumerate()
        {
            let part = text
                .split("--os-boundary-")
                .find(|p| {
                    p.to_ascii_lowercase()
                        .contains(&format!("x-sn-batch-operation-index: {index}\r\n"))
                })
                .unwrap_or_else(|| panic!("no part {index} in {text}"));
            let denied = part.contains("x-sn-batch-operation-status: 403");
            assert_eq!(
                denied,
                !granted.contains(&needed),
                "batch part {index} with {granted:?}: {part}"
            );
        }
    }
}
