//! The disk baseline: bandwidth figures read from `fio --output-format=json` files.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// One fio job's bandwidth.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FioFigure {
    /// The job name fio reported.
    pub job: String,
    /// Bytes per second of the direction that was measured (`read` or `write`).
    pub bytes_per_s: f64,
}

/// Why a fio result cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FioError {
    /// The file cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Not fio's JSON, or no job with bandwidth in that direction.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What is missing.
        reason: String,
    },
}

/// Reads the first job's `bw_bytes` in `direction` (`"read"` or `"write"`) from a fio JSON
/// output file. fio may print warnings before the JSON document; they are skipped.
pub fn read_bandwidth(path: &Path, direction: &str) -> Result<FioFigure, FioError> {
    let text = std::fs::read_to_string(path).map_err(|source| FioError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_bandwidth(&text, direction).map_err(|reason| FioError::Format {
        path: path.display().to_string(),
        reason,
    })
}

/// [`read_bandwidth`] on text.
///
/// ```
/// use objectstore_bench::fio::parse_bandwidth;
/// let json = r#"{"jobs":[{"jobname":"w","write":{"bw_bytes":1048576},"read":{"bw_bytes":0}}]}"#;
/// assert_eq!(parse_bandwidth(json, "write").unwrap().bytes_per_s, 1048576.0);
/// assert!(parse_bandwidth(json, "read").is_err());
/// ```
pub fn parse_bandwidth(text: &str, direction: &str) -> Result<FioFigure, String> {
    let start = text.find('{').ok_or("no JSON document")?;
    let doc: serde_json::Value =
        serde_json::from_str(&text[start..]).map_err(|e| format!("invalid JSON: {e}"))?;
    let job = doc
        .get("jobs")
        .and_then(|j| j.get(0))
        .ok_or("no jobs in fio output")?;
    let bw = job
        .get(direction)
        .and_then(|d| d.get("bw_bytes"))
        .and_then(serde_json::Value::as_f64)
        .ok_or_else(|| format!("no {direction}.bw_bytes"))?;
    if bw <= 0.0 {
        return Err(format!("{direction} bandwidth is zero"));
    }
    Ok(FioFigure {
        job: job
            .get("jobname")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?")
            .to_owned(),
        bytes_per_s: bw,
    })
}
