//! How the cloud backend names and encodes what it stores.
//!
//! # Names
//!
//! * An object lives at its [`ObjectId::as_storage_path`] (below the configured prefix),
//!   e.g. `usecase/org.17/objects/key`. The path is validated by construction (no empty,
//!   `.` or `..` segment, no control character), so `Path::parse` accepts it unchanged.
//! * Everything else lives below [`RESERVED`] (`.objectstore/`): expiry records at
//!   `.objectstore/expiry/<storage path>`, multipart bookkeeping at
//!   `.objectstore/multipart/<upload id>/…`.
//!
//! **Invariant: reserved names never collide with objects.** The second segment of a storage
//! path is either `objects` or a scope `name.value` (scope parts are made of
//! `[A-Za-z0-9_\-()$!+']`, so a scope segment contains exactly one `.`). The reserved names'
//! second segments are `expiry` and `multipart`: neither `objects` nor dotted. So even the
//! (valid) usecase `.objectstore` cannot reach them; `reserved_names_are_disjoint` proves it
//! with a property test.
//!
//! # Metadata on the blob
//!
//! A blob carries its object's [`Metadata`] (without `size`, which is the blob's length) and
//! a random *revision* token in one user-metadata attribute ([`META_ATTRIBUTE`]): the
//! JSON [`Envelope`], base64url-encoded so that any text survives the trip through HTTP
//! headers. The content type is also set natively. The encoded value is bounded by the
//! store's user-metadata limit (S3: 2 KiB); larger metadata is refused as too large.
//!
//! # Expiry records
//!
//! Blobs cannot be re-labelled in place through `object_store`, so a TTI bump or an expiry
//! extension writes an [`ExpiryRecord`] instead: the new deadline and policy, bound to the
//! blob's revision. A record whose revision differs from the blob's is stale (the object was
//! overwritten since) and ignored.
//!
//! # Part entries
//!
//! Each uploaded part of a multipart upload is an empty object whose name holds everything
//! `list_parts` and `complete` need ([`PartEntry`]), so listing the parts is one (paged)
//! LIST request instead of a GET per part.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use object_store::path::Path;
use object_store::{Attribute, AttributeValue, Attributes};
use objectstore_types::{ExpirationPolicy, Metadata, ObjectId};
use serde::{Deserialize, Serialize};

use crate::digest::Md5;
use crate::error::{Error, Result};

/// The first segment of every name that is not an object.
pub(crate) const RESERVED: &str = ".objectstore";
/// The user-metadata attribute holding the encoded [`Envelope`]. Letters only: Azure
/// metadata names must be C# identifiers, and proxies drop headers with underscores.
pub(crate) const META_ATTRIBUTE: &str = "objectstoremeta";

/// The blob name of an object.
pub(crate) fn object_path(id: &ObjectId) -> Result<Path> {
    parse(&id.as_storage_path())
}

/// The name of an object's expiry record.
pub(crate) fn expiry_path(id: &ObjectId) -> Result<Path> {
    parse(&format!("{RESERVED}/expiry/{}", id.as_storage_path()))
}

/// The directory of a multipart upload's bookkeeping.
pub(crate) fn upload_dir(upload_id: &str) -> Result<Path> {
    if !is_upload_id(upload_id) {
        return Err(Error::NotFound(format!("multipart upload {upload_id:?}")));
    }
    parse(&format!("{RESERVED}/multipart/{upload_id}"))
}

/// The directory under which all multipart uploads live.
pub(crate) fn uploads_root() -> Path {
    Path::from_iter([RESERVED, "multipart"])
}

/// The name of a multipart upload's record.
pub(crate) fn upload_record_path(upload_id: &str) -> Result<Path> {
    Ok(upload_dir(upload_id)?.join("upload"))
}

/// The directory of a multipart upload's part entries.
pub(crate) fn parts_dir(upload_id: &str) -> Result<Path> {
    Ok(upload_dir(upload_id)?.join("parts"))
}

/// The directory of the entries of one part number.
pub(crate) fn part_dir(upload_id: &str, part_number: u32) -> Result<Path> {
    Ok(parts_dir(upload_id)?.join(format!("{part_number:010}")))
}

/// Whether `s` can be one of our upload ids: 1 to 64 characters of `[A-Za-z0-9_-]`.
pub(crate) fn is_upload_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn parse(path: &str) -> Result<Path> {
    Path::parse(path).map_err(|e| Error::Internal(format!("unusable object name {path:?}: {e}")))
}

/// What a blob's [`META_ATTRIBUTE`] holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Envelope {
    /// Format version, 1.
    pub v: u32,
    /// The random revision token of this write.
    pub rev: String,
    /// The metadata, `size` unset.
    pub m: Metadata,
}

/// A fresh revision token.
pub(crate) fn new_revision() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The attributes to store with a blob: native content type and the encoded envelope.
/// Fails with [`Error::TooLarge`] when the encoding exceeds `limit` bytes.
pub(crate) fn encode_attributes(
    metadata: &Metadata,
    revision: &str,
    limit: usize,
) -> Result<Attributes> {
    let mut m = metadata.clone();
    m.size = None;
    let envelope = Envelope {
        v: 1,
        rev: revision.to_owned(),
        m,
    };
    let json = serde_json::to_vec(&envelope)
        .map_err(|e| Error::Internal(format!("cannot encode metadata: {e}")))?;
    let encoded = URL_SAFE_NO_PAD.encode(json);
    if encoded.len() > limit {
        return Err(Error::TooLarge(format!(
            "metadata takes {} bytes encoded; this store keeps at most {limit}",
            encoded.len()
        )));
    }
    let mut attributes = Attributes::new();
    attributes.insert(
        Attribute::ContentType,
        AttributeValue::from(metadata.content_type.clone()),
    );
    attributes.insert(
        Attribute::Metadata(META_ATTRIBUTE.into()),
        AttributeValue::from(encoded),
    );
    Ok(attributes)
}

/// The encoded envelope value, for stores where we send the header ourselves.
pub(crate) fn encoded_envelope(attributes: &Attributes) -> Option<&str> {
    attributes
        .get(&Attribute::Metadata(META_ATTRIBUTE.into()))
        .map(|v| v.as_ref())
}

/// What a blob says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    /// The metadata, `size` set to the blob's length.
    pub metadata: Metadata,
    /// The revision token (empty for blobs not written by this backend).
    pub revision: String,
}

/// Decodes a blob's attributes. A blob without our attribute (written by another tool) gets
/// default metadata with its native content type; a malformed attribute is an error.
pub(crate) fn decode_attributes(attributes: &Attributes, size: u64) -> Result<Stored> {
    let Some(encoded) = encoded_envelope(attributes) else {
        let mut metadata = Metadata::default();
        if let Some(ct) = attributes.get(&Attribute::ContentType) {
            metadata.content_type = ct.to_string();
        }
        metadata.size = Some(size);
        return Ok(Stored {
            metadata,
            revision: String::new(),
        });
    };
    let corrupt = |why: String| Error::Internal(format!("stored metadata is unreadable: {why}"));
    let json = URL_SAFE_NO_PAD
        .decode(encoded.trim())
        .map_err(|e| corrupt(e.to_string()))?;
    let envelope: Envelope = serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))?;
    if envelope.v != 1 {
        return Err(corrupt(format!("unknown format version {}", envelope.v)));
    }
    let mut metadata = envelope.m;
    metadata.size = Some(size);
    Ok(Stored {
        metadata,
        revision: envelope.rev,
    })
}

/// A moved deadline of one revision of an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExpiryRecord {
    /// The revision the record applies to.
    pub rev: String,
    /// The deadline (unix seconds).
    pub expires: u64,
    /// The policy (an extension may change a TTL's duration).
    pub policy: ExpirationPolicy,
}

impl ExpiryRecord {
    /// The record for `metadata` of `revision`; `None` without a deadline.
    pub(crate) fn new(revision: &str, metadata: &Metadata) -> Option<Self> {
        Some(Self {
            rev: revision.to_owned(),
            expires: unix_secs(metadata.time_expires?),
            policy: metadata.expiration_policy,
        })
    }

    /// Applies the record to the stored metadata if it belongs to its revision.
    pub(crate) fn apply(&self, stored: &mut Stored) {
        if !stored.revision.is_empty() && self.rev == stored.revision {
            stored.metadata.time_expires = Some(UNIX_EPOCH + Duration::from_secs(self.expires));
            stored.metadata.expiration_policy = self.policy;
        }
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

fn unix_nanos(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos()
}

/// The record of a multipart upload, at [`upload_record_path`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UploadRecord {
    /// Format version, 1.
    pub v: u32,
    /// The storage path of the object the upload assembles.
    pub path: String,
    /// The store's own upload id (empty for Azure, which has none).
    pub native_id: String,
    /// The revision token the assembled blob carries.
    pub rev: String,
    /// The object's metadata, fixed at initiation.
    pub metadata: Metadata,
}

/// One uploaded part, encoded in an entry's name:
/// `parts/<number:010>/<uploaded unix nanos:020>.<size>.<sha256 hex>.<base64url native id>[.<md5 hex>]`
/// (entries written before the MD5 was kept have none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartEntry {
    /// Part number, >= 1.
    pub part_number: u32,
    /// When the part was uploaded (backend clock).
    pub uploaded: SystemTime,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// The store's id of the part (S3/GCS: its ETag; Azure: the block id).
    pub native: String,
    /// MD5 of the content.
    pub md5: Option<Md5>,
}

impl PartEntry {
    /// The ETag handed to clients: the quoted content hash.
    pub(crate) fn etag(&self) -> String {
        format!("\"{}\"", self.sha256)
    }

    /// The entry's name below [`part_dir`].
    pub(crate) fn file_name(&self) -> String {
        let mut name = format!(
            "{:020}.{}.{}.{}",
            unix_nanos(self.uploaded),
            self.size,
            self.sha256,
            URL_SAFE_NO_PAD.encode(self.native.as_bytes())
        );
        if let Some(md5) = &self.md5 {
            name.push('.');
            name.push_str(&md5.hex());
        }
        name
    }

    /// Parses the last two segments of an entry's path (`<number>/<file name>`).
    pub(crate) fn parse(number: &str, file_name: &str) -> Option<Self> {
        let part_number: u32 = number.parse().ok()?;
        let mut fields = file_name.split('.');
        let nanos: u64 = fields.next()?.parse().ok()?;
        let size: u64 = fields.next()?.parse().ok()?;
        let sha256 = fields.next()?.to_owned();
        let native = URL_SAFE_NO_PAD.decode(fields.next()?).ok()?;
        let md5 = match fields.next() {
            None => None,
            Some(hex) => Some(Md5::from_hex(hex)?),
        };
        if fields.next().is_some() || part_number == 0 || sha256.len() != 64 {
            return None;
        }
        Some(Self {
            part_number,
            uploaded: UNIX_EPOCH + Duration::from_nanos(nanos),
            size,
            sha256,
            native: String::from_utf8(native).ok()?,
            md5,
        })
    }

    /// Orders entries of one part number: the latest upload wins.
    pub(crate) fn newer_than(&self, other: &Self) -> bool {
        (self.uploaded, &self.sha256, &self.native) > (other.uploaded, &other.sha256, &other.native)
    }
}

#[cfg(test)]
mod tests {
    use objectstore_types::{ObjectContext, ObjectKey, Scope, Scopes, Usecase};
    use proptest::prelude::*;

    use super::*;

    fn usecase() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z.]{1,12}".prop_filter("not . or ..", |s| s != "." && s != ".."),
            Just(RESERVED.to_owned()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            rng_seed: proptest::test_runner::RngSeed::Fixed(0xc10d),
            cases: 512,
            ..ProptestConfig::default()
        })]

        /// No object path is an expiry record or multipart bookkeeping name, whatever the
        /// usecase (including `.objectstore`), scopes and key.
        #[test]
        fn reserved_names_are_disjoint(
            usecase in usecase(),
            scopes in proptest::collection::vec(("[a-z_()$!+'-]{1,6}", "[A-Za-z0-9]{1,6}"), 0..3),
            key in "(expiry|multipart|objects|[a-z.]{1,8})(/[a-z.]{1,8}){0,3}",
        ) {
            let Ok(key) = ObjectKey::new(key) else { return Ok(()) };
            let scopes: Vec<Scope> = scopes
                .into_iter()
                .map(|(n, v)| Scope::new(n, v).unwrap())
                .collect();
            let id = ObjectId::new(
                ObjectContext {
                    usecase: Usecase::new(usecase).unwrap(),
                    scopes: Scopes::from_vec(scopes).unwrap(),
                },
                key,
            );
            let path = object_path(&id).unwrap();
            let reserved = [
                Path::from_iter([RESERVED, "expiry"]),
                uploads_root(),
            ];
            for root in reserved {
                prop_assert!(path.prefix_match(&root).is_none(), "{path} is below {root}");
            }
        }
    }

    #[test]
    fn attributes_round_trip_any_text() {
        let mut m = Metadata {
            content_type: "text/plain; charset=utf-8".into(),
            filename: Some("résumé 100%.txt\n".into()),
            ..Metadata::default()
        };
        m.custom.insert("emoji".into(), "🚀 \"quoted\"".into());
        let attributes = encode_attributes(&m, "rev1", 2000).unwrap();
        let stored = decode_attributes(&attributes, 42).unwrap();
        assert_eq!(stored.revision, "rev1");
        assert_eq!(
            stored.metadata,
            Metadata {
                size: Some(42),
                ..m.clone()
            }
        );
        assert!(matches!(
            encode_attributes(&m, "rev1", 10),
            Err(Error::TooLarge(_))
        ));
    }

    #[test]
    fn foreign_blobs_get_default_metadata() {
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, "image/png".into());
        let stored = decode_attributes(&attributes, 7).unwrap();
        assert_eq!(stored.metadata.content_type, "image/png");
        assert_eq!(stored.metadata.size, Some(7));
        assert_eq!(stored.revision, "");
    }

    #[test]
    fn part_entries_round_trip() {
        let entry = PartEntry {
            part_number: 12,
            uploaded: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789),
            size: 5 << 20,
            sha256: "ab".repeat(32),
            native: "\"9b2cf535f27731c974343645a3985328\"".into(),
            md5: None,
        };
        let parsed = PartEntry::parse("0000000012", &entry.file_name()).unwrap();
        assert_eq!(parsed, entry);
        assert_eq!(entry.etag(), format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(PartEntry::parse("0000000000", &entry.file_name()), None);
        assert_eq!(PartEntry::parse("0000000012", "1.2.3"), None);
    }

    #[test]
    fn part_entries_keep_their_md5() {
        let entry = PartEntry {
            part_number: 3,
            uploaded: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            size: 11,
            sha256: "cd".repeat(32),
            native: "block-3".into(),
            md5: Some(Md5::of(b"hello world")),
        };
        let name = entry.file_name();
        assert!(
            name.ends_with(".5eb63bbbe01eeed093cb22bb8f5acdc3"),
            "{name}"
        );
        assert_eq!(PartEntry::parse("0000000003", &name), Some(entry));
        assert_eq!(PartEntry::parse("0000000003", &format!("{name}.x")), None);
        assert_eq!(PartEntry::parse("0000000003", &format!("{name}0")), None);
    }

    #[test]
    fn upload_ids_are_checked_before_use_in_names() {
        assert!(upload_dir("0190a1b2c3d4e5f6a7b8c9d0e1f2a3b4").is_ok());
        for bad in ["", "../x", "a/b", "a.b", &"x".repeat(65)] {
            assert!(
                matches!(upload_dir(bad), Err(Error::NotFound(_))),
                "{bad:?}"
            );
        }
    }
}
