//! Resume state of large uploads: a small JSON file per (server, namespace, key, file).
//!
//! Location: `--state-dir`, else `$OBJECTSTORE_STATE_DIR`, else
//! `$XDG_STATE_HOME/objectstore/uploads`, else `~/.local/state/objectstore/uploads`. The
//! file name is a hash of the server URL, usecase, scopes, requested key (empty for a
//! server-assigned one) and the input's canonical path, so re-running the same `put` finds
//! it. It holds the upload id, the object key, the input's identity (size, modification
//! time and a SHA-256 of its first MiB), the part size, a fingerprint of the metadata, and
//! every part the server acknowledged with its ETag and size.
//!
//! Invariants:
//! * The file is replaced atomically (write to a sibling temporary file, then rename), so a
//!   kill at any point leaves either the previous or the next state, never a torn one.
//! * A part is recorded only after the server acknowledged it; the server's part listing
//!   is still the authority when resuming (see `upload.rs`).
//! * The file is removed once the upload completed or was abandoned.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{ClientError, Result, io_error};

/// Bytes hashed at the start of the input to detect a replaced file.
const HEAD_BYTES: u64 = 1 << 20;

/// Format version of the state file.
const VERSION: u32 = 1;

/// What identifies the input file across runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileIdentity {
    /// Canonical path.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime_secs: u64,
    /// Sub-second part of the modification time.
    pub mtime_nanos: u32,
    /// Hex SHA-256 of the first MiB.
    pub head_sha256: String,
}

impl FileIdentity {
    /// Reads the identity of `path`.
    pub(crate) fn of(path: &Path) -> Result<Self> {
        let canonical = path
            .canonicalize()
            .map_err(|e| io_error(path.display(), &e))?;
        let meta = std::fs::metadata(&canonical).map_err(|e| io_error(path.display(), &e))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        let mut hasher = Sha256::new();
        let mut file = std::fs::File::open(&canonical).map_err(|e| io_error(path.display(), &e))?;
        std::io::copy(&mut (&mut file).take(HEAD_BYTES), &mut hasher)
            .map_err(|e| io_error(path.display(), &e))?;
        Ok(Self {
            path: canonical,
            size: meta.len(),
            mtime_secs: mtime.as_secs(),
            mtime_nanos: mtime.subsec_nanos(),
            head_sha256: hex::encode(hasher.finalize()),
        })
    }
}

/// A part the server acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartRecord {
    /// ETag returned by the part upload.
    pub etag: String,
    /// Bytes sent for the part (after compression).
    pub size: u64,
}

/// The persisted state of one multipart upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UploadState {
    /// Format version.
    pub version: u32,
    /// Server, namespace and requested key this upload is for.
    pub target: String,
    /// The input file.
    pub file: FileIdentity,
    /// Input bytes per part.
    pub part_size: u64,
    /// Fingerprint of the metadata headers and compression mode.
    pub settings: String,
    /// The object key (server-assigned ones included).
    pub key: String,
    /// The server's upload id.
    pub upload_id: String,
    /// Acknowledged parts by number.
    pub parts: BTreeMap<u32, PartRecord>,
}

impl UploadState {
    /// A fresh state for a just-initiated upload.
    pub(crate) fn new(
        target: String,
        file: FileIdentity,
        part_size: u64,
        settings: String,
        key: String,
        upload_id: String,
    ) -> Self {
        Self {
            version: VERSION,
            target,
            file,
            part_size,
            settings,
            key,
            upload_id,
            parts: BTreeMap::new(),
        }
    }

    /// Whether this state continues an upload of exactly this input with these settings.
    pub(crate) fn matches(
        &self,
        target: &str,
        file: &FileIdentity,
        part_size: u64,
        settings: &str,
    ) -> bool {
        self.version == VERSION
            && self.target == target
            && &self.file == file
            && self.part_size == part_size
            && self.settings == settings
    }
}

/// The state file of one upload target.
#[derive(Debug, Clone)]
pub(crate) struct StateFile {
    path: PathBuf,
}

/// The default state directory (see the module docs).
pub(crate) fn default_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("objectstore").join("uploads"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|home| PathBuf::from(home).join(".local/state/objectstore/uploads"))
}

impl StateFile {
    /// The state file for `target` and the input at `canonical_path`, in `dir` or the
    /// default directory.
    pub(crate) fn locate(dir: Option<&Path>, target: &str, canonical_path: &Path) -> Result<Self> {
        let dir = match dir {
            Some(d) => d.to_owned(),
            None => default_dir().ok_or_else(|| {
                ClientError::usage(
                    "cannot find a state directory: set --state-dir, XDG_STATE_HOME or HOME",
                )
            })?,
        };
        let mut hasher = Sha256::new();
        hasher.update(target.as_bytes());
        hasher.update(b"\n");
        hasher.update(canonical_path.as_os_str().as_encoded_bytes());
        let name = hex::encode(&hasher.finalize()[..16]);
        Ok(Self {
            path: dir.join(format!("{name}.json")),
        })
    }

    /// Where the state lives.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state; `None` when there is none (an unreadable or foreign file counts as
    /// none and is replaced later).
    pub(crate) fn load(&self) -> Option<UploadState> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Replaces the saved state atomically.
    pub(crate) fn save(&self, state: &UploadState) -> Result<()> {
        let fail =
            |e: std::io::Error| io_error(format!("resume state {}", self.path.display()), &e);
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(fail)?;
        let json = serde_json::to_vec_pretty(state)
            .map_err(|e| ClientError::other(format!("encoding the resume state: {e}")))?;
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(fail)?;
        std::fs::rename(&tmp, &self.path).map_err(fail)
    }

    /// Removes the saved state (missing is fine).
    pub(crate) fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_detects_changed_files() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("input");
        std::fs::write(&input, b"hello").unwrap();
        let id = FileIdentity::of(&input).unwrap();
        let file = StateFile::locate(Some(dir.path()), "t", &id.path).unwrap();
        assert!(file.load().is_none());
        let mut state = UploadState::new(
            "t".into(),
            id.clone(),
            4,
            "s".into(),
            "k".into(),
            "u".into(),
        );
        state.parts.insert(
            1,
            PartRecord {
                etag: "e".into(),
                size: 4,
            },
        );
        file.save(&state).unwrap();
        let loaded = file.load().unwrap();
        assert!(loaded.matches("t", &id, 4, "s"));
        assert_eq!(loaded.parts, state.parts);
        assert!(!loaded.matches("t", &id, 8, "s"));
        assert!(!loaded.matches("other", &id, 4, "s"));

        std::fs::write(&input, b"jello").unwrap();
        let changed = FileIdentity::of(&input).unwrap();
        assert!(!loaded.matches("t", &changed, 4, "s"));
        file.remove();
        assert!(file.load().is_none());
    }
}
