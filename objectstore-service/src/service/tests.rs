//! Tests of the service's permits and task isolation, and [`Probe`]: a decorator shared
//! with the batch tests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use objectstore_types::{ObjectContext, ObjectKey, Scopes, Usecase};
use tokio::sync::{Semaphore, mpsc};

use super::*;
use crate::backend::around::{Around, Call, Decorated, Method};
use crate::backend::memory::MemoryBackend;
use crate::clock::ManualClock;

/// What [`Probe`] does to the calls on one key.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// Fail with a backend error, without calling the inner backend.
    Fail,
    /// Panic, without calling the inner backend.
    Panic,
    /// Wait for a permit of the semaphore (added by the test), then forward.
    Pause(Arc<Semaphore>),
}

/// A decorator of the object calls (put, get, head, delete): per-key faults, arrival and
/// completion signals, and the largest number of calls seen in flight at once.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    state: Arc<ProbeState>,
}

#[derive(Debug)]
struct ProbeState {
    actions: Mutex<HashMap<String, Action>>,
    /// Applies to keys without their own action.
    default: Mutex<Option<Action>>,
    arrived: mpsc::UnboundedSender<String>,
    finished: mpsc::UnboundedSender<String>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// The test's side of a [`Probe`]: keys in the order their calls started / finished.
pub(crate) struct ProbeEvents {
    pub arrived: mpsc::UnboundedReceiver<String>,
    pub finished: mpsc::UnboundedReceiver<String>,
}

impl Probe {
    pub(crate) fn new() -> (Self, ProbeEvents) {
        let (arrived, arrived_rx) = mpsc::unbounded_channel();
        let (finished, finished_rx) = mpsc::unbounded_channel();
        let probe = Self {
            state: Arc::new(ProbeState {
                actions: Mutex::default(),
                default: Mutex::default(),
                arrived,
                finished,
                in_flight: AtomicUsize::new(0),
                max_in_flight: AtomicUsize::new(0),
            }),
        };
        let events = ProbeEvents {
            arrived: arrived_rx,
            finished: finished_rx,
        };
        (probe, events)
    }

    /// Disturbs every call on `key`.
    pub(crate) fn on(&self, key: &str, action: Action) {
        let mut actions = self
            .state
            .actions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        actions.insert(key.to_owned(), action);
    }

    /// Disturbs every call on keys without their own action.
    pub(crate) fn on_all(&self, action: Action) {
        *self
            .state
            .default
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(action);
    }

    /// The most calls that were in flight at once.
    pub(crate) fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    async fn probe<T>(&self, id: &ObjectId, call: impl Future<Output = Result<T>>) -> Result<T> {
        let key = id.key.as_str().to_owned();
        let s = &*self.state;
        let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        s.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let _ = s.arrived.send(key.clone());
        let action = {
            let actions = s.actions.lock().unwrap_or_else(PoisonError::into_inner);
            let default = s.default.lock().unwrap_or_else(PoisonError::into_inner);
            actions.get(&key).or(default.as_ref()).cloned()
        };
        // Leaves the flight count and reports the end however the call ends (panics too).
        let _done = Done(self, key.clone());
        match action {
            None => {}
            Some(Action::Fail) => {
                return Err(Error::backend(
                    "probe",
                    "run a test call",
                    std::io::Error::other(format!("injected failure on {key}")),
                ));
            }
            Some(Action::Panic) => panic!("injected panic on {key}"),
            Some(Action::Pause(gate)) => {
                let permit = gate.acquire().await;
                drop(permit);
            }
        }
        call.await
    }
}

struct Done<'a>(&'a Probe, String);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.state.in_flight.fetch_sub(1, Ordering::SeqCst);
        let _ = self.0.state.finished.send(std::mem::take(&mut self.1));
    }
}

impl Around for Probe {
    fn around<'a, T: Send + 'static>(
        &'a self,
        call: Call<'a>,
        inner: BoxFuture<'a, Result<T>>,
    ) -> impl Future<Output = Result<T>> + Send + 'a {
        let object_call = matches!(
            call.method,
            Method::Put | Method::Get | Method::Head | Method::Delete
        );
        async move {
            match call.id {
                Some(id) if object_call => self.probe(id, inner).await,
                _ => inner.await,
            }
        }
    }
}

/// A service over a probed memory backend.
pub(crate) fn probed_service(
    config: ServiceConfig,
) -> (StorageService, MemoryBackend, Probe, ProbeEvents) {
    let clock: SharedClock = ManualClock::new();
    let memory = MemoryBackend::new("memory", clock.clone());
    let (probe, events) = Probe::new();
    let backend = Decorated::new(Arc::new(memory.clone()), probe.clone());
    let service = StorageService::new(Arc::new(backend), clock, config);
    (service, memory, probe, events)
}

pub(crate) fn context() -> ObjectContext {
    ObjectContext {
        usecase: Usecase::new("service").unwrap(),
        scopes: Scopes::parse("org=1").unwrap(),
    }
}

pub(crate) fn id(key: &str) -> ObjectId {
    ObjectId::new(context(), ObjectKey::new(key).unwrap())
}

fn config(max: usize) -> ServiceConfig {
    ServiceConfig {
        max_concurrency: max,
        ..ServiceConfig::default()
    }
}

async fn put(service: &StorageService, key: &str, bytes: &'static [u8]) {
    let body = crate::stream::single(Bytes::from_static(bytes));
    service
        .put(id(key), Metadata::default(), body)
        .await
        .unwrap();
}

#[tokio::test]
async fn operations_release_their_permit_when_done() {
    let (service, memory, _probe, _events) = probed_service(config(4));
    assert_eq!((service.tasks_running(), service.tasks_limit()), (0, 4));
    put(&service, "k", b"abc").await;
    assert!(service.head(id("k")).await.unwrap().is_some());
    service.delete(id("k")).await.unwrap();
    assert!(!memory.contains(&id("k")));
    assert_eq!(service.tasks_running(), 0);
}

#[tokio::test]
async fn a_get_body_holds_its_permit_until_read_or_dropped() {
    let (service, _memory, _probe, _events) = probed_service(config(1));
    put(&service, "k", b"abc").await;

    let GetResponse::Found { body, .. } = service.get(id("k"), None).await.unwrap() else {
        panic!("stored object not found");
    };
    assert_eq!(service.tasks_running(), 1);
    // The only permit is pinned by the unread body: with no queue, others are refused.
    assert!(matches!(
        service.head(id("k")).await,
        Err(Error::Overloaded)
    ));
    assert_eq!(crate::stream::read_to_vec(body).await.unwrap(), b"abc");
    assert_eq!(service.tasks_running(), 0);

    let GetResponse::Found { body, .. } = service.get(id("k"), None).await.unwrap() else {
        panic!("stored object not found");
    };
    assert_eq!(service.tasks_running(), 1);
    drop(body);
    assert_eq!(service.tasks_running(), 0);

    // Responses without a body release the permit at once.
    assert!(matches!(
        service.get(id("missing"), None).await.unwrap(),
        GetResponse::NotFound
    ));
    assert_eq!(service.tasks_running(), 0);
}

#[tokio::test]
async fn a_failing_body_releases_its_permit() {
    let clock: SharedClock = ManualClock::new();
    let memory = MemoryBackend::new("memory", clock.clone());
    let service = StorageService::new(Arc::new(memory), clock, config(1));
    let failing: PayloadStream = futures::stream::iter([
        Ok(Bytes::from_static(b"a")),
        Err(std::io::Error::other("backend read failed")),
        Ok(Bytes::from_static(b"never")),
    ])
    .boxed();
    let response = hold_permit(
        GetResponse::Found {
            metadata: Metadata::default(),
            range: None,
            body: failing,
        },
        service.limiter().acquire().await.unwrap(),
    );
    let GetResponse::Found { mut body, .. } = response else {
        unreachable!()
    };
    assert_eq!(service.tasks_running(), 1);
    assert!(body.next().await.unwrap().is_ok());
    assert!(body.next().await.unwrap().is_err());
    assert_eq!(service.tasks_running(), 0, "released at the error");
    assert!(body.next().await.is_none(), "nothing after the error");
}

#[tokio::test]
async fn a_panicking_operation_is_isolated_and_releases_its_permit() {
    let (service, _memory, probe, _events) = probed_service(config(2));
    probe.on("boom", Action::Panic);
    let err = service.head(id("boom")).await.unwrap_err();
    let Error::Internal(message) = err else {
        panic!("expected an internal error, got {err:?}");
    };
    assert!(message.contains("injected panic on boom"), "{message}");
    assert_eq!(service.tasks_running(), 0);
    put(&service, "fine", b"x").await;
    assert!(service.head(id("fine")).await.unwrap().is_some());
}

#[tokio::test]
async fn an_operation_runs_to_completion_when_its_caller_goes_away() {
    let (service, memory, probe, mut events) = probed_service(config(2));
    let gate = Arc::new(Semaphore::new(0));
    probe.on("k", Action::Pause(gate.clone()));
    let caller = tokio::spawn({
        let service = service.clone();
        async move { put(&service, "k", b"abc").await }
    });
    assert_eq!(events.arrived.recv().await.unwrap(), "k");
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
    assert_eq!(
        service.tasks_running(),
        1,
        "the task still holds its permit"
    );
    gate.add_permits(1);
    assert_eq!(events.finished.recv().await.unwrap(), "k");
    let stored = memory.entry(&id("k")).expect_object();
    assert_eq!(&stored.1[..], b"abc");
}

#[tokio::test]
async fn waiting_operations_are_queued_up_to_the_limit() {
    let (service, _memory, probe, mut events) = probed_service(ServiceConfig {
        max_concurrency: 1,
        concurrency_queue: 1,
        concurrency_timeout: std::time::Duration::from_secs(3600),
        ..ServiceConfig::default()
    });
    let gate = Arc::new(Semaphore::new(0));
    probe.on("slow", Action::Pause(gate.clone()));
    let slow = tokio::spawn({
        let service = service.clone();
        async move { service.head(id("slow")).await }
    });
    assert_eq!(events.arrived.recv().await.unwrap(), "slow");
    let queued = tokio::spawn({
        let service = service.clone();
        async move { service.head(id("queued")).await }
    });
    while service.limiter().queued() == 0 {
        tokio::task::yield_now().await;
    }
    assert!(matches!(
        service.head(id("refused")).await,
        Err(Error::Overloaded)
    ));
    gate.add_permits(1);
    assert!(slow.await.unwrap().unwrap().is_none());
    assert!(queued.await.unwrap().unwrap().is_none());
    assert_eq!(service.tasks_running(), 0);
}

#[tokio::test]
async fn zero_concurrency_refuses_every_operation() {
    let (service, memory, _probe, _events) = probed_service(config(0));
    let body = crate::stream::single(Bytes::from_static(b"x"));
    let err = service
        .put(id("k"), Metadata::default(), body)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Overloaded), "{err:?}");
    assert!(matches!(
        service.get(id("k"), None).await,
        Err(Error::Overloaded)
    ));
    assert!(memory.is_empty());
}
