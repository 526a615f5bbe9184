//! [`Faults`]: a ready-made [`Hooks`] driven by rules "on these calls of method X, do Y".
//!
//! Every call of a [`Method`] is counted (1-based, per method). The first rule whose method
//! and [`Calls`] match decides what happens:
//!
//! * [`Fault::Fail`]: return an injected [`Error::Backend`] without calling the inner backend.
//! * [`Fault::FailAfterCommit`]: call the inner backend (its effect stays), then return the
//!   injected error, as if the response was lost.
//! * [`Fault::Panic`]: panic without calling the inner backend.
//! * [`Fault::PauseBefore`] / [`Fault::PauseAfter`]: signal the [`Gate`] and wait until the
//!   test releases it, before or after the inner call.
//!
//! Without a matching rule the call is forwarded. `join` is always forwarded, uncounted.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use objectstore_types::range::ByteRange;
use objectstore_types::{Metadata, ObjectId};
use tokio::sync::Notify;

use super::Hooks;
use crate::backend::memory::MemoryBackend;
use crate::backend::{
    Backend, ChangeRecord, CompleteRejection, CompletedPart, ExpiredRow, ExpiryCursor,
    ExpiryTarget, ExtendOutcome, GetResponse, HighVolumeBackend, LongTermBackend, PartsPage,
    TieredGet, TieredMetadata, TieredWrite, Tombstone,
};
use crate::error::{Error, Result};
use crate::stream::PayloadStream;

/// A backend method that [`Faults`] can disturb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(
    missing_docs,
    reason = "each variant names the backend method of the same name"
)]
pub enum Method {
    PutObject,
    GetObject,
    GetMetadata,
    DeleteObject,
    ExtendExpiry,
    PutNonTombstone,
    GetTiered,
    GetTieredMetadata,
    DeleteNonTombstone,
    CompareAndWrite,
    DeleteIfExpired,
    ScanExpired,
    LogAppend,
    LogGet,
    LogRemove,
    LogClaim,
    LogLen,
    LeaseRenew,
    LeaseRelease,
    InitiateMultipart,
    UploadPart,
    ListParts,
    AbortMultipart,
    CompleteMultipart,
}

impl Method {
    /// The method's name, as in the traits.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PutObject => "put_object",
            Self::GetObject => "get_object",
            Self::GetMetadata => "get_metadata",
            Self::DeleteObject => "delete_object",
            Self::ExtendExpiry => "extend_expiry",
            Self::PutNonTombstone => "put_non_tombstone",
            Self::GetTiered => "get_tiered",
            Self::GetTieredMetadata => "get_tiered_metadata",
            Self::DeleteNonTombstone => "delete_non_tombstone",
            Self::CompareAndWrite => "compare_and_write",
            Self::DeleteIfExpired => "delete_if_expired",
            Self::ScanExpired => "scan_expired",
            Self::LogAppend => "log_append",
            Self::LogGet => "log_get",
            Self::LogRemove => "log_remove",
            Self::LogClaim => "log_claim",
            Self::LogLen => "log_len",
            Self::LeaseRenew => "lease_renew",
            Self::LeaseRelease => "lease_release",
            Self::InitiateMultipart => "initiate_multipart",
            Self::UploadPart => "upload_part",
            Self::ListParts => "list_parts",
            Self::AbortMultipart => "abort_multipart",
            Self::CompleteMultipart => "complete_multipart",
        }
    }
}

/// Which calls of a method a rule applies to (1-based, counted per method).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calls {
    /// Every call.
    All,
    /// Only the n-th call.
    Nth(usize),
    /// The n-th call and every later one.
    From(usize),
}

impl Calls {
    fn matches(self, n: usize) -> bool {
        match self {
            Self::All => true,
            Self::Nth(k) => n == k,
            Self::From(k) => n >= k,
        }
    }
}

/// A pause point shared between a test and a paused call.
///
/// The call signals [`Gate::reached`] and then waits for [`Gate::release`]. Both sides may
/// come first (the signals are stored as permits). Each release lets one paused call on.
#[derive(Debug, Default)]
pub struct Gate {
    reached: Notify,
    released: Notify,
}

impl Gate {
    /// A new gate.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Waits until a call reached the gate.
    pub async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets one paused call (present or future) continue.
    pub fn release(&self) {
        self.released.notify_one();
    }

    /// The paused side: signals that the gate was reached, then waits for a release.
    pub async fn pause(&self) {
        self.reached.notify_one();
        self.released.notified().await;
    }
}

/// What a matching rule does to a call. See the module docs.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Fail without calling the inner backend.
    Fail,
    /// Call the inner backend, then fail.
    FailAfterCommit,
    /// Panic without calling the inner backend.
    Panic,
    /// Wait at the gate, then forward.
    PauseBefore(Arc<Gate>),
    /// Forward, then wait at the gate before answering.
    PauseAfter(Arc<Gate>),
}

#[derive(Debug)]
struct Rule {
    method: Method,
    calls: Calls,
    fault: Fault,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    calls: HashMap<Method, usize>,
}

/// Rule-driven [`Hooks`] with call counters. Clones share rules and counters, so a test
/// keeps one clone to add rules or read [`Faults::calls`] after handing the other to a
/// [`super::HookBackend`].
#[derive(Debug, Clone, Default)]
pub struct Faults {
    state: Arc<Mutex<State>>,
}

impl Faults {
    /// No rules: every call is forwarded (and counted).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a rule (rules added earlier win).
    pub fn on(self, method: Method, calls: Calls, fault: Fault) -> Self {
        self.add(method, calls, fault);
        self
    }

    /// Adds a rule to shared faults (rules added earlier win).
    pub fn add(&self, method: Method, calls: Calls, fault: Fault) {
        self.lock().rules.push(Rule {
            method,
            calls,
            fault,
        });
    }

    /// Removes every rule; calls are forwarded from now on.
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// How many times `method` was called so far.
    pub fn calls(&self, method: Method) -> usize {
        self.lock().calls.get(&method).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn injected(method: Method) -> Error {
        Error::backend(
            "hooks",
            method.as_str(),
            io::Error::other(format!("injected failure of {}", method.as_str())),
        )
    }

    /// Counts the call and applies the part of the fault that comes before the inner call;
    /// returns the part that comes after.
    async fn before(&self, method: Method) -> Result<Option<Fault>> {
        let fault = {
            let mut state = self.lock();
            let n = state.calls.entry(method).or_default();
            *n += 1;
            let n = *n;
            state
                .rules
                .iter()
                .find(|r| r.method == method && r.calls.matches(n))
                .map(|r| r.fault.clone())
        };
        match fault {
            None => Ok(None),
            Some(Fault::Fail) => Err(Self::injected(method)),
            Some(Fault::Panic) => panic!("injected panic in {}", method.as_str()),
            Some(Fault::PauseBefore(gate)) => {
                gate.pause().await;
                Ok(None)
            }
            Some(after) => Ok(Some(after)),
        }
    }

    async fn after<T>(&self, method: Method, fault: Option<Fault>, result: Result<T>) -> Result<T> {
        match fault {
            Some(Fault::FailAfterCommit) => Err(Self::injected(method)),
            Some(Fault::PauseAfter(gate)) => {
                gate.pause().await;
                result
            }
            _ => result,
        }
    }
}

/// Runs `$call` under the rules for `$method`.
macro_rules! faulty {
    ($self:ident, $method:expr, $call:expr) => {{
        let fault = $self.before($method).await?;
        let result = $call.await;
        $self.after($method, fault, result).await
    }};
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Hooks for Faults {
    async fn put_object(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        metadata: &Metadata,
        body: PayloadStream,
    ) -> Result<()> {
        faulty!(
            self,
            Method::PutObject,
            inner.put_object(id, metadata, body)
        )
    }

    async fn get_object(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        range: Option<ByteRange>,
    ) -> Result<GetResponse> {
        faulty!(self, Method::GetObject, inner.get_object(id, range))
    }

    async fn get_metadata(&self, inner: &MemoryBackend, id: &ObjectId) -> Result<Option<Metadata>> {
        faulty!(self, Method::GetMetadata, inner.get_metadata(id))
    }

    async fn delete_object(&self, inner: &MemoryBackend, id: &ObjectId) -> Result<()> {
        faulty!(self, Method::DeleteObject, inner.delete_object(id))
    }

    async fn extend_expiry(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        target: ExpiryTarget,
        now: SystemTime,
    ) -> Result<ExtendOutcome> {
        faulty!(
            self,
            Method::ExtendExpiry,
            inner.extend_expiry(id, target, now)
        )
    }

    async fn join(&self, inner: &MemoryBackend) {
        inner.join().await;
    }

    async fn put_non_tombstone(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        metadata: &Metadata,
        payload: Bytes,
    ) -> Result<Option<Tombstone>> {
        faulty!(
            self,
            Method::PutNonTombstone,
            inner.put_non_tombstone(id, metadata, payload)
        )
    }

    async fn get_tiered(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        range: Option<ByteRange>,
    ) -> Result<TieredGet> {
        faulty!(self, Method::GetTiered, inner.get_tiered(id, range))
    }

    async fn get_tiered_metadata(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
    ) -> Result<TieredMetadata> {
        faulty!(
            self,
            Method::GetTieredMetadata,
            inner.get_tiered_metadata(id)
        )
    }

    async fn delete_non_tombstone(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
    ) -> Result<Option<Tombstone>> {
        faulty!(
            self,
            Method::DeleteNonTombstone,
            inner.delete_non_tombstone(id)
        )
    }

    async fn compare_and_write(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        current: Option<&ObjectId>,
        write: TieredWrite,
    ) -> Result<bool> {
        faulty!(
            self,
            Method::CompareAndWrite,
            inner.compare_and_write(id, current, write)
        )
    }

    async fn delete_if_expired(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        now: SystemTime,
    ) -> Result<Option<Tombstone>> {
        faulty!(
            self,
            Method::DeleteIfExpired,
            inner.delete_if_expired(id, now)
        )
    }

    async fn scan_expired(
        &self,
        inner: &MemoryBackend,
        now: SystemTime,
        after: Option<&ExpiryCursor>,
        limit: usize,
    ) -> Result<Vec<ExpiredRow>> {
        faulty!(
            self,
            Method::ScanExpired,
            inner.scan_expired(now, after, limit)
        )
    }

    async fn log_append(&self, inner: &MemoryBackend, record: &ChangeRecord) -> Result<()> {
        faulty!(self, Method::LogAppend, inner.log_append(record))
    }

    async fn log_get(
        &self,
        inner: &MemoryBackend,
        change_id: &uuid::Uuid,
    ) -> Result<Option<ChangeRecord>> {
        faulty!(self, Method::LogGet, inner.log_get(change_id))
    }

    async fn log_remove(&self, inner: &MemoryBackend, change_id: &uuid::Uuid) -> Result<()> {
        faulty!(self, Method::LogRemove, inner.log_remove(change_id))
    }

    async fn log_claim(
        &self,
        inner: &MemoryBackend,
        claimant: &str,
        now: SystemTime,
        ignore_leases: bool,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>> {
        faulty!(
            self,
            Method::LogClaim,
            inner.log_claim(claimant, now, ignore_leases, limit)
        )
    }

    async fn log_len(&self, inner: &MemoryBackend) -> Result<u64> {
        faulty!(self, Method::LogLen, inner.log_len())
    }

    async fn lease_renew(
        &self,
        inner: &MemoryBackend,
        instance: &str,
        until: SystemTime,
    ) -> Result<()> {
        faulty!(self, Method::LeaseRenew, inner.lease_renew(instance, until))
    }

    async fn lease_release(&self, inner: &MemoryBackend, instance: &str) -> Result<()> {
        faulty!(self, Method::LeaseRelease, inner.lease_release(instance))
    }

    async fn initiate_multipart(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        metadata: &Metadata,
    ) -> Result<String> {
        faulty!(
            self,
            Method::InitiateMultipart,
            inner.initiate_multipart(id, metadata)
        )
    }

    async fn upload_part(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        upload_id: &str,
        part_number: u32,
        content_length: u64,
        body: PayloadStream,
    ) -> Result<String> {
        faulty!(
            self,
            Method::UploadPart,
            inner.upload_part(id, upload_id, part_number, content_length, body)
        )
    }

    async fn list_parts(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        upload_id: &str,
        max_parts: Option<u32>,
        marker: Option<u32>,
    ) -> Result<PartsPage> {
        faulty!(
            self,
            Method::ListParts,
            inner.list_parts(id, upload_id, max_parts, marker)
        )
    }

    async fn abort_multipart(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        upload_id: &str,
    ) -> Result<()> {
        faulty!(
            self,
            Method::AbortMultipart,
            inner.abort_multipart(id, upload_id)
        )
    }

    async fn complete_multipart(
        &self,
        inner: &MemoryBackend,
        id: &ObjectId,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<Option<CompleteRejection>> {
        faulty!(
            self,
            Method::CompleteMultipart,
            inner.complete_multipart(id, upload_id, parts)
        )
    }
}
