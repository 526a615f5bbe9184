use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use objectstore_service::stream::{self, PayloadStream};

use super::{ManualTicker, ctx, manual, on_manual};
use crate::admission::buckets::{Gcra, Idle, NEVER_RETRY_AFTER};
use crate::admission::{BandwidthConfig, BandwidthLimiter, Rejection};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

fn limited(retry_after: Duration) -> Result<(), Rejection> {
    Err(Rejection::RateLimited { retry_after })
}

fn global(bps: u64) -> BandwidthConfig {
    BandwidthConfig {
        global_bps: Some(bps),
        ..Default::default()
    }
}

/// A limiter of `config` (at most 100 tracked keys) on a manual ticker, and the ticker.
fn bandwidth(config: BandwidthConfig) -> (Arc<ManualTicker>, BandwidthLimiter) {
    on_manual(|ticker| BandwidthLimiter::new(config, 100, ticker))
}

#[test]
fn gcra_admits_until_debt_exceeds_burst() {
    let bucket = Gcra::new(1000);
    let burst = SEC;
    assert_eq!(bucket.check(0, burst), Ok(()));
    bucket.charge(0, 1000); // TAT = 1 s: exactly the burst, still admitted
    assert_eq!(bucket.check(0, burst), Ok(()));
    bucket.charge(0, 500); // TAT = 1.5 s
    assert_eq!(bucket.check(0, burst), Err(500 * MS));
    assert_eq!(bucket.check(500_000_000, burst), Ok(()));
    // Debt never starts before now: a long idle period earns no credit.
    let later = 100_000_000_000;
    assert!(bucket.is_idle(later));
    bucket.charge(later, 1500);
    assert_eq!(bucket.check(later, burst), Err(500 * MS));
    // A rate-0 bucket never admits.
    assert_eq!(Gcra::new(0).check(0, burst), Err(NEVER_RETRY_AFTER));
}

#[test]
fn global_limit_rejects_and_recovers() {
    let (ticker, limiter) = bandwidth(global(1000));
    let request = ctx("attachments", "org=1");
    assert_eq!(limiter.admit(&request), Ok(()));
    limiter.charge(&request, 3000); // 3 s of debt, 1 s burst
    assert_eq!(limiter.admit(&ctx("other", "_")), limited(2 * SEC));
    ticker.advance(1500 * MS);
    assert_eq!(limiter.admit(&request), limited(500 * MS));
    ticker.advance(500 * MS);
    assert_eq!(limiter.admit(&request), Ok(()));
    assert_eq!(limiter.bytes_total(), 3000);
    assert_eq!(limiter.global_bps(), Some(1000));
}

#[test]
fn burst_ms_sets_the_tolerance() {
    let config = BandwidthConfig {
        burst_ms: 0,
        ..global(1000)
    };
    let (_ticker, limiter) = bandwidth(config);
    let request = ctx("attachments", "_");
    limiter.charge(&request, 1);
    assert_eq!(limiter.admit(&request), limited(MS));
}

#[test]
fn per_usecase_and_per_scope_buckets() {
    let config = BandwidthConfig {
        usecase_pct: Some(50),
        scope_pct: Some(25),
        ..global(1000)
    };
    let (ticker, limiter) = bandwidth(config);
    // usecase 500 B/s, scopes 250 B/s.
    limiter.charge(&ctx("aaa", "org=1"), 750);
    // Scope bucket: 3 s of debt; usecase: 1.5 s; global: 0.75 s.
    assert_eq!(limiter.admit(&ctx("aaa", "org=1")), limited(2 * SEC));
    assert_eq!(limiter.admit(&ctx("aaa", "org=2")), limited(500 * MS));
    assert_eq!(limiter.admit(&ctx("bbb", "org=1")), limited(2 * SEC));
    assert_eq!(limiter.admit(&ctx("bbb", "org=2")), Ok(()));
    assert_eq!(limiter.tracked_keys(), (1, 1));
    ticker.advance(500 * MS);
    assert_eq!(limiter.admit(&ctx("aaa", "org=2")), Ok(()));
    ticker.advance(1500 * MS);
    assert_eq!(limiter.admit(&ctx("aaa", "org=1")), Ok(()));
}

#[test]
fn report_only_admits_but_keeps_accounting() {
    let config = BandwidthConfig {
        report_only: true,
        ..global(1000)
    };
    let (_ticker, limiter) = bandwidth(config);
    let request = ctx("attachments", "_");
    limiter.charge(&request, 5000);
    assert_eq!(limiter.admit(&request), Ok(()));
    assert_eq!(limiter.admit(&request), Ok(()));
    assert_eq!(limiter.reported_rejections(), 2);
    limiter.charge(&request, 1000);
    assert_eq!(limiter.bytes_total(), 6000);

    // The same debt without report_only rejects.
    let (_ticker, shared) = manual();
    let enforcing = BandwidthLimiter::new(global(1000), 100, shared);
    enforcing.charge(&request, 5000);
    assert_eq!(enforcing.admit(&request), limited(4 * SEC));
    assert_eq!(enforcing.reported_rejections(), 0);
}

fn chunks(sizes: &[usize]) -> PayloadStream {
    let items: Vec<io::Result<Bytes>> = sizes
        .iter()
        .map(|n| Ok(Bytes::from(vec![7u8; *n])))
        .collect();
    futures::stream::iter(items).boxed()
}

#[tokio::test]
async fn streams_are_charged_chunk_by_chunk() {
    let (ticker, limiter) = bandwidth(global(1000));
    let request = ctx("attachments", "_");
    let mut body = limiter.meter(&request, chunks(&[600, 600, 0, 300]));
    // Wrapping alone charges nothing.
    assert_eq!(limiter.bytes_total(), 0);
    assert_eq!(body.next().await.unwrap().unwrap().len(), 600);
    assert_eq!(limiter.admit(&request), Ok(())); // 0.6 s of debt
    assert_eq!(body.next().await.unwrap().unwrap().len(), 600);
    assert_eq!(limiter.admit(&request), limited(200 * MS)); // 1.2 s
    // Time passes while the stream is read: debt is charged from "now".
    ticker.advance(2 * SEC);
    assert_eq!(body.next().await.unwrap().unwrap().len(), 0);
    assert_eq!(body.next().await.unwrap().unwrap().len(), 300);
    assert!(body.next().await.is_none());
    assert_eq!(limiter.admit(&request), Ok(())); // 0.3 s
    assert_eq!(limiter.bytes_total(), 1500);
}

#[tokio::test]
async fn stream_errors_pass_through_uncharged() {
    let (_ticker, limiter) = bandwidth(global(1000));
    let items: Vec<io::Result<Bytes>> = vec![
        Ok(Bytes::from_static(b"abc")),
        Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "client went away",
        )),
    ];
    let mut body = limiter.meter(&ctx("aaa", "_"), futures::stream::iter(items).boxed());
    assert_eq!(body.next().await.unwrap().unwrap(), "abc");
    let err = body.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    assert_eq!(limiter.bytes_total(), 3);
}

#[tokio::test]
async fn without_limits_bytes_are_still_counted() {
    let (_ticker, limiter) = bandwidth(BandwidthConfig::default());
    let request = ctx("aaa", "org=1");
    let body = limiter.meter(&request, stream::single(vec![1u8; 10_000]));
    assert_eq!(stream::read_to_vec(body).await.unwrap().len(), 10_000);
    limiter.charge(&request, 5);
    assert_eq!(limiter.admit(&request), Ok(()));
    assert_eq!(limiter.bytes_total(), 10_005);
    assert_eq!(limiter.tracked_keys(), (0, 0));
    assert_eq!(limiter.global_bps(), None);
}

#[test]
fn zero_share_always_rejects() {
    let config = BandwidthConfig {
        scope_pct: Some(0),
        ..global(1000)
    };
    let (_ticker, limiter) = bandwidth(config);
    assert_eq!(limiter.admit(&ctx("aaa", "_")), limited(NEVER_RETRY_AFTER));
}

#[test]
fn a_bucket_held_by_a_stream_is_not_idle() {
    let (ticker, _) = manual();
    let origin = crate::admission::ticker::Ticker::now(&*ticker);
    let bucket = std::sync::Arc::new(Gcra::new(1000));
    assert!(Idle::is_idle(&bucket, origin, origin));
    let held = std::sync::Arc::clone(&bucket);
    assert!(!Idle::is_idle(&bucket, origin, origin));
    drop(held);
    bucket.charge(0, 1000);
    assert!(!Idle::is_idle(&bucket, origin + 999 * MS, origin));
    assert!(Idle::is_idle(&bucket, origin + SEC, origin));
}

#[test]
fn validate_rejects_percentages_above_100() {
    let config = BandwidthConfig {
        usecase_pct: Some(150),
        ..Default::default()
    };
    assert!(config.validate().unwrap_err().contains("usecase_pct"));
    assert_eq!(BandwidthConfig::default().validate(), Ok(()));
}
