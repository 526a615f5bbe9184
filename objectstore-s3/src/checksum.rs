//! Checksums a client sends with a body, verified before the write commits.
//!
//! Accepted: `Content-MD5`, one of `x-amz-checksum-{crc32,crc32c,crc64nvme,sha1,sha256}` as a
//! header or as an aws-chunked trailer announced by `x-amz-trailer`, and (only when the front
//! strips signatures, see [`crate::normalize`]) a hex `x-amz-content-sha256`; with
//! credentials s3s verifies that one itself.
//!
//! # How "before the commit" is guaranteed without an engine change
//!
//! [`verify`] wraps the body stream. It hashes every chunk as it passes; when the inner
//! stream ends it compares, and on a mismatch yields an error *instead of* the end of the
//! stream. Every backend consumes a body to its end before it commits, and a body that
//! yields an error stores nothing (contract 5 of `objectstore_service::backend`): a
//! mismatching upload leaves the previous object (or part) as it was.
//!
//! Malformed values are refused before anything is read (`InvalidDigest`, or
//! `InvalidRequest` for two checksums at once).

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::HeaderMap;
use objectstore_service::stream::PayloadStream;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Md5, Sha1, Sha256};
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::chunked::OwnTrailers;
use crate::errors::BodyError;

/// A flexible checksum algorithm (`x-amz-checksum-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// CRC-32 (ISO-HDLC).
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// CRC-64/NVME.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl Algorithm {
    const ALL: [Self; 5] = [
        Self::Crc32,
        Self::Crc32c,
        Self::Crc64Nvme,
        Self::Sha1,
        Self::Sha256,
    ];

    /// The header carrying this checksum.
    pub fn header(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    fn digest_len(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64Nvme => 8,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    fn from_header(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.header() == name)
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

/// Where the trailers of an aws-chunked body arrive.
#[derive(Debug, Clone)]
pub enum Trailers {
    /// Decoded by s3s (signed requests).
    S3s(s3s::TrailingHeaders),
    /// Decoded by the front (requests served without signature checks).
    Own(OwnTrailers),
}

impl Trailers {
    fn get(&self, name: &str) -> Option<String> {
        let read = |h: &HeaderMap| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        match self {
            Self::S3s(t) => t.read(read).flatten(),
            Self::Own(t) => t.read(read),
        }
    }
}

/// Where the expected flexible checksum comes from.
#[derive(Debug, Clone)]
enum Source {
    Header(Vec<u8>),
    Trailer(Option<Trailers>),
    /// Only the algorithm was named: compute and report, nothing to compare.
    Compute,
}

/// What to verify on one body.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    md5: Option<[u8; 16]>,
    sha256_payload: Option<[u8; 32]>,
    flexible: Option<(Algorithm, Source)>,
}

/// The checksums computed over a body once it ended (for the response headers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Computed {
    /// The flexible checksum, base64 as in the headers.
    pub flexible: Option<(Algorithm, String)>,
}

impl Computed {
    /// The value for `algorithm`, if that one was computed.
    pub fn get(&self, algorithm: Algorithm) -> Option<String> {
        self.flexible
            .as_ref()
            .filter(|(a, _)| *a == algorithm)
            .map(|(_, v)| v.clone())
    }
}

fn invalid_digest(what: &str) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidDigest,
        format!("{what} is not a valid digest"),
    )
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl Expected {
    /// Reads the checksum headers of a request. `trailers` is where announced trailers will
    /// arrive; `payload_sha256` whether to verify a hex `x-amz-content-sha256` here.
    pub fn from_headers(
        headers: &HeaderMap,
        trailers: Option<Trailers>,
        payload_sha256: bool,
    ) -> S3Result<Self> {
        let mut expected = Self::default();
        if let Some(value) = headers.get("content-md5") {
            let digest = value
                .to_str()
                .ok()
                .and_then(|v| STANDARD.decode(v.trim()).ok())
                .and_then(|d| <[u8; 16]>::try_from(d).ok())
                .ok_or_else(|| invalid_digest("Content-MD5"))?;
            expected.md5 = Some(digest);
        }
        if payload_sha256
            && let Some(value) = header_str(headers, "x-amz-content-sha256")
            && value.len() == 64
            && let Ok(bytes) = hex::decode(value)
            && let Ok(digest) = <[u8; 32]>::try_from(bytes)
        {
            expected.sha256_payload = Some(digest);
        }
        let mut found = Algorithm::ALL
            .into_iter()
            .filter_map(|a| headers.get(a.header()).map(|v| (a, v)));
        if let Some((algorithm, value)) = found.next() {
            if found.next().is_some() {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
                ));
            }
            let digest = value
                .to_str()
                .ok()
                .and_then(|v| STANDARD.decode(v.trim()).ok())
                .filter(|d| d.len() == algorithm.digest_len())
                .ok_or_else(|| invalid_digest(algorithm.header()))?;
            expected.flexible = Some((algorithm, Source::Header(digest)));
        } else if let Some(trailer) = header_str(headers, "x-amz-trailer") {
            let name = trailer.trim().to_ascii_lowercase();
            let algorithm = Algorithm::from_header(&name).ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    format!("unsupported trailer {name:?}; expected an x-amz-checksum-* header"),
                )
            })?;
            expected.flexible = Some((algorithm, Source::Trailer(trailers)));
        } else if let Some(name) = header_str(headers, "x-amz-checksum-algorithm")
            .or_else(|| header_str(headers, "x-amz-sdk-checksum-algorithm"))
        {
            let algorithm = Algorithm::from_name(name.trim()).ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    format!("unsupported checksum algorithm {name:?}"),
                )
            })?;
            expected.flexible = Some((algorithm, Source::Compute));
        }
        Ok(expected)
    }

    /// Whether there is nothing to verify or compute.
    pub fn is_empty(&self) -> bool {
        self.md5.is_none() && self.sha256_payload.is_none() && self.flexible.is_none()
    }
}

enum Hasher {
    Crc32(Crc32),
    Crc32c(Crc32c),
    Crc64Nvme(Crc64Nvme),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Hasher {
    fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Crc32 => Self::Crc32(Crc32::new()),
            Algorithm::Crc32c => Self::Crc32c(Crc32c::new()),
            Algorithm::Crc64Nvme => Self::Crc64Nvme(Crc64Nvme::new()),
            Algorithm::Sha1 => Self::Sha1(Sha1::new()),
            Algorithm::Sha256 => Self::Sha256(Sha256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Crc32(h) => h.update(data),
            Self::Crc32c(h) => h.update(data),
            Self::Crc64Nvme(h) => h.update(data),
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
        }
    }

    fn finalize(self) -> Vec<u8> {
        match self {
            Self::Crc32(h) => h.finalize().to_vec(),
            Self::Crc32c(h) => h.finalize().to_vec(),
            Self::Crc64Nvme(h) => h.finalize().to_vec(),
            Self::Sha1(h) => h.finalize().to_vec(),
            Self::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// A handle to the checksums of a body, filled in when the body ended successfully.
#[derive(Debug, Clone, Default)]
pub struct ComputedHandle(Arc<Mutex<Computed>>);

impl ComputedHandle {
    /// What was computed (empty until the body ended).
    pub fn get(&self) -> Computed {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Wraps `body` so that it verifies `expected` at its end (module docs).
pub fn verify(body: PayloadStream, expected: Expected) -> (PayloadStream, ComputedHandle) {
    let handle = ComputedHandle::default();
    if expected.is_empty() {
        return (body, handle);
    }
    let stream = Verifying {
        inner: body,
        md5: expected.md5.map(|d| (Md5::new(), d)),
        sha256: expected.sha256_payload.map(|d| (Sha256::new(), d)),
        flexible: expected
            .flexible
            .map(|(a, source)| (a, Hasher::new(a), source)),
        handle: handle.clone(),
        done: false,
    };
    (stream.boxed(), handle)
}

struct Verifying {
    inner: PayloadStream,
    md5: Option<(Md5, [u8; 16])>,
    sha256: Option<(Sha256, [u8; 32])>,
    flexible: Option<(Algorithm, Hasher, Source)>,
    handle: ComputedHandle,
    done: bool,
}

impl Verifying {
    /// Compares at the end of the body; `Err` replaces the end of the stream.
    fn finish(&mut self) -> Result<(), BodyError> {
        if let Some((hasher, expected)) = self.md5.take()
            && hasher.finalize().as_ref() != expected.as_slice()
        {
            return Err(BodyError::ChecksumMismatch {
                algorithm: "MD5",
                header: "Content-MD5",
            });
        }
        if let Some((hasher, expected)) = self.sha256.take()
            && hasher.finalize() != expected
        {
            return Err(BodyError::Sha256Mismatch);
        }
        if let Some((algorithm, hasher, source)) = self.flexible.take() {
            let digest = hasher.finalize();
            let expected = match source {
                Source::Header(d) => Some(d),
                Source::Compute => None,
                Source::Trailer(trailers) => {
                    let value = trailers
                        .as_ref()
                        .and_then(|t| t.get(algorithm.header()))
                        .ok_or_else(|| {
                            BodyError::Incomplete(format!(
                                "the body ended without its announced trailer {}",
                                algorithm.header()
                            ))
                        })?;
                    Some(STANDARD.decode(value.trim()).map_err(|_| {
                        BodyError::Framing(format!("trailer {} is not base64", algorithm.header()))
                    })?)
                }
            };
            if expected.is_some_and(|e| e != digest) {
                return Err(BodyError::ChecksumMismatch {
                    algorithm: algorithm.name(),
                    header: algorithm.header(),
                });
            }
            let mut computed = self.handle.0.lock().unwrap_or_else(PoisonError::into_inner);
            computed.flexible = Some((algorithm, STANDARD.encode(&digest)));
        }
        Ok(())
    }
}

impl Stream for Verifying {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match ready!(this.inner.poll_next_unpin(cx)) {
            Some(Ok(chunk)) => {
                if let Some((h, _)) = &mut this.md5 {
                    h.update(&chunk);
                }
                if let Some((h, _)) = &mut this.sha256 {
                    h.update(&chunk);
                }
                if let Some((_, h, _)) = &mut this.flexible {
                    h.update(&chunk);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Some(Err(e)) => {
                this.done = true;
                Poll::Ready(Some(Err(e)))
            }
            None => {
                this.done = true;
                match this.finish() {
                    Ok(()) => Poll::Ready(None),
                    Err(e) => Poll::Ready(Some(Err(e.into_io()))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
