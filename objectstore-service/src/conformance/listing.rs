//! Checks of [`HighVolumeBackend::list`]: byte order of the listing key (non-ASCII, `/`,
//! scopes and the scope terminator), prefix, start-after, limit and paging, expired rows
//! never listed, tombstones listed with their metadata, other usecases and objects without a
//! listing key never listed.

use std::time::Duration;

use bytes::Bytes;
use objectstore_types::{
    ExpirationPolicy, Metadata, ObjectContext, ObjectId, ObjectKey, Scopes, Usecase,
};

use super::high_volume::tombstone;
use super::{Ctx, stamped, with_size};
use crate::backend::Expected;
use crate::backend::{HighVolumeBackend, ListPage, ListQuery, TieredWrite};

/// The usecase the listing checks write to.
const USECASE: &str = "listing";

fn usecase() -> Usecase {
    Usecase::new(USECASE).expect("valid usecase")
}

/// An object of `usecase` with `scopes` (`_` for none) and `key`.
fn object(usecase: &str, scopes: &str, key: &str) -> ObjectId {
    ObjectId::new(
        ObjectContext {
            usecase: Usecase::new(usecase).expect("valid usecase"),
            scopes: Scopes::parse(scopes).expect("valid scopes"),
        },
        ObjectKey::new(key).expect("valid key"),
    )
}

async fn put(b: &dyn HighVolumeBackend, id: &ObjectId, metadata: &Metadata, payload: &[u8]) {
    let r = b.put(id, metadata, Bytes::copy_from_slice(payload)).await;
    assert_eq!(r.expect("put failed"), None, "{id} was a tombstone");
}

/// The first page of `query`.
async fn listed(b: &dyn HighVolumeBackend, query: ListQuery) -> ListPage {
    b.list(&query).await.expect("list failed")
}

/// Every page of `query` (continued after the last key of each), as listing keys.
async fn list_all(b: &dyn HighVolumeBackend, query: ListQuery) -> Vec<String> {
    let mut keys = Vec::new();
    let mut query = query;
    for _ in 0..1000 {
        let page = b.list(&query).await.expect("list failed");
        assert!(
            page.rows.len() <= query.limit.max(1),
            "a page of {} rows for limit {}",
            page.rows.len(),
            query.limit
        );
        keys.extend(page.rows.iter().map(|r| r.key.clone()));
        match page.rows.last() {
            Some(last) if page.truncated => query = query.after(last.key.as_bytes()),
            _ => return keys,
        }
    }
    panic!("the listing did not end after 1000 pages");
}

/// The objects of the ordering check: (scopes, key) in no particular order.
const OBJECTS: &[(&str, &str)] = &[
    ("_", "b"),
    ("_", "a/b"),
    ("_", "a"),
    ("_", "a/b/c"),
    ("_", "a-b"),
    ("_", "A"),
    ("_", "é"),
    ("_", "z"),
    ("_", "😀"),
    ("_", "year=2024/x"),
    ("_", "_/a=b/c"),
    ("org=1", "x"),
    ("org=1;project=2", "a/b.txt"),
    ("org=10", "x"),
    ("org=1", "year=2024/y"),
    ("_", "a=b"),
];

/// Rows are listed in ascending byte order of their listing keys (UTF-8: `A` < `a` <
/// `a-b` < `a/b` < `é` < `😀`; scopes are leading `name=value/` segments); other usecases
/// and objects whose listing key would exceed 1024 bytes are never listed.
pub async fn list_orders_by_key_bytes(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let m = stamped(ExpirationPolicy::Manual, cx.now());
    for (scopes, key) in OBJECTS {
        put(b, &object(USECASE, scopes, key), &m, key.as_bytes()).await;
    }
    // Neighbours that must never show up: another usecase whose name extends this one, a
    // usecase sorting just before it, and an object without a listing key.
    put(b, &object("listing2", "_", "a"), &m, b"other").await;
    put(b, &object("listinf", "_", "a"), &m, b"other").await;
    put(b, &object(USECASE, "org=1", &"k".repeat(1024)), &m, b"long").await;

    let mut expected: Vec<String> = vec![
        "A",
        "_/_/a=b/c",
        "_/year=2024/x",
        "a",
        "a-b",
        "a/b",
        "a/b/c",
        "a=b",
        "b",
        "org=1/_/year=2024/y",
        "org=1/project=2/a/b.txt",
        "org=1/x",
        "org=10/x",
        "z",
        "é",
        "😀",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let mut sorted = expected.clone();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(
        sorted, expected,
        "the check's own expectation is not in byte order"
    );

    let page = listed(b, ListQuery::new(usecase(), "", 100)).await;
    assert!(!page.truncated, "one page holds every row");
    let keys: Vec<String> = page.rows.iter().map(|r| r.key.clone()).collect();
    assert_eq!(keys, expected);
    for row in &page.rows {
        assert_eq!(row.id.usecase().as_str(), USECASE, "{}", row.key);
        assert_eq!(
            objectstore_types::listing::listing_key(&row.id).as_deref(),
            Some(row.key.as_str()),
            "the listed id does not have the listed key"
        );
    }
    // The payload of each object is its key: the rows carry their own metadata.
    let a = page.rows.iter().find(|r| r.key == "a/b/c").expect("a/b/c");
    assert_eq!(a.metadata, with_size(&m, 5));

    expected.retain(|k| k.starts_with("org=1/"));
    assert_eq!(
        list_all(b, ListQuery::new(usecase(), "org=1/", 100)).await,
        expected
    );
}

/// `prefix` keeps the keys that start with it (bytewise, also inside a multi-byte
/// character), `start_after` the keys greater than it, whichever of the two bounds is
/// tighter wins, and a start-after of `p` followed by the byte `0xff` skips every key that
/// starts with `p`.
pub async fn list_prefix_and_start_after(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let m = stamped(ExpirationPolicy::Manual, cx.now());
    for key in ["a/1", "a/2", "a/3", "a0", "ab", "b/1", "é/1", "êx"] {
        put(b, &object(USECASE, "_", key), &m, b"x").await;
    }
    let list = |prefix: &'static [u8], after: Option<&'static [u8]>| {
        let mut query = ListQuery::new(usecase(), prefix, 100);
        if let Some(after) = after {
            query = query.after(after);
        }
        list_all(b, query)
    };
    assert_eq!(list(b"a/", None).await, ["a/1", "a/2", "a/3"]);
    assert_eq!(list(b"a", None).await, ["a/1", "a/2", "a/3", "a0", "ab"]);
    assert_eq!(list(b"a/", Some(b"a/1")).await, ["a/2", "a/3"]);
    assert_eq!(list(b"a/", Some(b"a/3")).await, Vec::<String>::new());
    assert_eq!(list(b"a/", Some(b"0")).await, ["a/1", "a/2", "a/3"]);
    assert_eq!(list(b"a/", Some(b"b")).await, Vec::<String>::new());
    assert_eq!(list(b"", Some(b"a0")).await, ["ab", "b/1", "é/1", "êx"]);
    assert_eq!(
        list(b"", Some(b"a/\xff")).await,
        ["a0", "ab", "b/1", "é/1", "êx"]
    );
    // The first byte of `é` (0xc3 0xa9) and of `ê` (0xc3 0xaa) is shared.
    assert_eq!(list(b"\xc3", None).await, ["é/1", "êx"]);
    assert_eq!(list("é".as_bytes(), None).await, ["é/1"]);
    assert_eq!(list(b"zz", None).await, Vec::<String>::new());
}

/// Pages hold at most `limit` rows, `truncated` says whether more follow, and paging by
/// the last key lists every row exactly once, in order.
pub async fn list_pages_with_limit(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let m = stamped(ExpirationPolicy::Manual, cx.now());
    let mut keys: Vec<String> = (0..23).map(|i| format!("page/{i:03}")).collect();
    for key in &keys {
        put(b, &object(USECASE, "_", key), &m, b"p").await;
    }
    keys.sort();
    for limit in [1, 2, 5, 22, 23, 24, 100] {
        let listed = list_all(b, ListQuery::new(usecase(), "page/", limit)).await;
        assert_eq!(listed, keys, "paging with limit {limit}");
    }
    let exact = listed(b, ListQuery::new(usecase(), "page/", 23)).await;
    assert_eq!(exact.rows.len(), 23);
    assert!(
        !exact.truncated,
        "a page that ends with the last row is not truncated"
    );
    let short = listed(b, ListQuery::new(usecase(), "page/", 22)).await;
    assert!(short.truncated, "one row more than the limit: truncated");
    let zero = listed(b, ListQuery::new(usecase(), "page/", 0)).await;
    assert_eq!(zero.rows.len(), 1, "a limit of 0 lists one row");
}

/// Rows expired at the backend's clock are never listed, inline objects and tombstones
/// alike (the sweeper has not removed them yet); a listing does not bump TTI deadlines.
pub async fn list_skips_expired_rows(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let ttl = stamped(
        ExpirationPolicy::TimeToLive(Duration::from_secs(10)),
        cx.now(),
    );
    let tti = stamped(
        ExpirationPolicy::TimeToIdle(Duration::from_secs(60)),
        cx.now(),
    );
    let manual = stamped(ExpirationPolicy::Manual, cx.now());
    put(b, &object(USECASE, "_", "exp/inline-ttl"), &ttl, b"x").await;
    put(b, &object(USECASE, "_", "exp/inline-tti"), &tti, b"x").await;
    put(b, &object(USECASE, "_", "exp/manual"), &manual, b"x").await;
    let t = tombstone("exp/tomb-ttl/rev", &ttl);
    let written = b
        .compare_and_write(
            &object(USECASE, "_", "exp/tomb-ttl"),
            &Expected::revision(None),
            TieredWrite::Tombstone(t),
        )
        .await
        .expect("compare_and_write failed");
    assert!(written);
    let listed = list_all(b, ListQuery::new(usecase(), "exp/", 10)).await;
    assert_eq!(
        listed,
        [
            "exp/inline-tti",
            "exp/inline-ttl",
            "exp/manual",
            "exp/tomb-ttl"
        ]
    );

    cx.advance(Duration::from_secs(11));
    let listed = list_all(b, ListQuery::new(usecase(), "exp/", 10)).await;
    assert_eq!(listed, ["exp/inline-tti", "exp/manual"]);

    // Listing is no access: the TTI object still expires 60 s after its creation.
    cx.advance(Duration::from_secs(50));
    let listed = list_all(b, ListQuery::new(usecase(), "exp/", 1)).await;
    assert_eq!(listed, ["exp/manual"], "a listing bumped a TTI deadline");
}

/// A tombstone is listed with its own metadata (size, content type, ETag), so a listing
/// never needs the long-term tier; replacing it by an inline object lists the new row once.
pub async fn list_reports_tombstones_with_their_metadata(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let mut m = stamped(ExpirationPolicy::Manual, cx.now());
    m.content_type = "video/mp4".into();
    m.etag = Some("0123456789abcdef0123456789abcdef-3".into());
    let key = object(USECASE, "org=3", "big.mp4");
    let t = tombstone("big.mp4/rev", &m);
    let written = b
        .compare_and_write(
            &key,
            &Expected::revision(None),
            TieredWrite::Tombstone(t.clone()),
        )
        .await
        .expect("compare_and_write failed");
    assert!(written);
    let page = listed(b, ListQuery::new(usecase(), "org=3/", 10)).await;
    assert_eq!(page.rows.len(), 1);
    assert_eq!(page.rows[0].key, "org=3/big.mp4");
    assert_eq!(page.rows[0].id, key);
    assert_eq!(page.rows[0].metadata, t.metadata, "tombstone metadata");

    let written = b
        .compare_and_write(
            &key,
            &Expected::revision(Some(&t.target)),
            TieredWrite::Object(m.clone(), Bytes::from_static(b"small")),
        )
        .await
        .expect("compare_and_write failed");
    assert!(written);
    let page = listed(b, ListQuery::new(usecase(), "org=3/", 10)).await;
    assert_eq!(page.rows.len(), 1, "the replaced row is listed once");
    assert_eq!(page.rows[0].metadata, with_size(&m, 5));

    let deleted = b.delete(&key).await.expect("delete failed");
    assert_eq!(deleted, None);
    let page = listed(b, ListQuery::new(usecase(), "org=3/", 10)).await;
    assert_eq!(page.rows, Vec::new(), "a deleted row is listed");
}
