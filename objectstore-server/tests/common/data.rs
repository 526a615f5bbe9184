//! What the tests write and then look for on disk: a patterned payload, the regular files
//! below a directory, and the blob files of a filesystem long-term store.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// `len` bytes counting up modulo 251 (a prime, so the pattern does not align with any
/// power-of-two chunk or part size).
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// The regular files below `dir`, recursively, relative to it (none if `dir` is missing).
pub fn files(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(dir).unwrap().to_owned());
            }
        }
    }
    out
}

/// The blob files of the filesystem long-term store at `lt`: the object files below
/// `lt/objects` (no extension), not sidecars, temporary files, uploads or the lock.
pub fn lt_blobs(lt: &Path) -> usize {
    files(&lt.join("objects"))
        .iter()
        .filter(|p| p.extension().is_none())
        .count()
}
