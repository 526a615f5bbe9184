//! One segment file of the value log: its name, its on-disk format, and positioned I/O on it.
//!
//! # Format
//!
//! ```text
//! file   := file-header record*
//! file-header (16 bytes) := "OSVLSEG1" id:u64le
//! record := header path payload
//! header (20 bytes) := magic:u32le len:u32le crc:u32le path_len:u16le 0:u16 hcrc:u32le
//! ```
//!
//! `len` and `crc` (CRC-32C) describe the payload, `hcrc` is the CRC-32C of the first 16
//! header bytes followed by the path. A row's pointer names the payload's first byte, so a
//! read is one `pread` of exactly the payload (or of a range of it) and never touches the
//! header; the header lets `check` and compaction prove that the bytes at a pointer are the
//! value of that row.
//!
//! **Invariants**
//!
//! * A segment is written by one thread only (the store's writer), strictly by appending:
//!   bytes below [`Segment::len`] never change once written.
//! * A segment's id is never reused (ids only grow, see `super::Appender`), so a stale
//!   pointer can never name bytes of another segment.
//! * A file is named `{id:010}.seg`; anything else in the directory is not a segment.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// The first bytes of every segment file.
const FILE_MAGIC: &[u8; 8] = b"OSVLSEG1";
/// Length of the file header: magic and id.
pub(super) const FILE_HEADER: u64 = 16;
/// The first bytes of every record header.
const RECORD_MAGIC: u32 = 0x4C56_534F; // "OSVL" little-endian
/// Length of a record header without its path.
pub(super) const RECORD_HEADER: usize = 20;

/// The file name of segment `id`.
pub(super) fn file_name(id: u64) -> String {
    format!("{id:010}.seg")
}

/// The segment id a file name stands for, if it is a segment's name.
pub(super) fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// CRC-32C (Castagnoli).
pub(super) fn crc32c(bytes: &[u8]) -> u32 {
    crc_fast::crc32_iscsi(bytes)
}

/// The header (with path) of a record holding `payload` for `path`.
pub(super) fn record_header(path: &str, payload: &[u8]) -> io::Result<Vec<u8>> {
    let path_len = u16::try_from(path.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "storage path too long"))?;
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "payload too large"))?;
    let mut header = Vec::with_capacity(RECORD_HEADER + path.len());
    header.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
    header.extend_from_slice(&len.to_le_bytes());
    header.extend_from_slice(&crc32c(payload).to_le_bytes());
    header.extend_from_slice(&path_len.to_le_bytes());
    header.extend_from_slice(&[0, 0]);
    let mut hcrc_input = header.clone();
    hcrc_input.extend_from_slice(path.as_bytes());
    header.extend_from_slice(&crc32c(&hcrc_input).to_le_bytes());
    header.extend_from_slice(path.as_bytes());
    Ok(header)
}

/// Why the bytes at a pointer are not the value of its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordFault {
    /// The pointer reaches outside the segment.
    OutOfBounds,
    /// No valid record header at the pointer (wrong magic or header checksum).
    BadHeader,
    /// The record belongs to another path or has another length.
    Mismatch,
    /// The payload's checksum does not match (the bytes are damaged).
    BadChecksum,
}

impl std::fmt::Display for RecordFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::OutOfBounds => "the pointer reaches outside its segment",
            Self::BadHeader => "no valid record header at the pointer",
            Self::Mismatch => "the record belongs to another object",
            Self::BadChecksum => "the payload's checksum does not match",
        })
    }
}

/// One segment file, open for positioned reads (and appends, for the active one).
#[derive(Debug)]
pub(super) struct Segment {
    id: u64,
    path: PathBuf,
    file: File,
    /// Bytes written so far (the file header included). Only the writer thread grows it.
    len: AtomicU64,
}

impl Segment {
    /// Creates segment `id` in `dir` (which must not hold it yet) with its file header. The
    /// file's directory entry is not yet durable: the caller syncs the directory.
    pub(super) fn create(dir: &Path, id: u64) -> io::Result<Self> {
        let path = dir.join(file_name(id));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        let mut header = [0u8; FILE_HEADER as usize];
        header[..8].copy_from_slice(FILE_MAGIC);
        header[8..].copy_from_slice(&id.to_le_bytes());
        file.write_all_at(&header, 0)?;
        Ok(Self {
            id,
            path,
            file,
            len: AtomicU64::new(FILE_HEADER),
        })
    }

    /// Opens an existing segment read-only.
    pub(super) fn open(dir: &Path, id: u64) -> io::Result<Self> {
        let path = dir.join(file_name(id));
        let file = File::open(&path)?;
        let len = file.metadata()?.len();
        Ok(Self {
            id,
            path,
            file,
            len: AtomicU64::new(len),
        })
    }

    /// The segment's id.
    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// The segment's file.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far.
    pub(super) fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// Appends one record; returns the offset of its payload. Writer thread only. On an
    /// error the tail of the segment is undefined: the caller stops appending to it.
    pub(super) fn append(&self, path: &str, payload: &[u8]) -> io::Result<u64> {
        let header = record_header(path, payload)?;
        let start = self.len();
        let payload_at = start + header.len() as u64;
        self.file.write_all_at(&header, start)?;
        self.file.write_all_at(payload, payload_at)?;
        self.len
            .store(payload_at + payload.len() as u64, Ordering::Release);
        Ok(payload_at)
    }

    /// Makes every appended byte durable (`fdatasync`).
    pub(super) fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Reads `len` bytes at `offset` with one `pread` (more only if the kernel returns
    /// less) into a fresh, uninitialized buffer (no zero-fill) that becomes the returned
    /// [`Bytes`] without another copy.
    pub(super) fn read(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        if len == 0 {
            return Ok(Bytes::new());
        }
        let mut buf: Vec<u8> = Vec::with_capacity(len);
        while buf.len() < len {
            // Reads into the spare capacity and extends the vector by what was read; should
            // the allocation be larger than asked, the extra bytes are cut off below.
            let at = offset + buf.len() as u64;
            let read =
                match rustix::io::pread(&self.file, rustix::buffer::spare_capacity(&mut buf), at) {
                    Err(rustix::io::Errno::INTR) => continue,
                    other => other?,
                };
            if read == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "a value-log segment ends before the value",
                ));
            }
        }
        buf.truncate(len);
        Ok(Bytes::from(buf))
    }

    /// Reads the whole record whose payload (`len` bytes, stored for `path`) starts at
    /// `offset`, verifies its header and checksum, and returns the payload.
    pub(super) fn read_verified(
        &self,
        path: &str,
        offset: u64,
        len: u64,
    ) -> io::Result<Result<Bytes, RecordFault>> {
        let header_len = (RECORD_HEADER + path.len()) as u64;
        let Some(start) = offset.checked_sub(header_len) else {
            return Ok(Err(RecordFault::OutOfBounds));
        };
        if start < FILE_HEADER || offset.saturating_add(len) > self.len() {
            return Ok(Err(RecordFault::OutOfBounds));
        }
        let total = usize::try_from(header_len + len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "record too large"))?;
        let record = self.read(start, total)?;
        let fixed = &record[..RECORD_HEADER];
        let word = |at: usize| {
            u32::from_le_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]])
        };
        let stored_path = &record[RECORD_HEADER..header_len as usize];
        let mut hcrc_input = fixed[..16].to_vec();
        hcrc_input.extend_from_slice(stored_path);
        if word(0) != RECORD_MAGIC || word(16) != crc32c(&hcrc_input) {
            return Ok(Err(RecordFault::BadHeader));
        }
        let path_len = usize::from(u16::from_le_bytes([fixed[12], fixed[13]]));
        if path_len != path.len() || stored_path != path.as_bytes() || u64::from(word(4)) != len {
            return Ok(Err(RecordFault::Mismatch));
        }
        let payload = record.slice(header_len as usize..);
        if crc32c(&payload) != word(8) {
            return Ok(Err(RecordFault::BadChecksum));
        }
        Ok(Ok(payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_others_are_not_segments() {
        assert_eq!(file_name(42), "0000000042.seg");
        assert_eq!(parse_name("0000000042.seg"), Some(42));
        for other in [
            "42.seg",
            "000000004x.seg",
            "0000000042.tmp",
            "LOCK",
            "00000000042.seg",
        ] {
            assert_eq!(parse_name(other), None, "{other}");
        }
    }

    #[test]
    fn records_read_back_and_damage_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let segment = Segment::create(dir.path(), 7).unwrap();
        let first = segment.append("a/b", b"hello").unwrap();
        let second = segment.append("a/c", &[9u8; 1000]).unwrap();
        assert_eq!(first, FILE_HEADER + RECORD_HEADER as u64 + 3);
        assert_eq!(segment.read(first, 5).unwrap(), &b"hello"[..]);
        assert_eq!(segment.read(first + 1, 3).unwrap(), &b"ell"[..]);
        let verified = segment.read_verified("a/c", second, 1000).unwrap().unwrap();
        assert_eq!(verified, vec![9u8; 1000]);
        assert_eq!(
            segment.read_verified("a/x", second, 1000).unwrap(),
            Err(RecordFault::Mismatch),
            "a record of another path"
        );
        assert_eq!(
            segment.read_verified("a/c", second, 999).unwrap(),
            Err(RecordFault::Mismatch)
        );
        assert_eq!(
            segment.read_verified("a/c", second, 2000).unwrap(),
            Err(RecordFault::OutOfBounds)
        );
        assert_eq!(
            segment.read_verified("a/b", first + 1, 4).unwrap(),
            Err(RecordFault::BadHeader)
        );
        // Flip one payload byte behind the segment's back.
        segment.file.write_all_at(&[8], second + 10).unwrap();
        assert_eq!(
            segment.read_verified("a/c", second, 1000).unwrap(),
            Err(RecordFault::BadChecksum)
        );
        // Reopened read-only, the length is the file's.
        let reopened = Segment::open(dir.path(), 7).unwrap();
        assert_eq!(reopened.len(), segment.len());
        assert_eq!(reopened.read(first, 5).unwrap(), &b"hello"[..]);
    }
}
