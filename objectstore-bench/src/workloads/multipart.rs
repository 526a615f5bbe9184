//! The multipart workload (docs/http-api.md §9), one upload at a time on one connection.
//!
//! Each round:
//!
//! 1. Initiate: `PUT /v1/objects:multipart/{usecase}/{scopes}/mp-<run>-<round>` → 200 with
//!    JSON `{"key", "upload_id"}`; anything else ends the round as an error.
//! 2. Parts 1..=N: `PUT /v1/objects:multipart:parts/...?upload_id=&part_number=` with a
//!    `content-length` and `--part-size` streamed pattern bytes → 200 with JSON `{"etag"}`.
//!    A failed part ends the round.
//! 3. Complete: `POST /v1/objects:multipart:complete/...?upload_id=` with the part list →
//!    200, streamed body of spaces then `{"key": ...}`; an `{"error": ...}` document is an
//!    error.
//!
//! Rows: `initiate`, `part`, `complete` (per request) and `upload` (the whole round, with
//! N x part size bytes), rates over the time spent in each.

use std::time::Instant;

use http::{HeaderValue, Method, StatusCode};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use crate::body::ReqBody;
use crate::conn::{Conn, collect, exchange};
use crate::stats::{OpSummary, Recorder};
use crate::workloads::Settings;

#[derive(Deserialize)]
struct Initiated {
    upload_id: String,
}

#[derive(Deserialize)]
struct Uploaded {
    etag: String,
}

/// Runs the workload; returns one row per step and one for whole uploads.
pub async fn run(conn: &mut Conn, settings: &Settings) -> Vec<OpSummary> {
    let mut initiate = Recorder::default();
    let mut part = Recorder::default();
    let mut complete = Recorder::default();
    let mut upload = Recorder::default();
    for round in 0..settings.multipart_rounds {
        let t0 = Instant::now();
        let result = one_upload(
            conn,
            settings,
            round,
            &mut initiate,
            &mut part,
            &mut complete,
        )
        .await;
        match result {
            Ok(()) => upload.ok(t0.elapsed(), settings.part_size * settings.parts as u64),
            Err(e) => upload.error(|| e),
        }
    }
    vec![
        initiate.summarize_sequential("initiate"),
        part.summarize_sequential("part"),
        complete.summarize_sequential("complete"),
        upload.summarize_sequential("upload"),
    ]
}

async fn one_upload(
    conn: &mut Conn,
    settings: &Settings,
    round: usize,
    initiate: &mut Recorder,
    part: &mut Recorder,
    complete: &mut Recorder,
) -> Result<(), String> {
    let key = format!("mp-{}-{round}", settings.run_id);
    let (u, s) = (&settings.usecase, &settings.scopes);

    let path = format!("/v1/objects:multipart/{u}/{s}/{key}");
    let t = Instant::now();
    let initiated = request_json::<Initiated>(conn, Method::PUT, &path, ReqBody::Empty).await;
    let upload_id = initiate.record(t, 0, initiated)?.upload_id;
    let id = utf8_percent_encode(&upload_id, NON_ALPHANUMERIC).to_string();

    let mut etags = Vec::with_capacity(settings.parts);
    for n in 1..=settings.parts {
        let path =
            format!("/v1/objects:multipart:parts/{u}/{s}/{key}?upload_id={id}&part_number={n}");
        let t = Instant::now();
        let body = ReqBody::pattern(settings.part_size);
        let uploaded = request_json::<Uploaded>(conn, Method::PUT, &path, body).await;
        let etag = part.record(t, settings.part_size, uploaded)?.etag;
        etags.push(serde_json::json!({"part_number": n, "etag": etag}));
    }

    let path = format!("/v1/objects:multipart:complete/{u}/{s}/{key}?upload_id={id}");
    let body = serde_json::json!({ "parts": etags }).to_string();
    let t = Instant::now();
    let result = async {
        let json = Some(HeaderValue::from_static("application/json"));
        let request = (Method::POST, path.as_str());
        let (status, body) = exchange(conn, request, ReqBody::full(body), json, collect).await?;
        let doc: serde_json::Value = serde_json::from_slice(body.trim_ascii())
            .map_err(|e| format!("POST {path}: {status}, body is not JSON: {e}"))?;
        if status != StatusCode::OK || doc.get("key").is_none() {
            return Err(format!("POST {path}: {status} {doc}"));
        }
        Ok(())
    }
    .await;
    complete.record(t, 0, result)
}

async fn request_json<T: serde::de::DeserializeOwned>(
    conn: &mut Conn,
    method: Method,
    path: &str,
    body: ReqBody,
) -> Result<T, String> {
    let (status, body) = exchange(conn, (method.clone(), path), body, None, collect).await?;
    if status != StatusCode::OK {
        return Err(format!(
            "{method} {path}: {status} {}",
            String::from_utf8_lossy(&body)
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{method} {path}: bad JSON: {e}"))
}
