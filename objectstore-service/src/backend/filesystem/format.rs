//! File formats of the filesystem store: object files, part files, expiry sidecars and upload
//! descriptions.
//!
//! An **object file** is a fixed 36-byte prefix, a JSON document and the payload:
//!
//! ```text
//! 0..4    magic "OSFO"
//! 4..6    format version (u16 LE, 1)
//! 6..8    reserved (0)
//! 8..24   write id: 16 random bytes, fresh for every write of the object
//! 24..32  payload length (u64 LE); written as 0 and patched once the payload is streamed
//! 32..36  JSON length (u32 LE)
//! 36..    JSON {"path": <storage path>, "metadata": <Metadata without size>}
//! ...     payload
//! ```
//!
//! The metadata's `size` is the payload length field (known only after streaming); the
//! storage path lets a scan recover the [`ObjectId`](objectstore_types::ObjectId) from a file
//! named by a hash. A file whose length disagrees with its header is reported as corrupt.
//!
//! A **part file** is `"OSFP"`, version (2), reserved, the SHA-256 of the part bytes (32
//! bytes, patched after streaming), the upload time in Unix seconds (u64 LE), the MD5 of
//! the part bytes (16 bytes, patched after streaming; the store's own account of the part,
//! reported to the tiered layer), then the bytes. Version 1 part files (written before the
//! MD5 was kept) lack the MD5 and are still read.
//!
//! An **expiry sidecar** is a small JSON document carrying the deadline (and, after a TTL
//! extension, the new policy) of exactly one write of its object: it applies only while its
//! `write_id` equals the object file's. Deadline changes (TTI bumps, extensions) rewrite only
//! the sidecar, never the payload.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::time::SystemTime;

use objectstore_types::{ExpirationPolicy, Metadata, time};
use serde::{Deserialize, Serialize};

use crate::digest::Md5;

const OBJECT_MAGIC: &[u8; 4] = b"OSFO";
const PART_MAGIC: &[u8; 4] = b"OSFP";
const VERSION: u16 = 1;
/// Length of the fixed prefix of an object file.
const OBJECT_PREFIX_LEN: u64 = 36;
/// Offset of the payload length field in an object file.
const PAYLOAD_LEN_OFFSET: u64 = 24;
/// Refuse metadata documents larger than this (a corrupt length would allocate wildly).
const MAX_JSON_LEN: u32 = 4 * 1024 * 1024;
/// Offset of the digest in a part file.
const PART_DIGEST_OFFSET: u64 = 8;
/// Part file version written now (with the MD5).
const PART_VERSION: u16 = 2;
/// Length of a version 1 part file's header (without the MD5).
const PART_HEADER_LEN_V1: u64 = 48;
/// Length of a part file's header.
pub(super) const PART_HEADER_LEN: u64 = 64;

/// A random tag identifying one write of an object.
pub(super) type WriteId = [u8; 16];

/// A fresh write id.
pub(super) fn new_write_id() -> WriteId {
    *uuid::Uuid::new_v4().as_bytes()
}

fn corrupt(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

#[derive(Serialize, Deserialize)]
struct ObjectJson {
    path: String,
    metadata: Metadata,
}

/// The decoded header of an object file.
#[derive(Debug, Clone)]
pub(super) struct ObjectHeader {
    /// Which write produced the file.
    pub write_id: WriteId,
    /// The object's storage path.
    pub path: String,
    /// The metadata as written, with `size` set from the header.
    pub metadata: Metadata,
    /// Where the payload starts.
    pub payload_offset: u64,
    /// Payload length.
    pub payload_len: u64,
}

/// Writes an object header with a zero payload length (patch it with
/// [`patch_payload_len`] after the payload). Returns the header length.
pub(super) fn write_object_header(
    out: &mut impl Write,
    write_id: &WriteId,
    path: &str,
    metadata: &Metadata,
) -> io::Result<u64> {
    let mut metadata = metadata.clone();
    metadata.size = None;
    let json = serde_json::to_vec(&ObjectJson {
        path: path.to_owned(),
        metadata,
    })
    .map_err(io::Error::other)?;
    let json_len = u32::try_from(json.len())
        .ok()
        .filter(|l| *l <= MAX_JSON_LEN)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "metadata too large"))?;
    let mut prefix = Vec::with_capacity(OBJECT_PREFIX_LEN as usize + json.len());
    prefix.extend_from_slice(OBJECT_MAGIC);
    prefix.extend_from_slice(&VERSION.to_le_bytes());
    prefix.extend_from_slice(&[0, 0]);
    prefix.extend_from_slice(write_id);
    prefix.extend_from_slice(&0u64.to_le_bytes());
    prefix.extend_from_slice(&json_len.to_le_bytes());
    prefix.extend_from_slice(&json);
    out.write_all(&prefix)?;
    Ok(prefix.len() as u64)
}

/// Records the payload length in an object file written by [`write_object_header`].
pub(super) fn patch_payload_len(file: &mut File, len: u64) -> io::Result<()> {
    file.seek(SeekFrom::Start(PAYLOAD_LEN_OFFSET))?;
    file.write_all(&len.to_le_bytes())
}

/// Reads and checks the header of an object file; leaves the cursor at the payload.
pub(super) fn read_object_header(file: &mut File) -> io::Result<ObjectHeader> {
    let file_len = file.metadata()?.len();
    file.seek(SeekFrom::Start(0))?;
    let mut prefix = [0u8; OBJECT_PREFIX_LEN as usize];
    file.read_exact(&mut prefix)
        .map_err(|_| corrupt("object file shorter than its header"))?;
    if &prefix[0..4] != OBJECT_MAGIC {
        return Err(corrupt("not an object file (bad magic)"));
    }
    let version = u16::from_le_bytes([prefix[4], prefix[5]]);
    if version != VERSION {
        return Err(corrupt(format!("unknown object file version {version}")));
    }
    let mut write_id = WriteId::default();
    write_id.copy_from_slice(&prefix[8..24]);
    let payload_len = u64::from_le_bytes(prefix[24..32].try_into().map_err(io::Error::other)?);
    let json_len = u32::from_le_bytes(prefix[32..36].try_into().map_err(io::Error::other)?);
    if json_len > MAX_JSON_LEN {
        return Err(corrupt("object metadata length out of range"));
    }
    let payload_offset = OBJECT_PREFIX_LEN + u64::from(json_len);
    if payload_offset.checked_add(payload_len) != Some(file_len) {
        return Err(corrupt(format!(
            "object file is {file_len} bytes, header says {}",
            payload_offset.saturating_add(payload_len)
        )));
    }
    let mut json = vec![0u8; json_len as usize];
    file.read_exact(&mut json)?;
    let ObjectJson { path, mut metadata } =
        serde_json::from_slice(&json).map_err(|e| corrupt(format!("object metadata: {e}")))?;
    metadata.size = Some(payload_len);
    Ok(ObjectHeader {
        write_id,
        path,
        metadata,
        payload_offset,
        payload_len,
    })
}

/// The deadline override of one write of an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Sidecar {
    /// Hex of the write id the sidecar applies to.
    pub write_id: String,
    /// The policy (changed by TTL extensions).
    pub expiration_policy: ExpirationPolicy,
    /// The deadline, Unix seconds.
    pub time_expires: Option<u64>,
}

impl Sidecar {
    /// A sidecar carrying `metadata`'s expiry fields for write `write_id`.
    pub(super) fn new(write_id: &WriteId, metadata: &Metadata) -> Self {
        Self {
            write_id: hex::encode(write_id),
            expiration_policy: metadata.expiration_policy,
            time_expires: metadata.time_expires.map(time::unix_secs),
        }
    }

    /// Whether this sidecar belongs to write `write_id`.
    pub(super) fn applies_to(&self, write_id: &WriteId) -> bool {
        self.write_id == hex::encode(write_id)
    }

    /// Applies the override to the metadata of the write it belongs to.
    pub(super) fn apply(&self, metadata: &mut Metadata) {
        metadata.expiration_policy = self.expiration_policy;
        metadata.time_expires = self.time_expires.map(time::from_unix_secs);
    }

    pub(super) fn encode(&self) -> io::Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(io::Error::other)
    }

    pub(super) fn decode(bytes: &[u8]) -> io::Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| corrupt(format!("expiry sidecar: {e}")))
    }
}

/// The description of a multipart upload (`upload.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct UploadJson {
    /// Storage path of the object the upload assembles.
    pub path: String,
    /// Metadata the assembled object carries.
    pub metadata: Metadata,
    /// When the upload was initiated, Unix seconds (for the abandoned-upload sweep).
    pub created: u64,
}

impl UploadJson {
    pub(super) fn encode(&self) -> io::Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(io::Error::other)
    }

    pub(super) fn decode(bytes: &[u8]) -> io::Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| corrupt(format!("upload description: {e}")))
    }
}

/// The decoded header of a part file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PartHeader {
    /// SHA-256 of the part bytes.
    pub digest: [u8; 32],
    /// Upload time.
    pub last_modified: SystemTime,
    /// Number of part bytes.
    pub size: u64,
    /// MD5 of the part bytes (`None` in version 1 part files).
    pub md5: Option<Md5>,
}

impl PartHeader {
    /// The part's ETag: the first 128 bits of its SHA-256, hex, in double quotes.
    pub(super) fn etag(&self) -> String {
        etag_of(&self.digest)
    }
}

/// The ETag for a part digest.
pub(super) fn etag_of(digest: &[u8; 32]) -> String {
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// Writes a part header with zero digests (patched by [`patch_part_digest`]).
pub(super) fn write_part_header(out: &mut impl Write, last_modified: SystemTime) -> io::Result<()> {
    let mut h = Vec::with_capacity(PART_HEADER_LEN as usize);
    h.extend_from_slice(PART_MAGIC);
    h.extend_from_slice(&PART_VERSION.to_le_bytes());
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(&[0u8; 32]);
    h.extend_from_slice(&time::unix_secs(last_modified).to_le_bytes());
    h.extend_from_slice(&[0u8; 16]);
    out.write_all(&h)
}

/// Records the digests in a part file written by [`write_part_header`].
pub(super) fn patch_part_digest(file: &mut File, digest: &[u8; 32], md5: &Md5) -> io::Result<()> {
    file.seek(SeekFrom::Start(PART_DIGEST_OFFSET))?;
    file.write_all(digest)?;
    file.seek(SeekFrom::Start(PART_HEADER_LEN_V1))?;
    file.write_all(&md5.0)
}

/// Reads a part file's header; leaves the cursor at the part bytes.
pub(super) fn read_part_header(file: &mut File) -> io::Result<PartHeader> {
    let file_len = file.metadata()?.len();
    file.seek(SeekFrom::Start(0))?;
    let mut h = [0u8; PART_HEADER_LEN_V1 as usize];
    file.read_exact(&mut h)
        .map_err(|_| corrupt("part file shorter than its header"))?;
    let version = u16::from_le_bytes([h[4], h[5]]);
    if &h[0..4] != PART_MAGIC || !(VERSION..=PART_VERSION).contains(&version) {
        return Err(corrupt("not a part file"));
    }
    let mut digest = [0u8; 32];
    digest.copy_from_slice(&h[8..40]);
    let secs = u64::from_le_bytes(h[40..48].try_into().map_err(io::Error::other)?);
    let (md5, header_len) = if version == PART_VERSION {
        let mut md5 = [0u8; 16];
        file.read_exact(&mut md5)
            .map_err(|_| corrupt("part file shorter than its header"))?;
        (Some(Md5(md5)), PART_HEADER_LEN)
    } else {
        (None, PART_HEADER_LEN_V1)
    };
    Ok(PartHeader {
        digest,
        last_modified: time::from_unix_secs(secs),
        size: file_len.saturating_sub(header_len),
        md5,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// A fresh file, open for reading and writing.
    fn read_write(path: &std::path::Path) -> File {
        File::options()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(path)
            .unwrap()
    }

    #[test]
    fn object_header_round_trips_and_detects_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut file = read_write(&path);
        let mut metadata = Metadata {
            origin: Some("o".into()),
            size: Some(99),
            ..Metadata::default()
        };
        let id = new_write_id();
        let off = write_object_header(&mut file, &id, "u/objects/k", &metadata).unwrap();
        file.write_all(b"hello").unwrap();
        patch_payload_len(&mut file, 5).unwrap();
        let h = read_object_header(&mut file).unwrap();
        metadata.size = Some(5);
        assert_eq!(h.metadata, metadata);
        assert_eq!(
            (h.write_id, h.path.as_str(), h.payload_offset, h.payload_len),
            (id, "u/objects/k", off, 5)
        );
        let mut rest = String::new();
        file.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "hello");

        file.set_len(off + 4).unwrap();
        let err = read_object_header(&mut file).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn bad_magic_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'x'; 100]).unwrap();
        let mut file = File::open(&path).unwrap();
        assert_eq!(
            read_object_header(&mut file).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            read_part_header(&mut file).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn part_header_round_trips() {
        let mut buf = Cursor::new(Vec::new());
        write_part_header(&mut buf, time::from_unix_secs(1234)).unwrap();
        assert_eq!(buf.get_ref().len() as u64, PART_HEADER_LEN);
        let etag = etag_of(&[0xab; 32]);
        assert_eq!(etag, format!("\"{}\"", "ab".repeat(16)));
    }

    #[test]
    fn part_files_keep_their_md5_and_old_ones_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part");
        let mut file = read_write(&path);
        write_part_header(&mut file, time::from_unix_secs(77)).unwrap();
        file.write_all(b"hello").unwrap();
        let md5 = Md5::of(b"hello");
        patch_part_digest(&mut file, &[0xcd; 32], &md5).unwrap();
        let header = read_part_header(&mut file).unwrap();
        assert_eq!(
            (header.size, header.md5, header.digest),
            (5, Some(md5), [0xcd; 32])
        );
        let mut rest = String::new();
        file.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "hello", "the cursor is left at the part bytes");

        // A version 1 part file: 48-byte header, no MD5.
        let mut v1 = Vec::new();
        v1.extend_from_slice(PART_MAGIC);
        v1.extend_from_slice(&1u16.to_le_bytes());
        v1.extend_from_slice(&[0, 0]);
        v1.extend_from_slice(&[0xef; 32]);
        v1.extend_from_slice(&77u64.to_le_bytes());
        v1.extend_from_slice(b"old part");
        std::fs::write(&path, &v1).unwrap();
        let mut file = File::open(&path).unwrap();
        let header = read_part_header(&mut file).unwrap();
        assert_eq!((header.size, header.md5), (8, None));
        assert_eq!(header.etag(), format!("\"{}\"", "ef".repeat(16)));
        let mut rest = String::new();
        file.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "old part");
    }

    #[test]
    fn sidecar_applies_only_to_its_write() {
        let (a, b) = (new_write_id(), new_write_id());
        let m = Metadata {
            expiration_policy: ExpirationPolicy::TimeToIdle(std::time::Duration::from_secs(60)),
            time_expires: Some(time::from_unix_secs(5000)),
            ..Metadata::default()
        };
        let s = Sidecar::decode(&Sidecar::new(&a, &m).encode().unwrap()).unwrap();
        assert!(s.applies_to(&a));
        assert!(!s.applies_to(&b));
        let mut target = Metadata::default();
        s.apply(&mut target);
        assert_eq!(target.time_expires, m.time_expires);
        assert_eq!(target.expiration_policy, m.expiration_policy);
    }
}
