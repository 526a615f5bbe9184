use std::time::{Duration, SystemTime};

use axum::response::IntoResponse;
use http::StatusCode;
use objectstore_service::backend::ExpiryTarget;
use objectstore_service::stream;
use objectstore_types::ExpirationPolicy;

use super::{ctx, manual, plain_text};
use crate::admission::rejection::RATE_LIMITED_TEXT;
use crate::admission::{
    Admission, BandwidthConfig, ExpirationConfig, Killswitch, RateLimitsConfig, Rejection,
    ThroughputConfig, UsecaseConfig, UsecasesConfig,
};

const SEC: Duration = Duration::from_secs(1);

fn admission(killswitches: Vec<Killswitch>) -> (std::sync::Arc<super::ManualTicker>, Admission) {
    let (ticker, shared) = manual();
    let limits = RateLimitsConfig {
        throughput: ThroughputConfig {
            global_rps: Some(1),
            ..Default::default()
        },
        bandwidth: BandwidthConfig {
            global_bps: Some(100),
            ..Default::default()
        },
    };
    let usecases = UsecasesConfig(
        [(
            "capped".to_owned(),
            UsecaseConfig {
                expiration: ExpirationConfig {
                    max: Some(SEC * 60),
                    ..Default::default()
                },
            },
        )]
        .into(),
    );
    (
        ticker,
        Admission::with_ticker(killswitches, limits, usecases, shared),
    )
}

#[test]
fn killswitch_is_checked_before_rate_limits() {
    let switch = Killswitch {
        usecase: Some("dead".into()),
        ..Default::default()
    };
    let (_ticker, admission) = admission(vec![switch]);
    for _ in 0..3 {
        assert_eq!(
            admission.admit(&ctx("dead", "_"), None),
            Err(Rejection::Killswitched)
        );
    }
    // No throughput token was taken by the killswitched requests.
    assert_eq!(admission.admit(&ctx("live", "_"), None), Ok(()));
    assert_eq!(admission.rate_limiter().requests_admitted(), 1);
}

#[test]
fn bandwidth_is_checked_before_throughput() {
    let (ticker, admission) = admission(vec![]);
    let request = ctx("live", "_");
    admission.charge(&request, 300); // 3 s of debt at 100 B/s, 1 s burst
    assert_eq!(
        admission.admit(&request, None),
        Err(Rejection::RateLimited {
            retry_after: 2 * SEC
        })
    );
    // The bandwidth rejection took no throughput token: once the debt is within the burst,
    // the single global token is still there.
    ticker.advance(2 * SEC);
    assert_eq!(admission.admit(&request, None), Ok(()));
    assert_eq!(
        admission.admit(&request, None),
        Err(Rejection::RateLimited { retry_after: SEC })
    );
}

#[tokio::test]
async fn batch_operations_take_throughput_tokens_only() {
    let (ticker, admission) = admission(vec![]);
    let request = ctx("live", "_");
    admission.charge(&request, 10_000);
    // Bandwidth debt does not stop a batch operation; the throughput token does.
    assert_eq!(admission.admit_batch_op(&request), Ok(()));
    assert!(admission.admit_batch_op(&request).is_err());
    ticker.advance(SEC);
    assert_eq!(admission.admit_batch_op(&request), Ok(()));
    // Metering through the facade charges the same buckets.
    let body = admission.meter(&request, stream::single(vec![0u8; 50]));
    assert_eq!(stream::read_to_vec(body).await.unwrap().len(), 50);
    assert_eq!(admission.rate_limiter().bytes_total(), 10_050);
    assert_eq!(admission.rate_limiter().global_rps(), Some(1));
    assert_eq!(admission.rate_limiter().global_bps(), Some(100));
}

#[test]
fn policy_checks_go_to_the_usecase_config() {
    let (_ticker, admission) = admission(vec![]);
    let capped = ctx("capped", "_");
    assert_eq!(
        admission.check_policy(&capped, &ExpirationPolicy::TimeToLive(60 * SEC)),
        Ok(())
    );
    assert!(
        admission
            .check_policy(&capped, &ExpirationPolicy::TimeToLive(61 * SEC))
            .is_err()
    );
    let now = SystemTime::UNIX_EPOCH + 1_000_000 * SEC;
    assert!(
        admission
            .check_extension(&capped, &ExpiryTarget::AfterNow(61 * SEC), now)
            .is_err()
    );
    assert_eq!(
        admission.check_extension(&ctx("free", "_"), &ExpiryTarget::AfterNow(61 * SEC), now),
        Ok(())
    );
}

#[tokio::test]
async fn rate_limit_response_is_429_plain_text_with_retry_after() {
    for (retry_after, header) in [
        (Duration::ZERO, "1"),
        (Duration::from_millis(1), "1"),
        (SEC, "1"),
        (SEC + Duration::from_millis(1), "2"),
        (60 * SEC, "60"),
    ] {
        let rejection = Rejection::RateLimited { retry_after };
        assert_eq!(rejection.status(), StatusCode::TOO_MANY_REQUESTS);
        let response = rejection.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], header);
        assert_eq!(plain_text(response).await, RATE_LIMITED_TEXT);
    }
    assert_eq!(RATE_LIMITED_TEXT, "Object access is rate limited");
    assert_eq!(Rejection::Killswitched.retry_after_secs(), None);
}
