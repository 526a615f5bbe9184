//! The S3 front over a long-term store that damages what it keeps or returns: a copy, a part
//! copy and a read never acknowledge or serve damaged bytes, and a failed copy stores
//! nothing (docs/guarantees.md §10).

mod support;

use objectstore_service::backend::around::corrupt::Damage;
use reqwest::Method;
use support::{Harness, first_tag};

/// Above the 1 MiB tiering threshold: the object lives in the long-term store.
const BIG: usize = 2 * 1024 * 1024;

fn body(seed: u8) -> Vec<u8> {
    (0..BIG).map(|i| (i % 251) as u8 ^ seed).collect()
}

const SOURCE: (&str, &str) = ("x-amz-copy-source", "/integrity/src");

/// `/integrity/src` holds `body(1)`, written while the store was honest.
async fn with_source() -> (
    Harness,
    objectstore_service::backend::around::corrupt::Corrupt,
) {
    let (h, corrupt) = Harness::corrupting("integrity").await;
    let put = h.put("/integrity/src", body(1)).await;
    assert!(put.status().is_success(), "{}", put.status());
    (h, corrupt)
}

/// The source still reads back whole once the store is honest again.
async fn assert_source_intact(h: &Harness) {
    let got = h.get("/integrity/src").await.bytes().await.unwrap();
    assert!(got == body(1), "the source changed");
}

/// A copy to `/integrity/dst` with each of `damages` switched on by `set` fails with a 5xx and
/// stores nothing; the source stays intact.
async fn assert_copies_fail(h: &Harness, damages: &[Damage], set: impl Fn(Option<Damage>)) {
    for &damage in damages {
        set(Some(damage));
        let copy = h
            .request(Method::PUT, "/integrity/dst", &[SOURCE])
            .send()
            .await
            .unwrap();
        set(None);
        assert!(
            copy.status().is_server_error(),
            "{damage:?}: {}",
            copy.status()
        );
        assert_eq!(h.status_of_get("/integrity/dst").await, 404, "{damage:?}");
    }
    assert_source_intact(h).await;
}

#[tokio::test]
async fn a_copy_of_a_damaged_read_fails_and_stores_nothing() {
    let (h, corrupt) = with_source().await;
    let damages = [Damage::Truncate(1), Damage::Pad(1), Damage::Flip(1000)];
    assert_copies_fail(&h, &damages, |d| corrupt.set_read(d)).await;
}

#[tokio::test]
async fn a_copy_the_store_keeps_wrong_fails_and_stores_nothing() {
    let (h, corrupt) = with_source().await;
    // The filesystem store reports its file's size: a lost or added byte shows at once.
    let damages = [Damage::Truncate(1), Damage::Pad(1)];
    assert_copies_fail(&h, &damages, |d| corrupt.set_write(d)).await;
}

#[tokio::test]
async fn a_part_copy_of_a_damaged_read_fails_and_records_no_part() {
    let (h, corrupt) = with_source().await;
    let created = h.post("/integrity/mp?uploads", Vec::new()).await;
    assert!(created.status().is_success(), "{}", created.status());
    let upload_id = first_tag(&created.text().await.unwrap(), "UploadId").expect("an upload id");
    let part = format!("/integrity/mp?partNumber=1&uploadId={upload_id}");
    for damage in [Damage::Truncate(1), Damage::Pad(1), Damage::Flip(1000)] {
        corrupt.set_read(Some(damage));
        let copy = h
            .request(Method::PUT, &part, &[SOURCE])
            .send()
            .await
            .unwrap();
        corrupt.set_read(None);
        assert!(
            copy.status().is_server_error(),
            "{damage:?}: {}",
            copy.status()
        );
    }
    let parts = h
        .text_of_get(&format!("/integrity/mp?uploadId={upload_id}"))
        .await;
    assert!(!parts.contains("<Part>"), "a part was recorded: {parts}");
    assert_source_intact(&h).await;
}
