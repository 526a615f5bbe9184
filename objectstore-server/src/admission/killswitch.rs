//! Killswitches (docs/http-api.md §12.2): configured entries that turn requests away with 403.
//!
//! * **Entry** ([`Killswitch`], config key `killswitches`, a list): `{usecase?, scopes?:
//!   {name: value}, service?: glob}`. Every given condition must hold: the usecase is equal;
//!   each listed scope is present in the request with an equal value (extra request scopes are
//!   ignored); the `service` glob matches the *normalized* `x-downstream-service` header
//!   ([`normalize_service`]). A service condition never matches a request without the header,
//!   and an invalid glob never matches anything. An empty entry matches every request.
//! * **List:** entries are OR-ed; the first match rejects.
//! * **Runtime replacement:** [`Killswitches`] holds the compiled list behind a lock that is
//!   only held to clone an `Arc`; [`Killswitches::replace`] swaps in a new list atomically, so
//!   a request sees either the old or the new list, never a mix. See [`super::reload`] for the
//!   file watcher and SIGHUP hook that call it.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use globset::{Glob, GlobMatcher};
use objectstore_types::ObjectContext;
use serde::{Deserialize, Serialize};

use super::rejection::Rejection;

/// One configured killswitch (an element of the `killswitches` config list).
///
/// Env var: the whole list, e.g. `OS__KILLSWITCHES=[{usecase="attachments",scopes={org="1"}}]`.
/// Default: no killswitches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Killswitch {
    /// Usecase that must be equal. Default: any usecase.
    pub usecase: Option<String>,
    /// Scopes that must be present with equal values; extra request scopes are ignored.
    /// Default: `{}` (any scopes). Numeric values are accepted as their decimal text.
    #[serde(deserialize_with = "super::lenient::scope_map")]
    pub scopes: BTreeMap<String, String>,
    /// Glob (globset syntax) over the normalized `x-downstream-service` header. Default: any
    /// service, including none.
    pub service: Option<String>,
}

/// The header naming the calling service (a `HeaderName`, so looking it up parses nothing).
pub(crate) const DOWNSTREAM_SERVICE_HEADER: http::HeaderName =
    http::HeaderName::from_static("x-downstream-service");

/// The raw `x-downstream-service` header value (`None` if absent or not visible ASCII).
pub(crate) fn downstream_service(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(&DOWNSTREAM_SERVICE_HEADER)
        .and_then(|v| v.to_str().ok())
}

/// Strips Kubernetes pod suffixes from an `x-downstream-service` value.
///
/// 1. If the last `-`-segment is 5 characters of `[a-z0-9]`, the one before is 7 to 10
///    characters of `[a-z0-9]` and something non-empty precedes it, both are dropped
///    (`<deployment>-<replicaset hash>-<pod suffix>`).
/// 2. Else, if the last segment is all digits and something non-empty precedes it, it is
///    dropped (`<statefulset>-<ordinal>`).
/// 3. Else the value is unchanged.
///
/// `getsentry-incinerator-7d8f9c5b6d-abc12` → `getsentry-incinerator`, `web-12` → `web`,
/// `relay` → `relay` (tests: `tests/killswitch.rs`).
pub(crate) fn normalize_service(service: &str) -> &str {
    let lower_alnum = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let Some((rest, last)) = service.rsplit_once('-') else {
        return service;
    };
    if last.len() == 5
        && lower_alnum(last)
        && let Some((deployment, hash)) = rest.rsplit_once('-')
        && (7..=10).contains(&hash.len())
        && lower_alnum(hash)
        && !deployment.is_empty()
    {
        return deployment;
    }
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty() {
        return rest;
    }
    service
}

/// How a compiled entry matches the service header.
#[derive(Debug)]
enum ServiceMatch {
    Any,
    Glob(GlobMatcher),
    /// The configured glob does not parse: never matches.
    Invalid,
}

/// A killswitch with its glob compiled once.
#[derive(Debug)]
struct Compiled {
    config: Killswitch,
    service: ServiceMatch,
}

impl Compiled {
    fn new(config: Killswitch) -> Self {
        let service = match &config.service {
            None => ServiceMatch::Any,
            Some(pattern) => match Glob::new(pattern) {
                Ok(glob) => ServiceMatch::Glob(glob.compile_matcher()),
                Err(error) => {
                    tracing::warn!(pattern, %error, "killswitch service glob is invalid and never matches");
                    ServiceMatch::Invalid
                }
            },
        };
        Self { config, service }
    }

    /// `service` is the already normalized header value.
    fn matches(&self, context: &ObjectContext, service: Option<&str>) -> bool {
        if let Some(usecase) = &self.config.usecase
            && usecase != context.usecase.as_str()
        {
            return false;
        }
        let scopes_hold = self
            .config
            .scopes
            .iter()
            .all(|(name, value)| context.scopes.get(name) == Some(value.as_str()));
        if !scopes_hold {
            return false;
        }
        match &self.service {
            ServiceMatch::Any => true,
            ServiceMatch::Glob(glob) => service.is_some_and(|s| glob.is_match(s)),
            ServiceMatch::Invalid => false,
        }
    }
}

/// The active killswitch list, replaceable at runtime.
#[derive(Debug, Default)]
pub(crate) struct Killswitches {
    current: RwLock<Arc<Vec<Compiled>>>,
}

impl Killswitches {
    /// A holder with this list active.
    pub(crate) fn new(list: Vec<Killswitch>) -> Self {
        Self {
            current: RwLock::new(Arc::new(compile(list))),
        }
    }

    /// Atomically replaces the active list; requests already checking finish on the old one.
    pub(crate) fn replace(&self, list: Vec<Killswitch>) {
        let compiled = Arc::new(compile(list));
        match self.current.write() {
            Ok(mut guard) => *guard = compiled,
            // A panic while holding the lock cannot leave the Arc half-written.
            Err(poisoned) => *poisoned.into_inner() = compiled,
        }
    }

    fn snapshot(&self) -> Arc<Vec<Compiled>> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    #[cfg(test)]
    /// The active list, as configured.
    pub(crate) fn list(&self) -> Vec<Killswitch> {
        self.snapshot().iter().map(|c| c.config.clone()).collect()
    }

    /// The first entry matching a request, if any. `downstream_service` is the raw
    /// `x-downstream-service` header value; it is normalized here.
    pub(crate) fn find(
        &self,
        context: &ObjectContext,
        downstream_service: Option<&str>,
    ) -> Option<Killswitch> {
        let list = self.snapshot();
        if list.is_empty() {
            return None;
        }
        let service = downstream_service.map(normalize_service);
        list.iter()
            .find(|c| c.matches(context, service))
            .map(|c| c.config.clone())
    }

    /// `Err(Rejection::Killswitched)` when any entry matches (logged at warn level).
    pub(crate) fn check(
        &self,
        context: &ObjectContext,
        downstream_service: Option<&str>,
    ) -> Result<(), Rejection> {
        match self.find(context, downstream_service) {
            None => Ok(()),
            Some(killswitch) => {
                tracing::warn!(?killswitch, usecase = %context.usecase, "request rejected by killswitch");
                Err(Rejection::Killswitched)
            }
        }
    }
}

fn compile(list: Vec<Killswitch>) -> Vec<Compiled> {
    list.into_iter().map(Compiled::new).collect()
}
