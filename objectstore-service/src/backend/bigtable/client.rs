//! The gRPC side of the Bigtable backend: connecting (emulator or Google Cloud), creating
//! the table on an emulator, the four data calls the backend uses (`ReadRows`, `MutateRow`,
//! `CheckAndMutateRow`, and `ReadRows` over ranges) and the filters and mutations it builds
//! them from.
//!
//! **Invariants:** every predicate built here ([`newest`]) starts with
//! `CellsColumnLimitFilter(1)` on the column it tests, so only the newest cell of a column
//! can satisfy it, never an older version; every request carries the configured deadline
//! (set on the channel); failures are [`Error::Backend`] (retryable) with the gRPC status as
//! source, except `INVALID_ARGUMENT` (e.g. a row key over Bigtable's 4 KiB limit), which is
//! [`Error::InvalidRequest`].

use std::collections::HashMap;
use std::time::Duration;

use bigtable_admin::google::bigtable::admin::v2 as admin;
use bigtable_rs::bigtable::{BigTable, BigTableConnection, RowCell};
pub use bigtable_rs::google::bigtable::v2::Mutation;
use bigtable_rs::google::bigtable::v2::mutation::{self, Mutation as Kind};
use bigtable_rs::google::bigtable::v2::row_filter::{Chain, Filter};
use bigtable_rs::google::bigtable::v2::row_range::{EndKey, StartKey};
use bigtable_rs::google::bigtable::v2::{
    CheckAndMutateRowRequest, MutateRowRequest, ReadRowsRequest, RowFilter, RowRange, RowSet,
};

use super::NAME;
use super::config::BigtableConfig;
use crate::error::{Error, Result};

/// The column family of cells that expire: cell timestamp = deadline, GC max-age 1 s.
pub const FG: &str = "fg";
/// The column family of everything else: no GC.
pub const FM: &str = "fm";

/// Largest gRPC message the client accepts (a row of a 2 MiB object plus metadata fits).
const MAX_MESSAGE: usize = 16 << 20;

/// A row as read: its key and the newest cell of every selected column.
pub type Row = (Vec<u8>, Vec<RowCell>);

/// The table this backend works on. Clones share the channels.
#[derive(Clone)]
pub struct Table {
    client: BigTable,
    name: String,
}

/// Maps a client failure to the backend error for `operation`.
pub fn map_err(operation: &'static str, e: bigtable_rs::bigtable::Error) -> Error {
    match &e {
        bigtable_rs::bigtable::Error::RpcError(status)
            if status.code() == tonic::Code::InvalidArgument =>
        {
            Error::InvalidRequest(format!(
                "bigtable refused to {operation}: {}",
                status.message()
            ))
        }
        _ => Error::backend(NAME, operation, e),
    }
}

impl Table {
    /// Connects to the emulator or to Google Cloud (see [`BigtableConfig::emulator`]).
    pub async fn connect(config: &BigtableConfig) -> Result<Self> {
        let timeout = Some(config.timeout);
        let connection = match config.emulator() {
            Some(endpoint) => BigTableConnection::new_with_emulator(
                &endpoint,
                &config.project_id,
                &config.instance_name,
                false,
                config.connections,
                timeout,
            ),
            None => {
                BigTableConnection::new(
                    &config.project_id,
                    &config.instance_name,
                    false,
                    config.connections,
                    timeout,
                )
                .await
            }
        }
        .map_err(|e| map_err("connect", e))?;
        let mut client = connection.client();
        client.configure_inner_client(|c| {
            c.max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE)
        });
        let name = client.get_full_table_name(&config.table_name);
        Ok(Self { client, name })
    }

    /// Reads one row (`None` when it has no cells after `filter`).
    pub async fn read_row(&self, key: &[u8], filter: RowFilter) -> Result<Option<Vec<RowCell>>> {
        let rows = self
            .read_rows(
                RowSet {
                    row_keys: vec![key.to_vec()],
                    row_ranges: vec![],
                },
                filter,
                1,
            )
            .await?;
        Ok(rows.into_iter().next().map(|(_, cells)| cells))
    }

    /// Reads the rows of `rows` in key order, at most `limit` (0: all).
    pub async fn read_rows(&self, rows: RowSet, filter: RowFilter, limit: i64) -> Result<Vec<Row>> {
        let request = ReadRowsRequest {
            table_name: self.name.clone(),
            rows: Some(rows),
            filter: Some(filter),
            rows_limit: limit,
            ..ReadRowsRequest::default()
        };
        self.client
            .clone()
            .read_rows(request)
            .await
            .map_err(|e| map_err("read rows", e))
    }

    /// Applies `mutations` to one row, atomically and in order.
    pub async fn mutate(&self, key: &[u8], mutations: Vec<Mutation>) -> Result<()> {
        let request = MutateRowRequest {
            table_name: self.name.clone(),
            row_key: key.to_vec(),
            mutations,
            ..MutateRowRequest::default()
        };
        self.client
            .clone()
            .mutate_row(request)
            .await
            .map_err(|e| map_err("write a row", e))?;
        Ok(())
    }

    /// `CheckAndMutateRow`: atomically applies `if_matched` when `predicate` yields any cell
    /// of the row, else `otherwise`. Returns whether the predicate matched.
    pub async fn check_and_mutate(
        &self,
        key: &[u8],
        predicate: RowFilter,
        if_matched: Vec<Mutation>,
        otherwise: Vec<Mutation>,
    ) -> Result<bool> {
        let request = CheckAndMutateRowRequest {
            table_name: self.name.clone(),
            row_key: key.to_vec(),
            predicate_filter: Some(predicate),
            true_mutations: if_matched,
            false_mutations: otherwise,
            ..CheckAndMutateRowRequest::default()
        };
        let response = self
            .client
            .clone()
            .check_and_mutate_row(request)
            .await
            .map_err(|e| map_err("check and mutate a row", e))?;
        Ok(response.predicate_matched)
    }
}

/// Creates the table with families `fg` (GC: cells older than `fg_max_age` past their
/// timestamp) and `fm` (no GC) on the emulator at `endpoint`, unless it exists.
pub async fn create_table(
    endpoint: &str,
    config: &BigtableConfig,
    fg_max_age: Duration,
) -> Result<()> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{endpoint}"))
        .map_err(|e| Error::InvalidRequest(format!("bigtable: invalid endpoint: {e}")))?
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .connect()
        .await
        .map_err(|e| Error::backend(NAME, "connect to the emulator's admin API", e))?;
    let mut client = admin::bigtable_table_admin_client::BigtableTableAdminClient::new(channel);
    let gc = admin::GcRule {
        rule: Some(admin::gc_rule::Rule::MaxAge(prost_types::Duration {
            seconds: i64::try_from(fg_max_age.as_secs()).unwrap_or(i64::MAX),
            nanos: 0,
        })),
    };
    let families = HashMap::from([
        (
            FG.to_owned(),
            admin::ColumnFamily {
                gc_rule: Some(gc),
                ..admin::ColumnFamily::default()
            },
        ),
        (FM.to_owned(), admin::ColumnFamily::default()),
    ]);
    let request = admin::CreateTableRequest {
        parent: format!(
            "projects/{}/instances/{}",
            config.project_id, config.instance_name
        ),
        table_id: config.table_name.clone(),
        table: Some(admin::Table {
            column_families: families,
            ..admin::Table::default()
        }),
        ..admin::CreateTableRequest::default()
    };
    match client.create_table(request).await {
        Ok(_) => Ok(()),
        Err(status) if status.code() == tonic::Code::AlreadyExists => Ok(()),
        Err(status) => Err(Error::backend(NAME, "create the table", status)),
    }
}

// --- Filters -------------------------------------------------------------------------------

fn filter(f: Filter) -> RowFilter {
    RowFilter { filter: Some(f) }
}

/// Cells of all filters in sequence.
pub fn chain(filters: Vec<RowFilter>) -> RowFilter {
    filter(Filter::Chain(Chain { filters }))
}

/// The newest cell of every column.
pub fn latest() -> RowFilter {
    filter(Filter::CellsPerColumnLimitFilter(1))
}

/// The newest cell of the columns whose qualifier matches `qualifiers` (an RE2 regex).
pub fn latest_of(qualifiers: &str) -> RowFilter {
    chain(vec![
        filter(Filter::ColumnQualifierRegexFilter(
            qualifiers.as_bytes().to_vec(),
        )),
        latest(),
    ])
}

/// A predicate on the newest cell of column `family:qualifier` (any family when `None`):
/// it yields a cell iff the column exists and (when `value` is set) its newest cell holds
/// exactly `value`. The cells-per-column limit comes before the value test, so an older
/// version of the column can never satisfy it.
pub fn newest(family: Option<&str>, qualifier: &str, value: Option<&[u8]>) -> RowFilter {
    let mut filters = Vec::new();
    if let Some(family) = family {
        filters.push(filter(Filter::FamilyNameRegexFilter(family.to_owned())));
    }
    filters.push(filter(Filter::ColumnQualifierRegexFilter(
        qualifier.as_bytes().to_vec(),
    )));
    filters.push(filter(Filter::CellsPerColumnLimitFilter(1)));
    if let Some(value) = value {
        filters.push(filter(Filter::ValueRegexFilter(literal_regex(value))));
    }
    chain(filters)
}

/// Only the row keys (one empty cell per row).
pub fn keys_only() -> RowFilter {
    chain(vec![
        filter(Filter::CellsPerRowLimitFilter(1)),
        filter(Filter::StripValueTransformer(true)),
    ])
}

/// An RE2 pattern matching exactly `value`: ASCII letters and digits and non-ASCII bytes
/// stand for themselves (the latter keep UTF-8 sequences intact), every other byte is
/// escaped with a backslash (printable punctuation) or as `\xHH` (control bytes).
pub fn literal_regex(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() * 2);
    for &b in value {
        if b.is_ascii_alphanumeric() || !b.is_ascii() {
            out.push(b);
        } else if b.is_ascii_graphic() || b == b' ' {
            out.push(b'\\');
            out.push(b);
        } else {
            out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
        }
    }
    out
}

// --- Row sets ------------------------------------------------------------------------------

/// The rows with keys in `[start, end)` (after `start` when `start_open`).
pub fn range(start: Vec<u8>, start_open: bool, end: Vec<u8>) -> RowSet {
    rows_from(start, start_open, Some(EndKey::EndKeyOpen(end)))
}

/// The rows from `start` (exclusive when `start_open`) to the end of the table.
pub fn range_from(start: Vec<u8>, start_open: bool) -> RowSet {
    rows_from(start, start_open, None)
}

/// One row range from `start` (exclusive when `start_open`) up to `end_key` (none: the end
/// of the table).
fn rows_from(start: Vec<u8>, start_open: bool, end_key: Option<EndKey>) -> RowSet {
    RowSet {
        row_keys: vec![],
        row_ranges: vec![RowRange {
            start_key: Some(if start_open {
                StartKey::StartKeyOpen(start)
            } else {
                StartKey::StartKeyClosed(start)
            }),
            end_key,
        }],
    }
}

/// The rows with exactly these keys.
pub fn keys(keys: Vec<Vec<u8>>) -> RowSet {
    RowSet {
        row_keys: keys,
        row_ranges: vec![],
    }
}

// --- Mutations -----------------------------------------------------------------------------

fn mutation(kind: Kind) -> Mutation {
    Mutation {
        mutation: Some(kind),
    }
}

/// Deletes every cell of the row.
pub fn delete_row() -> Mutation {
    mutation(Kind::DeleteFromRow(mutation::DeleteFromRow {}))
}

/// Writes one cell.
pub fn set(family: &str, qualifier: &str, timestamp_micros: i64, value: Vec<u8>) -> Mutation {
    mutation(Kind::SetCell(mutation::SetCell {
        family_name: family.to_owned(),
        column_qualifier: qualifier.as_bytes().to_vec(),
        timestamp_micros,
        value,
    }))
}
