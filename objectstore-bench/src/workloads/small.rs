//! Plans of the throughput workloads: PUT, GET/HEAD and mixed (also used, with other
//! limits, for the large-object workloads and the set-up phases).
//!
//! What counts as success:
//!
//! | request | success |
//! |---|---|
//! | PUT | 200 or 201 (payload bytes = body length) |
//! | GET | 200 with exactly the expected number of bytes |
//! | HEAD | 204 or 200 |
//! | mixed GET | 200 (any length: a concurrent PUT may be replacing it), or 404 (deleted) |
//! | mixed DELETE | 204, 200 or 404 |
//!
//! Anything else is an error, with the status and path in the message.

use std::sync::Arc;

use http::{Method, StatusCode};

use crate::body::ReqBody;
use crate::conn::{Conn, drain, exchange};
use crate::engine::{Ctx, Outcome, Plan};
use crate::workloads::Mix;

/// Which paths a PUT plan writes.
#[derive(Debug, Clone)]
pub enum Paths {
    /// `<prefix>-<ticket>`: a new key for every request.
    Distinct(String),
    /// `list[ticket % len]`: a fixed set (set-up phases).
    List(Arc<Vec<String>>),
}

impl Paths {
    fn get(&self, ticket: u64) -> String {
        match self {
            Self::Distinct(prefix) => format!("{prefix}-{ticket}"),
            Self::List(list) => list[(ticket % list.len().max(1) as u64) as usize].clone(),
        }
    }
}

/// PUT `size` pattern bytes.
pub struct PutPlan {
    /// Where to write.
    pub paths: Paths,
    /// Payload size.
    pub size: u64,
}

impl Plan for PutPlan {
    async fn execute(&self, conn: &mut Conn, ctx: Ctx<'_>) -> Outcome {
        let path = self.paths.get(ctx.ticket);
        let result = put(conn, &path, self.size).await;
        Outcome { op: "put", result }
    }
}

/// PUT of `size` pattern bytes: the payload bytes when the status is 200 or 201.
pub(crate) async fn put(conn: &mut Conn, path: &str, size: u64) -> Result<u64, String> {
    match exchange(
        conn,
        (Method::PUT, path),
        ReqBody::pattern(size),
        None,
        drain,
    )
    .await?
    {
        (StatusCode::OK | StatusCode::CREATED, _) => Ok(size),
        (s, _) => Err(format!("PUT {path}: {s}")),
    }
}

/// GET (or HEAD) of a fixed set of paths, round robin by ticket.
pub struct ReadPlan {
    /// The paths to read (non-empty).
    pub paths: Arc<Vec<String>>,
    /// The expected body length of a GET.
    pub size: u64,
    /// HEAD instead of GET.
    pub head: bool,
}

impl Plan for ReadPlan {
    async fn execute(&self, conn: &mut Conn, ctx: Ctx<'_>) -> Outcome {
        let path = &self.paths[(ctx.ticket % self.paths.len().max(1) as u64) as usize];
        if self.head {
            let result = head(conn, path).await;
            Outcome { op: "head", result }
        } else {
            let result = match get(conn, path).await {
                Ok((StatusCode::OK, n)) if n == self.size => Ok(n),
                Ok((StatusCode::OK, n)) => {
                    Err(format!("GET {path}: {n} bytes, expected {}", self.size))
                }
                Ok((s, _)) => Err(format!("GET {path}: {s}")),
                Err(e) => Err(e),
            };
            Outcome { op: "get", result }
        }
    }
}

async fn get(conn: &mut Conn, path: &str) -> Result<(StatusCode, u64), String> {
    exchange(conn, (Method::GET, path), ReqBody::Empty, None, drain).await
}

async fn head(conn: &mut Conn, path: &str) -> Result<u64, String> {
    match exchange(conn, (Method::HEAD, path), ReqBody::Empty, None, drain).await? {
        (StatusCode::NO_CONTENT | StatusCode::OK, _) => Ok(0),
        (s, _) => Err(format!("HEAD {path}: {s}")),
    }
}

async fn delete(conn: &mut Conn, path: &str) -> Result<u64, String> {
    match exchange(conn, (Method::DELETE, path), ReqBody::Empty, None, drain).await? {
        (StatusCode::NO_CONTENT | StatusCode::OK | StatusCode::NOT_FOUND, _) => Ok(0),
        (s, _) => Err(format!("DELETE {path}: {s}")),
    }
}

/// GET / PUT / DELETE over a pool of keys, chosen by weight with the worker's generator.
pub struct MixedPlan {
    /// The pool (non-empty).
    pub paths: Arc<Vec<String>>,
    /// Size of every PUT.
    pub size: u64,
    /// The weights.
    pub mix: Mix,
}

impl Plan for MixedPlan {
    async fn execute(&self, conn: &mut Conn, ctx: Ctx<'_>) -> Outcome {
        let total = u64::from(self.mix.get) + u64::from(self.mix.put) + u64::from(self.mix.delete);
        let pick = ctx.rng.below(total);
        let path = &self.paths[ctx.rng.below(self.paths.len() as u64) as usize];
        if pick < u64::from(self.mix.get) {
            let result = match get(conn, path).await {
                Ok((StatusCode::OK, n)) => Ok(n),
                Ok((StatusCode::NOT_FOUND, _)) => Ok(0),
                Ok((s, _)) => Err(format!("GET {path}: {s}")),
                Err(e) => Err(e),
            };
            Outcome { op: "get", result }
        } else if pick < u64::from(self.mix.get) + u64::from(self.mix.put) {
            Outcome {
                op: "put",
                result: put(conn, path, self.size).await,
            }
        } else {
            Outcome {
                op: "delete",
                result: delete(conn, path).await,
            }
        }
    }
}
