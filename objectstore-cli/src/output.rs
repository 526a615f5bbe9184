//! What the client prints: results on stdout (a line for people, or one JSON document with
//! `--json`), notes and errors on stderr, each error exactly once.
//!
//! Also the reading of object metadata from response headers (the shared codec of
//! `objectstore-types` plus the server-owned `x-sn-time-*` and `x-sn-size`).

use std::io::Write as _;

use http::HeaderMap;
use objectstore_types::Metadata;
use objectstore_types::metadata::{HEADER_SIZE, HEADER_TIME_CREATED, HEADER_TIME_EXPIRES};
use serde_json::{Value, json};

use crate::error::{ClientError, Exit, Result};

/// How results are printed.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// One JSON document on stdout.
    pub json: bool,
    /// No progress bars and notes.
    pub quiet: bool,
}

impl Output {
    /// Prints a result: `json` with `--json`, else `text` (if not empty).
    pub fn result(&self, json: &Value, text: &str) {
        let mut stdout = std::io::stdout().lock();
        if self.json {
            let _ = writeln!(stdout, "{json}");
        } else if !text.is_empty() {
            let _ = writeln!(stdout, "{}", text.trim_end_matches('\n'));
        }
    }

    /// Prints a result that has one form only, text (`keygen`, `token`).
    pub fn text(&self, text: &str) {
        self.result(&Value::String(text.to_owned()), text);
    }

    /// A note for people on stderr (suppressed by `--quiet`).
    pub fn note(&self, text: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
    }

    /// Prints a failure once, on stderr.
    pub fn error(&self, error: &ClientError) {
        let mut stderr = std::io::stderr().lock();
        if self.json {
            let _ = writeln!(stderr, "{}", error.to_json());
        } else {
            let _ = writeln!(stderr, "error: {error}");
        }
    }
}

/// The metadata of a GET/HEAD response, including server-owned times and size.
pub(crate) fn response_metadata(headers: &HeaderMap) -> Result<Metadata> {
    let malformed = |what: String| {
        ClientError::new(Exit::Other, format!("malformed response metadata: {what}"))
    };
    let mut metadata = Metadata::from_headers(headers).map_err(|e| malformed(e.to_string()))?;
    let time = |name: &str| -> Result<_> {
        headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map_err(|_| malformed(format!("{name} is not ASCII")))
                    .and_then(|s| {
                        objectstore_types::time::parse(s).map_err(|e| malformed(e.to_string()))
                    })
            })
            .transpose()
    };
    metadata.time_created = time(HEADER_TIME_CREATED)?;
    metadata.time_expires = time(HEADER_TIME_EXPIRES)?;
    metadata.size = headers
        .get(HEADER_SIZE)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse().ok());
    Ok(metadata)
}

/// The JSON form of an object's metadata.
pub(crate) fn metadata_json(key: &str, metadata: &Metadata) -> Value {
    json!({
        "key": key,
        "size": metadata.size,
        "content_type": metadata.content_type,
        "compression": metadata.compression.map(|c| c.as_str()),
        "expiration": metadata.expiration_policy.to_string(),
        "time_created": metadata.time_created.map(objectstore_types::time::format),
        "time_expires": metadata.time_expires.map(objectstore_types::time::format),
        "origin": metadata.origin,
        "filename": metadata.filename,
        "metadata": metadata.custom,
    })
}

/// The human form of an object's metadata: one `name: value` line per field that is set.
pub(crate) fn metadata_text(key: &str, metadata: &Metadata) -> String {
    let mut lines = vec![format!("key: {key}")];
    if let Some(size) = metadata.size {
        lines.push(format!("size: {size}"));
    }
    lines.push(format!("content-type: {}", metadata.content_type));
    if let Some(c) = metadata.compression {
        lines.push(format!("compression: {c}"));
    }
    lines.push(format!("expiration: {}", metadata.expiration_policy));
    if let Some(t) = metadata.time_created {
        lines.push(format!("created: {}", objectstore_types::time::format(t)));
    }
    if let Some(t) = metadata.time_expires {
        lines.push(format!("expires: {}", objectstore_types::time::format(t)));
    }
    if let Some(o) = &metadata.origin {
        lines.push(format!("origin: {o}"));
    }
    if let Some(f) = &metadata.filename {
        lines.push(format!("filename: {f}"));
    }
    for (k, v) in &metadata.custom {
        lines.push(format!("meta {k}: {v}"));
    }
    lines.join("\n")
}
