//! What the S3 front needs from the server it runs in: admission control and request
//! metrics. The server implements [`Hooks`] over its own admission module and metrics, so
//! the S3 listener obeys the same killswitches, rate limits, usecase expiration policies,
//! in-flight limit and metric names as the objectstore API. [`NoHooks`] admits everything
//! (tests, embedding without a server).
//!
//! Call order per request (see [`crate::front`]): [`Hooks::request`] when it arrives (an
//! error refuses it: 503 `ServiceUnavailable`); then, in the handler, after the bucket and
//! key were validated, [`Hooks::admit`] on the object's usecase and scopes (for
//! `DeleteObjects`: [`Hooks::admit_batch_op`] per key); [`Hooks::check_policy`] on every
//! write's expiration policy; [`Hooks::meter`] around request bodies of writes and response
//! bodies of reads; [`RequestScope::responded`] once the response head is ready; the scope
//! is dropped when the response body has been sent or dropped.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{Method, StatusCode};
use objectstore_service::stream::PayloadStream;
use objectstore_types::{ExpirationPolicy, ObjectContext};

use crate::errors::Refusal;

/// Admission control and metrics of the hosting server.
pub trait Hooks: Send + Sync + 'static {
    /// A request arrived. `Err(Refusal::Busy)` refuses it (the in-flight limit). The scope
    /// lives until the response body is finished or dropped.
    fn request(&self, method: &Method) -> Result<Box<dyn RequestScope>, Refusal>;

    /// Killswitch, then rate limits, for a request on `context`. `downstream_service` is
    /// the raw `x-downstream-service` header.
    fn admit(
        &self,
        context: &ObjectContext,
        downstream_service: Option<&str>,
    ) -> Result<(), Refusal>;

    /// The same for one key of a `DeleteObjects` (keys may differ in scopes).
    fn admit_batch_op(
        &self,
        context: &ObjectContext,
        downstream_service: Option<&str>,
    ) -> Result<(), Refusal>;

    /// Charges a body's bytes to `context`'s bandwidth limits as they flow.
    fn meter(&self, context: &ObjectContext, body: PayloadStream) -> PayloadStream;

    /// The usecase's rules for expiration policies of new objects; `Err` is the reason.
    fn check_policy(
        &self,
        context: &ObjectContext,
        policy: &ExpirationPolicy,
    ) -> Result<(), String>;
}

/// Metrics of one request.
pub trait RequestScope: Send {
    /// The response head is ready: `operation` is the S3 operation (`GetObject`, …, or
    /// `unknown` when the request failed before it was routed).
    fn responded(&mut self, operation: &str, status: StatusCode, elapsed: Duration);

    /// Request body bytes read.
    fn request_bytes(&mut self, n: u64);

    /// Response body bytes sent.
    fn response_bytes(&mut self, n: u64);
}

/// Where the access check records the routed operation's name (for metrics).
#[derive(Debug, Clone, Default)]
pub struct OperationSlot(Arc<OnceLock<String>>);

impl OperationSlot {
    /// Records the name (the first one wins).
    pub fn set(&self, name: &str) {
        let _ = self.0.set(name.to_owned());
    }

    /// The name, or `unknown` when the request failed before it was routed.
    pub fn get(&self) -> &str {
        self.0.get().map_or("unknown", String::as_str)
    }
}

/// Hooks that admit everything and record nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

struct NoScope;

impl RequestScope for NoScope {
    fn responded(&mut self, _: &str, _: StatusCode, _: Duration) {}
    fn request_bytes(&mut self, _: u64) {}
    fn response_bytes(&mut self, _: u64) {}
}

impl Hooks for NoHooks {
    fn request(&self, _: &Method) -> Result<Box<dyn RequestScope>, Refusal> {
        Ok(Box::new(NoScope))
    }

    fn admit(&self, _: &ObjectContext, _: Option<&str>) -> Result<(), Refusal> {
        Ok(())
    }

    fn admit_batch_op(&self, _: &ObjectContext, _: Option<&str>) -> Result<(), Refusal> {
        Ok(())
    }

    fn meter(&self, _: &ObjectContext, body: PayloadStream) -> PayloadStream {
        body
    }

    fn check_policy(&self, _: &ObjectContext, _: &ExpirationPolicy) -> Result<(), String> {
        Ok(())
    }
}
