//! One keep-alive HTTP/1.1 connection per worker, on hyper's connection-level client.
//!
//! The pooled client of hyper-util would pick connections for us; the benchmark needs the
//! opposite: exactly `--connections` sockets, each used by one worker for its whole run, so
//! that "1000 sequential PUTs on one connection" means one socket. So a [`Conn`] owns a
//! [`SendRequest`] over a [`TcpStream`] (`TCP_NODELAY` set) wrapped in hyper-util's
//! [`TokioIo`], and its connection task runs on the runtime.
//!
//! Reconnect rule: before a request, if the server closed the idle connection (keep-alive
//! timeout, `keepalive_requests` reached), a new one is opened and counted in
//! [`Conn::reconnects`]. A request that fails after it was handed to hyper is never retried:
//! the caller counts it as an error.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::body::ReqBody;
use crate::target::Target;

/// A transport failure (not an HTTP status).
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// Connecting or setting socket options failed.
    #[error("connect to {addr}: {source}")]
    Connect {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// hyper failed (handshake, request, or reading the response body).
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    /// The request could not be built (invalid path or header).
    #[error("request: {0}")]
    Request(#[from] http::Error),
}

/// One connection to one target.
pub struct Conn {
    target: Arc<Target>,
    sender: Option<SendRequest<ReqBody>>,
    /// How many times a closed idle connection was reopened.
    pub reconnects: u64,
}

impl Conn {
    /// Opens a connection to `target`.
    pub async fn connect(target: Arc<Target>) -> Result<Self, ConnError> {
        let sender = open(&target).await?;
        Ok(Self {
            target,
            sender: Some(sender),
            reconnects: 0,
        })
    }

    /// The target this connection talks to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// A request to `path` (origin form, below the target's prefix) with the `host` header
    /// and, when the body is not empty, `content-length`.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        body: ReqBody,
    ) -> Result<Request<ReqBody>, ConnError> {
        let mut builder = Request::builder()
            .method(method)
            .uri(self.target.url(path))
            .header(header::HOST, self.target.host.as_str());
        if !body.is_empty() {
            builder = builder.header(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        Ok(builder.body(body)?)
    }

    /// Sends `req` and returns the response head; the body must be read (see [`drain`])
    /// before the next request on this connection.
    pub async fn send(&mut self, req: Request<ReqBody>) -> Result<Response<Incoming>, ConnError> {
        let reusable = match self.sender.take() {
            Some(mut sender) => sender.ready().await.is_ok().then_some(sender),
            None => None,
        };
        let mut sender = match reusable {
            Some(sender) => sender,
            None => {
                self.reconnects += 1;
                open(&self.target).await?
            }
        };
        let resp = sender.send_request(req).await?;
        self.sender = Some(sender);
        Ok(resp)
    }
}

async fn open(target: &Target) -> Result<SendRequest<ReqBody>, ConnError> {
    let connect = |source| ConnError::Connect {
        addr: target.addr,
        source,
    };
    let stream = TcpStream::connect(target.addr).await.map_err(connect)?;
    stream.set_nodelay(true).map_err(connect)?;
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await?;
    tokio::spawn(async move {
        // The connection ends when the sender is dropped or the server closes it; either
        // way the next `send` notices and reconnects, so the outcome is not needed here.
        let _ = connection.await;
    });
    Ok(sender)
}

/// One request on `conn`: `method path` with `body` (and `content_type`, when given), its
/// response body read by `read` ([`drain`] or [`collect`]). Errors are messages: a request
/// that cannot be built says why, a failed exchange names the request (`PUT /path: ...`).
pub async fn exchange<T, Read>(
    conn: &mut Conn,
    (method, path): (Method, &str),
    body: ReqBody,
    content_type: Option<HeaderValue>,
    read: impl FnOnce(Response<Incoming>) -> Read,
) -> Result<T, String>
where
    Read: Future<Output = Result<T, ConnError>>,
{
    let failed = |e: ConnError| format!("{method} {path}: {e}");
    let mut req = conn
        .request(method.clone(), path, body)
        .map_err(|e| e.to_string())?;
    if let Some(value) = content_type {
        req.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    let resp = conn.send(req).await.map_err(failed)?;
    read(resp).await.map_err(failed)
}

/// Reads and drops a response body; returns the status and the number of body bytes.
pub async fn drain(resp: Response<Incoming>) -> Result<(StatusCode, u64), ConnError> {
    let status = resp.status();
    let mut body = resp.into_body();
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            n += data.len() as u64;
        }
    }
    Ok((status, n))
}

/// Reads a whole (small) response body into memory.
pub async fn collect(resp: Response<Incoming>) -> Result<(StatusCode, Bytes), ConnError> {
    let status = resp.status();
    let mut body = resp.into_body();
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            buf.extend_from_slice(&data);
        }
    }
    Ok((status, buf.freeze()))
}
