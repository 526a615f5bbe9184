//! Multipart uploads and path confinement.

use super::*;

// ---------------------------------------------------------------------------------------------
// Multipart

fn sha_etag(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("\"{}\"", hex::encode(&Sha256::digest(bytes)[..16]))
}

fn parts(list: &[(u32, &str)]) -> Vec<CompletedPart> {
    list.iter()
        .map(|(n, e)| CompletedPart {
            part_number: *n,
            etag: (*e).to_owned(),
        })
        .collect()
}

impl Fixture {
    async fn part(&self, key: &ObjectId, upload: &str, n: u32, bytes: &'static [u8]) -> String {
        self.fs
            .upload_part(key, upload, n, bytes.len() as u64, single(bytes))
            .await
            .unwrap()
    }

    /// How many parts `upload` of `key` holds.
    async fn part_count(&self, key: &ObjectId, upload: &str) -> usize {
        self.fs
            .list_parts(crate::backend::PartsQuery::all(key, upload))
            .await
            .unwrap()
            .parts
            .len()
    }
}

/// A fresh fixture with an upload of `mp` started: the fixture, the key and the upload id.
async fn started() -> (Fixture, ObjectId, String) {
    let f = fixture();
    let key = id("mp");
    let upload = f.initiate(&key).await;
    (f, key, upload)
}

#[tokio::test]
async fn multipart_assembles_parts_in_order_with_the_initiation_metadata() {
    let f = fixture();
    let key = id("mp");
    f.put(&key, ExpirationPolicy::TimeToLive(DAY), b"previous")
        .await;
    f.extend(&key, ExpiryTarget::AfterNow(3 * DAY)).await;
    let mut meta = f.stamped(ExpirationPolicy::TimeToLive(DAY));
    meta.filename = Some("big.bin".into());
    let upload = f.fs.initiate_multipart(&key, &meta).await.unwrap();
    assert!(layout::valid_upload_id(&upload), "{upload}");

    let e1 = f.part(&key, &upload, 1, b"hello ").await;
    let first_e2 = f.part(&key, &upload, 2, b"wrong").await;
    let e2 = f.part(&key, &upload, 2, b"world").await;
    let e3 = f.part(&key, &upload, 3, b"!").await;
    assert_eq!(e1, sha_etag(b"hello "));
    assert_ne!(first_e2, e2, "re-upload replaces and changes the etag");

    let page =
        f.fs.list_parts(crate::backend::PartsQuery::all(&key, &upload))
            .await
            .unwrap();
    let listed: Vec<_> = page
        .parts
        .iter()
        .map(|p| (p.part_number, p.etag.clone(), p.size))
        .collect();
    assert_eq!(
        listed,
        vec![(1, e1.clone(), 6), (2, e2.clone(), 5), (3, e3.clone(), 1)]
    );
    assert_eq!(page.next_marker, None);
    assert!(
        f.get(&key).await.unwrap().1 == b"previous",
        "not yet visible"
    );

    // Unquoted etags are accepted too.
    let unquoted = e3.trim_matches('"').to_owned();
    let done =
        f.fs.complete_multipart(&key, &upload, &parts(&[(1, &e1), (2, &e2), (3, &unquoted)]))
            .await
            .unwrap();
    assert_eq!(done, None);
    let (m, bytes) = f.get(&key).await.unwrap();
    assert_eq!(bytes, b"hello world!");
    meta.size = Some(12);
    assert_eq!(m, meta, "initiation metadata; the old extension is gone");
    assert_eq!(f.files_under("multipart"), Vec::<PathBuf>::new());
    assert_eq!(f.files_under("objects").len(), 1, "old sidecar removed");
    assert_eq!(f.files_under("tmp"), Vec::<PathBuf>::new());
    let err =
        f.fs.list_parts(crate::backend::PartsQuery::all(&key, &upload))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn list_parts_paginates_with_the_last_returned_number() {
    let (f, key, upload) = started().await;
    for n in [5, 1, 3, 2, 4] {
        f.part(&key, &upload, n, b"p").await;
    }
    let page = |max, marker| {
        f.fs.list_parts(crate::backend::PartsQuery {
            max_parts: max,
            marker,
            ..crate::backend::PartsQuery::all(&key, &upload)
        })
    };
    let numbers = |p: &PartsPage| p.parts.iter().map(|p| p.part_number).collect::<Vec<_>>();

    let p = page(Some(2), None).await.unwrap();
    assert_eq!((numbers(&p), p.next_marker), (vec![1, 2], Some(2)));
    let p = page(Some(2), Some(2)).await.unwrap();
    assert_eq!((numbers(&p), p.next_marker), (vec![3, 4], Some(4)));
    let p = page(Some(2), Some(4)).await.unwrap();
    assert_eq!((numbers(&p), p.next_marker), (vec![5], None));
    let p = page(Some(5), None).await.unwrap();
    assert_eq!((numbers(&p), p.next_marker), (vec![1, 2, 3, 4, 5], None));
    let p = page(None, Some(5)).await.unwrap();
    assert_eq!((numbers(&p), p.next_marker), (vec![], None));
    assert!(matches!(
        page(Some(0), None).await.unwrap_err(),
        Error::InvalidRequest(_)
    ));
    let p = page(None, Some(1)).await.unwrap();
    assert_eq!((numbers(&p), p.next_marker), (vec![2, 3, 4, 5], None));
    assert_eq!(
        p.parts[0].last_modified,
        objectstore_types::time::from_unix_secs(objectstore_types::time::unix_secs(f.clock.now()))
    );
}

#[tokio::test]
async fn complete_rejects_bad_part_lists_and_keeps_the_upload_open() {
    let f = fixture();
    let key = id("mp");
    f.put(&key, ExpirationPolicy::Manual, b"old").await;
    let upload = f.initiate(&key).await;
    let e1 = f.part(&key, &upload, 1, b"a").await;
    let e2 = f.part(&key, &upload, 2, b"b").await;
    let bogus = sha_etag(b"something else");

    for (list, code) in [
        (parts(&[(1, &e1), (2, &bogus)]), "InvalidPart"),
        (parts(&[(1, &e1), (3, &e2)]), "InvalidPart"),
        (parts(&[(2, &e2), (1, &e1)]), "InvalidPartOrder"),
        (parts(&[(1, &e1), (1, &e1)]), "InvalidPartOrder"),
        (parts(&[]), "InvalidPart"),
    ] {
        let rejection =
            f.fs.complete_multipart(&key, &upload, &list)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{list:?} accepted"));
        assert_eq!(rejection.code, code, "{list:?}: {}", rejection.message);
        assert!(!rejection.message.is_empty());
        assert_eq!(f.get(&key).await.unwrap().1, b"old", "{list:?}");
        assert_eq!(f.files_under("tmp"), Vec::<PathBuf>::new());
    }
    assert_eq!(f.part_count(&key, &upload).await, 2);
    // A subset of the parts is fine.
    let done =
        f.fs.complete_multipart(&key, &upload, &parts(&[(2, &e2)]))
            .await
            .unwrap();
    assert_eq!(done, None);
    assert_eq!(f.get(&key).await.unwrap().1, b"b");
}

#[tokio::test]
async fn unknown_and_foreign_uploads() {
    let (f, key, upload) = started().await;
    let e1 = f.part(&key, &upload, 1, b"a").await;
    let other = id("other");
    for (k, u) in [
        (&key, "0190f0f0-aaaa-7bbb-8ccc-dddddddddddd"),
        (&other, upload.as_str()),
        (&key, ""),
    ] {
        let is_not_found = |e: Error| matches!(e, Error::NotFound(_));
        assert!(is_not_found(
            f.fs.upload_part(k, u, 1, 1, single("x")).await.unwrap_err()
        ));
        assert!(is_not_found(
            f.fs.list_parts(crate::backend::PartsQuery::all(k, u))
                .await
                .unwrap_err()
        ));
        assert!(is_not_found(
            f.fs.complete_multipart(k, u, &parts(&[(1, &e1)]))
                .await
                .unwrap_err()
        ));
        f.fs.abort_multipart(k, u).await.unwrap();
    }
    // Aborting through another object's id did not touch the upload.
    assert_eq!(f.part_count(&key, &upload).await, 1);
    f.fs.abort_multipart(&key, &upload).await.unwrap();
    f.fs.abort_multipart(&key, &upload).await.unwrap();
    assert!(matches!(
        f.fs.complete_multipart(&key, &upload, &parts(&[(1, &e1)]))
            .await
            .unwrap_err(),
        Error::NotFound(_)
    ));
    assert!(f.get(&key).await.is_none());
    assert_eq!(f.files_under("multipart"), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn bad_part_bodies_store_nothing() {
    let (f, key, upload) = started().await;
    let good = f.part(&key, &upload, 1, b"good").await;
    for (len, body) in [
        (5, single("good")),
        (3, single("good")),
        (4, chunked(b"goodbye", 2)),
    ] {
        let err =
            f.fs.upload_part(&key, &upload, 1, len, body)
                .await
                .unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    }
    let err =
        f.fs.upload_part(&key, &upload, 1, 8, failing_body(&[b"good"]))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::ClientStream(_)), "{err:?}");
    let err =
        f.fs.upload_part(&key, &upload, 0, 1, single("x"))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");

    let page =
        f.fs.list_parts(crate::backend::PartsQuery::all(&key, &upload))
            .await
            .unwrap();
    assert_eq!(page.parts.len(), 1);
    assert_eq!(
        (page.parts[0].etag.as_str(), page.parts[0].size),
        (good.as_str(), 4)
    );
    assert_eq!(f.files_under("tmp"), Vec::<PathBuf>::new());

    // Empty parts are fine.
    let empty =
        f.fs.upload_part(&key, &upload, 2, 0, crate::stream::empty())
            .await
            .unwrap();
    assert_eq!(empty, sha_etag(b""));
}

// ---------------------------------------------------------------------------------------------
// Path confinement

#[test]
fn dangerous_names_cannot_be_constructed() {
    for key in [
        "..",
        "../x",
        "a/../../b",
        "./a",
        "/etc/passwd",
        "a//b",
        "a/",
        "nul\0",
    ] {
        assert!(ObjectKey::new(key).is_err(), "{key:?}");
    }
    for usecase in ["..", ".", "a/b", "a\\b", ""] {
        assert!(Usecase::new(usecase).is_err(), "{usecase:?}");
    }
    for scopes in ["a=..", "a=b/c", "../x=1", "a=.", "a.b=1"] {
        assert!(Scopes::parse(scopes).is_err(), "{scopes:?}");
    }
    for upload in [
        "..",
        "../x",
        "a/b",
        ".",
        "",
        "a\\b",
        "x.y",
        &"a".repeat(129),
    ] {
        assert!(!layout::valid_upload_id(upload), "{upload:?}");
    }
}

#[tokio::test]
async fn every_file_stays_under_the_root_whatever_the_id() {
    let f = fixture();
    let long_key = format!("{}/{}", "k".repeat(600), "z".repeat(400));
    let ids = vec![
        id_in("...", "_", "..."),
        id_in("..a", "_", ".hidden"),
        id_in("u", "_", "a"),
        id_in("u", "_", "a/b"),
        id_in("u", "_", "a/b/c"),
        id_in("u", "_", "%2e%2e/%2e%2e/etc/passwd"),
        id_in("u", "_", "..\\..\\windows"),
        id_in("u", "_", "~/.ssh/id_rsa"),
        id_in("u", "_", "emoji-😀/café"),
        id_in("u", "_", &long_key),
        id_in("u", "a=1;b=2", "k"),
        id_in("u", "a=1", "b.2/objects/k"),
        id_in("u.v", "x=$!+'()_-", "objects/objects"),
    ];
    for (n, oid) in ids.iter().enumerate() {
        let body = format!("payload {n}");
        f.put(oid, ExpirationPolicy::TimeToIdle(DAY), body.as_bytes())
            .await;
        let upload = f.initiate(oid).await;
        f.part(oid, &upload, 1, b"part").await;
    }
    f.clock.advance(DAY / 2);
    for (n, oid) in ids.iter().enumerate() {
        let (_, bytes) = f.get(oid).await.unwrap_or_else(|| panic!("{oid} lost"));
        assert_eq!(bytes, format!("payload {n}").as_bytes(), "{oid}");
        f.extend(oid, ExpiryTarget::AfterNow(3 * DAY)).await;
    }
    // Some bogus upload ids must not reach the filesystem.
    for bogus in ["../../objects", "..", "a/b"] {
        f.fs.abort_multipart(&ids[0], bogus).await.unwrap();
    }
    f.fs.sweep_once(1000).await.unwrap();

    let root = f.dir.path().canonicalize().unwrap();
    let files = walk(&root);
    // 13 objects + 13 sidecars + 13 uploads of (description + part) + the lock file.
    assert_eq!(files.len(), 13 * 4 + 1);
    for file in files {
        let real = file.canonicalize().unwrap();
        assert!(real.starts_with(&root), "{real:?} escaped");
        let rel = real
            .strip_prefix(&root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let parts: Vec<&str> = rel.split('/').collect();
        let name_ok = match parts.as_slice() {
            ["LOCK"] => true,
            ["objects", a, b, name] => {
                let base = name.strip_suffix(".exp").unwrap_or(name);
                layout::is_object_name(base) && base[..2] == **a && base[2..4] == **b
            }
            ["multipart", upload, file] => {
                layout::valid_upload_id(upload)
                    && (*file == "upload.json" || layout::parse_part_file_name(file).is_some())
            }
            _ => false,
        };
        assert!(name_ok, "unexpected file {rel}");
    }
}
