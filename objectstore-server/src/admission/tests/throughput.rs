use std::sync::Arc;
use std::time::Duration;

use super::{ManualTicker, ctx, manual, on_manual};
use crate::admission::buckets::{NEVER_RETRY_AFTER, TokenBucket};
use crate::admission::{Rejection, ThroughputConfig, ThroughputLimiter, ThroughputRule};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

fn limited(retry_after: Duration) -> Result<(), Rejection> {
    Err(Rejection::RateLimited { retry_after })
}

fn rule(
    usecase: Option<&str>,
    scopes: &[(&str, &str)],
    rps: Option<u64>,
    pct: Option<u8>,
) -> ThroughputRule {
    ThroughputRule {
        usecase: usecase.map(str::to_owned),
        scopes: scopes
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        rps,
        pct,
    }
}

/// `global_rps` shared out as `usecase_pct` per usecase and `scope_pct` per scope list.
fn shares(global_rps: u64, usecase_pct: Option<u8>, scope_pct: Option<u8>) -> ThroughputConfig {
    ThroughputConfig {
        global_rps: Some(global_rps),
        usecase_pct,
        scope_pct,
        ..Default::default()
    }
}

/// A limiter of `config` (at most 100 tracked keys) on a manual ticker, and the ticker.
fn throughput(config: ThroughputConfig) -> (Arc<ManualTicker>, ThroughputLimiter) {
    on_manual(|ticker| ThroughputLimiter::new(config, 100, ticker))
}

#[test]
fn token_bucket_refills_in_whole_tokens_and_keeps_the_fraction() {
    let (ticker, _) = manual();
    let t0 = ticker_now(&ticker);
    let mut bucket = TokenBucket::new(2, 0, t0);
    assert_eq!(bucket.try_acquire(t0), Ok(()));
    assert_eq!(bucket.try_acquire(t0), Ok(()));
    assert_eq!(bucket.try_acquire(t0), Err(500 * MS));
    // 0.75 s at 2/s = 1.5 tokens: one whole token now, the half is kept.
    assert_eq!(bucket.try_acquire(t0 + 750 * MS), Ok(()));
    assert_eq!(bucket.try_acquire(t0 + 750 * MS), Err(250 * MS));
    assert_eq!(bucket.try_acquire(t0 + SEC), Ok(()));
    // Never above capacity, however long it idles.
    assert_eq!(bucket.available(t0 + 100 * SEC), 2);
    // Rate 0 never refills.
    let mut frozen = TokenBucket::new(0, 1, t0);
    assert_eq!(frozen.try_acquire(t0), Ok(()));
    assert_eq!(frozen.try_acquire(t0 + 100 * SEC), Err(NEVER_RETRY_AFTER));
}

fn ticker_now(t: &super::ManualTicker) -> std::time::Instant {
    crate::admission::ticker::Ticker::now(t)
}

#[test]
fn global_limit_rejects_and_recovers() {
    let config = shares(2, None, None);
    let (ticker, limiter) = throughput(config);
    let request = ctx("attachments", "org=1");
    assert_eq!(limiter.admit(&request), Ok(()));
    assert_eq!(limiter.admit(&ctx("other", "_")), Ok(()));
    assert_eq!(limiter.admit(&request), limited(500 * MS));
    ticker.advance(499 * MS);
    assert_eq!(limiter.admit(&request), limited(MS));
    ticker.advance(MS);
    assert_eq!(limiter.admit(&request), Ok(()));
    assert_eq!(limiter.admit(&request), limited(500 * MS));
    assert_eq!(limiter.admitted(), 3);
    assert_eq!(limiter.global_rps(), Some(2));
}

#[test]
fn burst_adds_capacity_on_top_of_the_rate() {
    let config = ThroughputConfig {
        global_rps: Some(1),
        burst: 2,
        ..Default::default()
    };
    let (ticker, limiter) = throughput(config);
    let request = ctx("attachments", "_");
    for _ in 0..3 {
        assert_eq!(limiter.admit(&request), Ok(()));
    }
    assert_eq!(limiter.admit(&request), limited(SEC));
    ticker.advance(SEC);
    assert_eq!(limiter.admit(&request), Ok(()));
    assert_eq!(limiter.admit(&request), limited(SEC));
    // A long pause refills to rps + burst, not more.
    ticker.advance(60 * SEC);
    for _ in 0..3 {
        assert_eq!(limiter.admit(&request), Ok(()));
    }
    assert!(limiter.admit(&request).is_err());
}

#[test]
fn usecase_limit_is_a_share_of_global_per_usecase() {
    let config = shares(10, Some(20), None);
    let (ticker, limiter) = throughput(config);
    let a = ctx("aaa", "org=1");
    let a_other_scope = ctx("aaa", "org=2");
    let b = ctx("bbb", "org=1");
    assert_eq!(limiter.admit(&a), Ok(()));
    assert_eq!(limiter.admit(&a_other_scope), Ok(()));
    assert_eq!(limiter.admit(&a), limited(500 * MS));
    assert_eq!(limiter.admit(&b), Ok(()));
    assert_eq!(limiter.admit(&b), Ok(()));
    assert!(limiter.admit(&b).is_err());
    ticker.advance(500 * MS);
    assert_eq!(limiter.admit(&a), Ok(()));
    assert_eq!(limiter.tracked_keys(), (2, 0));
}

#[test]
fn scope_limit_is_keyed_by_the_ordered_list_across_usecases() {
    let config = shares(10, None, Some(30));
    let (ticker, limiter) = throughput(config);
    assert_eq!(limiter.admit(&ctx("aaa", "org=1;p=2")), Ok(()));
    assert_eq!(limiter.admit(&ctx("bbb", "org=1;p=2")), Ok(()));
    assert_eq!(limiter.admit(&ctx("ccc", "org=1;p=2")), Ok(()));
    assert!(limiter.admit(&ctx("ddd", "org=1;p=2")).is_err());
    // Different order or a prefix are different lists.
    assert_eq!(limiter.admit(&ctx("aaa", "p=2;org=1")), Ok(()));
    assert_eq!(limiter.admit(&ctx("aaa", "org=1")), Ok(()));
    ticker.advance(SEC);
    assert_eq!(limiter.admit(&ctx("ddd", "org=1;p=2")), Ok(()));
}

#[test]
fn tokens_of_earlier_buckets_are_not_refunded() {
    let (_ticker, shared) = manual();
    // Global 3 rps; per usecase 3 * 34 / 100 = 1 rps (rounded down).
    let config = shares(3, Some(34), None);
    let limiter = ThroughputLimiter::new(config, 100, shared);
    assert_eq!(limiter.admit(&ctx("aaa", "_")), Ok(())); // global 2 left
    assert!(limiter.admit(&ctx("aaa", "_")).is_err()); // usecase empty; global 1 left
    assert_eq!(limiter.admit(&ctx("bbb", "_")), Ok(())); // global 0 left
    assert!(limiter.admit(&ctx("ccc", "_")).is_err()); // rejected by global
    assert_eq!(limiter.admitted(), 2);
}

#[test]
fn buckets_are_consulted_in_order() {
    let config = shares(1, Some(100), Some(100));
    let (_ticker, limiter) = throughput(config);
    assert_eq!(limiter.admit(&ctx("aaa", "org=1")), Ok(()));
    assert_eq!(limiter.tracked_keys(), (1, 1));
    // The global bucket rejects first: later buckets are never created or touched.
    assert!(limiter.admit(&ctx("bbb", "org=2")).is_err());
    assert_eq!(limiter.tracked_keys(), (1, 1));
}

#[test]
fn usecase_rejection_happens_before_the_scope_bucket() {
    let config = shares(100, Some(1), Some(2));
    let (ticker, limiter) = throughput(config);
    // usecase 1 rps, scopes 2 rps.
    assert_eq!(limiter.admit(&ctx("aaa", "org=1")), Ok(()));
    assert!(limiter.admit(&ctx("aaa", "org=1")).is_err()); // usecase empty: scope untouched
    assert_eq!(limiter.admit(&ctx("bbb", "org=1")), Ok(())); // scope's 2nd token
    assert!(limiter.admit(&ctx("ccc", "org=1")).is_err()); // scope empty
    ticker.advance(SEC);
    assert_eq!(limiter.admit(&ctx("ccc", "org=1")), Ok(()));
}

#[test]
fn rules_match_by_usecase_and_scope_pairs() {
    let config = ThroughputConfig {
        rules: vec![rule(Some("aaa"), &[("org", "1")], Some(1), None)],
        ..Default::default()
    };
    let (ticker, limiter) = throughput(config);
    // One bucket per rule, shared by every matching request.
    assert_eq!(limiter.admit(&ctx("aaa", "org=1;p=1")), Ok(()));
    assert_eq!(limiter.admit(&ctx("aaa", "p=2;org=1")), limited(SEC));
    // Not matching: other usecase, other value, scope missing.
    for other in [ctx("bbb", "org=1"), ctx("aaa", "org=2"), ctx("aaa", "p=1")] {
        for _ in 0..5 {
            assert_eq!(limiter.admit(&other), Ok(()), "{other:?}");
        }
    }
    ticker.advance(SEC);
    assert_eq!(limiter.admit(&ctx("aaa", "org=1")), Ok(()));
}

#[test]
fn rule_limits_combine_rps_and_pct() {
    let global = ThroughputConfig {
        global_rps: Some(100),
        ..Default::default()
    };
    let none = ThroughputConfig::default();
    assert_eq!(global.rule_rps(&rule(None, &[], Some(5), Some(2))), Some(2));
    assert_eq!(global.rule_rps(&rule(None, &[], Some(1), Some(2))), Some(1));
    assert_eq!(global.rule_rps(&rule(None, &[], None, Some(3))), Some(3));
    assert_eq!(global.rule_rps(&rule(None, &[], None, None)), None);
    // A percentage needs a global rate.
    assert_eq!(none.rule_rps(&rule(None, &[], None, Some(3))), None);
    assert_eq!(none.rule_rps(&rule(None, &[], Some(4), Some(3))), Some(4));

    // Every matching rule takes a token; a rule without a limit is skipped.
    let config = ThroughputConfig {
        rules: vec![
            rule(None, &[], Some(3), None),
            rule(Some("aaa"), &[], Some(1), None),
            rule(None, &[], None, Some(50)),
        ],
        ..Default::default()
    };
    let (_ticker, limiter) = throughput(config);
    assert_eq!(limiter.admit(&ctx("aaa", "_")), Ok(())); // rule 0: 2 left, rule 1: 0 left
    assert!(limiter.admit(&ctx("aaa", "_")).is_err()); // rule 0: 1 left (not refunded)
    assert_eq!(limiter.admit(&ctx("bbb", "_")), Ok(())); // rule 0: 0 left
    assert!(limiter.admit(&ctx("bbb", "_")).is_err());
}

#[test]
fn a_zero_limit_always_rejects_with_a_long_retry_after() {
    let config = shares(10, Some(0), None);
    let (_ticker, limiter) = throughput(config);
    assert_eq!(limiter.admit(&ctx("aaa", "_")), limited(NEVER_RETRY_AFTER));
}

#[test]
fn no_config_means_no_limit() {
    let (_ticker, limiter) = throughput(ThroughputConfig::default());
    for _ in 0..1000 {
        assert_eq!(limiter.admit(&ctx("aaa", "org=1")), Ok(()));
    }
    assert_eq!(limiter.tracked_keys(), (0, 0));
    assert_eq!(limiter.global_rps(), None);
}

#[test]
fn tracked_keys_are_bounded_idle_first_then_least_recently_used() {
    let (ticker, shared) = manual();
    let config = shares(100, Some(1), None); // 1 rps per usecase
    let limiter = ThroughputLimiter::new(config, 4, shared);
    for u in ["u00", "u01", "u02", "u03"] {
        assert_eq!(limiter.admit(&ctx(u, "_")), Ok(()));
        ticker.advance(MS);
    }
    assert_eq!(limiter.tracked_keys().0, 4);
    // All four are busy (empty buckets): the least recently used one (u00) goes.
    assert_eq!(limiter.admit(&ctx("u04", "_")), Ok(()));
    assert_eq!(limiter.tracked_keys().0, 4);
    assert_eq!(limiter.admit(&ctx("u00", "_")), Ok(())); // a fresh bucket again; evicts u01
    assert!(limiter.admit(&ctx("u02", "_")).is_err()); // still tracked and empty
    // After a second every bucket is full again, i.e. idle: a new key sweeps them all.
    ticker.advance(SEC);
    assert_eq!(limiter.admit(&ctx("u05", "_")), Ok(()));
    assert_eq!(limiter.tracked_keys().0, 1);
}

#[test]
fn validate_rejects_percentages_above_100() {
    let mut config = ThroughputConfig {
        usecase_pct: Some(100),
        ..Default::default()
    };
    assert_eq!(config.validate(), Ok(()));
    config.scope_pct = Some(101);
    assert!(config.validate().unwrap_err().contains("scope_pct"));
    config.scope_pct = None;
    config.rules.push(rule(None, &[], None, Some(200)));
    assert!(config.validate().is_err());
}
