//! [`Faults`]: fault injection as an [`Around`], driven by rules "on these calls of method
//! X, do Y".
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
//! * [`Fault::reply`]: answer with a value the test gives (e.g. `false` for a lost CAS race)
//!   without calling the inner backend. The value's type must be the call's (a mismatch
//!   panics, naming both types).
//!
//! Without a matching rule the call is forwarded. Calls that are not decorated (`name`,
//! `is_exclusive`, `join`) are not counted.
//!
//! ```ignore
//! let inner = MemoryBackend::new("hv", clock.clone());
//! let faults = Faults::new().on(Method::CompareAndWrite, Calls::Nth(1), Fault::FailAfterCommit);
//! let hv = Decorated::new(Arc::new(inner.clone()), faults.clone());
//! // ... drive the code under test with `hv`, inspect `inner` and `faults.calls(..)`.
//! ```

use std::any::{Any, type_name};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;
use tokio::sync::Notify;

use super::{Around, Call, Method};
use crate::error::{Error, Result};

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

/// The answer of a [`Fault::reply`]: makes a fresh value per call.
#[derive(Clone)]
pub struct Reply {
    make: Arc<dyn Fn() -> Box<dyn Any + Send> + Send + Sync>,
    type_name: &'static str,
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reply<{}>", self.type_name)
    }
}

impl Reply {
    /// The value, as the type the call returns.
    fn value<T: 'static>(&self, method: Method) -> T {
        match (self.make)().downcast::<T>() {
            Ok(value) => *value,
            Err(_) => panic!(
                "Fault::reply on `{}` answers a `{}`, but the call returns a `{}`",
                method.as_str(),
                self.type_name,
                type_name::<T>()
            ),
        }
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
    /// Answer without calling the inner backend (build it with [`Fault::reply`]).
    Reply(Reply),
}

impl Fault {
    /// Answers every matching call with `make()`, which must have the type the call
    /// returns on success (`bool` for `compare_and_write`, `GetResponse` for a plain `get`,
    /// ...).
    pub fn reply<T: Send + 'static>(make: impl Fn() -> T + Send + Sync + 'static) -> Self {
        Self::Reply(Reply {
            make: Arc::new(move || Box::new(make())),
            type_name: type_name::<T>(),
        })
    }
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

/// Rule-driven fault injection with call counters. Clones share rules and counters, so a
/// test keeps one clone to add rules or read [`Faults::calls`] after handing the other to
/// a [`super::Decorated`].
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

    /// Counts a call of `method` and returns the fault of the first matching rule.
    fn count(&self, method: Method) -> Option<Fault> {
        let mut state = self.lock();
        let n = state.calls.entry(method).or_default();
        *n += 1;
        let n = *n;
        state
            .rules
            .iter()
            .find(|r| r.method == method && r.calls.matches(n))
            .map(|r| r.fault.clone())
    }

    fn injected(method: Method) -> Error {
        Error::backend(
            "faults",
            method.as_str(),
            io::Error::other(format!("injected failure of {}", method.as_str())),
        )
    }
}

impl Around for Faults {
    fn around<'a, T: Send + 'static>(
        &'a self,
        call: Call<'a>,
        inner: BoxFuture<'a, Result<T>>,
    ) -> impl Future<Output = Result<T>> + Send + 'a {
        let method = call.method;
        async move {
            match self.count(method) {
                None => inner.await,
                Some(Fault::Fail) => Err(Self::injected(method)),
                Some(Fault::FailAfterCommit) => {
                    let _ = inner.await;
                    Err(Self::injected(method))
                }
                Some(Fault::Panic) => panic!("injected panic in {}", method.as_str()),
                Some(Fault::PauseBefore(gate)) => {
                    gate.pause().await;
                    inner.await
                }
                Some(Fault::PauseAfter(gate)) => {
                    let result = inner.await;
                    gate.pause().await;
                    result
                }
                Some(Fault::Reply(reply)) => Ok(reply.value(method)),
            }
        }
    }
}
