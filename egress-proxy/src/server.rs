//! Accepting connections and serving HTTP on them, with limits and drain.

use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

use crate::handler::{ConnContext, handle};
use crate::io::IdleTimeout;
use crate::outer;
use crate::state::Shared;

/// Accept client connections until shutdown, each served on its own task.
pub async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let slots = Arc::new(tokio::sync::Semaphore::new(shared.limits.max_connections));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = shared.shutdown.cancelled() => return,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shared.shutdown.cancelled() => return,
        };
        let (tcp, client) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let conn_shared = shared.clone();
        shared.tasks.spawn(async move {
            let _permit = permit;
            let _gauge = conn_shared.metrics.connection();
            let io = IdleTimeout::new(tcp, conn_shared.limits.idle_timeout);
            outer::serve(conn_shared.clone(), io, client).await;
        });
    }
}

/// Serve HTTP/1.1 requests inside a tunnel (plaintext or TLS-terminated).
pub async fn serve_http1<IO>(shared: Arc<Shared>, io: IO, ctx: ConnContext)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service_shared = shared.clone();
    let service = service_fn(move |req| handle(service_shared.clone(), ctx.clone(), req));
    let conn = http1_builder(&shared)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = shared.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "HTTP/1.1 connection ended with an error");
    }
}

/// Serve HTTP/2 requests inside a TLS-terminated tunnel.
pub async fn serve_http2<IO>(shared: Arc<Shared>, io: IO, ctx: ConnContext)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service_shared = shared.clone();
    let service = service_fn(move |req| handle(service_shared.clone(), ctx.clone(), req));
    let limits = &shared.limits;
    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_streams)
        .max_header_list_size(limits.max_header_bytes as u32)
        .initial_stream_window_size(1024 * 1024)
        .initial_connection_window_size(4 * 1024 * 1024)
        .serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = shared.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "HTTP/2 connection ended with an error");
    }
}

/// The HTTP/1.1 server settings every listener and tunnel uses.
pub fn http1_builder(shared: &Shared) -> hyper::server::conn::http1::Builder {
    let limits = &shared.limits;
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(limits.client_header_timeout)
        .max_headers(limits.max_headers)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes.max(8192) + 64 * 1024)
        .keep_alive(true);
    b
}
