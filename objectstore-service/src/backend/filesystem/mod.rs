//! The filesystem backend: a durable object store in one local directory. It is the default
//! long-term tier on a single machine and serves standalone as `storage.type: filesystem`.
//!
//! Implements [`Backend`] and [`LongTermBackend`] (multipart) per the contracts in
//! [`crate::backend`].
//!
//! # Layout and invariants
//!
//! The private modules `layout` (directory tree) and `format` (file formats) hold the details.
//! In short:
//!
//! * **No path escapes the root, whatever the id.** Object files are named by the SHA-256 of
//!   the storage path (`objects/ab/cd/<hash>`); the storage path itself is stored inside the
//!   file's header, so scans recover ids. Upload ids are generated here and re-validated
//!   (`[A-Za-z0-9_-]{1,128}`) before they name a directory.
//! * **Atomic, durable writes.** A write streams into `tmp/`, is fsynced, renamed over the
//!   object (the commit point) and the directory is fsynced. Readers see the old object or
//!   the whole new one. A body stream that fails (or a dropped future) removes the temp file
//!   and leaves the old object intact. Memory stays bounded: bodies move in chunks.
//! * **Deadlines live beside the payload.** TTI bumps and expiry extensions never rewrite the
//!   payload: they write a small sidecar (`<hash>.exp`, atomically) tagged with the *write id*
//!   of the object file it belongs to. A sidecar of another write is ignored and removed on
//!   overwrite, delete or sweep. Extensions are conditional on the write id (see
//!   `Store::extend`, steps 1-3).
//! * **Expired objects read as absent at once**; the sweeper (below) reclaims their
//!   space later, at a bounded rate, together with stale sidecars and multipart uploads older
//!   than [`FilesystemConfig::multipart_max_age`].
//! * One process per directory: [`FilesystemBackend::open`] takes an exclusive lock on
//!   `<root>/LOCK` and empties `tmp/` (leftovers of a crash).
//!
//! # Put protocol
//!
//! 1. Create a temp file under `tmp/` and write the header (fresh write id, storage path,
//!    metadata, payload length 0).
//! 2. Stream the body into it. A stream error → [`Error::ClientStream`]; a file error →
//!    [`Error::Backend`]; either way the temp file is removed and nothing changed.
//! 3. Patch the payload length, fsync the file, and read the file's length back from the
//!    filesystem (`fstat`): the payload size in the receipt is the store's own account of
//!    what it kept, not the count of bytes handed to it.
//! 4. Under the object's commit lock: rename over the object file (**commit point**), remove
//!    the previous write's sidecar, fsync the directory. An error after the rename reports
//!    `Err` although the new object may be visible (the caller may retry; puts are
//!    idempotent).
//!
//! The receipt reports no MD5 (the store computes none: the tiered layer's own MD5 is the
//! object's ETag, and a read of a whole object checks it), and the backend stores no ETag:
//! a standalone filesystem store serves objects without one.
//!
//! Part uploads hash the part twice while writing it: SHA-256 (its ETag, unchanged) and MD5
//! (the store's account the tiered layer compares with its own, before the part's rename).
//!
//! # The background sweeper
//!
//! A sweep **pass** walks `objects/` in file-name order; a **step**
//! ([`FilesystemBackend::sweep_once`]) examines at most `limit` entries after a cursor and
//! remembers the last one, so the next step continues where this one stopped (the cursor is
//! in memory: a restart begins a new pass). Each pass first removes multipart staging
//! directories initiated more than [`FilesystemConfig::multipart_max_age`] ago (by the
//! store's clock). Per entry:
//!
//! * an object expired at the clock's time is deleted with its sidecar, under the object's
//!   commit lock and only if it is still the same write and still expired (a concurrent
//!   overwrite or extension wins);
//! * a sidecar whose object is gone or is another write is removed;
//! * unknown names and corrupt files are logged and left alone.
//!
//! The background task runs one step of [`FilesystemConfig::sweep_files_per_second`] entries
//! per second while a pass is running and waits [`FilesystemConfig::sweep_interval`] between
//! passes. It holds only a weak reference to the store, so dropping every handle ends it.
//!
//! [`FilesystemBackend::open`] spawns it when called inside a tokio runtime and
//! [`FilesystemConfig::background_sweeper`] is set (the default); otherwise call
//! [`FilesystemBackend::spawn_sweeper`] from inside a runtime. [`Component::join`] stops it and
//! waits. Tests switch it off and drive sweeps with [`FilesystemBackend::sweep_once`].

mod format;
mod layout;
mod multipart;
mod scan;
mod store;
mod sweeper;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures::StreamExt;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::io::ReaderStream;

use self::layout::TempFile;
use self::store::{NAME, Store, io_error};
pub use self::sweeper::SweepStats;
use crate::backend::{
    Backend, BlobInfo, CompleteRejection, CompletedPart, Component, ExpiryTarget, ExtendOutcome,
    GetResponse, LongTermBackend, PartReceipt, PartUpload, PartsPage, PartsQuery, PutReceipt,
    ScanPage,
};
use crate::clock::SharedClock;
use crate::digest::Hasher;
use crate::error::{Error, Result};
use crate::integrity;
use crate::stream::PayloadStream;

/// Chunk size of payload read streams.
const READ_CHUNK: usize = 64 * 1024;

/// Settings of a filesystem store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilesystemConfig {
    /// Whether [`FilesystemBackend::open`] spawns the background sweeper (when inside a tokio
    /// runtime). Default `true`.
    pub background_sweeper: bool,
    /// Pause between two complete sweep passes. Default 15 minutes.
    pub sweep_interval: Duration,
    /// Most directory entries the background sweeper examines per second. Default 1000.
    pub sweep_files_per_second: usize,
    /// Multipart uploads initiated longer ago than this are removed by the sweeper. Default
    /// 7 days.
    pub multipart_max_age: Duration,
}

impl Default for FilesystemConfig {
    fn default() -> Self {
        Self {
            background_sweeper: true,
            sweep_interval: Duration::from_secs(15 * 60),
            sweep_files_per_second: 1000,
            multipart_max_age: Duration::from_secs(7 * 86_400),
        }
    }
}

/// The background sweeper's handle, shared by all clones of a backend.
#[derive(Debug)]
struct SweeperHandle {
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// A filesystem object store. Cheap to clone; clones share the store. See the module docs.
#[derive(Debug, Clone)]
pub struct FilesystemBackend {
    store: Arc<Store>,
    config: FilesystemConfig,
    /// The sweeper's resumable cursor (shared by background and explicit sweeps).
    cursor: Arc<Mutex<Option<String>>>,
    sweeper: Arc<SweeperHandle>,
}

/// Runs blocking filesystem work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("filesystem task failed: {e}")))?
}

/// Streams `body` to the end of `file`, calling `inspect` on every chunk first (it may reject
/// the body). Returns the synced-ready std file and the number of bytes written.
async fn stream_into(
    file: std::fs::File,
    mut body: PayloadStream,
    operation: &'static str,
    mut inspect: impl FnMut(&[u8]) -> Result<()>,
) -> Result<(std::fs::File, u64)> {
    let mut file = tokio::fs::File::from_std(file);
    let mut written = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(Error::body)?;
        inspect(&chunk)?;
        file.write_all(&chunk).await.map_err(io_error(operation))?;
        written += chunk.len() as u64;
    }
    file.flush().await.map_err(io_error(operation))?;
    Ok((file.into_std().await, written))
}

impl FilesystemBackend {
    /// Opens (creating if needed) the store in `dir` with the default configuration. See
    /// [`FilesystemBackend::open_with_config`].
    pub fn open(dir: &Path, clock: SharedClock) -> Result<Self> {
        Self::open_with_config(dir, clock, FilesystemConfig::default())
    }

    /// Opens (creating if needed) the store in `dir`: takes the directory's exclusive lock
    /// (a second open of the same directory fails until the first backend and all its clones
    /// are dropped), removes leftover temp files, and spawns the background sweeper if
    /// `config.background_sweeper` is set and a tokio runtime is current.
    pub fn open_with_config(
        dir: &Path,
        clock: SharedClock,
        config: FilesystemConfig,
    ) -> Result<Self> {
        let store = Arc::new(Store::open(dir, clock)?);
        let backend = Self {
            store,
            config,
            cursor: Arc::new(Mutex::new(None)),
            sweeper: Arc::new(SweeperHandle {
                stop: watch::Sender::new(false),
                task: Mutex::new(None),
            }),
        };
        if config.background_sweeper {
            backend.spawn_sweeper();
        }
        Ok(backend)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        self.store.layout.root()
    }

    /// Starts the background sweeper on the current tokio runtime. Returns `false` (and does
    /// nothing) when no runtime is current, when it is already running, or after
    /// [`Component::join`].
    pub fn spawn_sweeper(&self) -> bool {
        if tokio::runtime::Handle::try_current().is_err() || *self.sweeper.stop.borrow() {
            return false;
        }
        let mut task = self
            .sweeper
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if task.as_ref().is_some_and(|t| !t.is_finished()) {
            return false;
        }
        *task = Some(sweeper::spawn(
            Arc::downgrade(&self.store),
            self.cursor.clone(),
            sweeper::SweepSchedule {
                interval: self.config.sweep_interval,
                files_per_second: self.config.sweep_files_per_second.max(1),
                multipart_max_age: self.config.multipart_max_age,
            },
            self.sweeper.stop.subscribe(),
        ));
        true
    }

    /// Runs one sweep step now: examines at most `limit` entries after the cursor, deleting
    /// expired objects and stale sidecars (a new pass first removes abandoned uploads). See
    /// the module docs ("The background sweeper") for the rules.
    pub async fn sweep_once(&self, limit: usize) -> Result<SweepStats> {
        let store = self.store.clone();
        let cursor = self.cursor.clone();
        let max_age = self.config.multipart_max_age;
        blocking(move || {
            let mut cursor = cursor.lock().unwrap_or_else(PoisonError::into_inner);
            store.sweep_once(&mut cursor, limit, max_age)
        })
        .await
    }
}

#[async_trait]
impl Component for FilesystemBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn join(&self) {
        self.sweeper.stop.send_replace(true);
        let task = self
            .sweeper
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "filesystem sweeper task failed");
        }
    }
}

#[async_trait]
impl Backend for FilesystemBackend {
    async fn put(&self, id: &ObjectId, meta: &Metadata, body: PayloadStream) -> Result<PutReceipt> {
        let (store, path, meta) = (self.store.clone(), id.as_storage_path(), meta.clone());
        // 1. Temp file with the header.
        let (temp, file, header_len) = blocking(move || {
            let (temp, mut file) =
                TempFile::create(&store.layout).map_err(io_error("write an object"))?;
            let header_len =
                format::write_object_header(&mut file, &format::new_write_id(), &path, &meta)
                    .map_err(io_error("write an object"))?;
            Ok((temp, file, header_len))
        })
        .await?;
        // 2. The payload.
        let (mut file, len) = stream_into(file, body, "write an object", |_| Ok(())).await?;
        // 3-4. Length, fsync, the file's length as the filesystem reports it, commit.
        let (store, name) = (self.store.clone(), layout::object_name(id));
        blocking(move || {
            format::patch_payload_len(&mut file, len).map_err(io_error("write an object"))?;
            file.sync_all().map_err(io_error("write an object"))?;
            let file_len = file.metadata().map_err(io_error("write an object"))?.len();
            drop(file);
            store
                .commit(&name, temp)
                .map_err(io_error("commit an object"))?;
            Ok(PutReceipt {
                size: Some(file_len.saturating_sub(header_len)),
                md5: None,
                etag: None,
            })
        })
        .await
    }

    async fn get(&self, id: &ObjectId, range: Option<ByteRange>) -> Result<GetResponse> {
        let (store, id) = (self.store.clone(), id.clone());
        let Some(loaded) = blocking(move || store.read(&id)).await? else {
            return Ok(GetResponse::NotFound);
        };
        let (offset, len, range) = match range {
            None => (0, loaded.header.payload_len, None),
            Some(r) => match r.resolve(loaded.header.payload_len) {
                None => return Ok(GetResponse::RangeNotSatisfiable(loaded.metadata)),
                Some(cr) => (cr.start, cr.len(), Some(cr)),
            },
        };
        let mut file = tokio::fs::File::from_std(loaded.file);
        file.seek(std::io::SeekFrom::Start(
            loaded.header.payload_offset + offset,
        ))
        .await
        .map_err(io_error("read an object"))?;
        let body = ReaderStream::with_capacity(file.take(len), READ_CHUNK).boxed();
        Ok(GetResponse::Found {
            metadata: loaded.metadata,
            range,
            body,
        })
    }

    async fn head(&self, id: &ObjectId) -> Result<Option<Metadata>> {
        let (store, id) = (self.store.clone(), id.clone());
        let loaded = blocking(move || store.read(&id)).await?;
        Ok(loaded.map(|l| l.metadata))
    }

    async fn delete(&self, id: &ObjectId) -> Result<()> {
        let (store, id) = (self.store.clone(), id.clone());
        blocking(move || store.delete(&id).map_err(io_error("delete an object"))).await
    }

    async fn extend_expiry(
        &self,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        let (store, id) = (self.store.clone(), id.clone());
        blocking(move || store.extend(&id, target, now)).await
    }
}

#[async_trait]
impl LongTermBackend for FilesystemBackend {
    async fn list_blobs(&self, after: Option<&str>, limit: usize) -> Result<ScanPage<BlobInfo>> {
        let (store, after) = (self.store.clone(), after.map(str::to_owned));
        blocking(move || store.list_blobs(after.as_deref(), limit)).await
    }

    async fn initiate_multipart(&self, id: &ObjectId, metadata: &Metadata) -> Result<String> {
        let (store, id, metadata) = (self.store.clone(), id.clone(), metadata.clone());
        blocking(move || store.initiate(&id, &metadata)).await
    }

    async fn upload_part_checked(&self, part: PartUpload<'_>) -> Result<PartReceipt> {
        let (store, path, upload) = (
            self.store.clone(),
            part.id.clone(),
            part.upload_id.to_owned(),
        );
        // 1. Check the upload, create the temp part.
        let (target, temp, file) =
            blocking(move || store.begin_part(&path, &upload, part.part_number)).await?;
        // 2. Stream, hash (SHA-256 for the ETag, MD5 as the store's account), enforce the
        //    length; with a check, only after comparing the whole body with `part.sent`.
        let mut sha256 = Sha256::new();
        let mut md5 = Hasher::new();
        let checked = part.sent.is_some();
        let too_long = || {
            Error::InvalidRequest(format!(
                "part body is longer than its content length {}",
                part.content_length
            ))
        };
        let (file, len) = stream_into(file, part.body, "write a part", |chunk| {
            if !checked && md5.size() + chunk.len() as u64 > part.content_length {
                return Err(too_long());
            }
            sha256.update(chunk);
            md5.update(chunk);
            Ok(())
        })
        .await?;
        let kept = md5.finish();
        let path = part.id.as_storage_path();
        integrity::check_sent(
            "upload_part",
            &path,
            part.sent.as_ref(),
            kept.size,
            kept.md5,
        )
        .map_err(|e| e.into_error(NAME))?;
        if len != part.content_length {
            return Err(Error::InvalidRequest(format!(
                "part body has {len} bytes, content length says {}",
                part.content_length
            )));
        }
        // 3. Commit.
        let digest: [u8; 32] = sha256.finalize().into();
        let (store, upload) = (self.store.clone(), part.upload_id.to_owned());
        let etag =
            blocking(move || store.finish_part(&upload, &target, temp, file, &digest, &kept.md5))
                .await?;
        Ok(PartReceipt {
            etag,
            size: len,
            md5: Some(kept.md5),
        })
    }

    async fn list_parts(&self, query: PartsQuery<'_>) -> Result<PartsPage> {
        let (store, id, upload) = (
            self.store.clone(),
            query.id.clone(),
            query.upload_id.to_owned(),
        );
        let (max_parts, marker) = (query.max_parts, query.marker);
        blocking(move || store.list_parts(&id, &upload, max_parts, marker)).await
    }

    async fn abort_multipart(&self, id: &ObjectId, upload_id: &str) -> Result<()> {
        let (store, id, upload) = (self.store.clone(), id.clone(), upload_id.to_owned());
        blocking(move || store.abort(&id, &upload)).await
    }

    async fn complete_multipart(
        &self,
        id: &ObjectId,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<Option<CompleteRejection>> {
        let (store, id, upload) = (self.store.clone(), id.clone(), upload_id.to_owned());
        let parts = parts.to_vec();
        blocking(move || store.complete(&id, &upload, &parts)).await
    }
}
