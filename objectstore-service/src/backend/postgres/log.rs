//! [`ChangeLog`] for [`PostgresBackend`]: the change log and the instance leases (see the
//! module docs of [`super`], "Change log and leases", for the claim statement and why one
//! record never goes to two live claimants). The scans page in `change_id` order and list
//! leases in instance order; their statement texts are built from the validated table
//! prefix only, everything else is bound.

use std::time::SystemTime;

use async_trait::async_trait;
use objectstore_types::ObjectId;
use sqlx::AssertSqlSafe;
use sqlx::Row as _;

use super::rows::{self, limit_param};
use super::schema::q;
use super::{PostgresBackend, map_err};
use crate::backend::{ChangeLog, ChangeRecord, Claim, Lease};
use crate::error::{Error, Result};

#[async_trait]
impl ChangeLog for PostgresBackend {
    async fn append_record(&self, record: &ChangeRecord) -> Result<()> {
        q(&self.sql.append_record)
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

    async fn get_record(&self, change_id: &uuid::Uuid) -> Result<Option<ChangeRecord>> {
        let row = q(&self.sql.get_record)
            .bind(*change_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err("read the change log", e))?;
        row.as_ref().map(rows::record).transpose()
    }

    async fn remove_record(&self, change_id: &uuid::Uuid) -> Result<()> {
        q(&self.sql.remove_record)
            .bind(*change_id)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err("remove from the change log", e))?;
        Ok(())
    }

    async fn claim_records(&self, claim: &Claim<'_>) -> Result<Vec<ChangeRecord>> {
        if claim.limit == 0 {
            return Ok(Vec::new());
        }
        let claimed = q(&self.sql.claim_records)
            .bind(claim.claimant)
            .bind(rows::nanos(claim.now))
            .bind(claim.ignore_leases)
            .bind(i64::try_from(claim.limit).unwrap_or(i64::MAX))
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

    async fn count_records(&self) -> Result<u64> {
        let count: i64 = q(&self.sql.count_records)
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|e| map_err("count the change log", e))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn renew_lease(&self, instance: &str, until: SystemTime) -> Result<()> {
        q(&self.sql.renew_lease)
            .bind(instance)
            .bind(rows::nanos(until))
            .execute(&self.pool)
            .await
            .map_err(|e| map_err("renew a lease", e))?;
        Ok(())
    }

    async fn release_lease(&self, instance: &str) -> Result<()> {
        q(&self.sql.release_lease)
            .bind(instance)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err("release a lease", e))?;
        Ok(())
    }

    async fn scan_records(
        &self,
        after: Option<&uuid::Uuid>,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>> {
        let sql = format!(
            "SELECT change_id, owner, path, old_path, new_path, upload_id, not_before
             FROM {}change_log WHERE $1::UUID IS NULL OR change_id > $1
             ORDER BY change_id LIMIT $2",
            self.prefix
        );
        let found = sqlx::query(AssertSqlSafe(sql))
            .bind(after.copied())
            .bind(limit_param(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err("scan the change log", e))?;
        found.iter().map(rows::record).collect()
    }

    async fn list_leases(&self) -> Result<Vec<Lease>> {
        let sql = format!(
            "SELECT instance, expires FROM {}leases ORDER BY instance",
            self.prefix
        );
        let found = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err("list leases", e))?;
        found
            .iter()
            .map(|row| {
                let instance: String = row
                    .try_get("instance")
                    .map_err(|e| Error::Internal(format!("postgres: list leases: {e}")))?;
                let until: i64 = row
                    .try_get("expires")
                    .map_err(|e| Error::Internal(format!("postgres: list leases: {e}")))?;
                Ok(Lease {
                    instance,
                    until: rows::from_nanos(until),
                })
            })
            .collect()
    }

    fn is_exclusive(&self) -> bool {
        false
    }
}
