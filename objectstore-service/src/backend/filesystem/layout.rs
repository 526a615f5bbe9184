//! The on-disk layout of a filesystem store and the small, blocking file primitives every
//! operation is built from.
//!
//! ```text
//! <root>/LOCK                              held (flock) by the one process using the store
//! <root>/tmp/<random>.tmp                  in-flight writes; removed at open
//! <root>/objects/ab/cd/<sha256 hex>        one object: header + payload (see `format`)
//! <root>/objects/ab/cd/<sha256 hex>.exp    its expiry sidecar, tagged with the write id
//! <root>/multipart/<upload id>/upload.json the upload's object, metadata, creation time
//! <root>/multipart/<upload id>/part-<n>    one uploaded part (header + bytes)
//! ```
//!
//! **Invariants**
//!
//! * No path is ever built from a user string: object files are named by the SHA-256 of
//!   [`ObjectId::as_storage_path`], upload directories by ids this backend generated and that
//!   are re-validated ([`valid_upload_id`]) before use. So no key, scope or upload id can name
//!   a path outside the root, collide with a directory (`a` vs `a/b`) or exceed a name limit.
//! * Files appear under their final name only complete and synced: [`TempFile`] writes under
//!   `tmp/`, is fsynced, renamed into place, and the parent directory is fsynced. A dropped
//!   [`TempFile`] deletes itself, so a failed or cancelled write leaves no trace.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use objectstore_types::ObjectId;
use sha2::{Digest, Sha256};

/// Name of the lock file in the root.
const LOCK_FILE: &str = "LOCK";
/// Suffix of expiry sidecar files.
pub(super) const SIDECAR_SUFFIX: &str = ".exp";
/// Name of the upload description inside a staging directory.
pub(super) const UPLOAD_FILE: &str = "upload.json";
/// Prefix of part files inside a staging directory.
const PART_PREFIX: &str = "part-";
/// Longest accepted upload id.
const MAX_UPLOAD_ID_LEN: usize = 128;

/// The directories of one store.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub(super) fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    pub(super) fn lock_file(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }

    pub(super) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(super) fn objects_dir(&self) -> PathBuf {
        self.root.join("objects")
    }

    pub(super) fn multipart_dir(&self) -> PathBuf {
        self.root.join("multipart")
    }

    /// Where the object with this file name (a 64-digit hex hash) lives.
    pub(super) fn object_file(&self, name: &str) -> PathBuf {
        self.objects_dir()
            .join(&name[0..2])
            .join(&name[2..4])
            .join(name)
    }

    /// The expiry sidecar of the object with this file name.
    pub(super) fn sidecar_file(&self, name: &str) -> PathBuf {
        let mut p = self.object_file(name);
        p.set_file_name(format!("{name}{SIDECAR_SUFFIX}"));
        p
    }

    /// The staging directory of a (validated) upload id.
    pub(super) fn upload_dir(&self, upload_id: &str) -> PathBuf {
        debug_assert!(valid_upload_id(upload_id));
        self.multipart_dir().join(upload_id)
    }

    /// A fresh, unique temp path.
    pub(super) fn temp_path(&self) -> PathBuf {
        self.tmp_dir()
            .join(format!("{}.tmp", uuid::Uuid::new_v4().simple()))
    }
}

/// The file name of an object: the hex SHA-256 of its storage path (64 characters).
pub(super) fn object_name(id: &ObjectId) -> String {
    hex::encode(Sha256::digest(id.as_storage_path().as_bytes()))
}

/// Whether `name` looks like an object file name.
pub(super) fn is_object_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `id` is a well-formed upload id: 1 to 128 characters of `[A-Za-z0-9_-]`. Only such
/// ids are ever joined to a path.
pub(super) fn valid_upload_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_UPLOAD_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A fresh upload id (a UUID v7, as the reference filesystem backend uses).
pub(super) fn new_upload_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The file name of part `n` in a staging directory (zero-padded so names sort by number).
pub(super) fn part_file_name(n: u32) -> String {
    format!("{PART_PREFIX}{n:010}")
}

/// The part number of a part file name.
pub(super) fn parse_part_file_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix(PART_PREFIX)?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n >= 1)
}

/// Syncs a directory so that entries created, renamed or removed in it are durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and any missing parents, syncing the parent of every directory created, so
/// that a file renamed into `dir` afterwards is reachable after a crash.
pub(super) fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        ensure_dir(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes a file; a missing file is fine. Returns whether something was removed.
pub(super) fn remove_if_exists(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes a directory tree; a missing one is fine. Retries a few times because a part may be
/// renamed into the directory while it is being removed.
pub(super) fn remove_dir_if_exists(path: &Path) -> io::Result<bool> {
    let mut attempts = 0;
    loop {
        match fs::remove_dir_all(path) {
            Ok(()) => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) if attempts < 3 && e.kind() == io::ErrorKind::DirectoryNotEmpty => {
                attempts += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Empties `tmp/`: whatever is there belongs to writes of a process that is gone (the store
/// lock guarantees no other process uses the directory). Returns how many entries went.
pub(super) fn clear_dir(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_dir_if_exists(&entry.path())?;
        } else {
            remove_if_exists(&entry.path())?;
        }
        removed += 1;
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// A file being written under `tmp/`. Dropping it without [`TempFile::persist`] deletes it.
#[derive(Debug)]
pub(super) struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    /// Creates a new, empty temp file.
    pub(super) fn create(layout: &Layout) -> io::Result<(Self, File)> {
        let path = layout.temp_path();
        let file = fs::OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&path)?;
        Ok((Self { path, armed: true }, file))
    }

    /// Renames the (already synced) file to `target`, replacing what is there, and syncs the
    /// target's directory. The rename is the commit point.
    pub(super) fn persist(mut self, target: &Path) -> io::Result<()> {
        fs::rename(&self.path, target)?;
        self.armed = false;
        if let Some(dir) = target.parent() {
            sync_dir(dir)?;
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed
            && let Err(e) = remove_if_exists(&self.path)
        {
            tracing::warn!(path = %self.path.display(), error = %e, "failed to remove temp file");
        }
    }
}
