use std::time::Duration;

use objectstore_service::backend::ExpiryTarget;
use objectstore_types::{ExpirationPolicy, Usecase, time};

use crate::admission::{
    DurationPolicyConfig, ExpirationConfig, PolicyConfig, PolicyViolation, UsecaseConfig,
    UsecasesConfig,
};

const DAY: Duration = Duration::from_secs(86_400);

fn usecases(expiration: ExpirationConfig) -> UsecasesConfig {
    UsecasesConfig([("limited".to_owned(), UsecaseConfig { expiration })].into())
}

/// Allowed, up to `max`.
fn capped(max: Duration) -> DurationPolicyConfig {
    DurationPolicyConfig {
        allowed: true,
        max: Some(max),
    }
}

fn limited() -> Usecase {
    Usecase::new("limited").unwrap()
}

#[test]
fn unconfigured_usecases_accept_everything() {
    let config = usecases(ExpirationConfig {
        manual: PolicyConfig { allowed: false },
        max: Some(DAY),
        ..Default::default()
    });
    let free = Usecase::new("free").unwrap();
    for policy in [
        ExpirationPolicy::Manual,
        ExpirationPolicy::TimeToLive(1000 * DAY),
        ExpirationPolicy::TimeToIdle(1000 * DAY),
    ] {
        assert_eq!(config.check_policy(&free, &policy), Ok(()));
        assert_eq!(
            UsecasesConfig::default().check_policy(&limited(), &policy),
            Ok(())
        );
    }
    // Configured without restrictions: also everything.
    let open = usecases(ExpirationConfig::default());
    assert_eq!(
        open.check_policy(&limited(), &ExpirationPolicy::TimeToLive(1000 * DAY)),
        Ok(())
    );
}

#[test]
fn disallowed_kinds_are_rejected() {
    let usecase = limited();
    for (kind, policy) in [
        ("manual", ExpirationPolicy::Manual),
        ("ttl", ExpirationPolicy::TimeToLive(DAY)),
        ("tti", ExpirationPolicy::TimeToIdle(DAY)),
    ] {
        // Everything allowed but `kind`.
        let mut expiration = ExpirationConfig::default();
        match kind {
            "manual" => expiration.manual.allowed = false,
            "ttl" => expiration.ttl.allowed = false,
            _ => expiration.tti.allowed = false,
        }
        let config = usecases(expiration);
        assert_eq!(
            config.check_policy(&usecase, &policy),
            Err(PolicyViolation::NotAllowed {
                usecase: "limited".into(),
                kind
            })
        );
        // The other kinds are unaffected.
        for other in [
            ExpirationPolicy::Manual,
            ExpirationPolicy::TimeToLive(DAY),
            ExpirationPolicy::TimeToIdle(DAY),
        ] {
            if other != policy {
                assert_eq!(config.check_policy(&usecase, &other), Ok(()), "{other}");
            }
        }
    }
}

#[test]
fn durations_are_capped_and_equal_is_allowed() {
    let config = usecases(ExpirationConfig {
        ttl: capped(30 * DAY),
        max: Some(90 * DAY),
        ..Default::default()
    });
    let usecase = limited();
    let check = |policy| config.check_policy(&usecase, &policy);
    // ttl: min(30d, 90d); tti: the shared 90d.
    assert_eq!(check(ExpirationPolicy::TimeToLive(30 * DAY)), Ok(()));
    let err = check(ExpirationPolicy::TimeToLive(
        30 * DAY + Duration::from_secs(1),
    ))
    .unwrap_err();
    assert_eq!(
        err,
        PolicyViolation::TooLong {
            usecase: "limited".into(),
            requested: "30d 1s".into(),
            max: "30d".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "expiration of 30d 1s exceeds the maximum of 30d for usecase `limited`"
    );
    assert_eq!(check(ExpirationPolicy::TimeToIdle(90 * DAY)), Ok(()));
    assert!(matches!(
        check(ExpirationPolicy::TimeToIdle(91 * DAY)),
        Err(PolicyViolation::TooLong { .. })
    ));
    // Manual has no duration, so no cap applies.
    assert_eq!(check(ExpirationPolicy::Manual), Ok(()));
}

#[test]
fn extensions_may_not_exceed_the_cap() {
    let config = usecases(ExpirationConfig {
        ttl: capped(10 * DAY),
        tti: capped(20 * DAY),
        ..Default::default()
    });
    let usecase = limited();
    let now = time::from_unix_secs(1_700_000_000);
    let ok = |target| config.check_extension(&usecase, &target, now);
    // The larger cap applies (the object's kind is unknown): 20 days.
    assert_eq!(ok(ExpiryTarget::AfterNow(20 * DAY)), Ok(()));
    assert!(ok(ExpiryTarget::AfterNow(20 * DAY + Duration::from_secs(1))).is_err());
    assert_eq!(ok(ExpiryTarget::AfterCreation(20 * DAY)), Ok(()));
    assert!(ok(ExpiryTarget::AfterCreation(21 * DAY)).is_err());
    // Absolute: measured from the request time, `at` rounded up to a second.
    assert_eq!(ok(ExpiryTarget::At(now + 20 * DAY)), Ok(()));
    assert!(ok(ExpiryTarget::At(now + 20 * DAY + Duration::from_millis(1))).is_err());
    assert_eq!(ok(ExpiryTarget::At(now - DAY)), Ok(()));

    // Only one kind capped: the other is unlimited, so extensions are not limited.
    let one = usecases(ExpirationConfig {
        ttl: capped(DAY),
        ..Default::default()
    });
    assert_eq!(
        one.check_extension(&usecase, &ExpiryTarget::AfterNow(100 * DAY), now),
        Ok(())
    );
    // The shared max caps both.
    let shared = usecases(ExpirationConfig {
        max: Some(DAY),
        ..Default::default()
    });
    assert!(
        shared
            .check_extension(&usecase, &ExpiryTarget::AfterNow(2 * DAY), now)
            .is_err()
    );
    // Unconfigured usecase.
    let free = Usecase::new("free").unwrap();
    assert_eq!(
        shared.check_extension(&free, &ExpiryTarget::AfterNow(1000 * DAY), now),
        Ok(())
    );
}
