//! Multipart uploads of the filesystem store, staged under `multipart/<upload id>/`.
//!
//! **Initiate**
//! 1. Write `upload.json` (object path, metadata, creation time) into a fresh directory under
//!    `tmp/` and fsync it.
//! 2. Rename the directory to `multipart/<new upload id>` and fsync `multipart/` (commit
//!    point). A crash before leaves only `tmp/` garbage, removed at the next open.
//!
//! **Upload part** (unknown upload, or one of another object → `NotFound`)
//! 1. Stream the body into a temp part file, hashing it (SHA-256 and MD5); with the
//!    caller's digest, bytes that differ from the ones sent → integrity error; more or fewer
//!    bytes than `content_length` → `InvalidRequest`; either way the temp is removed and
//!    nothing changed.
//! 2. Record the digests, fsync, rename to `part-<n>` in the staging directory (commit point;
//!    replaces an earlier upload of `n`). If the upload was aborted meanwhile, the rename
//!    fails → `NotFound`.
//!
//! **Complete**
//! 1. Load the upload (`NotFound` if unknown).
//! 2. Validate: part numbers strictly ascending (else `InvalidPartOrder`), each part present
//!    with the given ETag (else `InvalidPart`). A rejection changes nothing; the upload stays
//!    open.
//! 3. Stream the parts in order into a temp object file (bounded buffer), re-checking each
//!    part's digest against the validated one (a part re-uploaded in between → `InvalidPart`,
//!    temp removed).
//! 4. fsync, then commit exactly like a put: rename over the object, drop its old sidecar,
//!    fsync the directory (commit point).
//! 5. Remove the staging directory (best effort: a failure is logged and the sweeper removes
//!    it later; the object is committed either way).
//!
//! **Abort** removes the staging directory; an unknown upload (or one of another object) is
//! left alone and the call succeeds.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::PathBuf;

use objectstore_types::{Metadata, ObjectId, time};

use super::format::{self, PartHeader, UploadJson};
use super::layout::{self, TempFile, UPLOAD_FILE};
use super::store::{Store, io_error};
use crate::backend::{CompleteRejection, CompletedPart, PartInfo, PartsPage};
use crate::digest::Md5;
use crate::error::{Error, Result};

fn unknown_upload(upload_id: &str) -> Error {
    Error::NotFound(format!("multipart upload {upload_id:?}"))
}

fn rejection(code: &str, message: String) -> CompleteRejection {
    CompleteRejection {
        code: code.into(),
        message,
    }
}

/// Compares ETags ignoring surrounding double quotes (clients send back what they got, some
/// strip the quotes).
fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
}

/// Opens a part file and reads its header; `None` if there is no such part.
fn open_part(path: &std::path::Path) -> io::Result<Option<(File, PartHeader)>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let header = format::read_part_header(&mut file)?;
    Ok(Some((file, header)))
}

impl Store {
    /// Initiates an upload; returns its id.
    pub(super) fn initiate(&self, id: &ObjectId, metadata: &Metadata) -> Result<String> {
        let upload_id = layout::new_upload_id();
        let description = UploadJson {
            path: id.as_storage_path(),
            metadata: metadata.clone(),
            created: time::unix_secs(self.clock.now()),
        }
        .encode()
        .map_err(io_error("encode an upload"))?;
        let staging = self.layout.temp_path();
        let result = (|| {
            fs::create_dir(&staging)?;
            let mut file = File::create_new(staging.join(UPLOAD_FILE))?;
            file.write_all(&description)?;
            file.sync_all()?;
            layout::sync_dir(&staging)?;
            fs::rename(&staging, self.layout.upload_dir(&upload_id))?;
            layout::sync_dir(&self.layout.multipart_dir())
        })();
        if let Err(e) = result {
            let _ = layout::remove_dir_if_exists(&staging);
            return Err(io_error("initiate an upload")(e));
        }
        Ok(upload_id)
    }

    /// The staging directory and description of an upload of `id`; `NotFound` if the id is
    /// malformed, unknown, or belongs to another object.
    pub(super) fn load_upload(
        &self,
        id: &ObjectId,
        upload_id: &str,
    ) -> Result<(PathBuf, UploadJson)> {
        if !layout::valid_upload_id(upload_id) {
            return Err(unknown_upload(upload_id));
        }
        let dir = self.layout.upload_dir(upload_id);
        let bytes = match fs::read(dir.join(UPLOAD_FILE)) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(unknown_upload(upload_id)),
            Err(e) => return Err(io_error("read an upload")(e)),
        };
        let upload = UploadJson::decode(&bytes).map_err(io_error("read an upload"))?;
        if upload.path != id.as_storage_path() {
            return Err(unknown_upload(upload_id));
        }
        Ok((dir, upload))
    }

    /// Prepares a part upload: checks the upload and creates the temp part file with its
    /// header. Returns the final part path with the temp file.
    pub(super) fn begin_part(
        &self,
        id: &ObjectId,
        upload_id: &str,
        part_number: u32,
    ) -> Result<(PathBuf, TempFile, File)> {
        if part_number == 0 {
            return Err(Error::InvalidRequest("part numbers start at 1".into()));
        }
        let (dir, _) = self.load_upload(id, upload_id)?;
        let (temp, mut file) = TempFile::create(&self.layout).map_err(io_error("write a part"))?;
        format::write_part_header(&mut file, self.clock.now()).map_err(io_error("write a part"))?;
        Ok((dir.join(layout::part_file_name(part_number)), temp, file))
    }

    /// Commits a streamed part: digest, fsync, rename into the staging directory.
    pub(super) fn finish_part(
        &self,
        upload_id: &str,
        target: &std::path::Path,
        temp: TempFile,
        mut file: File,
        digest: &[u8; 32],
        md5: &Md5,
    ) -> Result<String> {
        format::patch_part_digest(&mut file, digest, md5).map_err(io_error("write a part"))?;
        file.sync_all().map_err(io_error("write a part"))?;
        drop(file);
        match temp.persist(target) {
            Ok(()) => Ok(format::etag_of(digest)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(unknown_upload(upload_id)),
            Err(e) => Err(io_error("write a part")(e)),
        }
    }

    /// Lists parts after `marker`, at most `max_parts` (0 is an invalid request).
    pub(super) fn list_parts(
        &self,
        id: &ObjectId,
        upload_id: &str,
        max_parts: Option<u32>,
        marker: Option<u32>,
    ) -> Result<PartsPage> {
        if max_parts == Some(0) {
            return Err(Error::InvalidRequest("max_parts must be at least 1".into()));
        }
        let (dir, _) = self.load_upload(id, upload_id)?;
        let mut numbers = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_error("list parts"))? {
            let entry = entry.map_err(io_error("list parts"))?;
            if let Some(n) = entry
                .file_name()
                .to_str()
                .and_then(layout::parse_part_file_name)
                && n > marker.unwrap_or(0)
            {
                numbers.push(n);
            }
        }
        numbers.sort_unstable();
        let max = max_parts.map_or(usize::MAX, |m| m as usize);
        let mut parts = Vec::new();
        let mut truncated = false;
        for n in numbers {
            if parts.len() == max {
                truncated = true;
                break;
            }
            let Some((_, header)) =
                open_part(&dir.join(layout::part_file_name(n))).map_err(io_error("read a part"))?
            else {
                continue;
            };
            parts.push(PartInfo {
                part_number: n,
                etag: header.etag(),
                last_modified: header.last_modified,
                size: header.size,
                md5: header.md5,
            });
        }
        let next_marker = parts.last().filter(|_| truncated).map(|p| p.part_number);
        Ok(PartsPage { parts, next_marker })
    }

    /// Aborts an upload (unknown: nothing to do).
    pub(super) fn abort(&self, id: &ObjectId, upload_id: &str) -> Result<()> {
        let dir = match self.load_upload(id, upload_id) {
            Ok((dir, _)) => dir,
            Err(Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        layout::remove_dir_if_exists(&dir).map_err(io_error("abort an upload"))?;
        layout::sync_dir(&self.layout.multipart_dir()).map_err(io_error("abort an upload"))
    }

    /// Completes an upload (module docs, steps 1-5).
    pub(super) fn complete(
        &self,
        id: &ObjectId,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<Option<CompleteRejection>> {
        // 1. The upload.
        let (dir, upload) = self.load_upload(id, upload_id)?;

        // 2. Validate everything before writing anything.
        if parts.is_empty() {
            return Ok(Some(rejection(
                "InvalidPart",
                "at least one part is required".into(),
            )));
        }
        if let Some(w) = parts
            .windows(2)
            .find(|w| w[0].part_number >= w[1].part_number)
        {
            return Ok(Some(rejection(
                "InvalidPartOrder",
                format!(
                    "parts must be listed in strictly ascending order: {} is followed by {}",
                    w[0].part_number, w[1].part_number
                ),
            )));
        }
        let mut digests = Vec::with_capacity(parts.len());
        for part in parts {
            let path = dir.join(layout::part_file_name(part.part_number));
            let Some((_, header)) = open_part(&path).map_err(io_error("read a part"))? else {
                return Ok(Some(rejection(
                    "InvalidPart",
                    format!("part {} was not uploaded", part.part_number),
                )));
            };
            if !same_etag(&header.etag(), &part.etag) {
                return Ok(Some(rejection(
                    "InvalidPart",
                    format!(
                        "etag mismatch for part {}: expected {}, got {}",
                        part.part_number,
                        header.etag(),
                        part.etag
                    ),
                )));
            }
            digests.push(header.digest);
        }

        // 3. Assemble into a temp object file.
        let (temp, mut out) = TempFile::create(&self.layout).map_err(io_error("assemble"))?;
        format::write_object_header(
            &mut out,
            &format::new_write_id(),
            &upload.path,
            &upload.metadata,
        )
        .map_err(io_error("assemble"))?;
        let mut total = 0u64;
        for (part, digest) in parts.iter().zip(&digests) {
            let path = dir.join(layout::part_file_name(part.part_number));
            let opened = open_part(&path).map_err(io_error("read a part"))?;
            let Some((file, header)) = opened.filter(|(_, h)| h.digest == *digest) else {
                // Re-uploaded or removed since step 2: the client raced itself.
                self.load_upload(id, upload_id)?;
                return Ok(Some(rejection(
                    "InvalidPart",
                    format!("part {} changed during completion", part.part_number),
                )));
            };
            let copied =
                io::copy(&mut file.take(header.size), &mut out).map_err(io_error("assemble"))?;
            if copied != header.size {
                return Err(io_error("assemble")(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("part {} is shorter than its header says", part.part_number),
                )));
            }
            total += copied;
        }

        // 4. Durable, then the commit.
        format::patch_payload_len(&mut out, total).map_err(io_error("assemble"))?;
        out.sync_all().map_err(io_error("assemble"))?;
        drop(out);
        self.commit(&layout::object_name(id), temp)
            .map_err(io_error("commit an assembled object"))?;

        // 5. The staging directory goes (best effort).
        let cleanup = layout::remove_dir_if_exists(&dir)
            .and_then(|_| layout::sync_dir(&self.layout.multipart_dir()));
        if let Err(e) = cleanup {
            tracing::warn!(upload_id, error = %e, "failed to remove a completed upload");
        }
        Ok(None)
    }
}
