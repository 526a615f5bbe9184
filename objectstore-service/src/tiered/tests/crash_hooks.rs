//! [`Crash`]: a decorator ([`Around`]) that traces every backend call of one instance and
//! crashes it at a chosen call.
//!
//! A crash "before" call `i` fails that call without running it; "after" runs it, then
//! fails it (the effect landed, the answer is lost). From then on *every* call of the
//! instance fails, on both backends: to the storage, the instance is dead (its background
//! cleanups cannot act any more, its lease is never released). A panic crash panics at
//! call `i` and leaves the instance alive (panic isolation).
//!
//! The fault matrix (module `faults`) uses the same tracing with [`When::FailBefore`] and
//! [`When::FailAfter`]: call `i` fails once (without or after its effect) and the instance
//! keeps running, so its own cleanups and recovery act afterwards.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;

use crate::backend::around::{Around, Call, Method};
use crate::error::{Error, Result};

/// How the instance crashes at the chosen call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum When {
    /// The call fails without effect; the instance is dead.
    Before,
    /// The call takes effect, then fails; the instance is dead.
    After,
    /// The call panics; the instance lives on.
    Panic,
    /// The call fails without effect; the instance lives on.
    FailBefore,
    /// The call takes effect, then fails; the instance lives on.
    FailAfter,
}

#[derive(Debug, Default)]
struct State {
    trace: Vec<(&'static str, Method)>,
    point: Option<(usize, When)>,
    dead: bool,
}

/// Shared by the high-volume and long-term hooks of one instance.
#[derive(Debug, Clone, Default)]
pub(super) struct Crash(Arc<Mutex<State>>);

impl Crash {
    /// Crash at call `index` (0-based, over both backends).
    pub(super) fn at(index: usize, when: When) -> Self {
        let crash = Self::default();
        crash.lock().point = Some((index, when));
        crash
    }

    /// The calls made so far (backend name, method).
    pub(super) fn trace(&self) -> Vec<(&'static str, Method)> {
        self.lock().trace.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn crashed(method: Method) -> Error {
        Error::backend(
            "crash",
            method.as_str(),
            io::Error::other("the instance crashed"),
        )
    }

    /// Runs the call `method` of `backend` (traced), or crashes it.
    async fn call<T>(
        &self,
        backend: &'static str,
        method: Method,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let when = {
            let mut state = self.lock();
            if state.dead {
                return Err(Self::crashed(method));
            }
            let index = state.trace.len();
            state.trace.push((backend, method));
            match state.point {
                Some((at, when)) if at == index => {
                    state.dead = matches!(when, When::Before | When::After);
                    Some(when)
                }
                _ => None,
            }
        };
        match when {
            None => call.await,
            Some(When::Before | When::FailBefore) => Err(Self::crashed(method)),
            Some(When::After | When::FailAfter) => {
                let _ = call.await;
                Err(Self::crashed(method))
            }
            Some(When::Panic) => panic!("injected panic in {}", method.as_str()),
        }
    }
}

impl Around for Crash {
    fn around<'a, T: Send + 'static>(
        &'a self,
        call: Call<'a>,
        inner: BoxFuture<'a, Result<T>>,
    ) -> impl Future<Output = Result<T>> + Send + 'a {
        self.call(call.backend, call.method, inner)
    }
}
