//! The named workloads and the requests they send.
//!
//! | name | what | connections | stops at |
//! |---|---|---|---|
//! | `put:<size>` | PUT to distinct keys (`<prefix>-<ticket>`) | `--connections` | `--duration` / `--requests` |
//! | `get:<size>` | GET of `--keys` objects written in an untimed set-up phase | `--connections` | same |
//! | `head:<size>` | HEAD of the same objects | `--connections` | same |
//! | `mixed` | GET / PUT / DELETE by `--mix` weights over a pool of `--keys` keys | `--connections` | same |
//! | `put-large` | streamed PUT of `--large-size` to distinct keys | `--large-connections` | `--large-requests` |
//! | `get-large` | streamed GET of one `--large-size` object | `--large-connections` | `--large-requests` |
//! | `batch` | `--batch-ops` inserts in one batch request vs as many sequential PUTs, one connection | 1 | `--batch-rounds` |
//! | `multipart` | initiate, `--parts` parts of `--part-size`, complete | 1 | `--multipart-rounds` |
//! | `s3-put:<size>`, `s3-get:<size>` | the PUT / GET workloads through the S3 listener (`--s3-target`), SigV4-signed | `--connections` | `--duration` / `--requests` |
//! | `s3-multipart-large` | S3 multipart uploads of `--large-size` in `--part-size` parts, each request one whole upload | `--large-connections` | `--large-requests` |
//!
//! Groups: `small` (put, get of 1, 16, 100 KiB and head of 1 KiB), `mid` (put, get of
//! 256 KiB), `standard` (`put-large`, `get-large`, then `small`, `mid`, `mixed`, `batch`,
//! `multipart`), `s3` (`s3-multipart-large`, then `s3-put` and `s3-get` of 1 and 100 KiB:
//! the report compares each with the native workload of the same size in the same round;
//! see module `s3`). `standard` streams the large
//! objects first so that the memory figure of `put-large` is taken on a fresh server
//! process, not on one whose allocator still holds what earlier workloads used; the
//! small-object figures that follow then include whatever the large streams left behind,
//! which is part of what a server must keep small.
//!
//! Keys embed a per-run id, so repeated runs against one server never collide and PUTs to
//! "distinct keys" are really distinct. Against the reference server only GETs run: the
//! reference has a file `/<bytes>.bin` per object size.

pub mod batch;
pub mod multipart;
pub mod s3;
pub mod small;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::process::ProcessFigures;
use crate::size::{format_size, parse_size};
use crate::stats::OpSummary;

/// A workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// PUT of objects of this size to distinct keys.
    Put(u64),
    /// GET of existing objects of this size.
    Get(u64),
    /// HEAD of existing objects of this size.
    Head(u64),
    /// GET / PUT / DELETE by weights.
    Mixed,
    /// Streamed PUT of `--large-size` objects.
    PutLarge,
    /// Streamed GET of a `--large-size` object.
    GetLarge,
    /// One batch request of inserts vs sequential PUTs.
    Batch,
    /// Multipart upload: initiate, parts, complete.
    Multipart,
    /// S3 PUT of objects of this size to distinct keys.
    S3Put(u64),
    /// S3 GET of existing objects of this size.
    S3Get(u64),
    /// Concurrent S3 multipart uploads of `--large-size`.
    S3MultipartLarge,
}

/// The sizes the `s3` group compares with the native workloads.
pub const S3_SIZES: [u64; 2] = [1024, 100 * 1024];

/// The sizes of the `small` group.
pub const SMALL_SIZES: [u64; 3] = [1024, 16 * 1024, 100 * 1024];
/// The sizes of the `mid` group (below the 1 MiB tiering threshold).
pub const MID_SIZES: [u64; 1] = [256 * 1024];

impl Workload {
    /// Parses one name or group (module docs); `Err` names what was not understood.
    ///
    /// ```
    /// use objectstore_bench::workloads::Workload;
    /// assert_eq!(Workload::parse("put:1KiB").unwrap(), vec![Workload::Put(1024)]);
    /// assert_eq!(Workload::parse("get-100k").unwrap(), vec![Workload::Get(102_400)]);
    /// assert_eq!(Workload::parse("small").unwrap().len(), 7);
    /// assert!(Workload::parse("put:lots").is_err());
    /// ```
    pub fn parse(name: &str) -> Result<Vec<Self>, String> {
        let small = || {
            let mut v: Vec<Self> = SMALL_SIZES.iter().map(|&s| Self::Put(s)).collect();
            v.extend(SMALL_SIZES.iter().map(|&s| Self::Get(s)));
            v.push(Self::Head(1024));
            v
        };
        let mid = || {
            let mut v: Vec<Self> = MID_SIZES.iter().map(|&s| Self::Put(s)).collect();
            v.extend(MID_SIZES.iter().map(|&s| Self::Get(s)));
            v
        };
        let one = match name.trim() {
            "small" => return Ok(small()),
            "mid" => return Ok(mid()),
            "standard" => {
                let mut v = vec![Self::PutLarge, Self::GetLarge];
                v.extend(small());
                v.extend(mid());
                v.extend([Self::Mixed, Self::Batch, Self::Multipart]);
                return Ok(v);
            }
            "s3" => {
                let mut v = vec![Self::S3MultipartLarge];
                v.extend(S3_SIZES.iter().map(|&s| Self::S3Put(s)));
                v.extend(S3_SIZES.iter().map(|&s| Self::S3Get(s)));
                return Ok(v);
            }
            "s3-multipart-large" => Self::S3MultipartLarge,
            "mixed" => Self::Mixed,
            "put-large" => Self::PutLarge,
            "get-large" => Self::GetLarge,
            "batch" => Self::Batch,
            "multipart" => Self::Multipart,
            other => {
                let (s3, other) = match other.strip_prefix("s3-") {
                    Some(rest) => (true, rest),
                    None => (false, other),
                };
                let (kind, size) = other
                    .split_once([':', '-'])
                    .ok_or_else(|| format!("unknown workload `{other}`"))?;
                let size =
                    parse_size(size).ok_or_else(|| format!("bad size in workload `{other}`"))?;
                match (s3, kind) {
                    (false, "put") => Self::Put(size),
                    (false, "get") => Self::Get(size),
                    (false, "head") => Self::Head(size),
                    (true, "put") => Self::S3Put(size),
                    (true, "get") => Self::S3Get(size),
                    _ => return Err(format!("unknown workload `{other}`")),
                }
            }
        };
        Ok(vec![one])
    }

    /// The canonical name (`put:1KiB`, `mixed`, ...).
    pub fn name(&self) -> String {
        match self {
            Self::Put(s) => format!("put:{}", format_size(*s)),
            Self::Get(s) => format!("get:{}", format_size(*s)),
            Self::Head(s) => format!("head:{}", format_size(*s)),
            Self::Mixed => "mixed".to_owned(),
            Self::PutLarge => "put-large".to_owned(),
            Self::GetLarge => "get-large".to_owned(),
            Self::Batch => "batch".to_owned(),
            Self::Multipart => "multipart".to_owned(),
            Self::S3Put(s) => format!("s3-put:{}", format_size(*s)),
            Self::S3Get(s) => format!("s3-get:{}", format_size(*s)),
            Self::S3MultipartLarge => "s3-multipart-large".to_owned(),
        }
    }

    /// Whether the workload runs through the S3 listener.
    pub fn is_s3(&self) -> bool {
        matches!(
            self,
            Self::S3Put(_) | Self::S3Get(_) | Self::S3MultipartLarge
        )
    }

    /// The object size whose reference GET this workload is compared with, if any.
    pub fn reference_size(&self, settings: &Settings) -> Option<u64> {
        match self {
            Self::Put(s) | Self::Get(s) | Self::Head(s) | Self::S3Put(s) | Self::S3Get(s) => {
                Some(*s)
            }
            Self::PutLarge | Self::GetLarge => Some(settings.large_size),
            Self::Mixed | Self::Batch | Self::Multipart | Self::S3MultipartLarge => None,
        }
    }

    /// Whether this is one of the small-object workloads (for the memory target).
    pub fn is_small(&self) -> bool {
        matches!(
            self,
            Self::Put(_) | Self::Get(_) | Self::Head(_) | Self::Mixed | Self::Batch
        )
    }
}

/// Weights of the mixed workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mix {
    /// Weight of GET.
    pub get: u32,
    /// Weight of PUT.
    pub put: u32,
    /// Weight of DELETE.
    pub delete: u32,
}

impl std::str::FromStr for Mix {
    type Err = String;

    /// `get=80,put=15,delete=5` (missing kinds weigh 0; at least one weight > 0).
    fn from_str(s: &str) -> Result<Self, String> {
        let mut mix = Self {
            get: 0,
            put: 0,
            delete: 0,
        };
        for item in s.split(',').filter(|i| !i.trim().is_empty()) {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| format!("`{item}`: expected kind=weight"))?;
            let v: u32 = v
                .trim()
                .parse()
                .map_err(|_| format!("`{item}`: weight is not a number"))?;
            match k.trim() {
                "get" => mix.get = v,
                "put" => mix.put = v,
                "delete" => mix.delete = v,
                other => return Err(format!("unknown operation `{other}` in mix")),
            }
        }
        if mix.get + mix.put + mix.delete == 0 {
            return Err("mix weights are all zero".to_owned());
        }
        Ok(mix)
    }
}

/// Everything the workloads need to know (from the command line).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Connections of the throughput workloads.
    pub connections: usize,
    /// Duration cap of the throughput workloads.
    pub duration: Duration,
    /// Request cap of the throughput workloads.
    pub requests: Option<u64>,
    /// Objects written for the GET/HEAD and mixed workloads.
    pub keys: usize,
    /// Usecase of every object.
    pub usecase: String,
    /// Scopes segment of every object (`_` = none).
    pub scopes: String,
    /// Size of the large-object workloads.
    pub large_size: u64,
    /// Connections of the large-object workloads.
    pub large_connections: usize,
    /// Requests of each large-object workload.
    pub large_requests: u64,
    /// Weights of the mixed workload.
    pub mix: Mix,
    /// Object size of the mixed workload.
    pub mixed_size: u64,
    /// Inserts per batch request.
    pub batch_ops: usize,
    /// Payload size of each batch insert.
    pub batch_object_size: u64,
    /// Batch rounds (each: one batch request and as many sequential PUTs).
    pub batch_rounds: usize,
    /// Parts per multipart upload.
    pub parts: usize,
    /// Size of each part.
    pub part_size: u64,
    /// Multipart uploads.
    pub multipart_rounds: usize,
    /// Seed of the mixed workload's choices.
    pub seed: u64,
    /// Unique id of this run, part of every key.
    pub run_id: String,
    /// Signs the requests of the S3 workloads.
    pub s3_signer: std::sync::Arc<crate::sigv4::Signer>,
}

impl Settings {
    /// The request path of `key` (`/v1/objects/{usecase}/{scopes}/{key}`).
    pub fn object_path(&self, key: &str) -> String {
        format!("/v1/objects/{}/{}/{key}", self.usecase, self.scopes)
    }
}

/// The figures of one workload on one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkloadResult {
    /// Workload name (`ref-get:<size>` for a reference run).
    pub workload: String,
    /// Round of the run (0-based, `--rounds`).
    pub round: usize,
    /// Target label.
    pub target: String,
    /// Whether this ran against the reference server.
    pub reference: bool,
    /// Object size, where the workload has one.
    pub size: Option<u64>,
    /// Connections used.
    pub connections: usize,
    /// One summary per operation.
    pub ops: Vec<OpSummary>,
    /// What the server process used while the workload ran (`--pid`, `--reference-pid`).
    pub process: Option<ProcessFigures>,
    /// Batch workload: mean time of the sequential PUTs / mean time of one batch request.
    pub speedup: Option<f64>,
    /// Idle connections the server closed and the workers reopened.
    pub reconnects: u64,
    /// The object size whose reference GET figures this result is compared with.
    pub compare_size: Option<u64>,
}

impl WorkloadResult {
    /// The summary of operation `op`.
    pub fn op(&self, op: &str) -> Option<&OpSummary> {
        self.ops.iter().find(|o| o.op == op)
    }

    /// Server CPU time per request (successful or not), in microseconds, when sampled.
    pub fn cpu_us_per_request(&self) -> Option<f64> {
        let requests: u64 = self.ops.iter().map(|o| o.count + o.errors).sum();
        let p = self.process?;
        (requests > 0).then(|| p.cpu_ms as f64 * 1000.0 / requests as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for w in Workload::parse("standard")
            .unwrap()
            .into_iter()
            .chain(Workload::parse("s3").unwrap())
        {
            assert_eq!(Workload::parse(&w.name()).unwrap(), vec![w]);
        }
    }

    #[test]
    fn mix_parses() {
        let m: Mix = "get=80,put=15,delete=5".parse().unwrap();
        assert_eq!((m.get, m.put, m.delete), (80, 15, 5));
        let m: Mix = "put=1".parse().unwrap();
        assert_eq!((m.get, m.put, m.delete), (0, 1, 0));
        assert!("get=0".parse::<Mix>().is_err());
        assert!("post=1".parse::<Mix>().is_err());
        assert!("get".parse::<Mix>().is_err());
    }
}
