//! Tests of the Bigtable backend against the emulator.
//!
//! They read `OS_TEST_BIGTABLE_EMULATOR` (`host:port`; start one with
//! `eval "$(scripts/services/bigtable.sh)"`). Without it: when the emulator binary is not on
//! this machine at all they print "bigtable: emulator not present on this machine, Bigtable
//! tests not run" and pass; when it is, they fail if `CI=true` and otherwise print one
//! "skipped" line and pass. Every backend gets a table of its own (the emulator keeps
//! tables in memory), created with a long `fg` GC age so that the emulator's GC, which runs
//! on real time, never races the manual test clock.

use std::io::Write as _;
use std::time::Duration;

use bigtable_rs::google::bigtable::v2::RowFilter;
use bigtable_rs::google::bigtable::v2::row_filter::Filter;
use bytes::Bytes;
use objectstore_types::{ExpirationPolicy, Usecase};

use super::client::{FG, chain, delete_row, set};
use super::*;
use crate::backend::Expected;
use crate::backend::{GetResponse, HighVolumeBackend, TieredMetadata, TieredWrite};
use crate::clock::{Clock, ManualClock};
use crate::conformance::{self, id};
use crate::testing;

const VAR: &str = "OS_TEST_BIGTABLE_EMULATOR";

/// `fg` GC age of test tables: ten years.
const TEST_GC: Duration = Duration::from_secs(10 * 365 * 86_400);

/// The emulator's `host:port`; `None` (after one line saying why) when not configured.
fn emulator(test: &str) -> Option<String> {
    let unset = std::env::var(VAR).map_or(true, |v| v.is_empty());
    if unset && !testing::bigtable_emulator_installed() {
        // Written to the stream directly: the test harness captures `eprintln!` of passing
        // tests, and the line must be visible.
        let _ = writeln!(
            std::io::stderr(),
            "bigtable: emulator not present on this machine, Bigtable tests not run ({test})"
        );
        return None;
    }
    let fix = "run `eval \"$(scripts/services/bigtable.sh)\"`";
    Some(testing::external(test, &[VAR], fix)?.remove(0))
}

/// Hands out backends on fresh tables of the emulator.
struct Emu {
    endpoint: String,
}

impl Emu {
    fn new(test: &str) -> Option<Self> {
        Some(Self {
            endpoint: emulator(test)?,
        })
    }

    /// A table name no other test uses.
    fn table(&self) -> String {
        format!("t{}", uuid::Uuid::new_v4().simple())
    }

    fn config(&self, table: &str) -> BigtableConfig {
        BigtableConfig {
            endpoint: Some(self.endpoint.clone()),
            connections: 2,
            ..BigtableConfig::new("test-project", "test-instance", table)
        }
    }

    /// A backend on a table of its own.
    async fn fresh(&self, clock: SharedClock) -> BigtableBackend {
        let table = self.table();
        self.on(&table, clock).await
    }

    /// Two backends (instances) on the same fresh table.
    async fn pair(&self, clock: SharedClock) -> [BigtableBackend; 2] {
        let table = self.table();
        [
            self.on(&table, clock.clone()).await,
            self.on(&table, clock).await,
        ]
    }

    /// A backend on `table`.
    async fn on(&self, table: &str, clock: SharedClock) -> BigtableBackend {
        BigtableBackend::connect_with_gc(self.config(table), clock, TEST_GC)
            .await
            .expect("connect to the emulator")
    }
}

fn tombstone(target: &str) -> Tombstone {
    Tombstone {
        target: id(target),
        metadata: Metadata {
            size: Some(5 << 20),
            ..Metadata::default()
        },
    }
}

fn ttl(clock: &ManualClock, secs: u64) -> Metadata {
    let mut m = Metadata {
        expiration_policy: ExpirationPolicy::TimeToLive(Duration::from_secs(secs)),
        ..Metadata::default()
    };
    m.stamp(clock.now());
    m
}

/// The raw newest cells of a row.
async fn raw(b: &BigtableBackend, key: &[u8]) -> Option<Vec<bigtable_rs::bigtable::RowCell>> {
    b.table().read_row(key, latest()).await.unwrap()
}

// --- Conformance -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_suite() {
    let Some(emu) = Emu::new("backend_suite") else {
        return;
    };
    let make = |clock| emu.fresh(clock);
    conformance::backend_suite(&conformance::tiered_over(&make)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_volume_suite() {
    let Some(emu) = Emu::new("high_volume_suite") else {
        return;
    };
    conformance::high_volume_suite(&|clock| emu.fresh(clock)).await;
}

/// The tiered engine with this backend as its high-volume tier (memory standing in for
/// the long-term tier): with a 16-byte threshold most objects of the suites live behind
/// tombstones, so every tiering primitive is exercised through the engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_over_bigtable_passes_the_suites() {
    let Some(emu) = Emu::new("tiered_over_bigtable_passes_the_suites") else {
        return;
    };
    let make = |clock| emu.fresh(clock);
    let tiered = conformance::tiered_with(&make, 16);
    conformance::backend_suite(&tiered).await;
    conformance::long_term_suite(&tiered).await;
}

/// Two instances on the same table ([`conformance::shared`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_store_suite() {
    let Some(emu) = Emu::new("shared_store_suite") else {
        return;
    };
    conformance::shared_store_suite(&|clock| emu.pair(clock)).await;
}

// --- Bigtable specifics ------------------------------------------------------------------

/// Older cell versions of a column (which our own writes never leave behind, but a table
/// may hold) never satisfy a predicate: `CellsColumnLimitFilter(1)` comes first. The same
/// predicate without it does match, so the emulator really keeps the old versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_ignores_older_cell_versions() {
    let Some(emu) = Emu::new("cas_ignores_older_cell_versions") else {
        return;
    };
    let clock = ManualClock::new();
    let b = emu.fresh(clock.clone()).await;
    let key = id("versions");
    let path = key.as_storage_path();
    let (old, current) = (tombstone("versions/old"), tombstone("versions/current"));
    assert!(
        b.compare_and_write(
            &key,
            &Expected::revision(None),
            TieredWrite::Tombstone(current.clone())
        )
        .await
        .unwrap()
    );
    // An older version of the target column naming `old`.
    let old_target = old.target.as_storage_path().into_bytes();
    b.table()
        .mutate(
            path.as_bytes(),
            vec![set(FM, TARGET, 1000, old_target.clone())],
        )
        .await
        .unwrap();
    let without_limit = chain(vec![
        RowFilter {
            filter: Some(Filter::FamilyNameRegexFilter(FM.into())),
        },
        RowFilter {
            filter: Some(Filter::ColumnQualifierRegexFilter(
                TARGET.as_bytes().to_vec(),
            )),
        },
        RowFilter {
            filter: Some(Filter::ValueRegexFilter(client::literal_regex(&old_target))),
        },
    ]);
    assert!(
        b.table()
            .check_and_mutate(path.as_bytes(), without_limit, vec![], vec![])
            .await
            .unwrap(),
        "the emulator did not keep the older version"
    );
    // A CAS expecting the old target must fail and change nothing.
    let next = tombstone("versions/next");
    assert!(
        !b.compare_and_write(
            &key,
            &Expected::revision(Some(&old.target)),
            TieredWrite::Tombstone(next.clone())
        )
        .await
        .unwrap()
    );
    assert_eq!(
        b.head(&key).await.unwrap(),
        TieredMetadata::Tombstone(current.clone())
    );
    assert!(
        b.compare_and_write(
            &key,
            &Expected::revision(Some(&current.target)),
            TieredWrite::Tombstone(next.clone())
        )
        .await
        .unwrap()
    );
    assert_eq!(b.head(&key).await.unwrap(), TieredMetadata::Tombstone(next));

    // An inline row with an older state cell equal to a state read before a rewrite:
    // conditional deadline updates and deletes keyed on that state must not apply.
    let inline = id("versions/inline");
    let ipath = inline.as_storage_path();
    let m = ttl(&clock, 3600);
    b.put(&inline, &m, Bytes::from("one")).await.unwrap();
    let (_, first_state) = b.live_object(&ipath).await.unwrap().unwrap();
    b.put(&inline, &m, Bytes::from("two")).await.unwrap();
    let deadline_micros = i64::try_from(rows::deadline_secs(&m).unwrap() * 1_000_000).unwrap();
    b.table()
        .mutate(
            ipath.as_bytes(),
            vec![set(
                FG,
                STATE,
                deadline_micros - 1_000_000,
                first_state.clone(),
            )],
        )
        .await
        .unwrap();
    let mut later = m.clone();
    later.time_expires = Some(m.time_expires.unwrap() + Duration::from_secs(60));
    assert!(
        !b.set_deadline(
            &ipath,
            &later,
            &first_state,
            Some(Bytes::from_static(b"one"))
        )
        .await
        .unwrap(),
        "a deadline update matched an older state version"
    );
    let (metadata, body) = conformance::read_inline(&b, &inline).await.unwrap();
    assert_eq!(body, b"two");
    assert_eq!(metadata.time_expires, m.time_expires);
}

/// Expiring inline objects are stored in `fg` with cell timestamp = deadline, manual ones
/// and tombstones in `fm`; an expired object reads as absent at once although its cells
/// are still there (the GC has not run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_by_cell_timestamp_and_read_time_check() {
    let Some(emu) = Emu::new("expiry_by_cell_timestamp_and_read_time_check") else {
        return;
    };
    let clock = ManualClock::new();
    let b = emu.fresh(clock.clone()).await;
    let (expiring, manual, tomb) = (id("exp/ttl"), id("exp/manual"), id("exp/tomb"));
    let m = ttl(&clock, 120);
    b.put(&expiring, &m, Bytes::from("x")).await.unwrap();
    let mut never = Metadata::default();
    never.stamp(clock.now());
    b.put(&manual, &never, Bytes::from("y")).await.unwrap();
    let t = Tombstone {
        metadata: m.clone(),
        ..tombstone("exp/tomb/rev")
    };
    assert!(
        b.compare_and_write(
            &tomb,
            &Expected::revision(None),
            TieredWrite::Tombstone(t.clone())
        )
        .await
        .unwrap()
    );

    let deadline_micros = i64::try_from(rows::deadline_secs(&m).unwrap() * 1_000_000).unwrap();
    let cells = raw(&b, expiring.as_storage_path().as_bytes())
        .await
        .unwrap();
    assert_eq!(cells.len(), 3);
    assert!(
        cells
            .iter()
            .all(|c| c.family_name == FG && c.timestamp_micros == deadline_micros),
        "expiring cells must be in fg at the deadline"
    );
    let cells = raw(&b, manual.as_storage_path().as_bytes()).await.unwrap();
    assert!(cells.iter().all(|c| c.family_name == FM));
    let cells = raw(&b, tomb.as_storage_path().as_bytes()).await.unwrap();
    assert!(cells.iter().all(|c| c.family_name == FM));
    // The index entry exists.
    let entry = rows::index_key(
        rows::deadline_secs(&m).unwrap(),
        &expiring.as_storage_path(),
    );
    assert!(raw(&b, &entry).await.is_some(), "no expiry index entry");

    clock.advance(Duration::from_secs(121));
    assert!(b.head(&expiring).await.unwrap().into_object().is_none());
    assert!(matches!(
        b.get(&expiring, None).await.unwrap().into_object(),
        GetResponse::NotFound
    ));
    assert!(
        raw(&b, expiring.as_storage_path().as_bytes())
            .await
            .is_some(),
        "the cells are still stored (read-time check, not GC)"
    );
    assert!(b.head(&manual).await.unwrap().into_object().is_some());
    // The expired tombstone is returned raw to the tiered layer.
    assert_eq!(
        b.head(&tomb).await.unwrap(),
        TieredMetadata::Tombstone(t.clone())
    );
    let expired = b.scan_expired(clock.now(), None, 10).await.unwrap();
    let keys: Vec<_> = expired.iter().map(|r| r.id.clone()).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.contains(&expiring) && keys.contains(&tomb));
    assert_eq!(
        b.delete_if_expired(&tomb, clock.now()).await.unwrap(),
        Some(t)
    );
    assert!(raw(&b, tomb.as_storage_path().as_bytes()).await.is_none());
    let tomb_entry = rows::index_key(rows::deadline_secs(&m).unwrap(), &tomb.as_storage_path());
    assert!(
        raw(&b, &tomb_entry).await.is_none(),
        "index entry left behind"
    );
}

/// Index entries of rewritten or deleted rows are never reported, and a scan deletes them
/// once they are older than the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_index_entries_are_skipped_then_removed() {
    let Some(emu) = Emu::new("stale_index_entries_are_skipped_then_removed") else {
        return;
    };
    let clock = ManualClock::new();
    let b = emu.fresh(clock.clone()).await;
    let (moved, gone) = (id("stale/moved"), id("stale/gone"));
    let first = ttl(&clock, 60);
    b.put(&moved, &first, Bytes::from("1")).await.unwrap();
    b.put(&gone, &first, Bytes::from("1")).await.unwrap();
    let second = ttl(&clock, 600);
    b.put(&moved, &second, Bytes::from("2")).await.unwrap();
    b.delete(&gone).await.unwrap();

    clock.advance(Duration::from_secs(601));
    let rows = b.scan_expired(clock.now(), None, 10).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].id, moved);
    assert_eq!(rows[0].expires, second.time_expires.unwrap());
    let stale = [
        rows::index_key(
            rows::deadline_secs(&first).unwrap(),
            &moved.as_storage_path(),
        ),
        rows::index_key(
            rows::deadline_secs(&first).unwrap(),
            &gone.as_storage_path(),
        ),
    ];
    for entry in &stale {
        assert!(
            raw(&b, entry).await.is_some(),
            "deleted within the grace period"
        );
    }
    clock.advance(STALE_GRACE);
    assert_eq!(
        b.scan_expired(clock.now(), None, 10).await.unwrap().len(),
        1
    );
    for entry in &stale {
        assert!(
            raw(&b, entry).await.is_none(),
            "stale entry kept after the grace period"
        );
    }
}

/// Keys with regex metacharacters and non-ASCII text are matched literally by predicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predicates_match_targets_literally() {
    let Some(emu) = Emu::new("predicates_match_targets_literally") else {
        return;
    };
    let b = emu.fresh(ManualClock::new()).await;
    let key = id("literal");
    let t = tombstone("a.b*c+(d)[e]{f}|g^h$i?j\\k é 🚀 100%");
    let similar = tombstone("aXb*c+(d)[e]{f}|g^h$i?j\\k é 🚀 100%");
    assert!(
        b.compare_and_write(
            &key,
            &Expected::revision(None),
            TieredWrite::Tombstone(t.clone())
        )
        .await
        .unwrap()
    );
    assert!(
        !b.compare_and_write(
            &key,
            &Expected::revision(Some(&similar.target)),
            TieredWrite::Delete
        )
        .await
        .unwrap()
    );
    assert!(
        b.compare_and_write(
            &key,
            &Expected::revision(Some(&t.target)),
            TieredWrite::Delete
        )
        .await
        .unwrap()
    );
    assert_eq!(b.head(&key).await.unwrap(), TieredMetadata::NotFound);
}

/// An unreachable emulator is a retryable backend error, not a hang.
#[tokio::test]
async fn unreachable_endpoint_is_a_backend_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let config = BigtableConfig {
        endpoint: Some(format!("127.0.0.1:{port}")),
        timeout: Duration::from_secs(2),
        create_table: false,
        ..BigtableConfig::new("p", "i", "t")
    };
    let err = BigtableBackend::connect(config, ManualClock::new())
        .await
        .expect_err("nothing listens there");
    assert!(
        matches!(
            err,
            Error::Backend {
                backend: "bigtable",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_listing_entries_are_skipped_then_removed() {
    let Some(emu) = Emu::new("stale_listing_entries_are_skipped_then_removed") else {
        return;
    };
    let clock = ManualClock::new();
    let b = emu.fresh(clock.clone()).await;
    let query = crate::backend::ListQuery::new(Usecase::new("conformance").unwrap(), "", 10);
    b.put(&id("live"), &Metadata::default(), Bytes::from("x"))
        .await
        .unwrap();
    // A writer that died after its entry write, and an object deleted since: entries of
    // missing rows. The first is fresh, the second was written long ago.
    b.list_index(&id("fresh")).await.unwrap();
    b.put(&id("gone"), &Metadata::default(), Bytes::from("x"))
        .await
        .unwrap();
    assert_eq!(b.delete(&id("gone")).await.unwrap(), None);
    let old_key = listing::index_key(&id("gone")).unwrap();
    let old_cell = set(FM, "l", 1_000, id("gone").as_storage_path().into_bytes());
    b.table()
        .mutate(&old_key, vec![delete_row(), old_cell])
        .await
        .unwrap();

    let page = b.list(&query).await.unwrap();
    let keys: Vec<&str> = page.rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["org=17/project=42/live"]);
    assert!(raw(&b, &old_key).await.is_none(), "old stale entry kept");
    let fresh_key = listing::index_key(&id("fresh")).unwrap();
    assert!(raw(&b, &fresh_key).await.is_some(), "fresh entry removed");
}
