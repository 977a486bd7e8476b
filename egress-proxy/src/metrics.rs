//! Counters for `/metrics`, rendered by hand in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::policy::Reason;

/// Process-wide counters and gauges; every field is a relaxed atomic.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: [AtomicU64; Reason::ALL.len()],
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    active_connections: AtomicI64,
    active_tunnels: AtomicI64,
    reloads_ok: AtomicU64,
    reloads_error: AtomicU64,
    upstream_errors: AtomicU64,
}

/// Values owned elsewhere that `/metrics` also shows.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    /// Generation of the route table in force.
    pub generation: u64,
    /// Hosts in the leaf cache.
    pub leaf_cache_size: usize,
    /// Leaf cache hits.
    pub leaf_cache_hits: u64,
    /// Leaf cache misses (leaves minted).
    pub leaf_cache_misses: u64,
}

/// Decrements a gauge when dropped.
#[derive(Debug)]
pub struct GaugeGuard<'a>(&'a AtomicI64);

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Count one request decision.
    pub fn request(&self, reason: Reason) {
        self.requests[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Count body bytes from the client (`bytes_in`) and to it (`bytes_out`).
    pub fn bytes(&self, bytes_in: u64, bytes_out: u64) {
        self.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes_out, Ordering::Relaxed);
    }

    /// A client connection is open until the guard drops.
    pub fn connection(&self) -> GaugeGuard<'_> {
        self.active_connections.fetch_add(1, Ordering::Relaxed);
        GaugeGuard(&self.active_connections)
    }

    /// A CONNECT tunnel is open until the guard drops.
    pub fn tunnel(&self) -> GaugeGuard<'_> {
        self.active_tunnels.fetch_add(1, Ordering::Relaxed);
        GaugeGuard(&self.active_tunnels)
    }

    /// Count a reload attempt.
    pub fn reload(&self, ok: bool) {
        let c = if ok {
            &self.reloads_ok
        } else {
            &self.reloads_error
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a failure to reach an origin or the upstream proxy.
    pub fn upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Render every metric in the Prometheus text exposition format.
    pub fn render(&self, s: Snapshot) -> String {
        let mut out = String::with_capacity(4096);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        header(
            &mut out,
            "egress_proxy_requests_total",
            "counter",
            "Request decisions by outcome and reason.",
        );
        for r in Reason::ALL {
            let decision = if r.allows() { "allow" } else { "deny" };
            let _ = writeln!(
                out,
                "egress_proxy_requests_total{{decision=\"{decision}\",reason=\"{}\"}} {}",
                r.code(),
                load(&self.requests[r.index()])
            );
        }
        header(
            &mut out,
            "egress_proxy_body_bytes_total",
            "counter",
            "Body bytes relayed, by direction (in = from clients).",
        );
        let _ = writeln!(
            out,
            "egress_proxy_body_bytes_total{{direction=\"in\"}} {}",
            load(&self.bytes_in)
        );
        let _ = writeln!(
            out,
            "egress_proxy_body_bytes_total{{direction=\"out\"}} {}",
            load(&self.bytes_out)
        );
        header(
            &mut out,
            "egress_proxy_active_connections",
            "gauge",
            "Open client connections.",
        );
        let _ = writeln!(
            out,
            "egress_proxy_active_connections {}",
            self.active_connections.load(Ordering::Relaxed)
        );
        header(
            &mut out,
            "egress_proxy_active_tunnels",
            "gauge",
            "Open CONNECT tunnels (intercepted or passthrough).",
        );
        let _ = writeln!(
            out,
            "egress_proxy_active_tunnels {}",
            self.active_tunnels.load(Ordering::Relaxed)
        );
        header(
            &mut out,
            "egress_proxy_reloads_total",
            "counter",
            "Route table reloads by result.",
        );
        let _ = writeln!(
            out,
            "egress_proxy_reloads_total{{result=\"ok\"}} {}",
            load(&self.reloads_ok)
        );
        let _ = writeln!(
            out,
            "egress_proxy_reloads_total{{result=\"error\"}} {}",
            load(&self.reloads_error)
        );
        header(
            &mut out,
            "egress_proxy_upstream_errors_total",
            "counter",
            "Failures to reach an origin or the upstream proxy.",
        );
        let _ = writeln!(
            out,
            "egress_proxy_upstream_errors_total {}",
            load(&self.upstream_errors)
        );
        header(
            &mut out,
            "egress_proxy_route_table_generation",
            "gauge",
            "Generation of the route table in force (1 = loaded at start).",
        );
        let _ = writeln!(out, "egress_proxy_route_table_generation {}", s.generation);
        header(
            &mut out,
            "egress_proxy_leaf_cache_size",
            "gauge",
            "Hosts with a cached leaf certificate.",
        );
        let _ = writeln!(out, "egress_proxy_leaf_cache_size {}", s.leaf_cache_size);
        header(
            &mut out,
            "egress_proxy_leaf_cache_hits_total",
            "counter",
            "Leaf certificate cache hits.",
        );
        let _ = writeln!(
            out,
            "egress_proxy_leaf_cache_hits_total {}",
            s.leaf_cache_hits
        );
        header(
            &mut out,
            "egress_proxy_leaf_cache_misses_total",
            "counter",
            "Leaf certificates minted.",
        );
        let _ = writeln!(
            out,
            "egress_proxy_leaf_cache_misses_total {}",
            s.leaf_cache_misses
        );
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.request(Reason::NoRoute);
        m.request(Reason::NoRoute);
        m.reload(false);
        {
            let _c = m.connection();
            m.bytes(3, 4);
        }
        let text = m.render(Snapshot {
            generation: 2,
            leaf_cache_size: 1,
            leaf_cache_hits: 5,
            leaf_cache_misses: 1,
        });
        assert!(
            text.contains("egress_proxy_requests_total{decision=\"deny\",reason=\"no_route\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("egress_proxy_reloads_total{result=\"error\"} 1\n"));
        assert!(text.contains("egress_proxy_active_connections 0\n"));
        assert!(text.contains("egress_proxy_body_bytes_total{direction=\"out\"} 4\n"));
        assert!(text.contains("egress_proxy_route_table_generation 2\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(name.starts_with("egress_proxy_"), "{line}");
            value.parse::<f64>().unwrap();
        }
    }
}
