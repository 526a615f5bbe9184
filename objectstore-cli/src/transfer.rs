//! The object commands: `put` (single request, or multipart via `upload.rs` for large
//! files), `get`, `head` and `rm`.
//!
//! Bodies are streamed both ways: uploads read the file or stdin as the request is sent
//! (files up to 64 KiB are read first, `IN_MEMORY_UPLOAD` says why; compressed on the fly
//! with `--compress zstd`), downloads are written as they arrive (decompressed on the fly
//! when the object is stored as zstd, unless `--raw` or `--range`). A download to a file
//! goes to a temporary file in the same directory that replaces the target only once
//! complete.

use std::io::{Read, Write};
use std::path::Path;

use objectstore_types::Compression;
use reqwest::Method;
use reqwest::blocking::Body;
use serde_json::json;

use crate::args::{GetArgs, KeyArgs, PutArgs, metadata_headers};
use crate::error::{ClientError, Exit, Result, io_error};
use crate::http::{Api, read_json};
use crate::output::{Output, metadata_json, metadata_text, response_metadata};
use crate::progress::{self, Counter, Metered, RateLimit};
use crate::upload::{self, Upload};

/// Files up to this size are read before the request is sent. reqwest's blocking client
/// feeds a streamed body from the calling thread through a channel; when the server answers
/// before reading the body (a refused token, a missing permission) the channel closes and the
/// client reports the failed body instead of the answer. A small body sent from memory goes
/// out with the request head, and the answer is read.
const IN_MEMORY_UPLOAD: u64 = 64 * 1024;

/// `put`.
pub(crate) fn put(args: &PutArgs, out: &Output) -> Result<()> {
    let api = Api::new(
        &args.connection,
        &args.namespace.usecase,
        args.namespace.scopes()?,
    )?;
    let metadata = args.metadata.metadata()?;
    let headers = metadata_headers(&metadata);
    let compress = args.metadata.compresses();
    let key = args.key.as_deref();
    if key.is_some_and(str::is_empty) {
        return Err(ClientError::usage(
            "the key must not be empty (omit it for a server-assigned key)",
        ));
    }
    if args.upload.part_size == 0 {
        return Err(ClientError::usage("--part-size must be at least 1 byte"));
    }
    let limit = RateLimit::new(args.upload.limit_rate);
    let stdin = args.source.as_os_str() == "-";

    let size = if stdin {
        None
    } else {
        let meta = std::fs::metadata(&args.source).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                ClientError::usage(format!("{}: no such file", args.source.display()))
            }
            _ => io_error(args.source.display(), &e),
        })?;
        if !meta.is_file() {
            return Err(ClientError::usage(format!(
                "{} is not a regular file",
                args.source.display()
            )));
        }
        Some(meta.len())
    };
    let multipart = size.is_some_and(|s| s > 0 && s >= args.upload.multipart_threshold);
    if (args.upload.resume || args.upload.restart) && !multipart {
        return Err(ClientError::usage(
            "--resume and --restart apply to files at least as large as --multipart-threshold",
        ));
    }
    if multipart {
        let upload = Upload {
            api: &api,
            key,
            headers: &headers,
            compress,
            file: &args.source,
            part_size: args.upload.part_size,
            resume_only: args.upload.resume,
            restart: args.upload.restart,
            state_dir: args.upload.state_dir.as_deref(),
            limit: limit.clone(),
            parallel: args.upload.parallel,
        };
        match upload.run(out) {
            Ok(outcome) => {
                report_multipart(out, &outcome, size);
                return Ok(());
            }
            // A backend without multipart (docs/http-api.md §9.1): one streamed request instead.
            Err(e) if e.status == Some(501) && !args.upload.resume => {
                out.note(
                    "note: the server does not support multipart uploads; sending one request",
                );
            }
            Err(e) => return Err(e),
        }
    }
    single(&api, args, out, headers, size, limit)
}

fn report_multipart(out: &Output, outcome: &upload::Outcome, size: Option<u64>) {
    out.result(
        &json!({
            "key": outcome.key,
            "size": size,
            "bytes_sent": outcome.bytes_sent,
            "multipart": true,
            "upload_id": outcome.upload_id,
            "parts": outcome.parts,
            "parts_skipped": outcome.parts_skipped,
            "resumed": outcome.resumed,
        }),
        &outcome.key,
    );
}

/// One streamed insert request (PUT with a key, POST without).
fn single(
    api: &Api,
    args: &PutArgs,
    out: &Output,
    headers: http::HeaderMap,
    size: Option<u64>,
    limit: RateLimit,
) -> Result<()> {
    let key = args.key.as_deref();
    let compress = args.metadata.compresses();
    let stdin = size.is_none();
    let bar = progress::bar(size, out.quiet, "upload");
    let input: Box<dyn Read + Send> = if stdin {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(&args.source).map_err(|e| io_error(args.source.display(), &e))?,
        )
    };
    let counter = Counter::default();
    let metered = counter.wrap(Metered::new(input, bar.clone(), limit));
    let body = match (compress, size) {
        (true, _) => Body::new(
            zstd::stream::read::Encoder::new(metered, upload::ZSTD_LEVEL)
                .map_err(|e| ClientError::other(format!("starting zstd: {e}")))?,
        ),
        (false, Some(size)) if size <= IN_MEMORY_UPLOAD => {
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            let mut metered = metered;
            metered
                .read_to_end(&mut bytes)
                .map_err(|e| io_error(args.source.display(), &e))?;
            Body::from(bytes)
        }
        (false, Some(size)) => Body::sized(metered, size),
        (false, None) => Body::new(metered),
    };
    let request = match key {
        Some(key) => api.request(Method::PUT, &api.object_url(key))?,
        None => api.request(Method::POST, &api.url("objects", None))?,
    };
    let response = api.send(request.headers(headers).body(body))?;
    bar.finish_and_clear();
    let answer: serde_json::Value = read_json(response, "insert")?;
    let key = answer["key"]
        .as_str()
        .ok_or_else(|| ClientError::other("insert response without a key"))?;
    out.result(
        &json!({
            "key": key,
            "size": counter.get(),
            "multipart": false,
        }),
        key,
    );
    Ok(())
}

/// `get`.
pub(crate) fn get(args: &GetArgs, out: &Output) -> Result<()> {
    let to_stdout = args.output.as_ref().is_none_or(|p| p.as_os_str() == "-");
    if out.json && to_stdout {
        return Err(ClientError::usage(
            "--json needs --output FILE (stdout would mix payload and JSON)",
        ));
    }
    let api = Api::new(
        &args.connection,
        &args.namespace.usecase,
        args.namespace.scopes()?,
    )?;
    let range = args.range_header()?;
    let mut request = api.request(Method::GET, &api.object_url(&args.key))?;
    if let Some(range) = &range {
        request = request.header(http::header::RANGE, range);
    }
    let response = api
        .send(request)
        .map_err(|e| not_found(e, &api, &args.key))?;
    let status = response.status().as_u16();
    let metadata = response_metadata(response.headers())?;
    let content_range = response
        .headers()
        .get(http::header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let length = response.content_length();
    let decompress =
        !args.raw && range.is_none() && metadata.compression == Some(Compression::Zstd);
    if !args.raw && range.is_none() && metadata.compression == Some(Compression::Gzip) {
        out.note("note: the object is gzip-compressed; writing the stored bytes");
    }
    let bar = progress::bar(length, out.quiet || to_stdout, "download");
    let metered = Metered::new(response, bar.clone(), RateLimit::new(None));
    let mut reader: Box<dyn Read> = if decompress {
        Box::new(
            zstd::stream::read::Decoder::new(metered)
                .map_err(|e| ClientError::other(format!("starting zstd: {e}")))?,
        )
    } else {
        Box::new(metered)
    };
    let written = match &args.output {
        Some(path) if path.as_os_str() != "-" => write_file(&mut reader, path)?,
        _ => {
            let mut stdout = std::io::stdout().lock();
            match copy(&mut reader, &mut stdout) {
                Err(e) if e.is_broken_pipe() => return Ok(()),
                other => other?,
            }
        }
    };
    bar.finish_and_clear();
    out.result(
        &json!({
            "key": args.key,
            "status": status,
            "bytes_written": written,
            "decompressed": decompress,
            "content_range": content_range,
            "object": metadata_json(&args.key, &metadata),
        }),
        "",
    );
    Ok(())
}

/// A copy failure: reading the response (exit 6) or writing the output (exit 1).
struct CopyError {
    error: ClientError,
    broken_pipe: bool,
}

impl CopyError {
    fn is_broken_pipe(&self) -> bool {
        self.broken_pipe
    }
}

impl From<CopyError> for ClientError {
    fn from(e: CopyError) -> Self {
        e.error
    }
}

fn copy(reader: &mut dyn Read, writer: &mut dyn Write) -> std::result::Result<u64, CopyError> {
    let mut buf = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(CopyError {
                    error: ClientError::new(Exit::Unavailable, format!("download failed: {e}")),
                    broken_pipe: false,
                });
            }
        };
        writer.write_all(&buf[..n]).map_err(|e| CopyError {
            broken_pipe: e.kind() == std::io::ErrorKind::BrokenPipe,
            error: ClientError::other(format!("writing the output: {e}")),
        })?;
        total += n as u64;
    }
    writer.flush().map_err(|e| CopyError {
        broken_pipe: e.kind() == std::io::ErrorKind::BrokenPipe,
        error: ClientError::other(format!("writing the output: {e}")),
    })?;
    Ok(total)
}

/// Writes to a temporary file next to `path` and renames it into place when complete.
fn write_file(reader: &mut dyn Read, path: &Path) -> Result<u64> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io_error(dir.display(), &e))?;
    let written = copy(reader, tmp.as_file_mut())?;
    tmp.persist(path)
        .map_err(|e| io_error(path.display(), &e.error))?;
    Ok(written)
}

fn not_found(e: ClientError, api: &Api, key: &str) -> ClientError {
    if e.exit == Exit::NotFound {
        ClientError {
            message: format!("not found: {}/{key}", api.namespace()),
            ..e
        }
    } else {
        e
    }
}

/// `head`.
pub(crate) fn head(args: &KeyArgs, out: &Output) -> Result<()> {
    let api = Api::new(
        &args.connection,
        &args.namespace.usecase,
        args.namespace.scopes()?,
    )?;
    let request = api.request(Method::HEAD, &api.object_url(&args.key))?;
    let response = api
        .send(request)
        .map_err(|e| not_found(e, &api, &args.key))?;
    let metadata = response_metadata(response.headers())?;
    out.result(
        &metadata_json(&args.key, &metadata),
        &metadata_text(&args.key, &metadata),
    );
    Ok(())
}

/// `rm` (deleting a missing object succeeds, as the server answers 204 either way).
pub(crate) fn rm(args: &KeyArgs, out: &Output) -> Result<()> {
    let api = Api::new(
        &args.connection,
        &args.namespace.usecase,
        args.namespace.scopes()?,
    )?;
    let request = api.request(Method::DELETE, &api.object_url(&args.key))?;
    api.send(request)?;
    out.result(&json!({ "key": args.key, "deleted": true }), "");
    Ok(())
}
