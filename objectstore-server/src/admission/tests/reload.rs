use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Yaml};
use tokio::sync::watch;

use super::ctx;
use crate::admission::{
    ConfigWatcher, Killswitch, Killswitches, Rejection, ReloadCause, ReloadStatus, WatchOptions,
    watch_config,
};

/// Hang guard only: the tests wait for a published reload, never for time to pass.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn load(path: &Path) -> Result<Vec<Killswitch>, Box<figment::Error>> {
    Ok(Figment::from(Yaml::file_exact(path)).extract_inner("killswitches")?)
}

/// What the server does: parse the file, and only on success swap the list.
fn reloader(
    path: &Path,
    switches: &Arc<Killswitches>,
) -> impl FnMut() -> Result<(), Box<figment::Error>> + Send + 'static {
    let (path, switches) = (path.to_owned(), Arc::clone(switches));
    move || {
        switches.replace(load(&path)?);
        Ok(())
    }
}

/// A config file holding `contents` in a fresh temporary directory (kept by the caller).
fn config_file(contents: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}

/// Watches `path` every `interval` (and on SIGHUP when `sighup`), reloading `switches`.
fn watching(
    path: &Path,
    interval: Duration,
    sighup: bool,
    switches: &Arc<Killswitches>,
) -> (ConfigWatcher, watch::Receiver<ReloadStatus>) {
    let options = WatchOptions { interval, sighup };
    let watcher = watch_config(path, options, reloader(path, switches)).unwrap();
    let status = watcher.subscribe();
    (watcher, status)
}

async fn next(status: &mut watch::Receiver<ReloadStatus>) -> ReloadStatus {
    tokio::time::timeout(HANG_GUARD, status.changed())
        .await
        .expect("no reload was published")
        .unwrap();
    status.borrow_and_update().clone()
}

#[tokio::test]
async fn file_changes_replace_the_list_and_failures_keep_it() {
    let (_dir, path) = config_file("killswitches: []\n");
    let switches = Arc::new(Killswitches::new(load(&path).unwrap()));
    let interval = Duration::from_millis(10);
    let (_watcher, mut status) = watching(&path, interval, false, &switches);
    let request = ctx("attachments", "org=1");
    assert_eq!(switches.check(&request, None), Ok(()));

    std::fs::write(&path, "killswitches:\n  - usecase: attachments\n").unwrap();
    let s = next(&mut status).await;
    assert_eq!(s.attempts, 1);
    assert_eq!(s.last, Some((ReloadCause::FileChanged, Ok(()))));
    assert_eq!(switches.check(&request, None), Err(Rejection::Killswitched));

    // A broken file: the reload fails and the old list stays active.
    std::fs::write(&path, "killswitches: [ {usecase: \n").unwrap();
    let s = next(&mut status).await;
    assert_eq!(s.attempts, 2);
    let (cause, outcome) = s.last.unwrap();
    assert_eq!(cause, ReloadCause::FileChanged);
    assert!(outcome.is_err());
    assert_eq!(switches.check(&request, None), Err(Rejection::Killswitched));

    // Fixed again: the new list applies.
    std::fs::write(&path, "killswitches:\n  - usecase: other\n").unwrap();
    let s = next(&mut status).await;
    assert_eq!(s.last, Some((ReloadCause::FileChanged, Ok(()))));
    assert_eq!(switches.check(&request, None), Ok(()));
    assert_eq!(
        switches.check(&ctx("other", "_"), None),
        Err(Rejection::Killswitched)
    );
}

#[tokio::test]
async fn an_explicit_trigger_reloads_without_a_file_change() {
    let (_dir, path) = config_file("killswitches:\n  - scopes: { org: \"1\" }\n");
    // Started with an outdated list; the file is not touched afterwards.
    let switches = Arc::new(Killswitches::default());
    let (watcher, mut status) = watching(&path, Duration::from_secs(3600), false, &switches);
    watcher.trigger();
    let s = next(&mut status).await;
    assert_eq!(s.last, Some((ReloadCause::Triggered, Ok(()))));
    assert_eq!(
        switches.check(&ctx("aaa", "org=1"), None),
        Err(Rejection::Killswitched)
    );
    // Dropping the watcher stops it: the channel closes.
    drop(watcher);
    assert!(
        tokio::time::timeout(HANG_GUARD, status.changed())
            .await
            .unwrap()
            .is_err()
    );
}

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_when_enabled() {
    let (_dir, path) = config_file("killswitches:\n  - usecase: hup\n");
    let switches = Arc::new(Killswitches::default());
    // The handler is installed before `watch_config` returns, so the signal cannot kill
    // the test process.
    let (_watcher, mut status) = watching(&path, Duration::from_secs(3600), true, &switches);
    let killed = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let s = next(&mut status).await;
    assert_eq!(s.last, Some((ReloadCause::Signal, Ok(()))));
    assert!(switches.check(&ctx("hup", "_"), None).is_err());
}
