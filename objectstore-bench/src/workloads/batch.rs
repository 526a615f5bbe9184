//! The batch workload: N inserts in one `POST /v1/objects:batch/{usecase}/{scopes}/`
//! request (docs/http-api.md §8) against the same N inserts as sequential single PUTs, both on one
//! connection.
//!
//! Each round:
//!
//! 1. Build the `multipart/form-data` request body (untimed; N parts of `insert` with key
//!    `batch-<run>-<round>-<i>` and the payload).
//! 2. Time the batch request until its whole response is read. It succeeds when the status
//!    is 200 and exactly N parts report `201` (`x-sn-batch-operation-status: 201 ...`);
//!    otherwise it is an error naming the first other status seen.
//! 3. Time N sequential PUTs of the same size to keys `seq-<run>-<round>-<i>`: one sample
//!    for the whole sequence, plus one per PUT (`put` row).
//!
//! The speedup is mean(sequence time) / mean(batch time). Rates of these rows are computed
//! over the time spent in that operation (they run one at a time), not over the whole
//! workload.

use std::time::Instant;

use bytes::{BufMut as _, BytesMut};
use http::{HeaderValue, Method, StatusCode};

use crate::body::{ReqBody, pattern};
use crate::conn::{Conn, collect, exchange};
use crate::stats::{OpSummary, Recorder};
use crate::workloads::Settings;
use crate::workloads::small::put;

/// The multipart request body of one round and its boundary.
pub fn build_body(settings: &Settings, round: usize) -> (String, BytesMut) {
    let boundary = format!("bench-{}-{round}", settings.run_id);
    let size = usize::try_from(settings.batch_object_size)
        .unwrap_or(usize::MAX)
        .min(pattern().len());
    let payload = pattern().slice(0..size);
    let mut body = BytesMut::with_capacity(settings.batch_ops * (size + 200) + 64);
    for i in 0..settings.batch_ops {
        body.put_slice(
            format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"part\"\r\n\
                 x-sn-batch-operation-kind: insert\r\n\
                 x-sn-batch-operation-key: batch-{}-{round}-{i}\r\n\
                 content-type: application/octet-stream\r\n\r\n",
                settings.run_id
            )
            .as_bytes(),
        );
        body.put_slice(&payload);
        body.put_slice(b"\r\n");
    }
    body.put_slice(format!("--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

/// Counts parts with status 201 in a batch response body; also returns the first other
/// status line seen.
pub fn count_created(body: &[u8]) -> (usize, Option<String>) {
    const NEEDLE: &[u8] = b"x-sn-batch-operation-status: ";
    let mut created = 0;
    let mut other = None;
    let mut rest = body;
    while let Some(pos) = find(rest, NEEDLE) {
        rest = &rest[pos + NEEDLE.len()..];
        let end = find(rest, b"\r\n").unwrap_or(rest.len());
        let status = &rest[..end];
        if status.starts_with(b"201") {
            created += 1;
        } else if other.is_none() {
            other = Some(String::from_utf8_lossy(status).into_owned());
        }
    }
    (created, other)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Runs the workload on one connection; returns the rows and the speedup.
pub async fn run(conn: &mut Conn, settings: &Settings) -> (Vec<OpSummary>, Option<f64>) {
    let mut batch = Recorder::default();
    let mut sequence = Recorder::default();
    let mut single = Recorder::default();
    let op_bytes = settings.batch_object_size * settings.batch_ops as u64;
    let path = format!(
        "/v1/objects:batch/{}/{}/",
        settings.usecase, settings.scopes
    );
    for round in 0..settings.batch_rounds {
        let (boundary, body) = build_body(settings, round);
        let t0 = Instant::now();
        match send_batch(conn, &path, &boundary, body, settings.batch_ops).await {
            Ok(()) => batch.ok(t0.elapsed(), op_bytes),
            Err(e) => batch.error(|| e),
        }

        let t0 = Instant::now();
        let mut failed = None;
        for i in 0..settings.batch_ops {
            let key_path = settings.object_path(&format!("seq-{}-{round}-{i}", settings.run_id));
            let t1 = Instant::now();
            let size = settings.batch_object_size;
            if let Err(e) = single.record(t1, size, put(conn, &key_path, size).await) {
                failed.get_or_insert(e);
            }
        }
        match failed {
            None => sequence.ok(t0.elapsed(), op_bytes),
            Some(e) => sequence.error(|| e),
        }
    }
    let mean = |r: &Recorder| {
        let s = r.clone().summarize_sequential("x");
        (s.count > 0).then_some(s.mean_ms)
    };
    let speedup = match (mean(&sequence), mean(&batch)) {
        (Some(seq), Some(b)) if b > 0.0 => Some(seq / b),
        _ => None,
    };
    let n = settings.batch_ops;
    let rows = vec![
        batch.summarize_sequential(&format!("batch-{n}")),
        sequence.summarize_sequential(&format!("sequential-{n}")),
        single.summarize_sequential("put"),
    ];
    (rows, speedup)
}

async fn send_batch(
    conn: &mut Conn,
    path: &str,
    boundary: &str,
    body: BytesMut,
    ops: usize,
) -> Result<(), String> {
    let expected = body.len();
    let content_type = HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
        .map_err(|e| e.to_string())?;
    let body = ReqBody::full(body.freeze());
    let request = (Method::POST, path);
    let (status, body) = exchange(conn, request, body, Some(content_type), collect).await?;
    if status != StatusCode::OK {
        return Err(format!("POST {path}: {status} ({expected} request bytes)"));
    }
    let (created, other) = count_created(&body);
    match other {
        None if created == ops => Ok(()),
        None => Err(format!(
            "POST {path}: {created} of {ops} inserts reported created"
        )),
        Some(s) => Err(format!(
            "POST {path}: {created} of {ops} inserts created, another part said `{s}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_statuses() {
        let body = b"--b\r\nx-sn-batch-operation-status: 201 Created\r\n\r\n\r\n\
                     --b\r\nx-sn-batch-operation-status: 429 Too Many Requests\r\n\r\n\r\n\
                     --b\r\nx-sn-batch-operation-status: 201 Created\r\n\r\n\r\n--b--";
        let (created, other) = count_created(body);
        assert_eq!(created, 2);
        assert_eq!(other.as_deref(), Some("429 Too Many Requests"));
        assert_eq!(count_created(b""), (0, None));
    }
}
