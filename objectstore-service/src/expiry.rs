//! Expiry rules shared by every backend (docs/http-api.md §6.9 and §7.2), as pure functions so that
//! each backend applies exactly the same arithmetic.

use std::time::SystemTime;

use objectstore_types::expiration::tti_debounce;
use objectstore_types::{ExpirationPolicy, Metadata, time};

use crate::backend::{ExpiryTarget, ExtendOutcome};

/// For a TTI object read at `now`: the new deadline to store, or `None` when no bump is due.
///
/// A bump is due when the stored deadline is earlier than `(now + tti) - debounce`, with
/// `debounce = min(tti / 4, 24h)`. A bump never shortens a deadline (an extension may have
/// moved it past `now + tti`).
pub fn tti_bump(metadata: &Metadata, now: SystemTime) -> Option<SystemTime> {
    let ExpirationPolicy::TimeToIdle(tti) = metadata.expiration_policy else {
        return None;
    };
    let wanted = time::ceil_to_second(now) + tti;
    let current = metadata.time_expires?;
    (current + tti_debounce(tti) < wanted).then_some(wanted)
}

/// The plan for an expiry extension of a live object.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "a short-lived value, planned and consumed once per extension"
)]
pub enum ExtendPlan {
    /// Answer with this outcome, change nothing.
    Done(ExtendOutcome),
    /// Store this metadata (payload unchanged), then answer `Satisfied`.
    Update(Metadata),
}

/// Plans an extension (docs/http-api.md §7.2 steps 3-6) for `metadata` (`None`: absent) at request
/// time `now`.
pub fn plan_extension(
    metadata: Option<&Metadata>,
    target: ExpiryTarget,
    now: SystemTime,
) -> ExtendPlan {
    let now = time::ceil_to_second(now);
    let Some(metadata) = metadata.filter(|m| !m.is_expired(now)) else {
        return ExtendPlan::Done(ExtendOutcome::NotFound);
    };
    let Some(current) = metadata
        .time_expires
        .filter(|_| !metadata.expiration_policy.is_manual())
    else {
        return ExtendPlan::Done(ExtendOutcome::Rejected);
    };
    let deadline = match target {
        ExpiryTarget::At(t) => time::ceil_to_second(t),
        ExpiryTarget::AfterNow(d) => now + d,
        ExpiryTarget::AfterCreation(d) => match metadata.time_created {
            Some(created) => created + d,
            None => return ExtendPlan::Done(ExtendOutcome::Rejected),
        },
    };
    if current >= deadline {
        return ExtendPlan::Done(ExtendOutcome::Satisfied);
    }
    let mut updated = metadata.clone();
    updated.time_expires = Some(deadline);
    if let (ExpirationPolicy::TimeToLive(_), Some(created)) =
        (metadata.expiration_policy, metadata.time_created)
    {
        let lifetime = deadline.duration_since(created).unwrap_or_default();
        updated.expiration_policy = ExpirationPolicy::TimeToLive(lifetime);
    }
    ExtendPlan::Update(updated)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn object(policy: ExpirationPolicy, created: u64) -> Metadata {
        let mut m = Metadata {
            expiration_policy: policy,
            ..Metadata::default()
        };
        m.stamp(time::from_unix_secs(created));
        m
    }

    #[test]
    fn tti_bump_is_debounced() {
        let m = object(ExpirationPolicy::TimeToIdle(Duration::from_secs(400)), 1000);
        // Deadline 1400. Debounce 100: no bump while 1400 + 100 >= now + 400.
        assert_eq!(tti_bump(&m, time::from_unix_secs(1100)), None);
        assert_eq!(
            tti_bump(&m, time::from_unix_secs(1101)),
            Some(time::from_unix_secs(1501))
        );
        let ttl = object(ExpirationPolicy::TimeToLive(Duration::from_secs(400)), 1000);
        assert_eq!(tti_bump(&ttl, time::from_unix_secs(5000)), None);
    }

    #[test]
    fn extension_follows_the_spec() {
        let created = 1_700_000_000;
        let now = time::from_unix_secs(created + 10);
        let m = object(ExpirationPolicy::TimeToLive(DAY), created);
        // From creation, 3 days: TTL becomes 3d.
        let ExtendPlan::Update(u) =
            plan_extension(Some(&m), ExpiryTarget::AfterCreation(3 * DAY), now)
        else {
            panic!("expected an update")
        };
        assert_eq!(
            u.time_expires,
            Some(time::from_unix_secs(created) + 3 * DAY)
        );
        assert_eq!(u.expiration_policy, ExpirationPolicy::TimeToLive(3 * DAY));
        // Already sufficient.
        assert_eq!(
            plan_extension(Some(&u), ExpiryTarget::AfterCreation(2 * DAY), now),
            ExtendPlan::Done(ExtendOutcome::Satisfied)
        );
        // Manual, absent, expired.
        let manual = object(ExpirationPolicy::Manual, created);
        assert_eq!(
            plan_extension(Some(&manual), ExpiryTarget::AfterNow(DAY), now),
            ExtendPlan::Done(ExtendOutcome::Rejected)
        );
        assert_eq!(
            plan_extension(None, ExpiryTarget::AfterNow(DAY), now),
            ExtendPlan::Done(ExtendOutcome::NotFound)
        );
        let late = time::from_unix_secs(created) + 2 * DAY;
        assert_eq!(
            plan_extension(Some(&m), ExpiryTarget::AfterNow(DAY), late),
            ExtendPlan::Done(ExtendOutcome::NotFound)
        );
        // TTI keeps its duration.
        let tti = object(ExpirationPolicy::TimeToIdle(DAY), created);
        let ExtendPlan::Update(u) =
            plan_extension(Some(&tti), ExpiryTarget::AfterNow(5 * DAY), now)
        else {
            panic!("expected an update")
        };
        assert_eq!(u.expiration_policy, ExpirationPolicy::TimeToIdle(DAY));
        assert_eq!(u.time_expires, Some(now + 5 * DAY));
    }
}
