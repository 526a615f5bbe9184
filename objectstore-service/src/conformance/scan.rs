//! Checks of the scans (contract 7 of [`crate::backend`]): [`HighVolumeBackend::scan_rows`],
//! [`ChangeLog::scan_records`], [`ChangeLog::list_leases`] and
//! [`LongTermBackend::list_blobs`] list every stored entry exactly once across pages
//! (expired ones included, removed ones not), in a stable order, and end with `next: None`.

use std::collections::BTreeMap;
use std::time::Duration;

use objectstore_types::{ExpirationPolicy, Metadata, time};

use super::change_log::record;
use super::high_volume::{expiring_at, tombstone};
use super::{Ctx, id, stamped};
use bytes::Bytes;

use crate::backend::{
    BlobInfo, ChangeLog, HighVolumeBackend, LongTermBackend, RowInfo, ScanPage, TieredWrite,
};
use crate::stream;

/// Pages through a scan with page size 2, checking that pages are bounded and make progress.
async fn all_pages<T, F, Fut>(mut page: F) -> Vec<T>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = crate::Result<ScanPage<T>>>,
{
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..100 {
        let p = page(cursor.clone()).await.expect("scan failed");
        assert!(p.items.len() <= 2, "a page holds at most `limit` items");
        out.extend(p.items);
        match p.next {
            Some(next) => {
                assert_ne!(Some(&next), cursor.as_ref(), "the cursor must move on");
                cursor = Some(next);
            }
            None => return out,
        }
    }
    panic!("the scan did not end after 100 pages");
}

/// Every row once (inline, tombstone, expired), nothing deleted, metadata with size.
pub async fn scan_rows_lists_every_row_once(cx: &Ctx<dyn HighVolumeBackend>) {
    let b = &*cx.backend;
    let empty = b.scan_rows(None, 10).await.expect("scan failed");
    assert_eq!(
        empty,
        ScanPage {
            items: vec![],
            next: None
        },
        "an empty store scans empty"
    );

    let manual = stamped(ExpirationPolicy::Manual, cx.now());
    for (key, len) in [
        ("rows/a", 1),
        ("rows/b", 20),
        ("rows/c/d", 300),
        ("rows/gone", 4),
    ] {
        b.put(&id(key), &manual, Bytes::from(vec![b'x'; len]))
            .await
            .expect("put failed");
    }
    let deadline = time::ceil_to_second(cx.now()) + Duration::from_secs(10);
    b.put(
        &id("rows/expired"),
        &expiring_at(deadline),
        Bytes::from("xy"),
    )
    .await
    .expect("put failed");
    let t = tombstone("rows/t/rev", &manual);
    let written = b
        .compare_and_write(&id("rows/t"), None, TieredWrite::Tombstone(t.clone()))
        .await
        .expect("compare_and_write failed");
    assert!(written);
    b.delete(&id("rows/gone")).await.expect("delete failed");
    cx.advance(Duration::from_secs(60));

    let rows: Vec<RowInfo> =
        all_pages(|after| async move { b.scan_rows(after.as_deref(), 2).await }).await;
    let by_key: BTreeMap<String, &RowInfo> =
        rows.iter().map(|r| (r.id.key().to_string(), r)).collect();
    assert_eq!(by_key.len(), rows.len(), "a row was listed twice: {rows:?}");
    assert_eq!(
        by_key.keys().map(String::as_str).collect::<Vec<_>>(),
        ["rows/a", "rows/b", "rows/c/d", "rows/expired", "rows/t"],
        "every stored row, expired included, deleted excluded"
    );
    for (key, size) in [
        ("rows/a", 1),
        ("rows/b", 20),
        ("rows/c/d", 300),
        ("rows/expired", 2),
    ] {
        let row = by_key[key];
        assert_eq!(row.target, None, "{key} is inline");
        assert_eq!(row.metadata.size, Some(size), "{key} carries its size");
    }
    assert_eq!(by_key["rows/expired"].expires(), Some(deadline));
    assert_eq!(by_key["rows/a"].expires(), None);
    assert_eq!(
        by_key["rows/t"].tombstone(),
        Some(t),
        "the tombstone as stored"
    );
}

/// Records in `change_id` order across pages, unchanged by the scan.
pub async fn scan_records_pages_in_change_id_order(cx: &Ctx<dyn ChangeLog>) {
    let b = &*cx.backend;
    assert!(
        b.scan_records(None, 10)
            .await
            .expect("scan_records failed")
            .is_empty()
    );
    let mut records = Vec::new();
    for i in 0..5 {
        let deferred = (i == 2).then(|| cx.now() + Duration::from_secs(60));
        let r = record(
            &format!("owner{}", i % 2),
            &format!("logscan/{i}"),
            deferred,
        );
        b.append_record(&r).await.expect("append_record failed");
        records.push(r);
    }
    records.sort_by_key(|r| r.change_id);
    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let page = b
            .scan_records(after.as_ref(), 2)
            .await
            .expect("scan_records failed");
        assert!(page.len() <= 2, "at most `limit` records");
        let Some(last) = page.last() else { break };
        after = Some(last.change_id);
        listed.extend(page);
    }
    assert_eq!(
        listed, records,
        "every record once, in change_id order, unchanged"
    );
    b.remove_record(&records[1].change_id)
        .await
        .expect("remove_record failed");
    let rest = b
        .scan_records(None, 100)
        .await
        .expect("scan_records failed");
    assert_eq!(rest.len(), 4, "a removed record is not listed");
    assert!(!rest.iter().any(|r| r.change_id == records[1].change_id));
}

/// Stored leases with their deadlines; released ones are gone.
pub async fn list_leases_reports_leases(cx: &Ctx<dyn ChangeLog>) {
    let b = &*cx.backend;
    assert!(
        b.list_leases()
            .await
            .expect("list_leases failed")
            .is_empty()
    );
    let until = cx.now() + Duration::from_secs(30);
    b.renew_lease("inst-b", until).await.expect("renew failed");
    b.renew_lease("inst-a", until).await.expect("renew failed");
    b.renew_lease("inst-c", until).await.expect("renew failed");
    let later = until + Duration::from_secs(30);
    b.renew_lease("inst-a", later).await.expect("renew failed");
    b.release_lease("inst-c").await.expect("release failed");
    let leases: Vec<(String, std::time::SystemTime)> = b
        .list_leases()
        .await
        .expect("list_leases failed")
        .into_iter()
        .map(|l| (l.instance, l.until))
        .collect();
    assert_eq!(
        leases,
        vec![("inst-a".to_owned(), later), ("inst-b".to_owned(), until)],
        "leases in instance order with their latest deadline"
    );
}

/// Every stored object once with its size; not deleted ones, not open multipart uploads.
pub async fn list_blobs_lists_every_object_once(cx: &Ctx<dyn LongTermBackend>) {
    let b = &*cx.backend;
    let empty = b.list_blobs(None, 10).await.expect("list_blobs failed");
    assert!(
        empty.items.is_empty() && empty.next.is_none(),
        "an empty store lists nothing"
    );

    let manual = stamped(ExpirationPolicy::Manual, cx.now());
    let sizes = [
        ("blobs/a", 1),
        ("blobs/b/c", 700),
        ("blobs/d", 0),
        ("blobs/e", 33),
        ("blobs/gone", 5),
    ];
    for (key, len) in sizes {
        b.put(&id(key), &manual, stream::single(vec![b'y'; len]))
            .await
            .expect("put failed");
    }
    let deadline = time::ceil_to_second(cx.now()) + Duration::from_secs(10);
    b.put(
        &id("blobs/expired"),
        &expiring_at(deadline),
        stream::single("abc"),
    )
    .await
    .expect("put failed");
    b.delete(&id("blobs/gone")).await.expect("delete failed");
    // An open upload with a part is no object (yet).
    let upload = b
        .initiate_multipart(&id("blobs/open"), &Metadata::default())
        .await
        .expect("initiate failed");
    b.upload_part(&id("blobs/open"), &upload, 1, 3, stream::single("pqr"))
        .await
        .expect("upload_part failed");
    cx.advance(Duration::from_secs(60));

    let blobs: Vec<BlobInfo> =
        all_pages(|after| async move { b.list_blobs(after.as_deref(), 2).await }).await;
    let mut listed: Vec<(String, u64)> = blobs
        .iter()
        .map(|b| (b.id.key().to_string(), b.size))
        .collect();
    let count = listed.len();
    listed.sort();
    listed.dedup();
    assert_eq!(count, listed.len(), "an object was listed twice: {blobs:?}");
    assert_eq!(
        listed,
        vec![
            ("blobs/a".to_owned(), 1),
            ("blobs/b/c".to_owned(), 700),
            ("blobs/d".to_owned(), 0),
            ("blobs/e".to_owned(), 33),
            ("blobs/expired".to_owned(), 3),
        ],
        "every stored object (expired included) with its size"
    );
    b.abort_multipart(&id("blobs/open"), &upload)
        .await
        .expect("abort failed");
}
