//! The long-term store is untrusted: every write is checked against the store's own
//! account of what it kept, and every read against what was stored, before anything is
//! acknowledged or served as success.
//!
//! This module holds the pieces the checks share; the tiered layer runs them (its module
//! docs give the protocol steps):
//!
//! * [`IntegrityError`]: a failed check. [`IntegrityError::detected`] logs it at ERROR with
//!   the object id and counts it in `objectstore_integrity_failures_total{operation,check}`,
//!   once, where it is found. It travels as the source of an [`Error::Backend`] (HTTP 500,
//!   retryable: the store may keep the right bytes next time).
//! * [`compare`]: the bytes sent ([`Digest`]) against a store's account (size and/or MD5).
//! * [`check_sent`]: the same check inside a long-term backend, before its commit point
//!   (multipart parts cannot be removed once stored, so they are checked before they are).
//! * [`VerifiedBody`]: a read stream that counts (and, for whole objects stored with a
//!   CRC-32C, checksums) what the store returns and holds the last chunk back until the
//!   check passed, so a short, long or altered body ends in an error instead of a
//!   complete-looking one. Reads are checked with CRC-32C rather than MD5: it catches the
//!   accidents this guards against (truncation, bit flips, a wrong blob) as well, at a few
//!   percent of MD5's cost (`docs/benchmarks/etag-verification.md`).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;

use crate::digest::{BodyDigest, Crc32c, Digest, Md5};
use crate::error::Error;
use crate::stream::PayloadStream;

/// The counter of failures, labelled `operation` (one of [`OPERATIONS`]) and `check`
/// ([`Check::as_str`]).
pub const FAILURES: &str = "objectstore_integrity_failures_total";

/// The operations that are checked (the `operation` label of [`FAILURES`]).
pub const OPERATIONS: [&str; 4] = ["put", "upload_part", "complete_multipart", "get"];

/// Which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The number of bytes.
    Size,
    /// The MD5 of the bytes.
    Md5,
    /// The CRC-32C of the bytes (reads).
    Crc32c,
    /// The store acknowledged bytes it did not read to the end, or lost the object.
    Missing,
}

impl Check {
    /// Every check.
    pub const ALL: [Check; 4] = [Check::Size, Check::Md5, Check::Crc32c, Check::Missing];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Size => "size",
            Self::Md5 => "md5",
            Self::Crc32c => "crc32c",
            Self::Missing => "missing",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A write or read whose bytes do not match (see the module docs).
#[derive(Debug, Clone, thiserror::Error)]
#[error("integrity check failed: {operation} of {id}: {check} mismatch: {detail}")]
pub struct IntegrityError {
    /// What was checked: `put`, `upload_part`, `complete_multipart` or `get`.
    pub operation: &'static str,
    /// The object (a long-term revision: `{key}/{uuid}`), as a storage path.
    pub id: String,
    /// Which check failed.
    pub check: Check,
    /// What was expected and what was found.
    pub detail: String,
}

impl IntegrityError {
    /// A detected failure: logged at ERROR with the object id and counted, once, here.
    pub fn detected(
        operation: &'static str,
        id: impl Into<String>,
        check: Check,
        detail: impl Into<String>,
    ) -> Self {
        let error = Self {
            operation,
            id: id.into(),
            check,
            detail: detail.into(),
        };
        tracing::error!(
            operation,
            id = %error.id,
            check = check.as_str(),
            detail = %error.detail,
            "the long-term store's bytes do not match"
        );
        metrics::counter!(FAILURES, "operation" => operation, "check" => check.as_str())
            .increment(1);
        error
    }

    /// As the storage engine's error: a failure of `backend` (HTTP 500, retryable).
    pub fn into_error(self, backend: &'static str) -> Error {
        let operation = match self.operation {
            "put" => "store an object intact",
            "upload_part" => "store a part intact",
            "complete_multipart" => "assemble an upload intact",
            _ => "return an object intact",
        };
        Error::backend(backend, operation, self)
    }

    /// The integrity failure in `error`'s source chain, if any.
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a IntegrityError> {
        let mut current = Some(error);
        while let Some(e) = current {
            if let Some(found) = e.downcast_ref::<IntegrityError>() {
                return Some(found);
            }
            // An I/O error's `source` skips the error it wraps.
            if let Some(found) = e
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .and_then(|inner| inner.downcast_ref::<IntegrityError>())
            {
                return Some(found);
            }
            current = e.source();
        }
        None
    }
}

/// Compares the bytes sent with a store's account of what it kept: the MD5 when it reports
/// one, and the size when it reports one. `Err((check, detail))` on the first mismatch.
pub fn compare(sent: &Digest, size: Option<u64>, md5: Option<Md5>) -> Result<(), (Check, String)> {
    if let Some(size) = size
        && size != sent.size
    {
        return Err((
            Check::Size,
            format!("sent {} bytes, the store kept {size}", sent.size),
        ));
    }
    if let Some(md5) = md5
        && md5 != sent.md5
    {
        return Err((
            Check::Md5,
            format!(
                "sent {} bytes with MD5 {}, the store's MD5 is {md5}",
                sent.size, sent.md5
            ),
        ));
    }
    Ok(())
}

/// A long-term backend's check before the commit point of a write: the caller's digest of
/// the body (`sent`, complete once the body ended) against the backend's own account of the
/// bytes it read (`kept_size` bytes with MD5 `kept_md5`). Without `sent` there is nothing to
/// check.
pub fn check_sent(
    operation: &'static str,
    id: &str,
    sent: Option<&BodyDigest>,
    kept_size: u64,
    kept_md5: Md5,
) -> Result<(), IntegrityError> {
    let Some(sent) = sent else {
        return Ok(());
    };
    let Some(sent) = sent.get() else {
        return Err(IntegrityError::detected(
            operation,
            id,
            Check::Missing,
            format!("the store read {kept_size} bytes but not the body's end"),
        ));
    };
    compare(&sent, Some(kept_size), Some(kept_md5))
        .map_err(|(check, detail)| IntegrityError::detected(operation, id, check, detail))
}

/// A read stream checked against what was stored (module docs). Store errors pass through
/// unchanged; a mismatch ends the stream with an `InvalidData` error whose source is the
/// [`IntegrityError`].
pub struct VerifiedBody {
    inner: PayloadStream,
    /// The object, for the error.
    id: String,
    /// Bytes the body must have, when known.
    expected_len: Option<u64>,
    /// The CRC-32C the bytes must have, with its state (whole-object reads only).
    crc: Option<(u32, Crc32c)>,
    seen: u64,
    held: Option<Bytes>,
    done: bool,
}

impl fmt::Debug for VerifiedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedBody")
            .field("id", &self.id)
            .field("expected_len", &self.expected_len)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl VerifiedBody {
    /// Checks `inner` against `expected_len` bytes and, when given, the CRC-32C `crc32c`.
    pub fn new(
        inner: PayloadStream,
        id: impl Into<String>,
        expected_len: Option<u64>,
        crc32c: Option<u32>,
    ) -> Self {
        Self {
            inner,
            id: id.into(),
            expected_len,
            crc: crc32c.map(|c| (c, Crc32c::default())),
            seen: 0,
            held: None,
            done: false,
        }
    }

    fn fail(&mut self, check: Check, detail: String) -> std::io::Error {
        self.done = true;
        self.held = None;
        let error = IntegrityError::detected("get", self.id.clone(), check, detail);
        std::io::Error::new(std::io::ErrorKind::InvalidData, error)
    }

    /// The checks at the end of the store's body.
    fn finish(&mut self) -> Result<(), std::io::Error> {
        if let Some(expected) = self.expected_len
            && self.seen != expected
        {
            let detail = format!("the store returned {} of {expected} bytes", self.seen);
            return Err(self.fail(Check::Size, detail));
        }
        if let Some((want, crc)) = self.crc.take() {
            let got = crc.finish();
            if got != want {
                let detail = format!(
                    "stored CRC-32C {want:08x}, the store returned bytes with CRC-32C {got:08x}"
                );
                return Err(self.fail(Check::Crc32c, detail));
            }
        }
        Ok(())
    }
}

impl Stream for VerifiedBody {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(this.held.take().map(Ok));
            }
            match this.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    this.held = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Some(Ok(chunk))) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    this.seen += chunk.len() as u64;
                    if let Some(expected) = this.expected_len
                        && this.seen > expected
                    {
                        let detail = format!("the store returned more than {expected} bytes");
                        return Poll::Ready(Some(Err(this.fail(Check::Size, detail))));
                    }
                    if let Some((_, crc)) = &mut this.crc {
                        crc.update(&chunk);
                    }
                    if let Some(previous) = this.held.replace(chunk) {
                        return Poll::Ready(Some(Ok(previous)));
                    }
                }
                Poll::Ready(None) => {
                    if let Err(e) = this.finish() {
                        return Poll::Ready(Some(Err(e)));
                    }
                    this.done = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::digest::crc32c;

    fn chunks(parts: &[&'static [u8]]) -> PayloadStream {
        let chunks: Vec<_> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        futures::stream::iter(chunks).boxed()
    }

    async fn collect(mut body: VerifiedBody) -> (Vec<u8>, Option<std::io::Error>) {
        let mut out = Vec::new();
        while let Some(item) = body.next().await {
            match item {
                Ok(chunk) => out.extend_from_slice(&chunk),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    #[tokio::test]
    async fn a_matching_body_passes_whole() {
        let body = VerifiedBody::new(
            chunks(&[b"ab", b"", b"cd"]),
            "x",
            Some(4),
            Some(crc32c(b"abcd")),
        );
        let (bytes, error) = collect(body).await;
        assert_eq!((bytes.as_slice(), error.is_none()), (&b"abcd"[..], true));
    }

    #[tokio::test]
    async fn a_short_long_or_altered_body_ends_in_an_error_before_its_last_chunk() {
        type Case = (&'static [&'static [u8]], Option<u32>, Check);
        let cases: [Case; 3] = [
            (&[b"ab", b"c"], None, Check::Size),
            (&[b"ab", b"cd", b"e"], None, Check::Size),
            (&[b"ab", b"cX"], Some(crc32c(b"abcd")), Check::Crc32c),
        ];
        for (parts, crc, check) in cases {
            let body = VerifiedBody::new(chunks(parts), "x", Some(4), crc);
            let (bytes, error) = collect(body).await;
            let error = error.expect("a mismatch must end in an error");
            let found = IntegrityError::find(&error).expect("the integrity error is the source");
            assert_eq!(found.check, check, "{parts:?}");
            assert!(
                bytes.len() < 4,
                "{parts:?}: {} bytes got through",
                bytes.len()
            );
        }
    }

    #[test]
    fn compare_reports_the_first_mismatch() {
        let sent = Digest {
            size: 3,
            md5: Md5::of(b"abc"),
            crc32c: crc32c(b"abc"),
        };
        assert!(compare(&sent, Some(3), Some(Md5::of(b"abc"))).is_ok());
        assert!(compare(&sent, None, None).is_ok());
        assert_eq!(compare(&sent, Some(0), None).unwrap_err().0, Check::Size);
        assert_eq!(
            compare(&sent, None, Some(Md5::of(b"abd"))).unwrap_err().0,
            Check::Md5
        );
    }
}
