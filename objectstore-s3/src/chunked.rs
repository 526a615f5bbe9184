//! A streaming decoder of `aws-chunked` bodies, for requests whose signatures the front does
//! not check (zero-config, see [`crate::normalize`]). With credentials, s3s decodes and
//! verifies these bodies itself.
//!
//! Framing (all `STREAMING-*` variants of `x-amz-content-sha256`):
//!
//! ```text
//! <hex size>[;chunk-signature=<sig>]\r\n <size bytes> \r\n     (repeated)
//! 0[;chunk-signature=<sig>]\r\n
//! [<name>:<value>\r\n ...]                                      (trailers, optional)
//! \r\n
//! ```
//!
//! **Invariants:** data bytes are passed on as they arrive (a chunk is never buffered
//! whole); lines are bounded ([`MAX_LINE`]) and so are trailers ([`MAX_TRAILERS`]); any
//! deviation (a bad size, a missing CRLF, data after the final chunk, a total different from
//! `x-amz-decoded-content-length`, an early end) ends the stream with a [`BodyError`], so
//! nothing is stored.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::{Buf as _, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue};
use s3s::StdError;
use s3s::stream::{ByteStream, RemainingLength};

use crate::errors::BodyError;

/// Longest chunk header line.
pub const MAX_LINE: usize = 4096;
/// Most bytes of trailers.
pub const MAX_TRAILERS: usize = 16 * 1024;

/// The trailers of a body decoded by the front; filled when the body ended.
#[derive(Debug, Clone, Default)]
pub struct OwnTrailers(Arc<Mutex<Option<HeaderMap>>>);

impl OwnTrailers {
    /// Stores the trailers.
    pub fn set(&self, headers: HeaderMap) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(headers);
    }

    /// Reads the trailers (`None` until the body ended).
    pub fn read<R>(&self, f: impl FnOnce(&HeaderMap) -> Option<R>) -> Option<R> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// The decoder (module docs).
pub struct Decoder<S> {
    inner: S,
    buf: BytesMut,
    state: State,
    decoded: u64,
    expected: u64,
    trailers: OwnTrailers,
    trailer_map: HeaderMap,
    trailer_bytes: usize,
    inner_done: bool,
    ended: bool,
}

impl<S> Decoder<S> {
    /// Decodes `inner`, which must yield exactly `expected` data bytes.
    pub fn new(inner: S, expected: u64, trailers: OwnTrailers) -> Self {
        Self {
            inner,
            buf: BytesMut::new(),
            state: State::Header,
            decoded: 0,
            expected,
            trailers,
            trailer_map: HeaderMap::new(),
            trailer_bytes: 0,
            inner_done: false,
            ended: false,
        }
    }
}

/// One line (without its CRLF) from the front of `buf`, if complete.
fn take_line(buf: &mut BytesMut) -> Option<Bytes> {
    let at = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = buf.split_to(at).freeze();
    buf.advance(2);
    Some(line)
}

fn framing(what: impl Into<String>) -> BodyError {
    BodyError::Framing(what.into())
}

fn chunk_size(line: &[u8]) -> Result<u64, BodyError> {
    let size = line.split(|b| *b == b';').next().unwrap_or_default();
    let text = std::str::from_utf8(size).map_err(|_| framing("chunk size is not ASCII"))?;
    if text.is_empty() || text.len() > 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(framing(format!("invalid chunk size {text:?}")));
    }
    u64::from_str_radix(text, 16).map_err(|_| framing("chunk size overflows"))
}

impl<S> Decoder<S>
where
    S: Stream<Item = Result<Bytes, StdError>> + Unpin,
{
    /// Reads more input into `buf`. `Ok(false)` at the end of the input.
    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, BodyError>> {
        if self.inner_done {
            return Poll::Ready(Ok(false));
        }
        match ready!(self.inner.poll_next_unpin(cx)) {
            Some(Ok(chunk)) => {
                self.buf.extend_from_slice(&chunk);
                Poll::Ready(Ok(true))
            }
            Some(Err(e)) => Poll::Ready(Err(BodyError::classify(e.as_ref()))),
            None => {
                self.inner_done = true;
                Poll::Ready(Ok(false))
            }
        }
    }

    fn add_trailer(&mut self, line: &[u8]) -> Result<(), BodyError> {
        self.trailer_bytes += line.len() + 2;
        if self.trailer_bytes > MAX_TRAILERS {
            return Err(framing("trailers too large"));
        }
        let text = std::str::from_utf8(line).map_err(|_| framing("trailer is not UTF-8"))?;
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| framing(format!("trailer {text:?} is not name:value")))?;
        let name = name.trim().to_ascii_lowercase();
        if name == "x-amz-trailer-signature" {
            return Ok(());
        }
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| framing(format!("invalid trailer name {name:?}")))?;
        let value =
            HeaderValue::from_str(value.trim()).map_err(|_| framing("invalid trailer value"))?;
        self.trailer_map.insert(name, value);
        Ok(())
    }

    /// One step of the state machine: `Some(chunk)` to emit, `None` to continue or end.
    fn step(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, BodyError>> {
        loop {
            match self.state {
                State::Header => match take_line(&mut self.buf) {
                    Some(line) => {
                        let size = chunk_size(&line)?;
                        self.state = if size == 0 {
                            State::Trailers
                        } else {
                            State::Data(size)
                        };
                    }
                    None if self.buf.len() > MAX_LINE => {
                        return Poll::Ready(Err(framing("chunk header too long")));
                    }
                    None => {
                        if !ready!(self.fill(cx))? {
                            return Poll::Ready(Err(BodyError::Incomplete(
                                "the aws-chunked body ended inside a chunk header".into(),
                            )));
                        }
                    }
                },
                State::Data(left) => {
                    if self.buf.is_empty() && !ready!(self.fill(cx))? {
                        return Poll::Ready(Err(BodyError::Incomplete(
                            "the aws-chunked body ended inside a chunk".into(),
                        )));
                    }
                    let n = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(self.buf.len());
                    let data = self.buf.split_to(n).freeze();
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    self.decoded += n as u64;
                    if self.decoded > self.expected {
                        return Poll::Ready(Err(framing(
                            "more data than x-amz-decoded-content-length",
                        )));
                    }
                    return Poll::Ready(Ok(Some(data)));
                }
                State::DataEnd => {
                    if self.buf.len() < 2 {
                        if !ready!(self.fill(cx))? {
                            return Poll::Ready(Err(BodyError::Incomplete(
                                "the aws-chunked body ended after a chunk".into(),
                            )));
                        }
                        continue;
                    }
                    if &self.buf[..2] != b"\r\n" {
                        return Poll::Ready(Err(framing("a chunk does not end with CRLF")));
                    }
                    self.buf.advance(2);
                    self.state = State::Header;
                }
                State::Trailers => match take_line(&mut self.buf) {
                    Some(line) if line.is_empty() => self.state = State::Done,
                    Some(line) => self.add_trailer(&line)?,
                    None if self.buf.len() > MAX_TRAILERS => {
                        return Poll::Ready(Err(framing("trailers too large")));
                    }
                    None => {
                        if !ready!(self.fill(cx))? {
                            // Tolerated: the input ends right after the last chunk or the
                            // last trailer line.
                            let rest = self.buf.split().freeze();
                            if !rest.is_empty() {
                                self.add_trailer(&rest)?;
                            }
                            self.state = State::Done;
                        }
                    }
                },
                State::Done => {
                    while self.buf.is_empty() && ready!(self.fill(cx))? {}
                    if !self.buf.is_empty() {
                        return Poll::Ready(Err(framing("data after the final chunk")));
                    }
                    if self.decoded != self.expected {
                        return Poll::Ready(Err(BodyError::Incomplete(format!(
                            "{} bytes decoded, x-amz-decoded-content-length is {}",
                            self.decoded, self.expected
                        ))));
                    }
                    self.trailers.set(std::mem::take(&mut self.trailer_map));
                    return Poll::Ready(Ok(None));
                }
            }
        }
    }
}

impl<S> Stream for Decoder<S>
where
    S: Stream<Item = Result<Bytes, StdError>> + Unpin,
{
    type Item = Result<Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        match ready!(this.step(cx)) {
            Ok(Some(chunk)) => Poll::Ready(Some(Ok(chunk))),
            Ok(None) => {
                this.ended = true;
                Poll::Ready(None)
            }
            Err(e) => {
                this.ended = true;
                Poll::Ready(Some(Err(Box::new(e))))
            }
        }
    }
}

impl<S> ByteStream for Decoder<S>
where
    S: Stream<Item = Result<Bytes, StdError>> + Unpin,
{
    fn remaining_length(&self) -> RemainingLength {
        usize::try_from(self.expected.saturating_sub(self.decoded))
            .map(RemainingLength::new_exact)
            .unwrap_or_else(|_| RemainingLength::unknown())
    }
}

#[cfg(test)]
mod tests;
