//! Error reporting must not hang the process when the Sentry endpoint accepts connections
//! but never answers: dropping the client (what shutdown does) returns once the bounded send
//! gives up. Its own test binary: the Sentry client is process-wide.

use std::sync::mpsc;
use std::time::Duration;

use objectstore_server::config::SentryConfig;

#[test]
fn shutdown_returns_when_the_ingest_endpoint_never_answers() {
    // Accepts (the kernel does, through the backlog) and never reads or answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = SentryConfig {
        dsn: Some(format!("http://publickey@{addr}/42")),
        ..SentryConfig::default()
    };
    let guard = objectstore_server::error_reporting::init(&config)
        .unwrap()
        .expect("a client");
    sentry::capture_message("an event nobody receives", sentry::Level::Error);

    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        drop(guard);
        let _ = done.send(());
    });
    // A deadlock detector, not a timing assertion: the send is bounded at 10 s, the wait
    // here at 120 s, so only a hang fails it.
    assert!(
        finished.recv_timeout(Duration::from_secs(120)).is_ok(),
        "dropping the Sentry client hung on an unresponsive endpoint"
    );
    drop(listener);
}
