//! ETags and receipts.
//!
//! * [`StampedEtags`]: the decorator every [`super::backend_suite`] and
//!   [`super::long_term_suite`] check reads through. A backend may stamp an `etag` and a
//!   `crc32c` (the tiered engine does; standalone stores do not): the decorator checks the
//!   ETag's form (32 lowercase hex digits, optionally `-N`) and takes both out of the
//!   metadata a read returns, so that the suites' metadata comparisons check every other
//!   field as before. That an
//!   ETag is the MD5 of the bytes is checked by [`put_receipts_report_what_was_kept`] and,
//!   on every whole read of a long-term object, by the tiered engine itself.
//! * The receipt checks: what a backend reports about a put or a part is what it kept, and
//!   a part whose bytes differ from the caller's digest is never stored.

use std::any::Any;

use objectstore_types::{ExpirationPolicy, Metadata};

use super::{Ctx, chunked, id, pattern, stamped};
use crate::backend::around::Around;
use crate::backend::{Backend, GetResponse, LongTermBackend, PartUpload, PartsQuery};
use crate::digest::{BodyDigest, Md5, digesting};
use crate::error::Error;
use crate::integrity::IntegrityError;
use crate::stream;

/// See the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct StampedEtags;

/// Whether `etag` has the form of a stamped ETag.
fn is_etag(etag: &str) -> bool {
    let (hex, parts) = match etag.split_once('-') {
        Some((hex, n)) => (hex, Some(n)),
        None => (etag, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    hex.len() == 32
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && parts.is_none_or(digits)
}

/// Takes the fields a backend may stamp (`etag`, `crc32c`) out of `metadata`, checking the
/// ETag's form.
#[track_caller]
fn take_etag(metadata: &mut Metadata) {
    if let Some(etag) = metadata.etag.take() {
        assert!(
            is_etag(&etag),
            "a stamped ETag has the wrong form: {etag:?}"
        );
    }
    metadata.crc32c = None;
}

impl Around for StampedEtags {
    fn rewrite(&self, value: &mut dyn Any) {
        if let Some(Some(metadata)) = value.downcast_mut::<Option<Metadata>>() {
            take_etag(metadata);
        } else if let Some(response) = value.downcast_mut::<GetResponse>() {
            match response {
                GetResponse::Found { metadata, .. }
                | GetResponse::RangeNotSatisfiable(metadata) => take_etag(metadata),
                GetResponse::NotFound => {}
            }
        }
    }
}

/// A put's receipt reports what the backend kept: the size and MD5 of the payload when it
/// reports them, and a stamped ETag is the payload's MD5.
pub async fn put_receipts_report_what_was_kept(cx: &Ctx<dyn Backend>) {
    let b = &*cx.backend;
    for (key, len) in [
        ("receipt/small", 1000),
        ("receipt/empty", 0),
        ("receipt/chunked", 300_000),
    ] {
        let payload = pattern(len, 7);
        let metadata = stamped(ExpirationPolicy::Manual, cx.now());
        let receipt = b
            .put(&id(key), &metadata, chunked(&payload, 64 * 1024))
            .await
            .expect("put failed");
        let md5 = Md5::of(&payload);
        assert!(
            receipt.size.is_none_or(|s| s == len as u64),
            "{key}: receipt size {:?} for {len} bytes",
            receipt.size
        );
        assert!(
            receipt.md5.is_none_or(|m| m == md5),
            "{key}: receipt MD5 {:?}, payload MD5 {md5}",
            receipt.md5
        );
        assert!(
            receipt.etag.as_ref().is_none_or(|e| *e == md5.hex()),
            "{key}: stamped ETag {:?} is not the payload's MD5 {md5}",
            receipt.etag
        );
    }
}

/// Part receipts report the part's size and MD5 (when kept), `list_parts` reports the same
/// MD5, and a part whose bytes differ from the caller's digest of what it sent is refused
/// as an integrity failure and not stored.
pub async fn part_receipts_and_checks(cx: &Ctx<dyn LongTermBackend>) {
    let b = &*cx.backend;
    let key = id("receipt/parts");
    let metadata = stamped(ExpirationPolicy::Manual, cx.now());
    let upload_id = b
        .initiate_multipart(&key, &metadata)
        .await
        .expect("initiate failed");
    let part = pattern(100_000, 3);
    let (body, sent) = digesting(chunked(&part, 16 * 1024));
    let receipt = b
        .upload_part_checked(
            PartUpload::new(&key, &upload_id, 1, part.len() as u64, body).checked(sent),
        )
        .await
        .expect("a checked part whose bytes match must be stored");
    assert_eq!(receipt.size, part.len() as u64, "part receipt size");
    assert!(
        receipt.md5.is_none_or(|m| m == Md5::of(&part)),
        "part receipt MD5 {:?}",
        receipt.md5
    );
    let listed = b
        .list_parts(PartsQuery::all(&key, &upload_id))
        .await
        .expect("list_parts failed");
    assert_eq!(listed.parts.len(), 1);
    assert_eq!(listed.parts[0].md5, receipt.md5, "list_parts MD5");

    // A digest of other bytes: the store received bytes the caller did not send.
    let (other, claimed) = digesting(stream::single(pattern(100_000, 4)));
    stream::read_to_vec(other).await.expect("drain");
    let refused = b
        .upload_part_checked(
            PartUpload::new(
                &key,
                &upload_id,
                2,
                part.len() as u64,
                chunked(&part, 16 * 1024),
            )
            .checked(claimed),
        )
        .await;
    match refused {
        Err(error @ Error::Backend { .. }) => assert!(
            IntegrityError::find(&error).is_some(),
            "the refusal must be an integrity failure: {error:?}"
        ),
        other => panic!("a part whose bytes differ from the digest must be refused: {other:?}"),
    }
    // A digest that never completed: the caller's body was not read to its end.
    let refused = b
        .upload_part_checked(
            PartUpload::new(&key, &upload_id, 3, 3, stream::single("abc"))
                .checked(BodyDigest::default()),
        )
        .await;
    assert!(
        refused.is_err(),
        "a part with an incomplete digest must be refused"
    );
    let listed = b
        .list_parts(PartsQuery::all(&key, &upload_id))
        .await
        .expect("list_parts failed");
    let numbers: Vec<u32> = listed.parts.iter().map(|p| p.part_number).collect();
    assert_eq!(numbers, vec![1], "a refused part was stored");
    b.abort_multipart(&key, &upload_id)
        .await
        .expect("abort failed");
}
