//! [`ChangeLog`] for [`MemoryBackend`]: records in a map by `change_id` (so claims and scans
//! walk them in time order for UUID v7), leases in a map by instance. Each call is one
//! locked step; see the module docs of [`super`] for the claim rule.

use std::ops::Bound;
use std::time::SystemTime;

use async_trait::async_trait;

use super::{MemoryBackend, State};
use crate::backend::{ChangeLog, ChangeRecord, Claim, Lease};
use crate::error::Result;

#[async_trait]
impl ChangeLog for MemoryBackend {
    async fn append_record(&self, record: &ChangeRecord) -> Result<()> {
        self.lock().log.insert(record.change_id, record.clone());
        Ok(())
    }

    async fn get_record(&self, change_id: &uuid::Uuid) -> Result<Option<ChangeRecord>> {
        Ok(self.lock().log.get(change_id).cloned())
    }

    async fn remove_record(&self, change_id: &uuid::Uuid) -> Result<()> {
        self.lock().log.remove(change_id);
        Ok(())
    }

    async fn claim_records(&self, claim: &Claim<'_>) -> Result<Vec<ChangeRecord>> {
        let mut state = self.lock();
        let State { log, leases, .. } = &mut *state;
        let lease_live = |owner: &str| leases.get(owner).is_some_and(|until| *until >= claim.now);
        let mut claimed = Vec::new();
        for record in log.values_mut() {
            if claimed.len() >= claim.limit {
                break;
            }
            if claim.is_due(record, lease_live(&record.owner)) {
                record.owner = claim.claimant.to_owned();
                record.not_before = None;
                claimed.push(record.clone());
            }
        }
        Ok(claimed)
    }

    async fn count_records(&self) -> Result<u64> {
        Ok(self.lock().log.len() as u64)
    }

    async fn scan_records(
        &self,
        after: Option<&uuid::Uuid>,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>> {
        let state = self.lock();
        let lower = after.map_or(Bound::Unbounded, |a| Bound::Excluded(*a));
        Ok(state
            .log
            .range((lower, Bound::Unbounded))
            .take(limit.max(1))
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn renew_lease(&self, instance: &str, until: SystemTime) -> Result<()> {
        self.lock().leases.insert(instance.to_owned(), until);
        Ok(())
    }

    async fn release_lease(&self, instance: &str) -> Result<()> {
        self.lock().leases.remove(instance);
        Ok(())
    }

    async fn list_leases(&self) -> Result<Vec<Lease>> {
        let mut leases: Vec<Lease> = self
            .lock()
            .leases
            .iter()
            .map(|(instance, until)| Lease {
                instance: instance.clone(),
                until: *until,
            })
            .collect();
        leases.sort_by(|a, b| a.instance.cmp(&b.instance));
        Ok(leases)
    }

    fn is_exclusive(&self) -> bool {
        self.exclusive
    }
}
