//! The S3 wire contract of what the engine's listing and conditional writes made possible,
//! with raw HTTP (zero-config front): `ListObjectsV2` (prefix, delimiter, max-keys,
//! continuation, start-after, fetch-owner, `encoding-type=url`), `ListObjects` (marker),
//! `DeleteBucket` (only when empty), `ListBuckets` from the markers, `ListMultipartUploads`,
//! and conditional `PutObject` / `DeleteObject` (412, and racing writers with exactly one
//! winner). Expired objects and objects without an S3 key are never listed.

mod support;

use std::time::Duration;

use bytes::Bytes;
use objectstore_types::{Metadata, ObjectContext, ObjectId, ObjectKey, Scopes, Usecase};
use reqwest::Method;
use support::{Harness, error_code, http};

/// The contents of every `<tag>` element of `xml`, in order.
fn tags(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split(&close).next())
        .map(str::to_owned)
        .collect()
}

/// The first `<tag>` of `xml`.
fn tag(xml: &str, tag_name: &str) -> Option<String> {
    tags(xml, tag_name).into_iter().next()
}

/// The keys of the `<Contents>` elements (not of other `<Key>`s).
fn keys(xml: &str) -> Vec<String> {
    tags(xml, "Contents")
        .iter()
        .filter_map(|c| tag(c, "Key"))
        .collect()
}

fn prefixes(xml: &str) -> Vec<String> {
    tags(xml, "CommonPrefixes")
        .iter()
        .filter_map(|c| tag(c, "Prefix"))
        .collect()
}

async fn get_text(h: &Harness, path: &str) -> String {
    let response = h.get(path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.text().await.unwrap()
}

const KEYS: &[&str] = &["a/1", "a/2", "a/b/3", "b", "c d+e", "é"];

async fn bucket_with_keys(h: &Harness, bucket: &str) {
    h.create_bucket(bucket).await;
    for key in KEYS {
        let path = format!(
            "/{bucket}/{}",
            percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
                .replace("%2F", "/")
        );
        assert_eq!(h.put(&path, "12345").await.status(), 200, "{key}");
    }
}

#[tokio::test]
async fn list_objects_v2() {
    let h = Harness::open().await;
    bucket_with_keys(&h, "lst").await;
    let all = get_text(&h, "/lst?list-type=2").await;
    assert_eq!(keys(&all), KEYS);
    assert_eq!(tag(&all, "KeyCount").as_deref(), Some("6"));
    assert_eq!(tag(&all, "IsTruncated").as_deref(), Some("false"));
    assert_eq!(tags(&all, "Size")[0], "5");
    assert!(tag(&all, "ETag").is_some_and(|e| e.contains("-0") || e.len() >= 34));
    assert!(!all.contains("<Owner>"), "no owner without fetch-owner");

    let rolled = get_text(&h, "/lst?list-type=2&delimiter=/").await;
    assert_eq!(keys(&rolled), ["b", "c d+e", "é"]);
    assert_eq!(prefixes(&rolled), ["a/"]);
    let inside = get_text(&h, "/lst?list-type=2&delimiter=/&prefix=a/").await;
    assert_eq!(keys(&inside), ["a/1", "a/2"]);
    assert_eq!(prefixes(&inside), ["a/b/"]);

    let after = get_text(&h, "/lst?list-type=2&start-after=a/2").await;
    assert_eq!(keys(&after), ["a/b/3", "b", "c d+e", "é"]);
    let owned = get_text(&h, "/lst?list-type=2&fetch-owner=true&max-keys=1").await;
    assert!(owned.contains("<Owner>"), "{owned}");

    let encoded = get_text(&h, "/lst?list-type=2&encoding-type=url").await;
    assert_eq!(
        keys(&encoded),
        ["a/1", "a/2", "a/b/3", "b", "c%20d%2Be", "%C3%A9"]
    );

    // Paging: two entries (keys or common prefixes) per page, by continuation token.
    for delimiter in ["", "&delimiter=/"] {
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..10 {
            let mut path = format!("/lst?list-type=2&max-keys=2{delimiter}");
            if let Some(t) = &token {
                path.push_str(&format!("&continuation-token={t}"));
            }
            let page = get_text(&h, &path).await;
            let count = keys(&page).len() + prefixes(&page).len();
            assert!(count <= 2, "{page}");
            seen.extend(keys(&page));
            seen.extend(prefixes(&page));
            token = tag(&page, "NextContinuationToken");
            if tag(&page, "IsTruncated").as_deref() == Some("false") {
                assert!(token.is_none());
                break;
            }
        }
        let expected: Vec<&str> = if delimiter.is_empty() {
            KEYS.to_vec()
        } else {
            vec!["a/", "b", "c d+e", "é"]
        };
        seen.sort();
        let mut expected: Vec<String> = expected.into_iter().map(str::to_owned).collect();
        expected.sort();
        assert_eq!(seen, expected, "paging with delimiter {delimiter:?}");
    }
    let (status, code) = error_code(h.get("/lst?list-type=2&continuation-token=%%%").await).await;
    assert_eq!((status, code.as_str()), (400, "InvalidArgument"));
}

#[tokio::test]
async fn list_objects_v1_pages_by_marker_without_repeats() {
    let h = Harness::open().await;
    bucket_with_keys(&h, "v1list").await;
    let mut seen = Vec::new();
    let mut next = String::new();
    for _ in 0..10 {
        let marker =
            percent_encoding::utf8_percent_encode(&next, percent_encoding::NON_ALPHANUMERIC);
        let page = get_text(
            &h,
            &format!("/v1list?delimiter=/&max-keys=1&marker={marker}"),
        )
        .await;
        if !keys(&page).is_empty() {
            assert!(page.contains("<Owner>"), "v1 lists owners");
        }
        seen.extend(keys(&page));
        seen.extend(prefixes(&page));
        if tag(&page, "IsTruncated").as_deref() == Some("false") {
            break;
        }
        next = tag(&page, "NextMarker").expect("NextMarker with a delimiter");
    }
    assert_eq!(seen, ["a/", "b", "c d+e", "é"]);
    let plain = get_text(&h, "/v1list?marker=a/2").await;
    assert_eq!(keys(&plain), ["a/b/3", "b", "c d+e", "é"]);
}

#[tokio::test]
async fn expired_and_unaddressable_objects_are_never_listed() {
    let h = Harness::with_buckets(&["hidden"]).await;
    let ttl = [("x-sn-expiration", "ttl:30s")];
    let short = h.put_with("/hidden/short", &ttl, "x").await;
    assert_eq!(short.status(), 200);
    assert_eq!(h.put("/hidden/long-lived", "y").await.status(), 200);
    // Through the objectstore API: a key that, with its scope, exceeds S3's 1024 bytes.
    let long = ObjectId::new(
        ObjectContext {
            usecase: Usecase::new("hidden").unwrap(),
            scopes: Scopes::parse("org=1").unwrap(),
        },
        ObjectKey::new("k".repeat(1024)).unwrap(),
    );
    h.service
        .put(
            long,
            Metadata::default(),
            objectstore_service::stream::single(Bytes::from_static(b"z")),
        )
        .await
        .unwrap();
    let listed = get_text(&h, "/hidden?list-type=2").await;
    assert_eq!(keys(&listed), ["long-lived", "short"]);
    h.clock.advance(Duration::from_secs(31));
    let listed = get_text(&h, "/hidden?list-type=2").await;
    assert_eq!(keys(&listed), ["long-lived"]);
}

#[tokio::test]
async fn delete_bucket_only_when_empty_and_list_buckets_from_markers() {
    let h = Harness::with_buckets(&["doomed", "kept"]).await;
    assert_eq!(h.put("/doomed/x", "x").await.status(), 200);
    let (status, code) = error_code(h.delete("/doomed").await).await;
    assert_eq!((status, code.as_str()), (409, "BucketNotEmpty"));
    let names = tags(&get_text(&h, "/").await, "Name");
    assert_eq!(names, ["doomed", "kept"]);

    assert_eq!(h.delete("/doomed/x").await.status(), 204);
    let deleted = h.delete("/doomed").await;
    assert_eq!(deleted.status(), 204);
    let head = h.head("/doomed").await;
    assert_eq!(head.status(), 404);
    assert_eq!(tags(&get_text(&h, "/").await, "Name"), ["kept"]);
    let (status, code) = error_code(h.put("/doomed/y", "y").await).await;
    assert_eq!((status, code.as_str()), (404, "NoSuchBucket"));
    h.create_bucket("doomed").await;
    assert_eq!(h.put("/doomed/y", "y").await.status(), 200);
}

#[tokio::test]
async fn list_multipart_uploads_shows_open_uploads_only() {
    let h = Harness::with_buckets(&["mpu"]).await;
    let mut ids = Vec::new();
    for key in ["logs/a", "logs/b", "other"] {
        let created = h.post(&format!("/mpu/{key}?uploads"), "").await;
        let created = created.text().await.unwrap();
        ids.push(tag(&created, "UploadId").expect("an upload id"));
    }
    let listed = get_text(&h, "/mpu?uploads").await;
    assert_eq!(tags(&listed, "UploadId"), ids);
    assert_eq!(
        tags(&tags(&listed, "Upload").join(""), "Key"),
        ["logs/a", "logs/b", "other"]
    );
    let rolled = get_text(&h, "/mpu?uploads&delimiter=/").await;
    assert_eq!(prefixes(&rolled), ["logs/"]);
    assert_eq!(tags(&rolled, "UploadId"), [ids[2].clone()]);
    let page = get_text(&h, "/mpu?uploads&max-uploads=1").await;
    assert_eq!(tag(&page, "IsTruncated").as_deref(), Some("true"));
    assert_eq!(tag(&page, "NextKeyMarker").as_deref(), Some("logs/a"));
    let next = get_text(
        &h,
        &format!("/mpu?uploads&key-marker=logs/a&upload-id-marker={}", ids[0]),
    )
    .await;
    assert_eq!(tags(&next, "UploadId"), ids[1..]);

    let aborted = h.delete(&format!("/mpu/logs/a?uploadId={}", ids[0])).await;
    assert_eq!(aborted.status(), 204);
    let listed = get_text(&h, "/mpu?uploads&prefix=logs/").await;
    assert_eq!(tags(&listed, "UploadId"), [ids[1].clone()]);
}

#[tokio::test]
async fn conditional_puts_and_deletes() {
    let h = Harness::with_buckets(&["cond"]).await;
    let create = || {
        h.request(Method::PUT, "/cond/lock", &[("if-none-match", "*")])
            .body("mine")
    };
    let created = create().send().await.unwrap();
    assert_eq!(created.status(), 200);
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    let (status, code) = error_code(create().send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (412, "PreconditionFailed"));

    let update = |tag: &str, body: &'static str| {
        h.request(Method::PUT, "/cond/lock", &[("if-match", tag)])
            .body(body)
    };
    let updated = update(&etag, "mine, longer").send().await.unwrap();
    assert_eq!(updated.status(), 200);
    let new_etag = updated.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let (status, code) = error_code(update(&etag, "stale").send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (412, "PreconditionFailed"));
    assert_eq!(get_text(&h, "/cond/lock").await, "mine, longer");

    let delete = |tag: &str| h.request(Method::DELETE, "/cond/lock", &[("if-match", tag)]);
    let (status, code) = error_code(delete(&etag).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (412, "PreconditionFailed"));
    assert_eq!(delete(&new_etag).send().await.unwrap().status(), 204);
    assert_eq!(h.head("/cond/lock").await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_if_none_match_writers_have_one_winner() {
    let h = Harness::with_buckets(&["race"]).await;
    let url = h.url("/race/once");
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let url = url.clone();
            tokio::spawn(async move {
                let response = http()
                    .put(url)
                    .header("if-none-match", "*")
                    .body(format!("racer {i}"))
                    .send()
                    .await
                    .unwrap();
                (i, response.status().as_u16())
            })
        })
        .collect();
    let mut winners = Vec::new();
    for racer in racers {
        let (i, status) = racer.await.unwrap();
        match status {
            200 => winners.push(i),
            412 => {}
            other => panic!("racer {i}: status {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners {winners:?}");
    assert_eq!(
        get_text(&h, "/race/once").await,
        format!("racer {}", winners[0])
    );
}
