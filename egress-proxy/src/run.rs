//! `egress-proxy run`: build the proxy from its flags, serve, reload on
//! SIGHUP, drain on SIGTERM/SIGINT.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use bottle_common::audit::AuditLog;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ca::CertAuthority;
use crate::cli::RunArgs;
use crate::connector::Connector;
use crate::dial::Dialer;
use crate::leaf_cache::LeafCache;
use crate::metrics::Metrics;
use crate::origin_tls::OriginTls;
use crate::reload::{Outcome, ReloadLog};
use crate::server::accept_loop;
use crate::state::{Limits, Shared};
use crate::table::RouteTable;
use crate::upstream::{ProxyAddr, Upstream};

/// Start the proxy and serve until SIGTERM/SIGINT; errors are startup failures.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let table = RouteTable::load(&args.routes, 1)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("cannot load routes from {}", args.routes.display()))?;
    let ca = CertAuthority::load(&args.ca_cert, &args.ca_key)?;
    let leaves = LeafCache::new(ca, args.leaf_cache_size)?;
    let upstream = match &args.upstream_proxy {
        Some(url) => Upstream::all_through(ProxyAddr::parse("--upstream-proxy", url)?),
        None => Upstream::from_env(&|name| std::env::var(name).ok())?,
    };
    let origin_tls = OriginTls::new(&args.trust_ca)?;
    let audit = match &args.audit_log {
        Some(path) => AuditLog::open(path)?,
        None => AuditLog::disabled(),
    };
    let listener = std::net::TcpListener::bind(&args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    listener.set_nonblocking(true)?;
    let limits = Limits {
        client_header_timeout: args.client_header_timeout,
        handshake_timeout: args.handshake_timeout,
        connect_timeout: args.connect_timeout,
        response_header_timeout: args.response_header_timeout,
        idle_timeout: args.idle_timeout,
        drain_timeout: args.drain_timeout,
        max_header_bytes: args.max_header_bytes,
        max_headers: args.max_headers,
        h2_max_streams: args.h2_max_streams,
        max_connections: args.max_connections.max(1),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("egress-proxy")
        .build()
        .context("cannot start the async runtime")?;
    tracing::info!(
        listen = %listener.local_addr()?,
        routes = table.file.routes.len(),
        upstream = %upstream.describe(),
        "egress-proxy listening"
    );
    let dialer = Arc::new(Dialer::new(upstream, limits.connect_timeout));
    runtime.block_on(async {
        let connector = Connector::new(dialer.clone(), origin_tls.pooled.clone());
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .http1_max_buf_size(limits.max_header_bytes.max(8192) + 64 * 1024)
            .http2_initial_stream_window_size(1024 * 1024)
            .http2_initial_connection_window_size(4 * 1024 * 1024)
            .build(connector);
        let shared = Arc::new(Shared {
            table: ArcSwap::from_pointee(table),
            routes_path: args.routes.clone(),
            reloads: ReloadLog::default(),
            leaves,
            client,
            dialer,
            origin_tls,
            limits,
            metrics: Metrics::default(),
            audit: audit.clone(),
            shutdown: CancellationToken::new(),
            abort: CancellationToken::new(),
            tasks: TaskTracker::new(),
        });
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let acceptor = tokio::spawn(accept_loop(shared.clone(), listener));
        wait_for_stop(&shared).await?;
        drain(&shared).await;
        acceptor.abort();
        anyhow::Ok(())
    })?;
    audit.flush();
    tracing::info!("egress-proxy stopped");
    Ok(())
}

/// Reload on SIGHUP until SIGTERM or SIGINT arrives.
async fn wait_for_stop(shared: &Arc<Shared>) -> anyhow::Result<()> {
    let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    loop {
        tokio::select! {
            _ = hup.recv() => reload(shared).await,
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
    }
}

/// Re-read the routes file and token files; keep the old table if anything is wrong.
pub async fn reload(shared: &Arc<Shared>) {
    let path = shared.routes_path.clone();
    let current = shared.table.load().generation;
    let loaded = tokio::task::spawn_blocking(move || RouteTable::load(&path, current + 1)).await;
    match loaded {
        Ok(Ok(table)) => {
            tracing::info!(
                generation = table.generation,
                routes = table.file.routes.len(),
                "routes reloaded"
            );
            let generation = table.generation;
            shared.table.store(Arc::new(table));
            shared.reloads.record(Outcome::Loaded { generation });
            shared.metrics.reload(true);
        }
        Ok(Err(errors)) => {
            tracing::error!(
                generation = current,
                "routes reload failed; the previous routes stay in force:\n{errors}"
            );
            shared.reloads.record(Outcome::Refused {
                errors: errors.0.iter().map(ToString::to_string).collect(),
            });
            shared.metrics.reload(false);
        }
        Err(e) => {
            tracing::error!(error = %e, "routes reload task failed; the previous routes stay in force");
            shared.reloads.record(Outcome::Refused {
                errors: vec![format!("the reload task failed: {e}")],
            });
            shared.metrics.reload(false);
        }
    }
}

/// Stop accepting, let in-flight work finish up to the drain timeout, then cut the rest.
async fn drain(shared: &Arc<Shared>) {
    let open = shared.tasks.len();
    tracing::info!(open, timeout = ?shared.limits.drain_timeout, "shutting down: draining connections");
    shared.shutdown.cancel();
    shared.tasks.close();
    if tokio::time::timeout(shared.limits.drain_timeout, shared.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = shared.tasks.len(),
            "drain timeout expired; closing the remaining connections and tunnels"
        );
        shared.abort.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(1), shared.tasks.wait()).await;
    }
}
