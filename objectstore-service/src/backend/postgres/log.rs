//! The change log and the instance leases of [`PostgresBackend`] (see the module docs of
//! [`super`], "Change log and leases", for the claim statement and why one record never
//! goes to two live claimants).

use std::time::SystemTime;

use objectstore_types::ObjectId;
use sqlx::Row as _;

use super::schema::q;
use super::{PostgresBackend, map_err, rows};
use crate::backend::ChangeRecord;
use crate::error::Result;

impl PostgresBackend {
    pub(super) async fn append_record(&self, record: &ChangeRecord) -> Result<()> {
        q(&self.sql.log_append)
            .bind(record.change_id)
            .bind(record.owner.as_str())
            .bind(record.id.as_storage_path())
            .bind(record.old.as_ref().map(ObjectId::as_storage_path))
            .bind(record.new.as_ref().map(ObjectId::as_storage_path))
            .bind(record.upload_id.as_deref())
            .bind(record.not_before.map(rows::nanos))
            .execute(&self.pool)
            .await
            .map_err(|e| map_err("append to the change log", e))?;
        Ok(())
    }

    pub(super) async fn get_record(&self, change_id: &uuid::Uuid) -> Result<Option<ChangeRecord>> {
        let row = q(&self.sql.log_get)
            .bind(*change_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err("read the change log", e))?;
        row.as_ref().map(rows::record).transpose()
    }

    pub(super) async fn remove_record(&self, change_id: &uuid::Uuid) -> Result<()> {
        q(&self.sql.log_remove)
            .bind(*change_id)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err("remove from the change log", e))?;
        Ok(())
    }

    pub(super) async fn claim_records(
        &self,
        claimant: &str,
        now: SystemTime,
        ignore_leases: bool,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let claimed = q(&self.sql.log_claim)
            .bind(claimant)
            .bind(rows::nanos(now))
            .bind(ignore_leases)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err("claim change-log records", e))?;
        let mut records = claimed
            .iter()
            .map(rows::record)
            .collect::<Result<Vec<_>>>()?;
        records.sort_by_key(|r| r.change_id);
        Ok(records)
    }

    pub(super) async fn count_records(&self) -> Result<u64> {
        let count: i64 = q(&self.sql.log_len)
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|e| map_err("count the change log", e))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub(super) async fn renew_lease(&self, instance: &str, until: SystemTime) -> Result<()> {
        q(&self.sql.lease_renew)
            .bind(instance)
            .bind(rows::nanos(until))
            .execute(&self.pool)
            .await
            .map_err(|e| map_err("renew a lease", e))?;
        Ok(())
    }

    pub(super) async fn release_lease(&self, instance: &str) -> Result<()> {
        q(&self.sql.lease_release)
            .bind(instance)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err("release a lease", e))?;
        Ok(())
    }
}
