//! The closed-loop worker pool every throughput workload runs on.
//!
//! # How a run goes
//!
//! 1. The caller opens the connections (one per worker) before the clock starts, so
//!    connection set-up is not measured.
//! 2. Each worker loops: stop if the deadline passed; take a ticket from the shared counter
//!    (stop if the request budget is spent); time one [`Plan::execute`] call, which sends
//!    one request and reads its whole response; record the latency under the operation name
//!    the plan returns (or count the error).
//! 3. The run ends when every worker stopped; requests in flight at the deadline complete
//!    and are counted. The elapsed time is measured up to the last worker's end, so the
//!    rates are honest even when the tail is slow.
//!
//! Tickets are unique and dense (0, 1, 2, ...): plans derive distinct keys from them.
//! Randomness (the mixed workload's choices) comes from a per-worker xorshift generator
//! seeded from the run seed and the worker index, so a run is reproducible in what it sends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::conn::Conn;
use crate::stats::{OpSummary, Recorder};

/// When a run stops: whichever limit is reached first. With neither, a run would never end,
/// so callers always set at least one.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total requests over all workers.
    pub requests: Option<u64>,
    /// Wall time after which no new request starts.
    pub duration: Option<Duration>,
}

/// A small seeded generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value; zero is remapped).
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n > 0`; returns 0 for `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// What a worker knows about the request it is about to send.
pub struct Ctx<'a> {
    /// Worker index (0-based; also the connection index).
    pub worker: usize,
    /// Unique, dense request number within the run.
    pub ticket: u64,
    /// The worker's generator.
    pub rng: &'a mut Rng,
}

/// The outcome of one request: the operation name and the payload bytes moved, or why it
/// failed.
pub struct Outcome {
    /// Operation name for the output (`put`, `get`, ...).
    pub op: &'static str,
    /// Payload bytes on success, a message on failure.
    pub result: Result<u64, String>,
}

/// What one request of a workload is.
pub trait Plan: Send + Sync + 'static {
    /// Sends one request on `conn` and reads its whole response.
    fn execute(&self, conn: &mut Conn, ctx: Ctx<'_>) -> impl Future<Output = Outcome> + Send;
}

/// Everything a run produced.
pub struct RunOutcome {
    /// Recorders by operation name.
    pub ops: BTreeMap<&'static str, Recorder>,
    /// From the first request to the last worker's end.
    pub elapsed: Duration,
    /// The connections, for reuse by the next phase.
    pub conns: Vec<Conn>,
    /// Idle connections the server closed and the workers reopened.
    pub reconnects: u64,
}

impl RunOutcome {
    /// Summaries of every operation, in name order.
    pub fn summaries(self) -> Vec<OpSummary> {
        let elapsed = self.elapsed;
        self.ops
            .into_iter()
            .map(|(op, rec)| rec.summarize(op, elapsed))
            .collect()
    }
}

/// Runs `plan` on every connection until `limits` (module docs).
pub async fn run<P: Plan>(plan: Arc<P>, conns: Vec<Conn>, limits: Limits, seed: u64) -> RunOutcome {
    let tickets = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = limits.duration.map(|d| start + d);
    let mut handles = Vec::with_capacity(conns.len());
    for (worker, mut conn) in conns.into_iter().enumerate() {
        let plan = plan.clone();
        let tickets = tickets.clone();
        handles.push(tokio::spawn(async move {
            let mut recorders: BTreeMap<&'static str, Recorder> = BTreeMap::new();
            let mut rng = Rng::new(seed ^ (worker as u64).wrapping_mul(0xA24B_AED4_963E_E407));
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let ticket = tickets.fetch_add(1, Ordering::Relaxed);
                if limits.requests.is_some_and(|max| ticket >= max) {
                    break;
                }
                let ctx = Ctx {
                    worker,
                    ticket,
                    rng: &mut rng,
                };
                let t0 = Instant::now();
                let outcome = plan.execute(&mut conn, ctx).await;
                let latency = t0.elapsed();
                let rec = recorders.entry(outcome.op).or_default();
                match outcome.result {
                    Ok(bytes) => rec.ok(latency, bytes),
                    Err(msg) => rec.error(|| msg),
                }
            }
            (conn, recorders)
        }));
    }
    let mut ops: BTreeMap<&'static str, Recorder> = BTreeMap::new();
    let mut conns = Vec::with_capacity(handles.len());
    let mut reconnects = 0;
    for handle in handles {
        match handle.await {
            Ok((conn, recorders)) => {
                reconnects += conn.reconnects;
                conns.push(conn);
                for (op, rec) in recorders {
                    ops.entry(op).or_default().merge(rec);
                }
            }
            Err(e) => {
                // A panicking worker is a bug in a plan; its samples are lost but the run's
                // other figures stay valid, and the failure shows up as an error count.
                ops.entry("worker-panic")
                    .or_default()
                    .error(|| format!("worker task failed: {e}"));
            }
        }
    }
    RunOutcome {
        ops,
        elapsed: start.elapsed(),
        conns,
        reconnects,
    }
}

/// Opens `n` connections to `target` concurrently.
pub async fn connect_all(
    target: &Arc<crate::target::Target>,
    n: usize,
) -> Result<Vec<Conn>, crate::conn::ConnError> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let target = target.clone();
        set.spawn(async move { Conn::connect(target).await });
    }
    let mut conns = Vec::with_capacity(n);
    while let Some(res) = set.join_next().await {
        match res {
            Ok(conn) => conns.push(conn?),
            Err(e) => {
                return Err(crate::conn::ConnError::Connect {
                    addr: target.addr,
                    source: std::io::Error::other(e),
                });
            }
        }
    }
    Ok(conns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_seeded_and_bounded() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..5).map(|_| a.below(10)).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.below(10)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|&x| x < 10));
        assert_eq!(Rng::new(0).below(0), 0);
        let mut c = Rng::new(8);
        assert_ne!((0..5).map(|_| c.next_u64()).collect::<Vec<_>>(), {
            let mut d = Rng::new(7);
            (0..5).map(|_| d.next_u64()).collect::<Vec<_>>()
        });
    }
}
