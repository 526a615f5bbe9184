//! Resumable uploads (docs/http-api.md §10) on top of the backend's multipart uploads.
//!
//! A session **is** a multipart upload of the object: chunk `n` (counting from 1) is part `n`,
//! so the parts, in order, are the bytes received so far. There is no session state besides
//! the multipart upload itself and the token the client holds:
//!
//! * the persisted offset `P` is the sum of the part sizes ([`LongTermBackend::list_parts`]);
//! * the metadata (stamped once at creation: `time_created` and the TTL/TTI deadline) is the
//!   upload's metadata, which the assembled object carries;
//! * the chunk that reaches the total completes the multipart upload, which publishes the
//!   object atomically, replacing any previous one;
//! * a completed or cancelled upload is unknown to the backend afterwards, so every later
//!   operation on the session answers [`Error::NotFound`] (404: both clients treat 404 and
//!   410 alike); so does a token naming an upload that never existed, or another object.
//!
//! # Session token
//!
//! Canonical unpadded base64url (only `A-Za-z0-9-_`; decoding and re-encoding gives the same
//! text, checked on every use) of a compact binary record:
//!
//! ```text
//! version (1 byte, = 1) | total length (u64, big endian) | check (8 bytes) | upload id
//! ```
//!
//! The *check* is the first 8 bytes of the SHA-256 of the object's
//! [`ObjectId::as_storage_path`], the total and the upload id. It binds the token to its
//! usecase, scopes and key: a token used on another object names no session of that object
//! ([`Error::NotFound`]); it also turns a token altered in transit or by hand (another total,
//! another upload id) into an unknown session instead of a different upload. (The tiered
//! backend's upload ids also embed the revision key and are checked by the tiered layer; the
//! check makes standalone backends equally strict.) A token that does not decode is
//! [`Error::InvalidRequest`] (400).
//!
//! The check is not a MAC: it holds no secret, so it does not stop a client from forging a
//! token for an upload id it knows. Unguessability comes from the backend's upload id
//! (UUIDs with at least 74 random bits), which only the session's creator learns; and any
//! process can resume a session from its token, as clients expect.
//!
//! # Write chunk (`write_chunk(id, token, offset, len, body)`), step by step
//!
//! 1. Decode the token (malformed → `InvalidRequest`) and verify its check (another object,
//!    altered token → `NotFound`).
//! 2. `offset + len > total` → `InvalidRequest`; nothing changes.
//! 3. Take a service permit and continue in a spawned task (runs to completion if the
//!    client goes away). List the parts: unknown, completed or cancelled → `NotFound`.
//!    `P` = sum of part sizes, the next part number = last part number + 1.
//! 4. `P == total`: an earlier chunk delivered the last byte but its completion did not
//!    finish (crash, backend error): complete now (step 8) and report `Complete`.
//! 5. `len == 0` → `Incomplete { offset: P }`; nothing is written.
//! 6. `offset != P` → `OffsetMismatch { offset: P }` (the 409 answer); nothing is written.
//! 7. Upload the body, streamed, as the next part. Error (body broke midway, backend
//!    failure) → the error; nothing of this chunk is persisted (granularity 0 allows "all
//!    received bytes *or none*"; the part is replaced by the next attempt, which the client
//!    sends from the unchanged `P`). `offset + len < total` → `Incomplete { offset + len }`.
//! 8. **Commit point.** The chunk reached the total: list the parts again (they must be
//!    contiguous and sum to exactly the total, else another writer of the same session
//!    raced us: `Incomplete` at the listed sum) and complete the multipart upload with all
//!    of them. Ok → `Complete` (the object is published; the session is gone). A retryable
//!    failure is retried at once (the backends' completion is idempotent or reports the
//!    upload gone, which after a failed attempt means it committed: `Complete`). A
//!    rejection or a lasting error → `Internal` / the error: the upload stays open with
//!    every byte, and a retry of the last chunk (or a zero-length chunk) completes it
//!    through step 4.
//!
//! Chunks of one session are meant to arrive one at a time (both clients do so). Concurrent
//! chunks are not serialized: two chunks at the same offset both write the same part number
//! and the later one replaces the other. The object can only contain bytes a client sent for
//! those offsets, and a client whose reported offset turned out wrong is resynchronized by
//! the next 409.
//!
//! Granularity is always 0: every part is accepted whatever its size (backends with minimum
//! part sizes would need a non-zero granularity, which is not offered yet).

use std::cmp::Ordering;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use objectstore_types::{Metadata, ObjectId, ObjectKey};
use sha2::{Digest, Sha256};

use crate::backend::{CompletedPart, LongTermBackend, PartInfo, PartsQuery};
use crate::error::{Error, Result};
use crate::service::StorageService;
use crate::stream::PayloadStream;

/// Token format version.
const TOKEN_VERSION: u8 = 1;
/// Bytes of the binding digest kept in the token.
const CHECK_LEN: usize = 8;
/// Fixed-size head of a token: version, total, check.
const TOKEN_HEAD_LEN: usize = 1 + 8 + CHECK_LEN;
/// Longest upload id a token may carry (tiered ids embed the revision key).
const MAX_UPLOAD_ID_LEN: usize = 4096;

/// A created session, as the creation response reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumableSession {
    /// The object's key.
    pub key: ObjectKey,
    /// The opaque session token (canonical unpadded base64url).
    pub token: String,
    /// Persistence unit of non-final chunks in bytes; always 0 (every byte is kept).
    pub granularity: u64,
}

/// What a chunk write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// Persisted up to `offset` (< total) (HTTP 204 + `Upload-Offset`).
    Incomplete {
        /// The persisted offset.
        offset: u64,
    },
    /// The last byte arrived and the object is published (HTTP 201 + `{"key"}`).
    Complete,
    /// The chunk did not start at the persisted offset; nothing was written (HTTP 409 +
    /// `Upload-Offset`). Never equal to the request's offset.
    OffsetMismatch {
        /// The persisted offset.
        offset: u64,
    },
}

/// The decoded content of a session token.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SessionToken {
    total: u64,
    check: [u8; CHECK_LEN],
    upload_id: String,
}

impl SessionToken {
    fn new(id: &ObjectId, upload_id: String, total: u64) -> Self {
        Self {
            total,
            check: check(id, total, &upload_id),
            upload_id,
        }
    }

    fn encode(&self) -> String {
        let mut raw = Vec::with_capacity(TOKEN_HEAD_LEN + self.upload_id.len());
        raw.push(TOKEN_VERSION);
        raw.extend_from_slice(&self.total.to_be_bytes());
        raw.extend_from_slice(&self.check);
        raw.extend_from_slice(self.upload_id.as_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Decodes a token; anything but a canonical, well-formed token is `InvalidRequest`.
    fn decode(token: &str) -> Result<Self> {
        let malformed = || Error::InvalidRequest("malformed upload session token".into());
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| malformed())?;
        if URL_SAFE_NO_PAD.encode(&raw) != token || raw.len() <= TOKEN_HEAD_LEN {
            return Err(malformed());
        }
        let (head, upload_id) = raw.split_at(TOKEN_HEAD_LEN);
        let (version, rest) = head.split_at(1);
        let (total, check) = rest.split_at(8);
        if version[0] != TOKEN_VERSION || !valid_upload_id(upload_id) {
            return Err(malformed());
        }
        Ok(Self {
            total: u64::from_be_bytes(total.try_into().map_err(|_| malformed())?),
            check: check.try_into().map_err(|_| malformed())?,
            upload_id: String::from_utf8(upload_id.to_vec()).map_err(|_| malformed())?,
        })
    }

    /// Decodes a token and checks that it belongs to `id`.
    fn for_object(token: &str, id: &ObjectId) -> Result<Self> {
        let token = Self::decode(token)?;
        if token.check != check(id, token.total, &token.upload_id) {
            return Err(unknown_session());
        }
        Ok(token)
    }
}

/// The binding digest of a token (see the module docs).
fn check(id: &ObjectId, total: u64, upload_id: &str) -> [u8; CHECK_LEN] {
    let mut hasher = Sha256::new();
    hasher.update(b"objectstore resumable session v1\0");
    // Storage paths never contain NUL, so the separator keeps the fields apart.
    hasher.update(id.as_storage_path().as_bytes());
    hasher.update([0]);
    hasher.update(total.to_be_bytes());
    hasher.update(upload_id.as_bytes());
    let digest = hasher.finalize();
    let mut out = [0; CHECK_LEN];
    out.copy_from_slice(&digest[..CHECK_LEN]);
    out
}

/// Upload ids are non-empty `[A-Za-z0-9_-]` (the [`LongTermBackend`] contract).
fn valid_upload_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_UPLOAD_ID_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

fn unknown_session() -> Error {
    Error::NotFound("unknown upload session".into())
}

/// Maps "no such upload" of a session lookup to the session error.
fn session_error(e: Error) -> Error {
    match e {
        Error::NotFound(_) => unknown_session(),
        other => other,
    }
}

/// All parts of an upload, following pagination.
async fn all_parts(
    backend: &dyn LongTermBackend,
    id: &ObjectId,
    upload_id: &str,
) -> Result<Vec<PartInfo>> {
    let mut parts = Vec::new();
    let mut marker = None;
    loop {
        let page = backend
            .list_parts(PartsQuery {
                marker,
                ..PartsQuery::all(id, upload_id)
            })
            .await
            .map_err(session_error)?;
        parts.extend(page.parts);
        match page.next_marker {
            Some(next) if Some(next) != marker => marker = Some(next),
            _ => return Ok(parts),
        }
    }
}

fn persisted(parts: &[PartInfo]) -> u64 {
    parts.iter().map(|p| p.size).sum()
}

/// Attempts of the completion in step 8 (the first one and the retries).
const COMPLETE_ATTEMPTS: usize = 3;

/// Completes the upload with `parts` (all of them, in order), retrying retryable failures.
///
/// A retry that finds the upload gone reports `Complete`: the failed attempt committed
/// before its answer was lost, or a duplicate of this chunk (a client retry) completed it
/// with the same bytes. (A cancel racing the final chunk of its own session is the only
/// other way, and no client does that.)
async fn complete(
    backend: &dyn LongTermBackend,
    id: &ObjectId,
    upload_id: &str,
    parts: &[PartInfo],
) -> Result<ChunkOutcome> {
    let listed: Vec<CompletedPart> = parts
        .iter()
        .map(|p| CompletedPart {
            part_number: p.part_number,
            etag: p.etag.clone(),
        })
        .collect();
    let mut attempt = 1;
    loop {
        match backend.complete_multipart(id, upload_id, &listed).await {
            Ok(None) => return Ok(ChunkOutcome::Complete),
            Ok(Some(rejection)) => {
                return Err(Error::Internal(format!(
                    "assembling the resumable upload failed: {}: {}",
                    rejection.code, rejection.message
                )));
            }
            Err(Error::NotFound(_)) if attempt > 1 => return Ok(ChunkOutcome::Complete),
            Err(e) if e.is_retryable() && attempt < COMPLETE_ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "completing a resumable upload failed; retrying");
                attempt += 1;
            }
            Err(e) => return Err(session_error(e)),
        }
    }
}

impl StorageService {
    /// Opens a session for an object of `total_len` bytes. Stamps the metadata (fixed for
    /// the session). `total_len == 0` is declined with [`Error::Unsupported`] (HTTP 501; the
    /// client then does a regular upload), as is a backend without multipart uploads.
    pub async fn create_upload(
        &self,
        id: ObjectId,
        mut metadata: Metadata,
        total_len: u64,
    ) -> Result<ResumableSession> {
        if total_len == 0 {
            return Err(Error::Unsupported {
                backend: self.backend_name(),
                operation: "resumable upload of an empty object",
            });
        }
        metadata.stamp(self.now());
        let (id, upload_id) = self
            .spawn(move |b| async move {
                let upload_id = b.initiate_multipart(&id, &metadata).await?;
                if !valid_upload_id(upload_id.as_bytes()) {
                    // Do not leave an upload behind that no token can name.
                    let _ = b.abort_multipart(&id, &upload_id).await;
                    return Err(Error::Internal(format!(
                        "backend {} returned an unusable upload id",
                        b.name()
                    )));
                }
                Ok((id, upload_id))
            })
            .await?;
        Ok(ResumableSession {
            token: SessionToken::new(&id, upload_id, total_len).encode(),
            key: id.key,
            granularity: 0,
        })
    }

    /// Writes one chunk of `body_len` bytes starting at `offset` (module docs, steps 1–8).
    /// The body is streamed to the backend, never buffered here.
    pub async fn write_chunk(
        &self,
        id: ObjectId,
        token: &str,
        offset: u64,
        body_len: u64,
        body: PayloadStream,
    ) -> Result<ChunkOutcome> {
        let session = SessionToken::for_object(token, &id)?;
        let total = session.total;
        let end = offset
            .checked_add(body_len)
            .filter(|end| *end <= total)
            .ok_or_else(|| {
                Error::InvalidRequest(format!(
                    "chunk of {body_len} bytes at offset {offset} exceeds the upload length {total}"
                ))
            })?;
        self.spawn(move |b| async move {
            let upload_id = session.upload_id.as_str();
            let parts = all_parts(&*b, &id, upload_id).await?;
            let p = persisted(&parts);
            if p == total {
                return complete(&*b, &id, upload_id, &parts).await;
            }
            if body_len == 0 {
                return Ok(ChunkOutcome::Incomplete { offset: p });
            }
            if offset != p {
                return Ok(ChunkOutcome::OffsetMismatch { offset: p });
            }
            let next = parts
                .last()
                .map_or(Some(1), |last| last.part_number.checked_add(1))
                .ok_or_else(|| Error::InvalidRequest("too many chunks in one upload".into()))?;
            b.upload_part(&id, upload_id, next, body_len, body)
                .await
                .map_err(session_error)?;
            if end < total {
                return Ok(ChunkOutcome::Incomplete { offset: end });
            }
            let parts = all_parts(&*b, &id, upload_id).await?;
            let p = persisted(&parts);
            let contiguous = parts
                .iter()
                .zip(1..)
                .all(|(part, number)| part.part_number == number);
            match p.cmp(&total) {
                Ordering::Equal if contiguous => complete(&*b, &id, upload_id, &parts).await,
                Ordering::Less if contiguous => Ok(ChunkOutcome::Incomplete { offset: p }),
                _ => Err(Error::Internal(format!(
                    "resumable upload holds {} parts of {p} bytes for a total of {total}",
                    parts.len()
                ))),
            }
        })
        .await
    }

    /// The persisted offset of an open session. Unknown, completed or cancelled sessions
    /// are [`Error::NotFound`].
    pub async fn query_offset(&self, id: ObjectId, token: &str) -> Result<u64> {
        let session = SessionToken::for_object(token, &id)?;
        self.spawn(move |b| async move {
            let parts = all_parts(&*b, &id, &session.upload_id).await?;
            Ok(persisted(&parts))
        })
        .await
    }

    /// Cancels an open session, discarding its bytes; no object is published. Unknown,
    /// completed or cancelled sessions are [`Error::NotFound`].
    pub async fn cancel_upload(&self, id: ObjectId, token: &str) -> Result<()> {
        let session = SessionToken::for_object(token, &id)?;
        self.spawn(move |b| async move {
            // Aborting an unknown upload succeeds, so look it up first to report it.
            all_parts(&*b, &id, &session.upload_id).await?;
            b.abort_multipart(&id, &session.upload_id).await
        })
        .await
    }
}

#[cfg(test)]
mod tests;
