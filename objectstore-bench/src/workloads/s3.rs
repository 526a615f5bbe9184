//! The S3 workloads: the same requests as the native ones, through the S3 listener of the
//! same server, every request SigV4-signed ([`crate::sigv4`]).
//!
//! | workload | request | success |
//! |---|---|---|
//! | `s3-put:<size>` | `PUT /<bucket>/<key>` to distinct keys | 200 |
//! | `s3-get:<size>` | `GET /<bucket>/<key>` of objects written in an untimed set-up | 200 with exactly the bytes |
//! | `s3-multipart-large` | per request one whole multipart upload of `--large-size` (`POST ?uploads`, parts of `--part-size` streamed in turn, `POST ?uploadId=` with the part list), `--large-connections` at once | every step 200 and a `<CompleteMultipartUploadResult>` |
//!
//! The bucket is the usecase (`--usecase`, which must be a valid bucket name); keys carry
//! the scopes (`--scopes`) as leading `name=value/` segments, as the S3 mapping does. The
//! bucket is created (signed `PUT /<bucket>`, idempotent) before the first S3 workload.

use std::sync::Arc;
use std::time::SystemTime;

use http::{Method, Request, StatusCode};

use crate::body::ReqBody;
use crate::conn::{Conn, collect, drain};
use crate::engine::{Ctx, Outcome, Plan};
use crate::sigv4::Signer;
use crate::workloads::Settings;

/// A signed request to `path`.
fn signed(
    conn: &Conn,
    signer: &Signer,
    method: Method,
    path: &str,
    body: ReqBody,
) -> Result<Request<ReqBody>, String> {
    let mut req = conn
        .request(method, path, body)
        .map_err(|e| e.to_string())?;
    signer.sign(&mut req, SystemTime::now());
    Ok(req)
}

/// Sends a signed request and reads the whole (small) response body.
async fn exchange(
    conn: &mut Conn,
    signer: &Signer,
    method: Method,
    path: &str,
    body: ReqBody,
) -> Result<(StatusCode, bytes::Bytes), String> {
    let what = format!("{method} {path}");
    let req = signed(conn, signer, method, path, body)?;
    let resp = conn.send(req).await.map_err(|e| format!("{what}: {e}"))?;
    collect(resp).await.map_err(|e| format!("{what}: {e}"))
}

/// Creates the bucket of the S3 workloads (idempotent).
pub async fn create_bucket(conn: &mut Conn, signer: &Signer, bucket: &str) -> Result<(), String> {
    let (status, body) = exchange(
        conn,
        signer,
        Method::PUT,
        &format!("/{bucket}"),
        ReqBody::Empty,
    )
    .await?;
    if status == StatusCode::OK {
        Ok(())
    } else {
        Err(format!(
            "PUT /{bucket}: {status} {}",
            String::from_utf8_lossy(&body)
        ))
    }
}

/// Which keys an S3 PUT plan writes.
#[derive(Debug, Clone)]
pub enum S3Paths {
    /// `<prefix>-<ticket>`: a new key per request.
    Distinct(String),
    /// `list[ticket % len]`: a fixed set (set-up).
    List(Arc<Vec<String>>),
}

/// `PUT` of `size` pattern bytes, signed.
pub struct S3PutPlan {
    /// Where to write.
    pub paths: S3Paths,
    /// Payload size.
    pub size: u64,
    /// The signer.
    pub signer: Arc<Signer>,
}

impl Plan for S3PutPlan {
    async fn execute(&self, conn: &mut Conn, ctx: Ctx<'_>) -> Outcome {
        let path = match &self.paths {
            S3Paths::Distinct(prefix) => format!("{prefix}-{}", ctx.ticket),
            S3Paths::List(list) => list[(ctx.ticket % list.len().max(1) as u64) as usize].clone(),
        };
        let result = async {
            let req = signed(
                conn,
                &self.signer,
                Method::PUT,
                &path,
                ReqBody::pattern(self.size),
            )?;
            let resp = conn
                .send(req)
                .await
                .map_err(|e| format!("PUT {path}: {e}"))?;
            let (status, _) = drain(resp).await.map_err(|e| format!("PUT {path}: {e}"))?;
            match status {
                StatusCode::OK => Ok(self.size),
                s => Err(format!("PUT {path}: {s}")),
            }
        }
        .await;
        Outcome { op: "put", result }
    }
}

/// `GET` of a fixed set of keys, round robin, signed.
pub struct S3GetPlan {
    /// The keys (non-empty).
    pub paths: Arc<Vec<String>>,
    /// Their size.
    pub size: u64,
    /// The signer.
    pub signer: Arc<Signer>,
}

impl Plan for S3GetPlan {
    async fn execute(&self, conn: &mut Conn, ctx: Ctx<'_>) -> Outcome {
        let path = &self.paths[(ctx.ticket % self.paths.len().max(1) as u64) as usize];
        let result = async {
            let req = signed(conn, &self.signer, Method::GET, path, ReqBody::Empty)?;
            let resp = conn
                .send(req)
                .await
                .map_err(|e| format!("GET {path}: {e}"))?;
            match drain(resp).await.map_err(|e| format!("GET {path}: {e}"))? {
                (StatusCode::OK, n) if n == self.size => Ok(n),
                (StatusCode::OK, n) => {
                    Err(format!("GET {path}: {n} bytes, expected {}", self.size))
                }
                (s, _) => Err(format!("GET {path}: {s}")),
            }
        }
        .await;
        Outcome { op: "get", result }
    }
}

/// One whole multipart upload per request (module docs).
pub struct S3MultipartPlan {
    /// Keys: `<prefix>-<ticket>`.
    pub prefix: String,
    /// Object size.
    pub size: u64,
    /// Part size (the last part may be shorter).
    pub part_size: u64,
    /// The signer.
    pub signer: Arc<Signer>,
}

fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

impl S3MultipartPlan {
    async fn upload(&self, conn: &mut Conn, path: &str) -> Result<u64, String> {
        let signer = &self.signer;
        let (status, body) = exchange(
            conn,
            signer,
            Method::POST,
            &format!("{path}?uploads"),
            ReqBody::Empty,
        )
        .await?;
        let text = String::from_utf8_lossy(&body);
        let upload_id = match (status, element(&text, "UploadId")) {
            (StatusCode::OK, Some(id)) => id.to_owned(),
            _ => return Err(format!("initiate {path}: {status} {text}")),
        };
        let mut parts = String::new();
        let mut sent = 0u64;
        let mut number = 1u32;
        while sent < self.size {
            let len = self.part_size.min(self.size - sent);
            let url = format!("{path}?partNumber={number}&uploadId={upload_id}");
            let req = signed(conn, signer, Method::PUT, &url, ReqBody::pattern(len))?;
            let resp = conn
                .send(req)
                .await
                .map_err(|e| format!("part {number}: {e}"))?;
            let etag = resp
                .headers()
                .get(http::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let (status, _) = drain(resp)
                .await
                .map_err(|e| format!("part {number}: {e}"))?;
            let Some(etag) = etag.filter(|_| status == StatusCode::OK) else {
                return Err(format!("part {number} of {path}: {status}"));
            };
            parts.push_str(&format!(
                "<Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part>"
            ));
            sent += len;
            number += 1;
        }
        let xml = format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>");
        let (status, body) = exchange(
            conn,
            signer,
            Method::POST,
            &format!("{path}?uploadId={upload_id}"),
            ReqBody::Full(Some(bytes::Bytes::from(xml))),
        )
        .await?;
        let text = String::from_utf8_lossy(&body);
        if status == StatusCode::OK && text.contains("<CompleteMultipartUploadResult") {
            Ok(self.size)
        } else {
            Err(format!("complete {path}: {status} {text}"))
        }
    }
}

impl Plan for S3MultipartPlan {
    async fn execute(&self, conn: &mut Conn, ctx: Ctx<'_>) -> Outcome {
        let path = format!("{}-{}", self.prefix, ctx.ticket);
        Outcome {
            op: "upload",
            result: self.upload(conn, &path).await,
        }
    }
}

impl Settings {
    /// The S3 path of `key` (`/<bucket>/<scopes as name=value/ segments><key>`).
    pub fn s3_path(&self, key: &str) -> String {
        let scopes: String = if self.scopes == "_" {
            String::new()
        } else {
            self.scopes.split(';').map(|s| format!("{s}/")).collect()
        };
        format!("/{}/{scopes}{key}", self.usecase)
    }
}
