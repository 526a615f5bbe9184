//! [`ChangeLog`]: the durable change log of the tiered layer and the instance leases that
//! say who owns its records.
//!
//! Invariants every implementation keeps (beyond the numbered contracts of
//! [`crate::backend`]):
//!
//! * A record is durable before [`ChangeLog::append_record`] returns, so no long-term side
//!   effect of an operation starts before its record exists.
//! * [`ChangeLog::claim_records`] never hands one record to two claimants whose leases are
//!   live.
//! * An engine stores the log next to its rows ([`super::HighVolumeStore`]), so a record
//!   and the data it protects live in one durability domain.

use std::time::SystemTime;

use async_trait::async_trait;

use super::{ChangeRecord, Component, Lease};
use crate::error::Result;

/// A request to take over due change-log records ([`ChangeLog::claim_records`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim<'a> {
    /// The instance taking the records over.
    pub claimant: &'a str,
    /// When the claim happens: deferrals and leases are judged at this instant.
    pub now: SystemTime,
    /// Take over every other instance's records whatever their leases (only for stores
    /// that are [`ChangeLog::is_exclusive`]).
    pub ignore_leases: bool,
    /// At most this many records.
    pub limit: usize,
}

impl<'a> Claim<'a> {
    /// A claim of at most `limit` records by `claimant` at `now`.
    pub fn new(claimant: &'a str, now: SystemTime, ignore_leases: bool, limit: usize) -> Self {
        Self {
            claimant,
            now,
            ignore_leases,
            limit,
        }
    }

    /// Whether `record` is due for this claim (the rule of [`ChangeLog::claim_records`]),
    /// given whether its owner holds a lease that is live at `now`.
    pub fn is_due(&self, record: &ChangeRecord, owner_lease_live: bool) -> bool {
        match record.not_before {
            Some(not_before) => not_before <= self.now,
            None => record.owner != self.claimant && (self.ignore_leases || !owner_lease_live),
        }
    }
}

/// The change log and the leases. See the module docs.
#[async_trait]
pub trait ChangeLog: Component {
    /// Durably appends a change-log record (replacing one with the same `change_id`). Must be
    /// durable before any long-term side effect of the operation starts.
    async fn append_record(&self, record: &ChangeRecord) -> Result<()>;

    /// Reads one record.
    async fn get_record(&self, change_id: &uuid::Uuid) -> Result<Option<ChangeRecord>>;

    /// Removes a record (missing is fine).
    async fn remove_record(&self, change_id: &uuid::Uuid) -> Result<()>;

    /// Atomically takes ownership (sets `owner = claimant` and clears `not_before`) of up to
    /// `limit` records that are due for recovery and returns them. A record is due
    /// ([`Claim::is_due`]) when `not_before` is set and passed (a deferred record), or
    /// `not_before` is unset and its owner is another instance whose lease has expired (or,
    /// with `ignore_leases`, any other instance: only for backends that are
    /// [`ChangeLog::is_exclusive`]). Never hands one record to two claimants whose leases are
    /// live.
    async fn claim_records(&self, claim: &Claim<'_>) -> Result<Vec<ChangeRecord>>;

    /// Number of records in the log (for metrics and `check`).
    async fn count_records(&self) -> Result<u64>;

    /// Lists change-log records in `change_id` order, starting after `after`, at most
    /// `limit` (at least one). Reads only: ownership and deferral stay as they are. See
    /// contract 7.
    async fn scan_records(
        &self,
        after: Option<&uuid::Uuid>,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>>;

    /// Creates or extends the lease of `instance` until `until`.
    async fn renew_lease(&self, instance: &str, until: SystemTime) -> Result<()>;

    /// Drops the lease of `instance` (clean shutdown), making its leftover records
    /// recoverable at once.
    async fn release_lease(&self, instance: &str) -> Result<()>;

    /// Lists every stored lease (live or expired; released ones are gone), in instance
    /// order. See contract 7.
    async fn list_leases(&self) -> Result<Vec<Lease>>;

    /// Whether this store is used by exactly one process (an embedded store that locks its
    /// files). Then start-up recovery may take over every other instance's records at once.
    fn is_exclusive(&self) -> bool {
        false
    }
}
