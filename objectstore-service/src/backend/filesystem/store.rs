//! The blocking core of the filesystem store: opening the directory, reading, committing and
//! deleting objects, and moving deadlines through sidecars.
//!
//! Every function here blocks; the async [`FilesystemBackend`](super::FilesystemBackend)
//! runs them on tokio's blocking pool.
//!
//! **Locking.** The store directory belongs to one process (an exclusive `flock` on `LOCK`,
//! taken by [`Store::open`]). Inside it, a striped mutex per object name serializes the
//! short *commit* steps that must not interleave: renaming a new object file into place,
//! deleting one, and writing its sidecar. Readers take no lock: they open the object file once
//! and read header and payload from that descriptor, so a concurrent rename never mixes two
//! writes. The sidecar is read after the object file and applies only when its write id
//! matches, so a reader never attaches one write's deadline to another write's bytes.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use objectstore_types::{Metadata, ObjectId};

use super::format::{self, ObjectHeader, Sidecar, WriteId};
use super::layout::{self, Layout, TempFile};
use crate::backend::{ExpiryTarget, ExtendOutcome};
use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::expiry::{ExtendPlan, plan_extension, tti_bump};

/// Backend name for errors and logs.
pub(super) const NAME: &str = "filesystem";
/// Number of commit-lock stripes.
const LOCK_STRIPES: usize = 64;

/// Maps an I/O failure of `operation` to a backend error.
pub(super) fn io_error(operation: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |e| Error::backend(NAME, operation, e)
}

/// An object as currently stored: its open file (cursor at the payload), its header and its
/// effective metadata (header metadata with a matching sidecar applied).
#[derive(Debug)]
pub(super) struct Loaded {
    pub file: File,
    pub header: ObjectHeader,
    pub metadata: Metadata,
}

/// One open store directory.
#[derive(Debug)]
pub(super) struct Store {
    pub layout: Layout,
    pub clock: SharedClock,
    stripes: Vec<Mutex<()>>,
    /// Held for the store's lifetime: the exclusive lock on `LOCK`.
    _lock: File,
}

impl Store {
    /// Opens (creating if needed) a store directory:
    ///
    /// 1. Create the root and take the exclusive lock on `LOCK`; another live process holding
    ///    it is an error (its in-flight temp files must not be touched).
    /// 2. Create `tmp/`, `objects/`, `multipart/` (durably).
    /// 3. Empty `tmp/`: leftovers of writes that crashed before their rename.
    pub(super) fn open(root: &std::path::Path, clock: SharedClock) -> Result<Self> {
        let layout = Layout::new(root);
        fs::create_dir_all(layout.root()).map_err(io_error("create the store directory"))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(layout.lock_file())
            .map_err(io_error("open the lock file"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::backend(
                    NAME,
                    "lock the store directory",
                    format!(
                        "{} is in use by another process or backend instance",
                        layout.root().display()
                    ),
                ));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(Error::backend(NAME, "lock the store directory", e));
            }
        }
        for dir in [
            layout.tmp_dir(),
            layout.objects_dir(),
            layout.multipart_dir(),
        ] {
            layout::ensure_dir(&dir).map_err(io_error("create the store layout"))?;
        }
        let removed =
            layout::clear_dir(&layout.tmp_dir()).map_err(io_error("clean up temp files"))?;
        if removed > 0 {
            tracing::info!(removed, root = %layout.root().display(), "removed stale temp files");
        }
        Ok(Self {
            layout,
            clock,
            stripes: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            _lock: lock,
        })
    }

    /// The commit lock of an object name.
    pub(super) fn lock(&self, name: &str) -> MutexGuard<'_, ()> {
        let stripe = usize::from_str_radix(&name[..2], 16).unwrap_or(0) % LOCK_STRIPES;
        self.stripes[stripe]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens the object file with this name and applies its sidecar. `None`: no such file.
    pub(super) fn load_name(&self, name: &str) -> io::Result<Option<Loaded>> {
        let mut file = match File::open(self.layout.object_file(name)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let header = format::read_object_header(&mut file)?;
        let mut metadata = header.metadata.clone();
        if let Some(sidecar) = self.read_sidecar(name, &header.write_id)? {
            sidecar.apply(&mut metadata);
        }
        Ok(Some(Loaded {
            file,
            header,
            metadata,
        }))
    }

    /// Like [`Store::load_name`] for an id, checking that the file really holds that id.
    pub(super) fn load(&self, id: &ObjectId, name: &str) -> Result<Option<Loaded>> {
        let loaded = self
            .load_name(name)
            .map_err(io_error("read an object file"))?;
        if let Some(l) = &loaded
            && l.header.path != id.as_storage_path()
        {
            return Err(Error::Internal(format!(
                "object file {name} holds {:?}, expected {id}",
                l.header.path
            )));
        }
        Ok(loaded)
    }

    /// The sidecar of `name` if it applies to `write_id`. A corrupt sidecar is ignored (with a
    /// warning): it only ever extends a deadline, so the object falls back to its own.
    fn read_sidecar(&self, name: &str, write_id: &WriteId) -> io::Result<Option<Sidecar>> {
        let bytes = match fs::read(self.layout.sidecar_file(name)) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        match Sidecar::decode(&bytes) {
            Ok(s) if s.applies_to(write_id) => Ok(Some(s)),
            Ok(_) => Ok(None),
            Err(e) => {
                tracing::warn!(name, error = %e, "ignoring a corrupt expiry sidecar");
                Ok(None)
            }
        }
    }

    /// Reads a live object for a GET or HEAD at the clock's time: `None` when absent or
    /// expired. Applies a due TTI bump (best effort; a failure is logged). The returned
    /// metadata is the one before the access.
    pub(super) fn read(&self, id: &ObjectId) -> Result<Option<Loaded>> {
        let name = layout::object_name(id);
        let now = self.clock.now();
        let Some(loaded) = self.load(id, &name)? else {
            return Ok(None);
        };
        if loaded.metadata.is_expired(now) {
            return Ok(None);
        }
        if tti_bump(&loaded.metadata, now).is_some()
            && let Err(e) = self.bump_tti(id, &name, &loaded.header.write_id, now)
        {
            tracing::warn!(%id, error = %e, "TTI bump failed");
        }
        Ok(Some(loaded))
    }

    /// Moves a TTI deadline, under the commit lock and only for the same write.
    fn bump_tti(
        &self,
        id: &ObjectId,
        name: &str,
        write_id: &WriteId,
        now: SystemTime,
    ) -> Result<()> {
        let _guard = self.lock(name);
        let Some(current) = self.load(id, name)? else {
            return Ok(());
        };
        if current.header.write_id != *write_id {
            return Ok(());
        }
        if let Some(deadline) = tti_bump(&current.metadata, now) {
            let mut updated = current.metadata;
            updated.time_expires = Some(deadline);
            self.write_sidecar(name, write_id, &updated)
                .map_err(io_error("write an expiry sidecar"))?;
        }
        Ok(())
    }

    /// Writes the sidecar of `name` for `write_id` atomically (temp, fsync, rename, fsync
    /// dir). Caller holds the commit lock.
    fn write_sidecar(&self, name: &str, write_id: &WriteId, metadata: &Metadata) -> io::Result<()> {
        let bytes = Sidecar::new(write_id, metadata).encode()?;
        let (temp, mut file) = TempFile::create(&self.layout)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        drop(file);
        temp.persist(&self.layout.sidecar_file(name))
    }

    /// Moves an object's deadline (contract of `Backend::extend_expiry`):
    ///
    /// 1. Read the object without a lock and plan. Absent, expired, manual or already
    ///    sufficient: answer at once, nothing written.
    /// 2. Take the commit lock and read again. A different write id (overwritten or deleted
    ///    since step 1) → [`ExtendOutcome::Conflict`], nothing written.
    /// 3. Plan again from the fresh state (another extension may have moved the deadline in
    ///    between; re-planning never shortens it) and write the sidecar atomically: the
    ///    sidecar's rename is the commit point → `Satisfied`. An I/O error → `Err`, the old
    ///    deadline stays.
    pub(super) fn extend(
        &self,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        match self.extend_prepare(id, target, now)? {
            Err(outcome) => Ok(outcome),
            Ok(seen) => self.extend_commit(id, &seen, target, now),
        }
    }

    /// Step 1 of [`Store::extend`]: `Err(outcome)` when done, else the write id to update.
    pub(super) fn extend_prepare(
        &self,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<std::result::Result<WriteId, ExtendOutcome>> {
        let Some(seen) = self.load(id, &layout::object_name(id))? else {
            return Ok(Err(ExtendOutcome::NotFound));
        };
        Ok(match plan_extension(Some(&seen.metadata), target, now) {
            ExtendPlan::Done(outcome) => Err(outcome),
            ExtendPlan::Update(_) => Ok(seen.header.write_id),
        })
    }

    /// Steps 2-3 of [`Store::extend`] for the write `seen`.
    pub(super) fn extend_commit(
        &self,
        id: &ObjectId,
        seen: &WriteId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        let name = layout::object_name(id);
        let _guard = self.lock(&name);
        let current = self.load(id, &name)?;
        let Some(current) = current.filter(|c| c.header.write_id == *seen) else {
            return Ok(ExtendOutcome::Conflict);
        };
        match plan_extension(Some(&current.metadata), target, now) {
            ExtendPlan::Done(outcome) => Ok(outcome),
            ExtendPlan::Update(updated) => {
                self.write_sidecar(&name, seen, &updated)
                    .map_err(io_error("write an expiry sidecar"))?;
                Ok(ExtendOutcome::Satisfied)
            }
        }
    }

    /// Commits a complete, synced object temp file as `name` (the rename is the commit point)
    /// and removes the previous write's sidecar, which no longer applies.
    pub(super) fn commit(&self, name: &str, temp: TempFile) -> io::Result<()> {
        let target = self.layout.object_file(name);
        if let Some(dir) = target.parent() {
            layout::ensure_dir(dir)?;
        }
        let _guard = self.lock(name);
        temp.persist(&target)?;
        if layout::remove_if_exists(&self.layout.sidecar_file(name))?
            && let Some(dir) = target.parent()
        {
            layout::sync_dir(dir)?;
        }
        Ok(())
    }

    /// Deletes an object and its sidecar; missing is fine.
    pub(super) fn delete(&self, id: &ObjectId) -> io::Result<()> {
        let name = layout::object_name(id);
        let _guard = self.lock(&name);
        self.remove_locked(&name)
    }

    /// Removes object file and sidecar of `name`. Caller holds the commit lock.
    fn remove_locked(&self, name: &str) -> io::Result<()> {
        let file = self.layout.object_file(name);
        let removed = layout::remove_if_exists(&file)?
            | layout::remove_if_exists(&self.layout.sidecar_file(name))?;
        if removed && let Some(dir) = file.parent() {
            layout::sync_dir(dir)?;
        }
        Ok(())
    }

    /// Deletes the object file `name` if it is still write `write_id` and still expired at
    /// `now` (the sweeper's conditional delete). Returns whether it was deleted.
    pub(super) fn delete_if_expired(
        &self,
        name: &str,
        write_id: &WriteId,
        now: SystemTime,
    ) -> io::Result<bool> {
        let _guard = self.lock(name);
        match self.load_name(name)? {
            Some(c) if c.header.write_id == *write_id && c.metadata.is_expired(now) => {
                self.remove_locked(name)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Removes the sidecar of `name` unless it applies to the current object file. Returns
    /// whether it was removed.
    pub(super) fn remove_stale_sidecar(&self, name: &str) -> io::Result<bool> {
        let _guard = self.lock(name);
        let path = self.layout.sidecar_file(name);
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut f) => f.read_to_end(&mut bytes)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let current = match File::open(self.layout.object_file(name)) {
            Ok(mut f) => Some(format::read_object_header(&mut f)?.write_id),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let applies = match (Sidecar::decode(&bytes), current) {
            (Ok(s), Some(w)) => s.applies_to(&w),
            _ => false,
        };
        if applies {
            return Ok(false);
        }
        layout::remove_if_exists(&path)?;
        if let Some(dir) = path.parent() {
            layout::sync_dir(dir)?;
        }
        Ok(true)
    }
}
