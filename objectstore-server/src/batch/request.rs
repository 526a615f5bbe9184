//! The request side of a batch: reads the multipart body part by part and turns each part
//! into an operation for the executor or an error part for the response.
//!
//! For every part, in order (index 0, 1, ...), with the [`Limits`] of the request
//! (normally [`MAX_OPERATIONS`](super::MAX_OPERATIONS),
//! [`MAX_INSERT_SIZE`](super::MAX_INSERT_SIZE) and [`MAX_BODY_SIZE`](super::MAX_BODY_SIZE)):
//!
//! 1. Past the operation limit: its data is skipped; outcome `413`.
//! 2. Headers: `x-sn-batch-operation-kind` (required, case-insensitive), then
//!    `x-sn-batch-operation-key` (required except for inserts; percent-decoded to UTF-8 and
//!    validated as an [`ObjectKey`]), then for inserts the metadata headers. A problem makes
//!    the outcome `400`; the part's data is skipped.
//! 3. Data: an insert's payload is buffered up to the insert limit; beyond that nothing more
//!    is buffered, the rest is skipped and the outcome is `413`. Other kinds' data is
//!    skipped.
//! 4. The [`BatchGuard`] admits the operation, or its rejection is the outcome.
//! 5. The operation goes to the executor (waiting while its window is full).
//!
//! A multipart syntax or transport error (including a body over the body limit, or a part
//! header block over [`HEADER_PHASE_LIMIT`](super::intake::HEADER_PHASE_LIMIT)) at any step
//! ends parsing: the index being parsed gets a `400` part and nothing more is read. The body
//! reaches `multer` through an [`Intake`], which bounds how far it reads ahead.

use std::sync::Arc;

use axum::body::Body;
use bytes::BytesMut;
use futures::stream::{self, Stream};
use http::StatusCode;
use objectstore_service::batch::BatchOp;
use objectstore_types::{Metadata, ObjectKey};
use percent_encoding::percent_decode;
use tokio::sync::mpsc;

use super::intake::{HeaderPhase, Intake};
use super::response::Part;
use super::{BatchGuard, HEADER_KEY, HEADER_KIND, Limits, OpKind};

/// Starts parsing `body`. Returns the stream of valid operations (for the executor) and the
/// stream of error parts. Parsing advances only while the error stream is polled; the
/// operation stream ends once the error stream has ended and all operations were taken.
pub(super) fn parse(
    body: Body,
    boundary: String,
    guard: Arc<dyn BatchGuard>,
    limits: Limits,
) -> (
    impl Stream<Item = (usize, BatchOp)> + Send + 'static,
    impl Stream<Item = Part> + Send + 'static,
) {
    // Capacity one: the parser runs at most one operation ahead of the executor's window.
    let (ops_tx, ops_rx) = mpsc::channel(1);
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(limits.max_body_size));
    let (intake, header_phase) = Intake::new(body.into_data_stream());
    let parser = Parser {
        multipart: multer::Multipart::with_constraints(intake, boundary, constraints),
        header_phase,
        next_index: 0,
        ops: ops_tx,
        guard,
        limits,
        done: false,
    };
    let ops = stream::unfold(ops_rx, |mut rx| async move {
        let op = rx.recv().await?;
        Some((op, rx))
    });
    let errors = stream::unfold(parser, |mut parser| async move {
        let part = parser.next_error_part().await?;
        Some((part, parser))
    });
    (ops, errors)
}

/// What became of one request part.
enum Parsed {
    /// A valid, admitted operation.
    Op(BatchOp),
    /// The part is answered with this error part; parsing continues.
    Rejected(Part),
    /// The multipart stream is broken: answer with this part and stop.
    Fatal(Part),
}

/// The parser's state, owned by the error stream.
struct Parser {
    multipart: multer::Multipart<'static>,
    header_phase: HeaderPhase,
    next_index: usize,
    ops: mpsc::Sender<(usize, BatchOp)>,
    guard: Arc<dyn BatchGuard>,
    limits: Limits,
    done: bool,
}

impl Parser {
    /// Parses parts, forwarding operations, until one yields an error part (returned) or the
    /// body ends (`None`; dropping the parser then closes the operation channel).
    async fn next_error_part(&mut self) -> Option<Part> {
        while !self.done {
            let index = self.next_index;
            self.header_phase.start();
            let next = self.multipart.next_field().await;
            self.header_phase.end();
            let field = match next {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(e) => {
                    self.done = true;
                    return Some(multipart_error(index, &e));
                }
            };
            self.next_index += 1;
            match self.parse_part(index, field).await {
                Parsed::Op(op) => {
                    if self.ops.send((index, op)).await.is_err() {
                        // The executor is gone: the response was dropped.
                        break;
                    }
                }
                Parsed::Rejected(part) => return Some(part),
                Parsed::Fatal(part) => {
                    self.done = true;
                    return Some(part);
                }
            }
        }
        self.done = true;
        None
    }

    /// Steps 1 to 4 of the module docs for one part.
    async fn parse_part(&self, index: usize, mut field: multer::Field<'static>) -> Parsed {
        let Limits {
            max_operations,
            max_insert_size,
            ..
        } = self.limits;
        if index >= max_operations {
            return match drain(&mut field).await {
                Ok(()) => Parsed::Rejected(Part::error(
                    index,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("batch error: at most {max_operations} operations per batch"),
                    Vec::new(),
                )),
                Err(e) => Parsed::Fatal(multipart_error(index, &e)),
            };
        }

        let op = match parse_headers(field.headers()) {
            Ok(PartHeader::Insert { key, metadata }) => {
                match read_bounded(&mut field, max_insert_size).await {
                    Ok(Some(payload)) => BatchOp::Insert {
                        key,
                        metadata,
                        payload,
                    },
                    Ok(None) => {
                        return Parsed::Rejected(Part::error(
                            index,
                            StatusCode::PAYLOAD_TOO_LARGE,
                            format!(
                                "batch error: insert payload exceeds {max_insert_size} bytes; \
                             upload it with a single request"
                            ),
                            Vec::new(),
                        ));
                    }
                    Err(e) => return Parsed::Fatal(multipart_error(index, &e)),
                }
            }
            Ok(PartHeader::Op(op)) => match drain(&mut field).await {
                Ok(()) => op,
                Err(e) => return Parsed::Fatal(multipart_error(index, &e)),
            },
            Err(detail) => {
                return match drain(&mut field).await {
                    Ok(()) => Parsed::Rejected(Part::error(
                        index,
                        StatusCode::BAD_REQUEST,
                        detail,
                        Vec::new(),
                    )),
                    Err(e) => Parsed::Fatal(multipart_error(index, &e)),
                };
            }
        };

        let (kind, metadata) = match &op {
            BatchOp::Get { .. } => (OpKind::Get, None),
            BatchOp::Head { .. } => (OpKind::Head, None),
            BatchOp::Insert { metadata, .. } => (OpKind::Insert, Some(&**metadata)),
            BatchOp::Delete { .. } => (OpKind::Delete, None),
        };
        match self.guard.check(kind, metadata) {
            Ok(()) => Parsed::Op(op),
            Err(rejection) => Parsed::Rejected(Part::error(
                index,
                rejection.status,
                rejection.message,
                Vec::new(),
            )),
        }
    }
}

/// The parsed headers of a part.
enum PartHeader {
    /// An insert, whose payload is still to be read.
    Insert {
        key: Option<ObjectKey>,
        metadata: Box<Metadata>,
    },
    /// A complete operation of another kind (its data is ignored).
    Op(BatchOp),
}

/// Step 2 of the module docs. `Err` is the detail of the `400` part.
fn parse_headers(headers: &http::HeaderMap) -> Result<PartHeader, String> {
    let Some(raw_kind) = headers.get(HEADER_KIND) else {
        return Err(format!("batch error: missing header `{HEADER_KIND}`"));
    };
    let Some(kind) = raw_kind.to_str().ok().and_then(OpKind::parse) else {
        return Err(format!(
            "batch error: unknown operation kind {:?} in `{HEADER_KIND}`; \
             expected get, head, insert or delete",
            String::from_utf8_lossy(raw_kind.as_bytes())
        ));
    };
    let key = match headers.get(HEADER_KEY) {
        None => None,
        Some(raw) => Some(decode_key(raw.as_bytes()).map_err(|e| format!("batch error: {e}"))?),
    };
    let required = |key: Option<ObjectKey>| {
        key.ok_or_else(|| {
            format!(
                "batch error: missing header `{HEADER_KEY}` (required for {})",
                kind.as_str()
            )
        })
    };
    Ok(match kind {
        OpKind::Get => PartHeader::Op(BatchOp::Get {
            key: required(key)?,
        }),
        OpKind::Head => PartHeader::Op(BatchOp::Head {
            key: required(key)?,
        }),
        OpKind::Delete => PartHeader::Op(BatchOp::Delete {
            key: required(key)?,
        }),
        OpKind::Insert => PartHeader::Insert {
            key,
            metadata: Box::new(
                Metadata::from_headers(headers)
                    .map_err(|e| format!("batch error: invalid metadata: {e}"))?,
            ),
        },
    })
}

/// Decodes a request key header: `%XX` escapes to bytes (a `%` not followed by two hex digits stays
/// literal; literal visible ASCII is accepted, docs/http-api.md §8.2), the bytes as UTF-8, then the
/// key rules of [`ObjectKey::new`].
pub(super) fn decode_key(raw: &[u8]) -> Result<ObjectKey, String> {
    let decoded = percent_decode(raw)
        .decode_utf8()
        .map_err(|_| format!("`{HEADER_KEY}` does not decode to valid UTF-8"))?;
    ObjectKey::new(decoded).map_err(|e| e.to_string())
}

/// Reads an insert payload of at most `limit` bytes. `Ok(None)` when it is larger: nothing
/// beyond the limit is buffered, and the rest of the part is skipped.
async fn read_bounded(
    field: &mut multer::Field<'static>,
    limit: usize,
) -> Result<Option<bytes::Bytes>, multer::Error> {
    let mut payload = BytesMut::new();
    while let Some(chunk) = field.chunk().await? {
        if payload.len() + chunk.len() > limit {
            drop(payload);
            drain(field).await?;
            return Ok(None);
        }
        payload.extend_from_slice(&chunk);
    }
    Ok(Some(payload.freeze()))
}

/// Reads and discards the rest of a part's data.
async fn drain(field: &mut multer::Field<'static>) -> Result<(), multer::Error> {
    while field.chunk().await?.is_some() {}
    Ok(())
}

/// The `400` part for a broken multipart stream.
fn multipart_error(index: usize, error: &multer::Error) -> Part {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        causes.push(e.to_string());
        source = e.source();
    }
    Part::error(
        index,
        StatusCode::BAD_REQUEST,
        format!("batch error: failed to parse multipart body: {error}"),
        causes,
    )
}
