//! Large-file uploads: multipart (docs/http-api.md §9) with resume after an interruption.
//!
//! Part `n` (1-based) always carries input bytes `[(n-1)·part_size, n·part_size)`; with
//! `--compress zstd` each part is compressed on its own into one zstd frame (the object is
//! then a sequence of frames, which every zstd reader decodes as one stream). Each part in
//! flight is read into memory (at most `part_size` bytes, plus the compressor's overhead,
//! times `--parallel`), never the whole file.
//!
//! Protocol:
//! 1. Identify the input (size, mtime, hash of the first MiB) and load the state file
//!    (`state.rs`). `--restart`, or a state for a different input or settings: abort that
//!    upload (best effort), drop the state. `--resume` without a matching state: exit 3.
//! 2. Resuming: list the upload's parts on the server. The upload is gone (404, 400):
//!    drop the state and start over. Otherwise a part counts as done only if the server
//!    lists it with the ETag and size recorded locally; everything else is (re)sent.
//! 3. Starting: initiate (`PUT`, or `POST` for a server-assigned key) with the metadata
//!    headers; save the state with the upload id and key before sending any part.
//! 4. Send the missing parts, `--parallel` at a time (each thread takes the next missing
//!    part number; after any failure no thread starts another part), each with `Content-Length` (a transient failure — 5xx, 429, a
//!    broken connection — is retried twice, after 2 s and 4 s); after each acknowledgement
//!    record it and save the state. Any other failure stops here and leaves the state for
//!    the next run.
//! 5. Complete with the sorted part list. The streamed response (spaces, then JSON) is
//!    either `{"key"}` (the commit point: the object is readable) or `{"error"}`
//!    (exit 1; the state stays, so a re-run verifies the parts and retries).
//! 6. Remove the state file.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::HeaderMap;
use reqwest::Method;
use reqwest::blocking::Body;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::error::{ClientError, Exit, Result, io_error};
use crate::http::{Api, query_value, read_json};
use crate::output::Output;
use crate::progress::{self, Counter, Metered, RateLimit};
use crate::state::{FileIdentity, PartRecord, StateFile, UploadState};

/// Attempts per part before the upload stops (and can be resumed later).
const PART_ATTEMPTS: u32 = 3;

/// zstd level used for client-side compression (the library default).
pub(crate) const ZSTD_LEVEL: i32 = 3;

/// What to upload and how.
pub(crate) struct Upload<'a> {
    /// The connection.
    pub api: &'a Api,
    /// Requested key; `None` for a server-assigned one.
    pub key: Option<&'a str>,
    /// Metadata headers sent at initiation.
    pub headers: &'a HeaderMap,
    /// Compress each part with zstd.
    pub compress: bool,
    /// The input.
    pub file: &'a Path,
    /// Input bytes per part.
    pub part_size: u64,
    /// Require a state to resume from.
    pub resume_only: bool,
    /// Discard any state.
    pub restart: bool,
    /// State directory override.
    pub state_dir: Option<&'a Path>,
    /// Upload rate cap (shared by all parts in flight).
    pub limit: RateLimit,
    /// Parts in flight at once.
    pub parallel: usize,
}

/// What the upload threads share, behind one lock.
struct Shared {
    state: UploadState,
    bytes_sent: u64,
    error: Option<ClientError>,
}

/// The plan the upload threads work through.
struct Work<'a> {
    todo: &'a [u32],
    next: &'a AtomicUsize,
    shared: &'a Mutex<Shared>,
    part_url: &'a str,
    size: u64,
    bar: &'a indicatif::ProgressBar,
    state_file: &'a StateFile,
}

/// The result of a multipart upload.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The object key.
    pub key: String,
    /// The server's upload id.
    pub upload_id: String,
    /// Number of parts of the object.
    pub parts: u32,
    /// Parts found complete on the server and not sent again.
    pub parts_skipped: u32,
    /// Whether an interrupted upload was continued.
    pub resumed: bool,
    /// Bytes sent in this run (after compression).
    pub bytes_sent: u64,
}

#[derive(Deserialize)]
struct Initiated {
    key: String,
    upload_id: String,
}

#[derive(Deserialize)]
struct Etag {
    etag: String,
}

#[derive(Deserialize)]
struct ListedPart {
    part_number: u32,
    etag: String,
    size: u64,
}

#[derive(Deserialize)]
struct PartList {
    parts: Vec<ListedPart>,
    #[serde(default)]
    is_truncated: bool,
    next_part_number_marker: Option<u32>,
}

impl Upload<'_> {
    fn target(&self) -> String {
        format!(
            "{} {} {}",
            self.api.base(),
            self.api.namespace(),
            self.key.unwrap_or("")
        )
    }

    fn settings(&self) -> String {
        let mut hasher = Sha256::new();
        let mut lines: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())))
            .collect();
        lines.sort();
        hasher.update(lines.join("\n").as_bytes());
        hasher.update(if self.compress {
            b"\nzstd-parts"
        } else {
            b"\nraw-parts "
        });
        hex::encode(hasher.finalize())
    }

    /// Runs the protocol of the module docs.
    pub(crate) fn run(&self, out: &Output) -> Result<Outcome> {
        let identity = FileIdentity::of(self.file)?;
        let size = identity.size;
        let parts = u32::try_from(size.div_ceil(self.part_size).max(1))
            .map_err(|_| ClientError::usage("--part-size is too small for this file"))?;
        let target = self.target();
        let settings = self.settings();
        let state_file = StateFile::locate(self.state_dir, &target, &identity.path)?;

        // Step 1: an existing state for this input?
        let mut state = match state_file.load() {
            Some(old)
                if self.restart || !old.matches(&target, &identity, self.part_size, &settings) =>
            {
                if !self.restart {
                    out.note("note: the input or settings changed since the interrupted upload; starting over");
                }
                self.abort(&old);
                state_file.remove();
                None
            }
            other => other,
        };
        if state.is_none() && self.resume_only {
            return Err(ClientError::new(
                Exit::NotFound,
                format!("no interrupted upload of {} to resume", self.file.display()),
            ));
        }

        // Step 2: verify against the server's part listing.
        let mut resumed = false;
        if let Some(s) = &mut state {
            match self.list_parts(s) {
                Ok(listed) => {
                    s.parts.retain(|n, record| {
                        listed.iter().any(|p| {
                            p.part_number == *n && p.etag == record.etag && p.size == record.size
                        })
                    });
                    resumed = true;
                }
                Err(e) if matches!(e.exit, Exit::NotFound | Exit::Usage) => {
                    out.note("note: the interrupted upload no longer exists on the server; starting over");
                    state_file.remove();
                    state = None;
                }
                Err(e) => return Err(e.context("checking the interrupted upload")),
            }
        }

        // Step 3: initiate.
        let state = match state {
            Some(s) => s,
            None => {
                let initiated = self.initiate()?;
                let s = UploadState::new(
                    target,
                    identity,
                    self.part_size,
                    settings,
                    initiated.key,
                    initiated.upload_id,
                );
                state_file.save(&s)?;
                s
            }
        };

        // Step 4: the missing parts.
        let interrupted = |e: ClientError| {
            e.context(format!(
                "upload interrupted (re-run the same command to resume; state in {})",
                state_file.path().display()
            ))
        };
        let done_input: u64 = state
            .parts
            .keys()
            .map(|n| self.part_range(*n, size).1)
            .sum();
        let parts_skipped = u32::try_from(state.parts.len()).unwrap_or(u32::MAX);
        let bar = progress::bar(Some(size), out.quiet, "upload");
        bar.set_position(done_input);
        let todo: Vec<u32> = (1..=parts)
            .filter(|n| !state.parts.contains_key(n))
            .collect();
        let part_url = self.upload_url("objects:multipart:parts", &state, "");
        let next = AtomicUsize::new(0);
        let shared = Mutex::new(Shared {
            state,
            bytes_sent: 0,
            error: None,
        });
        let work = Work {
            todo: &todo,
            next: &next,
            shared: &shared,
            part_url: &part_url,
            size,
            bar: &bar,
            state_file: &state_file,
        };
        std::thread::scope(|scope| {
            for _ in 0..self.parallel.clamp(1, todo.len().max(1)) {
                scope.spawn(|| {
                    if let Err(e) = self.worker(&work)
                        && let Ok(mut s) = shared.lock()
                    {
                        s.error.get_or_insert(e);
                    }
                });
            }
        });
        let Shared {
            state,
            bytes_sent,
            error,
        } = shared
            .into_inner()
            .map_err(|_| ClientError::other("a part upload thread failed"))?;
        if let Some(e) = error {
            return Err(interrupted(e));
        }
        bar.finish_and_clear();

        // Steps 5 and 6.
        let key = self.complete(&state)?;
        state_file.remove();
        Ok(Outcome {
            key,
            upload_id: state.upload_id,
            parts,
            parts_skipped,
            resumed,
            bytes_sent,
        })
    }

    /// Offset and length of part `n` in the input.
    fn part_range(&self, n: u32, size: u64) -> (u64, u64) {
        let offset = u64::from(n - 1) * self.part_size;
        (offset, self.part_size.min(size.saturating_sub(offset)))
    }

    fn upload_url(&self, route: &str, state: &UploadState, extra: &str) -> String {
        format!(
            "{}?upload_id={}{extra}",
            self.api.url(route, Some(&state.key)),
            query_value(&state.upload_id)
        )
    }

    fn initiate(&self) -> Result<Initiated> {
        let (method, url) = match self.key {
            Some(key) => (Method::PUT, self.api.url("objects:multipart", Some(key))),
            None => (Method::POST, self.api.url("objects:multipart", None)),
        };
        let request = self
            .api
            .request(method, &url)?
            .headers(self.headers.clone());
        let response = self
            .api
            .send(request)
            .map_err(|e| e.context("initiating the multipart upload"))?;
        read_json(response, "multipart initiation")
    }

    /// One upload thread: takes the next missing part until none is left or any thread
    /// failed; records every acknowledged part in the state file.
    fn worker(&self, work: &Work<'_>) -> Result<()> {
        let poisoned = || ClientError::other("a part upload thread failed");
        let mut file =
            std::fs::File::open(self.file).map_err(|e| io_error(self.file.display(), &e))?;
        loop {
            if work.shared.lock().map_err(|_| poisoned())?.error.is_some() {
                return Ok(());
            }
            let Some(&n) = work.todo.get(work.next.fetch_add(1, Ordering::Relaxed)) else {
                return Ok(());
            };
            let (offset, len) = self.part_range(n, work.size);
            let mut buf = vec![
                0;
                usize::try_from(len)
                    .map_err(|_| ClientError::usage("--part-size is too large"))?
            ];
            file.seek(SeekFrom::Start(offset))
                .and_then(|_| file.read_exact(&mut buf))
                .map_err(|e| io_error(self.file.display(), &e))?;
            if self.compress {
                buf = zstd::bulk::compress(&buf, ZSTD_LEVEL)
                    .map_err(|e| ClientError::other(format!("compressing part {n}: {e}")))?;
            }
            let sent = buf.len() as u64;
            let url = format!("{}&part_number={n}", work.part_url);
            let etag = self.put_part(&url, n, buf, work.bar, len)?;
            let mut shared = work.shared.lock().map_err(|_| poisoned())?;
            shared.bytes_sent += sent;
            shared
                .state
                .parts
                .insert(n, PartRecord { etag, size: sent });
            work.state_file.save(&shared.state)?;
        }
    }

    fn put_part(
        &self,
        url: &str,
        n: u32,
        bytes: Vec<u8>,
        bar: &indicatif::ProgressBar,
        input_len: u64,
    ) -> Result<String> {
        let bytes = bytes::Bytes::from(bytes);
        let len = bytes.len() as u64;
        let mut attempt = 1;
        loop {
            // The bar counts input bytes: advance it while sending an uncompressed part,
            // and after the acknowledgement for a compressed one.
            let live = if self.compress {
                indicatif::ProgressBar::hidden()
            } else {
                bar.clone()
            };
            let counter = Counter::default();
            let body = counter.wrap(Metered::new(
                std::io::Cursor::new(bytes.clone()),
                live,
                self.limit.clone(),
            ));
            let request = self
                .api
                .request(Method::PUT, url)?
                .body(Body::sized(body, len));
            let result = self
                .api
                .send(request)
                .and_then(|response| read_json::<Etag>(response, "part upload"));
            if self.compress && result.is_ok() {
                bar.inc(input_len);
            }
            match result {
                Ok(etag) => return Ok(etag.etag),
                // Transient failures (5xx, 429, connection): retry the part a few times.
                Err(e) if e.exit == Exit::Unavailable && attempt < PART_ATTEMPTS => {
                    if !self.compress {
                        bar.dec(counter.get());
                    }
                    std::thread::sleep(Duration::from_secs(1 << attempt));
                    attempt += 1;
                }
                Err(e) => return Err(e.context(format!("uploading part {n}"))),
            }
        }
    }

    fn list_parts(&self, state: &UploadState) -> Result<Vec<ListedPart>> {
        let mut parts = Vec::new();
        let mut marker: Option<u32> = None;
        loop {
            let extra = marker
                .map(|m| format!("&part_number_marker={m}"))
                .unwrap_or_default();
            let url = self.upload_url("objects:multipart:parts", state, &extra);
            let response = self.api.send(self.api.request(Method::GET, &url)?)?;
            let page: PartList = read_json(response, "part listing")?;
            parts.extend(page.parts);
            match (page.is_truncated, page.next_part_number_marker) {
                (true, Some(m)) if Some(m) != marker => marker = Some(m),
                _ => return Ok(parts),
            }
        }
    }

    fn complete(&self, state: &UploadState) -> Result<String> {
        let url = self.upload_url("objects:multipart:complete", state, "");
        let parts: Vec<serde_json::Value> = state
            .parts
            .iter()
            .map(|(n, p)| serde_json::json!({"part_number": n, "etag": p.etag}))
            .collect();
        let request = self
            .api
            .request(Method::POST, &url)?
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(serde_json::json!({ "parts": parts }).to_string());
        let response = self
            .api
            .send(request)
            .map_err(|e| e.context("completing the multipart upload"))?;
        let text = response
            .text()
            .map_err(|e| ClientError::from(e).context("completing the multipart upload"))?;
        let json: serde_json::Value = serde_json::from_str(text.trim()).map_err(|e| {
            ClientError::other(format!("malformed multipart completion response: {e}"))
        })?;
        if let Some(error) = json.get("error") {
            return Err(ClientError::other(format!(
                "completing the multipart upload failed: {}: {}",
                error["code"].as_str().unwrap_or("?"),
                error["message"].as_str().unwrap_or("?")
            )));
        }
        json["key"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ClientError::other("multipart completion response without a key"))
    }

    /// Best-effort abort of an abandoned upload.
    fn abort(&self, state: &UploadState) {
        let url = self.upload_url("objects:multipart", state, "");
        if let Ok(request) = self.api.request(Method::DELETE, &url) {
            let _ = request.send();
        }
    }
}
