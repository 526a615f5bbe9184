//! A small pool of read-only connections.
//!
//! WAL mode lets these readers run concurrently with the writer thread; each statement sees
//! the last committed state. A semaphore bounds the reads in flight to the number of
//! connections, so a read that holds a permit always finds a free connection.
//!
//! Two ways to run a read:
//!
//! * [`ReaderPool::run`] moves it to the blocking thread pool (waiting asynchronously for a
//!   permit): for scans and anything else whose duration grows with the data.
//! * [`ReaderPool::run_point`] is for primary-key lookups of one row (an object of at most
//!   the high-volume size limit). When a permit is free right away it runs the lookup on the
//!   calling thread: from the page cache or the memory map that takes tens of microseconds,
//!   less than the two thread hand-offs (to the blocking pool and back) it saves. Otherwise
//!   it falls back to [`ReaderPool::run`]. A lookup that has to wait for the disk blocks the
//!   calling runtime thread for that read.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

use super::schema::open_reader;

/// The read-only connections.
#[derive(Debug)]
pub(super) struct ReaderPool {
    path: PathBuf,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    /// Opens `size` read-only connections to the database at `path`.
    pub(super) fn open(path: &Path, size: usize) -> Result<Arc<Self>> {
        let idle = (0..size)
            .map(|_| open_reader(path))
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(Self {
            path: path.to_owned(),
            permits: Arc::new(Semaphore::new(size)),
            idle: Mutex::new(idle),
        }))
    }

    /// Runs `f` on a pooled connection on the blocking thread pool.
    pub(super) async fn run<T, F>(self: &Arc<Self>, operation: &'static str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::backend(super::NAME, operation, e))?;
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.take()?;
            let result = catch_unwind(AssertUnwindSafe(|| f(&conn)));
            pool.put(conn);
            result.unwrap_or_else(|_| Err(panicked(operation)))
        })
        .await
        .map_err(|e| Error::Internal(format!("an embedded read ({operation}) failed: {e}")))?
    }

    /// Runs the point lookup `f` on a pooled connection, on this thread when a connection is
    /// free (see the module docs), else on the blocking thread pool.
    pub(super) async fn run_point<T, F>(
        self: &Arc<Self>,
        operation: &'static str,
        f: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let Ok(_permit) = self.permits.try_acquire() else {
            return self.run(operation, f).await;
        };
        let conn = self.take()?;
        let result = catch_unwind(AssertUnwindSafe(|| f(&conn)));
        self.put(conn);
        result.unwrap_or_else(|_| Err(panicked(operation)))
    }

    /// Takes an idle connection. The semaphore guarantees one is idle; should that ever not
    /// hold, a fresh connection is opened instead.
    fn take(&self) -> Result<Connection> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(conn) => Ok(conn),
            None => open_reader(&self.path),
        }
    }

    fn put(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
    }
}

fn panicked(operation: &str) -> Error {
    Error::Internal(format!(
        "an embedded read panicked while trying to {operation}"
    ))
}
