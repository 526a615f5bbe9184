//! Digests of payloads: the MD5 that is a stored object's ETag, the CRC-32C that checks its
//! reads cheaply, and the caller's side of the check that a store kept exactly the bytes it
//! was sent ([`crate::integrity`]).
//!
//! * [`digesting`] wraps a body stream so that every chunk passes, unchanged and without a
//!   copy, through the hashers (MD5, CRC-32C) and a byte count, in the same pass that stores
//!   it. The result ([`Digest`]) is published on the [`BodyDigest`] handle when the body
//!   *ends*: a body that failed, or that its consumer did not read to the end, has no
//!   digest.
//! * MD5 costs about 1.7 ns per byte (it is the ETag S3 tools compare, so writes cannot
//!   avoid it); CRC-32C runs on the CPU's carry-less multiply at a few percent of that,
//!   which is why reads are checked with it (`docs/benchmarks/etag-verification.md`).
//! * [`Md5`] is a digest value: its hex form is an object's ETag; [`Md5::from_etag`] reads
//!   an ETag back only when it is exactly a quoted or bare 32-hex-digit MD5.
//! * [`multipart_etag`]: the ETag of an assembled multipart upload,
//!   `hex(md5(md5(part 1) ‖ … ‖ md5(part N)))-N`, as S3 computes it.
//! * [`entity_tag`]: the one definition of an object's entity tag, which `If-Match` on a
//!   conditional write compares ([`crate::backend::Precondition`]) and the S3 API serves:
//!   the stored [`Metadata::etag`] (the MD5 above, or the multipart tag), else, for an
//!   object stored before ETags existed, [`derived_tag`]: the first 16 bytes of a SHA-256
//!   over the stored metadata a write sets (creation time, size, content type,
//!   compression, policy, origin, filename, custom metadata) as `<32 hex>-0`. It changes
//!   with every write of different content or at a different second and ends in `-0`, so
//!   no tool mistakes it for an MD5 (rclone and others treat `-N` tags as "not an MD5"):
//!   an object never gets a 32-hex tag that is not its MD5. Two writes of the same size
//!   and metadata within the same second share it. The objectstore API serves no ETag for
//!   such objects (its `If-Match` then never matches a listed tag); the S3 API must serve
//!   one, and serves the derived tag.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use md5::Digest as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use objectstore_types::{Compression, Metadata, time};
use sha2::Digest as _;

use crate::stream::PayloadStream;

/// An MD5 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Md5(pub [u8; 16]);

impl Md5 {
    /// The MD5 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(md5::Md5::digest(bytes).into())
    }

    /// Lowercase hex, 32 digits (an ETag without its quotes).
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The hex in double quotes, as an `ETag` header carries it.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.hex())
    }

    /// Parses exactly 32 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut out = [0u8; 16];
        (text.len() == 32 && hex::decode_to_slice(text, &mut out).is_ok()).then_some(Self(out))
    }

    /// The MD5 an ETag names, when it is one: 32 hex digits, quoted or bare (a multipart
    /// ETag `<hex>-N` is not).
    pub fn from_etag(etag: &str) -> Option<Self> {
        Self::from_hex(
            etag.strip_prefix('"')
                .and_then(|e| e.strip_suffix('"'))
                .unwrap_or(etag),
        )
    }
}

impl fmt::Debug for Md5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Md5({})", self.hex())
    }
}

impl fmt::Display for Md5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl Serialize for Md5 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

impl<'de> Deserialize<'de> for Md5 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::from_hex(&text).ok_or_else(|| serde::de::Error::custom("not 32 hex digits"))
    }
}

/// What was streamed: the byte count, the MD5 and the CRC-32C of the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    /// Bytes.
    pub size: u64,
    /// Their MD5.
    pub md5: Md5,
    /// Their CRC-32C (Castagnoli).
    pub crc32c: u32,
}

/// The CRC-32C of `bytes`.
pub fn crc32c(bytes: &[u8]) -> u32 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, bytes) as u32
}

/// An incremental CRC-32C.
#[derive(Clone, Copy)]
pub struct Crc32c(crc_fast::Digest);

impl Default for Crc32c {
    fn default() -> Self {
        Self(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi))
    }
}

impl fmt::Debug for Crc32c {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Crc32c")
    }
}

impl Crc32c {
    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The CRC of everything added.
    pub fn finish(&self) -> u32 {
        self.0.finalize() as u32
    }
}

/// An incremental [`Digest`].
#[derive(Clone, Default)]
pub struct Hasher {
    md5: md5::Md5,
    crc: Crc32c,
    size: u64,
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher").field("size", &self.size).finish()
    }
}

impl Hasher {
    /// An empty hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.md5.update(bytes);
        self.crc.update(bytes);
        self.size += bytes.len() as u64;
    }

    /// Bytes added so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digest of everything added.
    pub fn finish(self) -> Digest {
        Digest {
            size: self.size,
            md5: Md5(self.md5.finalize().into()),
            crc32c: self.crc.finish(),
        }
    }
}

/// The digest of a body being streamed by [`digesting`]: empty until the body ended.
/// Clones share it.
#[derive(Debug, Clone, Default)]
pub struct BodyDigest(Arc<OnceLock<Digest>>);

impl BodyDigest {
    /// The digest, once the whole body was read (`None` before, and for a body that failed
    /// or was not read to the end).
    pub fn get(&self) -> Option<Digest> {
        self.0.get().copied()
    }
}

/// Wraps `body` so that its digest is computed while it is consumed (see the module docs).
pub fn digesting(body: PayloadStream) -> (PayloadStream, BodyDigest) {
    digesting_after(Hasher::new(), body)
}

/// [`digesting`] of a body whose first bytes already went through `hasher` (and are not in
/// `body`): the digest covers both.
pub fn digesting_after(hasher: Hasher, body: PayloadStream) -> (PayloadStream, BodyDigest) {
    let digest = BodyDigest::default();
    let stream = DigestStream {
        body,
        hasher: Some(hasher),
        out: digest.clone(),
    };
    (Box::pin(stream), digest)
}

struct DigestStream {
    body: PayloadStream,
    /// `None` once finished (the digest published) or after an error.
    hasher: Option<Hasher>,
    out: BodyDigest,
}

impl Stream for DigestStream {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let item = this.body.as_mut().poll_next(cx);
        match &item {
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(hasher) = &mut this.hasher {
                    hasher.update(chunk);
                }
            }
            Poll::Ready(Some(Err(_))) => this.hasher = None,
            Poll::Ready(None) => {
                if let Some(hasher) = this.hasher.take() {
                    let _ = this.out.0.set(hasher.finish());
                }
            }
            Poll::Pending => {}
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.body.size_hint()
    }
}

/// The ETag of a multipart upload assembled from parts with these MD5s, in order:
/// `hex(md5(concatenated binary part MD5s))-N`.
pub fn multipart_etag(parts: &[Md5]) -> String {
    let mut md5 = md5::Md5::new();
    for part in parts {
        md5.update(part.0);
    }
    let digest: [u8; 16] = md5.finalize().into();
    format!("{}-{}", hex::encode(digest), parts.len())
}

/// The object's entity tag, unquoted (module docs).
pub fn entity_tag(metadata: &Metadata) -> String {
    match &metadata.etag {
        Some(etag) => etag.clone(),
        None => derived_tag(metadata),
    }
}

/// The tag of an object without a stored one (module docs).
pub fn derived_tag(metadata: &Metadata) -> String {
    #[derive(Serialize)]
    struct Revision<'a> {
        created: Option<u64>,
        size: Option<u64>,
        content_type: &'a str,
        compression: Option<Compression>,
        policy: String,
        origin: Option<&'a str>,
        filename: Option<&'a str>,
        custom: &'a std::collections::BTreeMap<String, String>,
    }
    let revision = Revision {
        created: metadata.time_created.map(time::unix_secs),
        size: metadata.size,
        content_type: &metadata.content_type,
        compression: metadata.compression,
        policy: metadata.expiration_policy.to_string(),
        origin: metadata.origin.as_deref(),
        filename: metadata.filename.as_deref(),
        custom: &metadata.custom,
    };
    let json = serde_json::to_vec(&revision).unwrap_or_default();
    let digest = sha2::Sha256::digest(&json);
    format!("{}-0", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::stream;

    #[test]
    fn known_md5s() {
        assert_eq!(Md5::of(b"").hex(), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            Md5::of(b"The quick brown fox jumps over the lazy dog").hex(),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        let mut h = Hasher::new();
        h.update(b"The quick brown fox ");
        h.update(b"jumps over the lazy dog");
        assert_eq!(h.size(), 43);
        let digest = h.finish();
        assert_eq!(digest.md5.quoted(), "\"9e107d9d372bb6826bd81d3542a419d6\"");
        // The CRC-32C check value (RFC 3720): "123456789" → 0xE3069283.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        let whole = b"The quick brown fox jumps over the lazy dog";
        assert_eq!(digest.crc32c, crc32c(whole));
        let mut split = Crc32c::default();
        split.update(&whole[..7]);
        split.update(&whole[7..]);
        assert_eq!(split.finish(), crc32c(whole));
    }

    #[test]
    fn etags_parse_only_when_they_are_plain_md5s() {
        let md5 = Md5::of(b"x");
        assert_eq!(Md5::from_etag(&md5.quoted()), Some(md5));
        assert_eq!(Md5::from_etag(&md5.hex()), Some(md5));
        assert_eq!(Md5::from_etag(&format!("{}-2", md5.hex())), None);
        assert_eq!(Md5::from_etag(&format!("\"{}00\"", md5.hex())), None);
        assert_eq!(Md5::from_etag("\"zz\""), None);
        let json = serde_json::to_string(&md5).unwrap();
        assert_eq!(serde_json::from_str::<Md5>(&json).unwrap(), md5);
    }

    #[test]
    fn multipart_etag_is_the_md5_of_the_part_md5s() {
        // md5(md5("a") ‖ md5("b")) computed by hand from the binary part digests.
        let (a, b) = (Md5::of(b"a"), Md5::of(b"b"));
        let mut joined = a.0.to_vec();
        joined.extend_from_slice(&b.0);
        let want = format!("{}-2", Md5::of(&joined).hex());
        assert_eq!(multipart_etag(&[a, b]), want);
        assert_ne!(multipart_etag(&[b, a]), want, "order matters");
    }

    #[tokio::test]
    async fn the_digest_appears_once_the_body_ended() {
        let chunks = futures::stream::iter(vec![Ok(Bytes::from("ab")), Ok(Bytes::from("c"))]);
        let (mut body, digest) = digesting(chunks.boxed());
        assert_eq!(body.next().await.unwrap().unwrap(), "ab");
        assert_eq!(digest.get(), None, "not before the end");
        assert_eq!(body.next().await.unwrap().unwrap(), "c");
        assert!(body.next().await.is_none());
        assert_eq!(
            digest.get(),
            Some(Digest {
                size: 3,
                md5: Md5::of(b"abc"),
                crc32c: crc32c(b"abc"),
            })
        );
    }

    #[tokio::test]
    async fn a_digest_can_start_before_the_stream() {
        let mut hasher = Hasher::new();
        hasher.update(b"ab");
        let (body, digest) = digesting_after(hasher, stream::single("cd"));
        assert_eq!(stream::read_to_vec(body).await.unwrap(), b"cd");
        assert_eq!(
            digest.get().map(|d| (d.size, d.md5)),
            Some((4, Md5::of(b"abcd")))
        );
    }

    #[tokio::test]
    async fn a_failed_or_unfinished_body_has_no_digest() {
        let failing = futures::stream::iter(vec![
            Ok(Bytes::from("ab")),
            Err(std::io::Error::other("client went away")),
        ]);
        let (body, digest) = digesting(failing.boxed());
        assert!(stream::read_to_vec(body).await.is_err());
        assert_eq!(digest.get(), None);
        let (mut body, digest) = digesting(stream::single("abc"));
        let _ = body.next().await;
        drop(body);
        assert_eq!(digest.get(), None, "the end was never seen");
    }

    #[test]
    fn stored_tags_win_and_derived_ones_are_never_bare_md5s() {
        let mut m = Metadata {
            size: Some(3),
            ..Metadata::default()
        };
        let derived = entity_tag(&m);
        assert!(derived.ends_with("-0") && derived.len() == 34, "{derived}");
        m.custom.insert("k".into(), "v".into());
        assert_ne!(entity_tag(&m), derived, "custom metadata changes the tag");
        m.etag = Some("900150983cd24fb0d6963f7d28e17f72".into());
        assert_eq!(entity_tag(&m), "900150983cd24fb0d6963f7d28e17f72");
    }
}
