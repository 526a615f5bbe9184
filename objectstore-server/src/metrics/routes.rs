//! Metric handles of the HTTP layer, resolved once per route template and outcome.
//!
//! `metrics::counter!(name, labels)` builds a key with owned label strings and looks it up in
//! the recorder's registry on every call: about 8 % of a small GET's instructions when the
//! request middleware did it per request (`docs/benchmarks/report-2026-11-22b.md`). Here the
//! handles of a route are looked up the first time the route is seen and then shared.
//!
//! Invariant: the label sets are bounded. Route labels are the router's path templates (a
//! fixed set; a route registered with and without a trailing `/` has one label) or
//! [`UNMATCHED_ROUTE`]; method labels are the standard methods or `OTHER`, so
//! a client sending made-up methods cannot grow the registry; statuses are the three-digit
//! codes the server answers with.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use http::{Method, StatusCode};
use metrics::{Counter, Histogram};

use super::{
    HTTP_REQUEST_BYTES, HTTP_REQUEST_DURATION, HTTP_REQUESTS, HTTP_RESPONSE_BYTES, UNMATCHED_ROUTE,
};

/// The handles of every route seen so far.
#[derive(Debug, Default)]
pub(super) struct RouteTable {
    /// Put before a template to make its label (`s3:` for the S3 operations); looked up
    /// without it, so a request does not build the label.
    prefix: &'static str,
    routes: RwLock<HashMap<Box<str>, Arc<RouteMetrics>>>,
}

impl RouteTable {
    /// A table whose labels are `prefix` and the template.
    pub(super) fn with_prefix(prefix: &'static str) -> Self {
        Self {
            prefix,
            routes: RwLock::default(),
        }
    }

    /// The handles of `template` (`None`: no route matched), under its label
    /// ([`crate::paths::metric_label`]: the `/` form of a route counts as the route).
    pub(super) fn get(&self, template: Option<&str>) -> Arc<RouteMetrics> {
        let template = template.map_or(UNMATCHED_ROUTE, crate::paths::metric_label);
        if let Some(route) = read(&self.routes).get(template) {
            return route.clone();
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        routes
            .entry(template.into())
            .or_insert_with(|| Arc::new(RouteMetrics::new(&format!("{}{template}", self.prefix))))
            .clone()
    }
}

/// The metric handles of one route template.
#[derive(Debug)]
pub(crate) struct RouteMetrics {
    route: Box<str>,
    object: bool,
    /// `objectstore_http_request_bytes_total{route}`.
    pub request_bytes: Counter,
    /// `objectstore_http_response_bytes_total{route}`.
    pub response_bytes: Counter,
    outcomes: RwLock<Vec<Outcome>>,
}

/// The handles of one (method, status) of a route.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    method: &'static str,
    status: u16,
    /// `objectstore_http_requests_total{method, route, status}`.
    pub requests: Counter,
    /// `objectstore_http_request_duration_seconds{method, route, status}`.
    pub duration: Histogram,
}

impl RouteMetrics {
    fn new(route: &str) -> Self {
        let label = route.to_owned();
        Self {
            route: route.into(),
            object: route.starts_with("/v1/"),
            request_bytes: metrics::counter!(HTTP_REQUEST_BYTES, "route" => label.clone()),
            response_bytes: metrics::counter!(HTTP_RESPONSE_BYTES, "route" => label),
            outcomes: RwLock::default(),
        }
    }

    /// Whether this is an object route (under `/v1/`), as opposed to an internal one or none.
    pub(crate) fn is_object(&self) -> bool {
        self.object
    }

    /// The handles for a request with `method` answered with `status`.
    pub(crate) fn outcome(&self, method: &Method, status: StatusCode) -> Outcome {
        let method = method_label(method);
        let status = status.as_u16();
        let found = |outcomes: &[Outcome]| {
            outcomes
                .iter()
                .find(|o| o.status == status && o.method == method)
                .cloned()
        };
        if let Some(outcome) = found(&read(&self.outcomes)) {
            return outcome;
        }
        let mut outcomes = self.outcomes.write().unwrap_or_else(|e| e.into_inner());
        if let Some(outcome) = found(&outcomes) {
            return outcome;
        }
        let labels = [
            ("method", method.to_owned()),
            ("route", self.route.to_string()),
            ("status", status.to_string()),
        ];
        let outcome = Outcome {
            method,
            status,
            requests: metrics::counter!(HTTP_REQUESTS, &labels),
            duration: metrics::histogram!(HTTP_REQUEST_DURATION, &labels),
        };
        outcomes.push(outcome.clone());
        outcome
    }
}

/// The `method` label: the standard methods by name, anything else as `OTHER`.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    STANDARD
        .into_iter()
        .find(|name| *name == method.as_str())
        .unwrap_or("OTHER")
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_outcomes_are_resolved_once() {
        let table = RouteTable::default();
        let object = table.get(Some("/v1/objects/{usecase}/{scopes}/{*key}"));
        assert!(object.is_object());
        assert!(Arc::ptr_eq(
            &object,
            &table.get(Some("/v1/objects/{usecase}/{scopes}/{*key}"))
        ));
        assert!(!table.get(Some("/health")).is_object());
        assert!(!table.get(None).is_object());
        assert_eq!(&*table.get(None).route, UNMATCHED_ROUTE);

        object.outcome(&Method::GET, StatusCode::OK);
        object.outcome(&Method::GET, StatusCode::OK);
        object.outcome(&Method::GET, StatusCode::NOT_FOUND);
        object.outcome(&Method::from_bytes(b"BREW").unwrap(), StatusCode::OK);
        object.outcome(&Method::from_bytes(b"FOO").unwrap(), StatusCode::OK);
        let outcomes = read(&object.outcomes);
        let seen: Vec<(&str, u16)> = outcomes.iter().map(|o| (o.method, o.status)).collect();
        assert_eq!(seen, [("GET", 200), ("GET", 404), ("OTHER", 200)]);
    }
}
