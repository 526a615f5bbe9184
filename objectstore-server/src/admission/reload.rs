//! Reloading the killswitch list without a restart.
//!
//! [`watch_config`] spawns a task that calls a reload function when
//!
//! * the config file's contents change: the file is re-read every `interval` and compared
//!   by content hash (portable, needs no inotify, and also catches edits within the same
//!   mtime second and Kubernetes ConfigMap symlink swaps; config files are small, so the
//!   synchronous read every few seconds is cheap);
//! * the process receives SIGHUP, if `options.sighup` is set (Unix only);
//! * [`ConfigWatcher::trigger`] is called.
//!
//! The reload function does the parsing and the swap (typically: load the config, then
//! [`super::Killswitches::replace`]). If it fails, nothing was swapped: the old list stays
//! active and a warning is logged. An unreadable file is logged and skipped, the reload is
//! retried when the file reappears or changes. Every attempt is published on
//! [`ConfigWatcher::subscribe`], so tests (and operators) can wait for a reload instead of
//! sleeping. Dropping the [`ConfigWatcher`] stops the task.

use std::collections::hash_map::DefaultHasher;
use std::fmt::Display;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// How [`watch_config`] watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WatchOptions {
    /// How often the file is re-read. Default: 5 s.
    pub interval: Duration,
    /// Whether SIGHUP triggers a reload. Default: `false`, because the reference server shuts
    /// down on SIGHUP (docs/http-api.md §17); the server turns this on, as it reloads on SIGHUP
    /// (§15.1). Whoever turns it on must not also shut down on SIGHUP.
    pub sighup: bool,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            sighup: false,
        }
    }
}

/// What caused a reload attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadCause {
    /// The file's contents changed.
    FileChanged,
    /// SIGHUP was received.
    Signal,
    /// [`ConfigWatcher::trigger`] was called.
    Triggered,
}

/// The latest reload attempt, as published on [`ConfigWatcher::subscribe`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadStatus {
    /// Attempts so far.
    pub attempts: u64,
    /// Cause and outcome of the latest attempt (`Err` holds the warning text).
    pub last: Option<(ReloadCause, Result<(), String>)>,
}

/// A running watcher; dropping it stops watching.
#[derive(Debug)]
pub struct ConfigWatcher {
    trigger: Arc<Notify>,
    status: watch::Receiver<ReloadStatus>,
    task: JoinHandle<()>,
}

impl ConfigWatcher {
    /// Asks for a reload now (coalesced with one already pending).
    pub fn trigger(&self) {
        self.trigger.notify_one();
    }

    /// A receiver of reload attempts; `changed().await` waits for the next one.
    pub fn subscribe(&self) -> watch::Receiver<ReloadStatus> {
        self.status.clone()
    }
}

impl Drop for ConfigWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Content hash of the file, `None` if unreadable.
fn fingerprint(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    Some(hasher.finish())
}

/// Starts watching `path`. Must be called inside a tokio runtime. Fails only if the SIGHUP
/// handler cannot be installed.
pub(crate) fn watch_config<F, E>(
    path: impl Into<PathBuf>,
    options: WatchOptions,
    mut reload: F,
) -> io::Result<ConfigWatcher>
where
    F: FnMut() -> Result<(), E> + Send + 'static,
    E: Display,
{
    let path = path.into();
    let mut hangup = Hangup::new(options.sighup)?;
    let trigger = Arc::new(Notify::new());
    let (publish, status) = watch::channel(ReloadStatus::default());
    // Taken before returning, so a write right after this call is seen as a change.
    let mut seen = fingerprint(&path);
    let notified = Arc::clone(&trigger);
    let task = tokio::spawn(async move {
        let mut interval = tokio::time::interval(options.interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            let cause = tokio::select! {
                _ = interval.tick() => {
                    let now = fingerprint(&path);
                    if now == seen {
                        continue;
                    }
                    seen = now;
                    if now.is_none() {
                        tracing::warn!(path = %path.display(), "config file unreadable; keeping the current killswitches");
                        continue;
                    }
                    ReloadCause::FileChanged
                }
                () = notified.notified() => ReloadCause::Triggered,
                () = hangup.recv() => ReloadCause::Signal,
            };
            if cause != ReloadCause::FileChanged {
                seen = fingerprint(&path);
            }
            let outcome = reload().map_err(|e| e.to_string());
            match &outcome {
                Ok(()) => tracing::info!(?cause, path = %path.display(), "config reloaded"),
                Err(error) => tracing::warn!(
                    ?cause,
                    path = %path.display(),
                    %error,
                    "config reload failed; keeping the current killswitches"
                ),
            }
            publish.send_modify(|s| {
                s.attempts += 1;
                s.last = Some((cause, outcome));
            });
        }
    });
    Ok(ConfigWatcher {
        trigger,
        status,
        task,
    })
}

/// The SIGHUP listener, or a future that never resolves.
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    #[cfg(unix)]
    fn new(enabled: bool) -> io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let signal = if enabled {
            Some(signal(SignalKind::hangup())?)
        } else {
            None
        };
        Ok(Self { signal })
    }

    #[cfg(not(unix))]
    fn new(_enabled: bool) -> io::Result<Self> {
        Ok(Self {})
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal
            && signal.recv().await.is_some()
        {
            return;
        }
        std::future::pending::<()>().await;
    }
}
