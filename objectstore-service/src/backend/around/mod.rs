//! One decorator mechanism: [`Decorated`] runs every call of every backend contract through
//! an [`Around`], written once for all contracts.
//!
//! An [`Around`] sees each call as a [`Call`] (which [`Method`] of which backend, on which
//! object) together with the call's future, and decides how to run it: time it
//! ([`metering::Metering`]), fail, pause or answer it in tests ([`faults::Faults`]), damage
//! what a store keeps or returns in tests ([`corrupt::Corrupt`]). It may
//! also wrap the payload streams going into the backend (put and part bodies,
//! [`Around::body_in`]) and coming out of it (GET bodies, [`Around::body_out`]).
//!
//! ```ignore
//! let metered = Decorated::new(engine, Metering::new("high_volume"));
//! let hv: Arc<dyn HighVolumeStore> = Arc::new(metered);
//! ```
//!
//! **Invariants**
//!
//! * [`Decorated`] implements exactly the contracts its inner backend implements
//!   ([`Component`], [`Backend`], [`LongTermBackend`], [`HighVolumeBackend`],
//!   [`ChangeLog`], and so [`crate::backend::HighVolumeStore`]), and every method is written
//!   once, under `#[deny(clippy::missing_trait_methods)]`: no method can silently fall back
//!   to a trait default, so a decorator provably forwards everything.
//! * Every call that returns a [`Result`] goes through [`Around::around`], exactly once per
//!   call. Not decorated: `name`, `is_exclusive` (plain values) and `join` (shutdown), which
//!   are forwarded as they are.
//! * An [`Around`] whose methods keep their defaults changes nothing: same results, same
//!   errors, same streams.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use futures::future::BoxFuture;
use objectstore_types::ObjectId;

#[cfg(doc)]
use crate::backend::{Backend, ChangeLog, Component, HighVolumeBackend, LongTermBackend};
use crate::error::Result;
use crate::stream::PayloadStream;

#[cfg(any(test, feature = "testing"))]
pub mod corrupt;
mod decorated;
#[cfg(any(test, feature = "testing"))]
pub mod faults;
pub mod metering;
mod method;
#[cfg(test)]
mod tests;

pub use method::Method;

/// One backend call as an [`Around`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The contract method.
    pub method: Method,
    /// The decorated backend's [`Component::name`].
    pub backend: &'static str,
    /// The object the call is about, for calls about one object.
    pub id: Option<&'a ObjectId>,
}

/// Runs `inner` and hands its value (on success) to `f` as `dyn Any`, for a decorator that
/// looks at or changes results of one type whatever the call (`downcast_mut`).
pub async fn with_value<T: Send + 'static>(
    inner: BoxFuture<'_, Result<T>>,
    f: impl FnOnce(&mut dyn Any) + Send,
) -> Result<T> {
    let mut value = inner.await?;
    f(&mut value);
    Ok(value)
}

/// What a decorator does around each backend call. See the module docs.
pub trait Around: Debug + Send + Sync + 'static {
    /// Runs one backend call (`inner`, not started yet); the default awaits it and hands a
    /// successful value to [`Around::rewrite`].
    fn around<'a, T: Send + 'static>(
        &'a self,
        call: Call<'a>,
        inner: BoxFuture<'a, Result<T>>,
    ) -> impl Future<Output = Result<T>> + Send + 'a {
        let _ = call;
        with_value(inner, |value| self.rewrite(value))
    }

    /// Looks at or changes the value of a successful call, whatever the call
    /// (`downcast_mut` to the result types of interest), for a decorator that only rewrites
    /// results; unchanged by default. Only the default [`Around::around`] calls it.
    fn rewrite(&self, value: &mut dyn Any) {
        let _ = value;
    }

    /// A payload stream going into the backend (a put or part body); identity by default.
    fn body_in(&self, call: &Call<'_>, body: PayloadStream) -> PayloadStream {
        let _ = call;
        body
    }

    /// A payload stream coming out of the backend (a GET body); identity by default.
    fn body_out(&self, call: &Call<'_>, body: PayloadStream) -> PayloadStream {
        let _ = call;
        body
    }
}

/// A backend whose calls run through `around` (module docs). Clones share the inner backend
/// and clone the [`Around`].
#[derive(Debug)]
pub struct Decorated<B: ?Sized, A> {
    inner: Arc<B>,
    around: A,
}

impl<B: ?Sized, A> Decorated<B, A> {
    /// Wraps `inner` (keep another handle on it to inspect the state behind the decorator).
    pub fn new(inner: Arc<B>, around: A) -> Self {
        Self { inner, around }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &Arc<B> {
        &self.inner
    }

    /// The decorator.
    pub fn around(&self) -> &A {
        &self.around
    }
}

impl<B: ?Sized, A: Clone> Clone for Decorated<B, A> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            around: self.around.clone(),
        }
    }
}
