//! What every connection and request shares: the route table, the CA cache,
//! the pooled client, limits, metrics, the audit log and the shutdown signal.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bottle_common::audit::AuditLog;
use hyper_util::client::legacy::Client;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::body::RequestBody;
use crate::connector::Connector;
use crate::dial::Dialer;
use crate::leaf_cache::LeafCache;
use crate::metrics::{Metrics, Snapshot};
use crate::origin_tls::OriginTls;
use crate::reload::ReloadLog;
use crate::table::RouteTable;

/// Bounds on every phase of a connection; see `egress-proxy run --help`.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Reading a request head (HTTP/1), also the idle wait between keep-alive requests and before a tunnel's first byte.
    pub client_header_timeout: Duration,
    /// A TLS handshake with a client.
    pub handshake_timeout: Duration,
    /// Opening a connection to an origin or the upstream proxy (including its CONNECT).
    pub connect_timeout: Duration,
    /// Waiting for an origin's response headers.
    pub response_header_timeout: Duration,
    /// No byte in either direction on a client connection or tunnel.
    pub idle_timeout: Duration,
    /// How long SIGTERM waits for in-flight requests and tunnels.
    pub drain_timeout: Duration,
    /// Largest request head (HTTP/1) or header list (HTTP/2), in bytes.
    pub max_header_bytes: usize,
    /// Most request headers (HTTP/1).
    pub max_headers: usize,
    /// Concurrent streams per HTTP/2 connection.
    pub h2_max_streams: u32,
    /// Concurrent client connections.
    pub max_connections: usize,
}

/// Shared state of a running proxy.
#[derive(Debug)]
pub struct Shared {
    /// The table in force; each request loads one snapshot.
    pub table: ArcSwap<RouteTable>,
    /// The routes file reloaded on SIGHUP.
    pub routes_path: PathBuf,
    /// Outcome of the latest reload, for `GET /reload`.
    pub reloads: ReloadLog,
    /// Leaf certificates per host.
    pub leaves: LeafCache,
    /// Pooled client for ordinary requests.
    pub client: Client<Connector, RequestBody>,
    /// Opens tunnels and upgrade connections.
    pub dialer: Arc<Dialer>,
    /// Outbound TLS configurations.
    pub origin_tls: OriginTls,
    /// Timeouts and size limits.
    pub limits: Limits,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Where decisions are recorded.
    pub audit: AuditLog,
    /// Cancelled on SIGTERM/SIGINT: stop accepting, finish what is in flight.
    pub shutdown: CancellationToken,
    /// Cancelled when the drain timeout expires: tunnels still open are cut.
    pub abort: CancellationToken,
    /// Every connection and tunnel task, so shutdown can wait for them.
    pub tasks: TaskTracker,
}

impl Shared {
    /// Values for `/metrics` that live outside [`Metrics`].
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            generation: self.table.load().generation,
            leaf_cache_size: self.leaves.len(),
            leaf_cache_hits: self.leaves.hits(),
            leaf_cache_misses: self.leaves.misses(),
        }
    }
}
