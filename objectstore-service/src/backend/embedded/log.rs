//! [`ChangeLog`] for [`EmbeddedBackend`]: the change log and the leases in the same SQLite
//! file as the rows, each method one SQL function of the same name in `sql` (or `scan`).
//! Claims read and write in one writer job, so they are atomic by construction.

use std::time::SystemTime;

use async_trait::async_trait;

use crate::backend::{ChangeLog, ChangeRecord, Claim, Lease};
use crate::error::Result;

use super::EmbeddedBackend;
use super::{scan, sql};

#[async_trait]
impl ChangeLog for EmbeddedBackend {
    async fn append_record(&self, record: &ChangeRecord) -> Result<()> {
        let record = record.clone();
        self.write("append to the change log", move |c| {
            sql::append_record(c, &record)
        })
        .await
    }

    async fn get_record(&self, change_id: &uuid::Uuid) -> Result<Option<ChangeRecord>> {
        let change_id = *change_id;
        self.read("read the change log", move |c| {
            sql::get_record(c, &change_id)
        })
        .await
    }

    async fn remove_record(&self, change_id: &uuid::Uuid) -> Result<()> {
        let change_id = *change_id;
        self.write("remove from the change log", move |c| {
            sql::remove_record(c, &change_id)
        })
        .await
    }

    async fn claim_records(&self, claim: &Claim<'_>) -> Result<Vec<ChangeRecord>> {
        let Claim {
            now,
            ignore_leases,
            limit,
            ..
        } = *claim;
        let claimant = claim.claimant.to_owned();
        self.write("claim change-log records", move |c| {
            sql::claim_records(c, &claimant, now, ignore_leases, limit)
        })
        .await
    }

    async fn count_records(&self) -> Result<u64> {
        self.read("count the change log", sql::count_records).await
    }

    async fn scan_records(
        &self,
        after: Option<&uuid::Uuid>,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>> {
        let after = after.copied();
        self.read("scan the change log", move |c| {
            scan::scan_records(c, after.as_ref(), limit)
        })
        .await
    }

    async fn renew_lease(&self, instance: &str, until: SystemTime) -> Result<()> {
        let instance = instance.to_owned();
        self.write("renew a lease", move |c| {
            sql::renew_lease(c, &instance, until)
        })
        .await
    }

    async fn release_lease(&self, instance: &str) -> Result<()> {
        let instance = instance.to_owned();
        self.write("release a lease", move |c| sql::release_lease(c, &instance))
            .await
    }

    async fn list_leases(&self) -> Result<Vec<Lease>> {
        self.read("list leases", scan::list_leases).await
    }

    fn is_exclusive(&self) -> bool {
        true
    }
}
