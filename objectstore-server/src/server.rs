//! Serving: the accept loop, graceful shutdown and signals.
//!
//! # Shutdown protocol
//!
//! 1. The shutdown future completes (SIGINT, SIGTERM or SIGQUIT in the binary; any future in
//!    tests). SIGHUP does not stop the server: it reloads the killswitches from the config
//!    file, as daemons conventionally do (the reference shuts down on SIGHUP).
//! 2. The listener stops accepting; idle keep-alive connections are closed.
//! 3. Requests in flight run to completion, their response bodies included.
//! 4. `StorageService::join` waits for the storage engine's background work (cleanup,
//!    sweeps), at most `http.shutdown_timeout` (default 5 s); on timeout a warning is logged
//!    and shutdown proceeds.
//! 5. `serve_with_s3` returns `Ok(())`; the binary exits 0.
//!
//! While running with a config file, [`watch_killswitches`] reloads `killswitches` when the
//! file changes; every other setting needs a restart.

use std::path::PathBuf;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::app::router;
use crate::config::{Config, ConfigError};
use crate::state::AppState;

/// Serves `state` on `listener` until `shutdown` completes, then shuts down gracefully
/// (module docs). Serves the objectstore API on `listener` and, when given, the S3 API (built by
/// [`crate::s3::front`]) on its listener: one shutdown stops both accept loops, and the
/// storage engine's background work is awaited only after the requests of both have
/// finished.
pub(crate) async fn serve_with_s3(
    listener: TcpListener,
    s3: Option<(TcpListener, objectstore_s3::S3Front)>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener
        .local_addr()
        .context("listener has no local address")?;
    let shutdown_timeout = state.config.http.shutdown_timeout;
    let service = state.service.clone();
    let header_timeout = state.config.http.header_timeout;
    let stop = tokio_util::sync::CancellationToken::new();
    let s3_loop = match s3 {
        Some((s3, front)) => {
            let s3_addr = s3
                .local_addr()
                .context("S3 listener has no local address")?;
            tracing::info!(addr = %s3_addr, "S3 API listening");
            let stopped = stop.clone().cancelled_owned();
            Some(tokio::spawn(accept_loop(
                s3,
                front,
                header_timeout,
                stopped,
            )))
        }
        None => None,
    };
    let app = router(state);
    tracing::info!(%addr, backend = service.backend_name(), "objectstore listening");
    let stopping = stop.clone();
    let shutdown = async move {
        shutdown.await;
        stopping.cancel();
    };
    accept_loop(listener, app, header_timeout, shutdown).await;
    if let Some(s3_loop) = s3_loop {
        s3_loop.await.context("the S3 accept loop panicked")?;
    }
    tracing::info!("all requests finished; waiting for storage background work");
    if tokio::time::timeout(shutdown_timeout, service.join())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout = ?shutdown_timeout,
            "storage background work did not finish in time; exiting anyway"
        );
    }
    tracing::info!("shutdown complete");
    Ok(())
}

/// Serves connections until `shutdown` completes, then stops accepting, closes idle
/// connections and waits for the requests in flight (steps 2-3 of the shutdown protocol).
///
/// HTTP/1 request heads must arrive within `header_timeout` (a client that trickles or
/// stalls its headers is disconnected instead of holding the connection, and shutdown,
/// forever); `0s` disables it. `app` is any service of HTTP responses (the object API's
/// [`crate::app::App`], or the S3 front).
async fn accept_loop<S, B>(
    listener: TcpListener,
    app: S,
    header_timeout: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    S: tower::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let mut builder = Builder::new(TokioExecutor::new());
    if !header_timeout.is_zero() {
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout);
    }
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(app.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Reloads `killswitches` whenever the config file changes (checked every 5 s) and on
/// SIGHUP. A file that no longer loads keeps the current list (and logs a warning).
pub fn watch_killswitches(
    state: &AppState,
    file: PathBuf,
) -> anyhow::Result<crate::admission::ConfigWatcher> {
    let killswitches = state.admission.killswitches().clone();
    let path = file.clone();
    let options = crate::admission::WatchOptions {
        sighup: true,
        ..Default::default()
    };
    crate::admission::watch_config(file, options, move || {
        let config = Config::from_process(Some(&path))?;
        killswitches.replace(config.killswitches);
        tracing::info!("killswitches reloaded");
        Ok::<(), ConfigError>(())
    })
    .context("cannot watch the config file")
}

/// Without a config file there is nothing to reload: SIGHUP is logged and ignored (instead of
/// terminating the process by its default disposition).
pub(crate) fn ignore_hangup() {
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hangup) => {
            tokio::spawn(async move {
                while hangup.recv().await.is_some() {
                    tracing::info!("SIGHUP ignored: no config file to reload");
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "cannot listen for SIGHUP"),
    }
}

/// Completes on the first SIGINT, SIGTERM or SIGQUIT (SIGHUP reloads, see
/// [`watch_killswitches`]). The handlers are installed
/// when this function is called (inside the runtime), not when the future is first polled,
/// so a signal arriving during start-up is not lost to the default disposition.
pub(crate) fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let mut streams = {
        use tokio::signal::unix::{SignalKind, signal};
        let kinds = [
            SignalKind::interrupt(),
            SignalKind::terminate(),
            SignalKind::quit(),
        ];
        let mut streams = Vec::new();
        for kind in kinds {
            match signal(kind) {
                Ok(s) => streams.push(s),
                Err(e) => tracing::warn!(error = %e, "cannot listen for a signal"),
            }
        }
        streams
    };
    async move {
        #[cfg(unix)]
        if !streams.is_empty() {
            let waits = streams.iter_mut().map(|s| Box::pin(s.recv()));
            futures::future::select_all(waits).await;
            tracing::info!("shutdown signal received");
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received");
    }
}

/// Binds the configured address (with `SO_REUSEADDR`, backlog 1024).
pub(crate) fn bind(config: &Config) -> anyhow::Result<TcpListener> {
    bind_addr(config.http_addr, "http_addr")
}

/// Binds `addr`, the value of config key `key` (with `SO_REUSEADDR`, backlog 1024).
pub(crate) fn bind_addr(addr: std::net::SocketAddr, key: &str) -> anyhow::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .context("cannot create a socket")?;
    socket
        .set_reuseaddr(true)
        .context("cannot set SO_REUSEADDR")?;
    socket
        .bind(addr)
        .with_context(|| format!("cannot bind {key} {addr}"))?;
    socket
        .listen(1024)
        .with_context(|| format!("cannot listen on {key} {addr}"))
}
