//! [`Corrupt`]: a store that does not keep what it is sent, or does not return what it
//! kept, as an [`Around`]: it truncates, pads or flips bytes of the payload streams going
//! into the backend (puts and parts) or coming out of it (GET bodies), and may withhold its
//! account of a put (a receipt without size and MD5, as stores whose ETags are not MD5s
//! give, so that the caller must read the size back).
//!
//! For the tests of [`crate::integrity`]: wrapped around a long-term store, nothing corrupt
//! may be acknowledged or served as success. The damaged streams are read to their end
//! (the bytes a store would receive), so the caller's digest of what it sent completes.
//!
//! ```ignore
//! let lt = Decorated::new(Arc::new(memory), Corrupt::new().on_write(Damage::Flip(7)));
//! ```

use std::any::Any;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::Stream;

use super::{Around, Call};
use crate::backend::PutReceipt;
use crate::stream::PayloadStream;

/// What happens to a stream's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// The last `n` bytes are lost.
    Truncate(usize),
    /// `n` bytes (0xAB) are added at the end.
    Pad(usize),
    /// The byte at this offset is inverted (nothing happens to a shorter stream).
    Flip(u64),
}

#[derive(Debug, Default)]
struct Rules {
    writes: Option<Damage>,
    reads: Option<Damage>,
    silent_receipts: bool,
}

/// The decorator; clones share their rules (a test keeps one to change them).
#[derive(Debug, Clone, Default)]
pub struct Corrupt {
    rules: Arc<Mutex<Rules>>,
}

impl Corrupt {
    /// No damage yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Damages every body written from now on.
    pub fn on_write(self, damage: Damage) -> Self {
        self.set_write(Some(damage));
        self
    }

    /// Damages every body read from now on.
    pub fn on_read(self, damage: Damage) -> Self {
        self.set_read(Some(damage));
        self
    }

    /// Put receipts report neither size nor MD5 from now on.
    pub fn silent_receipts(self) -> Self {
        self.lock().silent_receipts = true;
        self
    }

    /// Changes the damage of writes (`None`: heal).
    pub fn set_write(&self, damage: Option<Damage>) {
        self.lock().writes = damage;
    }

    /// Changes the damage of reads (`None`: heal).
    pub fn set_read(&self, damage: Option<Damage>) {
        self.lock().reads = damage;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Around for Corrupt {
    fn rewrite(&self, value: &mut dyn Any) {
        if self.lock().silent_receipts
            && let Some(receipt) = value.downcast_mut::<PutReceipt>()
        {
            receipt.size = None;
            receipt.md5 = None;
        }
    }

    fn body_in(&self, call: &Call<'_>, body: PayloadStream) -> PayloadStream {
        let _ = call;
        damaged(body, self.lock().writes)
    }

    fn body_out(&self, call: &Call<'_>, body: PayloadStream) -> PayloadStream {
        let _ = call;
        damaged(body, self.lock().reads)
    }
}

/// `body` with `damage` applied (unchanged without).
pub fn damaged(body: PayloadStream, damage: Option<Damage>) -> PayloadStream {
    match damage {
        None => body,
        Some(damage) => Box::pin(Damaged {
            body,
            damage,
            offset: 0,
            tail: BytesMut::new(),
            ended: false,
        }),
    }
}

struct Damaged {
    body: PayloadStream,
    damage: Damage,
    /// Bytes of the original stream seen so far.
    offset: u64,
    /// Held back for `Truncate` (the last `n` bytes seen).
    tail: BytesMut,
    ended: bool,
}

impl Stream for Damaged {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            let chunk = match this.body.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    this.ended = true;
                    if let Damage::Pad(n) = this.damage {
                        return Poll::Ready(Some(Ok(Bytes::from(vec![0xAB; n]))));
                    }
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Ok(chunk))) => chunk,
            };
            let start = this.offset;
            this.offset += chunk.len() as u64;
            match this.damage {
                Damage::Pad(_) => return Poll::Ready(Some(Ok(chunk))),
                Damage::Flip(at) => {
                    if (start..this.offset).contains(&at) {
                        let mut bytes = BytesMut::from(&chunk[..]);
                        bytes[(at - start) as usize] ^= 0xFF;
                        return Poll::Ready(Some(Ok(bytes.freeze())));
                    }
                    return Poll::Ready(Some(Ok(chunk)));
                }
                Damage::Truncate(n) => {
                    this.tail.extend_from_slice(&chunk);
                    if this.tail.len() > n {
                        let out = this.tail.split_to(this.tail.len() - n);
                        return Poll::Ready(Some(Ok(out.freeze())));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::stream::read_to_vec;

    fn body() -> PayloadStream {
        let chunks = vec![Ok(Bytes::from("abc")), Ok(Bytes::from("def"))];
        futures::stream::iter(chunks).boxed()
    }

    #[tokio::test]
    async fn damages_streams_as_told() {
        let read = |d| async move { read_to_vec(damaged(body(), Some(d))).await.unwrap() };
        assert_eq!(read(Damage::Truncate(2)).await, b"abcd");
        assert_eq!(read(Damage::Truncate(0)).await, b"abcdef");
        assert_eq!(read(Damage::Pad(2)).await, b"abcdef\xAB\xAB");
        assert_eq!(read(Damage::Flip(4)).await, b"abcd\x9af");
        assert_eq!(read(Damage::Flip(60)).await, b"abcdef");
        assert_eq!(read_to_vec(damaged(body(), None)).await.unwrap(), b"abcdef");
    }
}
