//! One audit line per request decision, written when the exchange ends.
//!
//! The line is written when the response body (or the tunnel) finishes, so
//! byte counts and durations are real; a guard writes it on drop, which also
//! covers clients that disconnect midway.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

use crate::policy::{Reason, UrlScheme};
use crate::routes::Route;
use crate::state::Shared;

/// The route a decision used, as `host` pattern and routes-file line.
#[derive(Debug, Clone, Serialize)]
pub struct RouteRef {
    /// Host pattern of the route.
    pub host: String,
    /// Line of the route in the routes file.
    pub line: u64,
}

impl From<&Route> for RouteRef {
    fn from(r: &Route) -> RouteRef {
        RouteRef {
            host: r.host.to_string(),
            line: r.line,
        }
    }
}

/// The fields of one audit line (see docs/egress-proxy.md); `ts` is added by the log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// Client address, `ip:port`.
    pub client: String,
    /// Request method (`CONNECT` for tunnel-level decisions).
    pub method: String,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// Normalized origin host (or what the client sent, when it was invalid).
    pub host: String,
    /// Origin port.
    pub port: u16,
    /// Raw path without the query.
    pub path: String,
    /// The route that decided, if any.
    pub route: Option<RouteRef>,
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// Stable reason code.
    pub reason: &'static str,
    /// Status sent to the client (absent when the connection was closed instead).
    pub status: Option<u16>,
    /// Body bytes received from the client.
    pub bytes_in: u64,
    /// Body bytes sent to the client.
    pub bytes_out: u64,
    /// Time from request head to end of response, in milliseconds.
    pub duration_ms: f64,
    /// Whether the route's credential was injected.
    pub credential_injected: bool,
}

impl AuditRecord {
    /// A record for a request from `client`, to be completed as phases run.
    pub fn new(client: SocketAddr, method: &str, scheme: UrlScheme, path: &str) -> AuditRecord {
        AuditRecord {
            client: client.to_string(),
            method: method.to_string(),
            scheme: scheme.as_str(),
            host: String::new(),
            port: 0,
            path: path.to_string(),
            route: None,
            decision: "deny",
            reason: Reason::BadRequest.code(),
            status: None,
            bytes_in: 0,
            bytes_out: 0,
            duration_ms: 0.0,
            credential_injected: false,
        }
    }

    /// Set the decision's reason (and with it allow/deny).
    pub fn set_reason(&mut self, reason: Reason) {
        self.reason = reason.code();
        self.decision = if reason.allows() { "allow" } else { "deny" };
    }
}

/// Writes its record (and counts its bytes) when dropped.
#[derive(Debug)]
pub struct AuditGuard {
    shared: Arc<Shared>,
    record: AuditRecord,
    start: Instant,
    bytes_in: Option<Arc<AtomicU64>>,
    bytes_out: u64,
}

impl AuditGuard {
    /// Start a guard for `record`, timed from `start`.
    pub fn new(shared: Arc<Shared>, record: AuditRecord, start: Instant) -> AuditGuard {
        AuditGuard {
            shared,
            record,
            start,
            bytes_in: None,
            bytes_out: 0,
        }
    }

    /// Count request body bytes from a counter the request body updates.
    pub fn count_in(&mut self, counter: Arc<AtomicU64>) {
        self.bytes_in = Some(counter);
    }

    /// Add bytes sent to the client.
    pub fn add_out(&mut self, n: u64) {
        self.bytes_out += n;
    }

    /// Add bytes received from the client outside a counted body (tunnels).
    pub fn add_in(&mut self, n: u64) {
        self.record.bytes_in += n;
    }
}

impl Drop for AuditGuard {
    fn drop(&mut self) {
        if let Some(c) = &self.bytes_in {
            self.record.bytes_in += c.load(Ordering::Relaxed);
        }
        self.record.bytes_out += self.bytes_out;
        let micros = self.start.elapsed().as_micros() as f64;
        self.record.duration_ms = micros / 1000.0;
        self.shared
            .metrics
            .bytes(self.record.bytes_in, self.record.bytes_out);
        self.shared.audit.record(&self.record);
    }
}
