//! What happens inside a CONNECT tunnel once the client has its 200.
//!
//! Passthrough routes are spliced unread, once the first bytes have shown a
//! TLS ClientHello whose SNI names the CONNECT target (no SNI only for IP
//! targets); anything else is refused. Everything else is intercepted: the
//! first byte says TLS (terminate with a leaf for the host, serve HTTP/2 or
//! HTTP/1.1 by ALPN) or plaintext HTTP/1.1 (serve as is). Either way every
//! request inside goes through the handler, denied hosts included, so the
//! agent reads the denial instead of a bare "tunnel failed".

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use rustls::server::Acceptor;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::LazyConfigAcceptor;

use crate::audit::{AuditGuard, AuditRecord, RouteRef};
use crate::denial::refusal_body;
use crate::handler::{ConnContext, Tunnel};
use crate::integrity::{IntegrityError, Origin, check_passthrough_sni, check_sni};
use crate::io::Prefixed;
use crate::policy::{Reason, UrlScheme};
use crate::server::{serve_http1, serve_http2};
use crate::state::Shared;

/// TLS record type of a handshake; the first byte of every TLS ClientHello.
const TLS_HANDSHAKE: u8 = 0x16;
/// Largest ClientHello read when checking a passthrough tunnel's SNI.
const MAX_CLIENT_HELLO: usize = 64 * 1024;

/// Run a tunnel to `origin`; `passthrough` is set when it is spliced, to the
/// passthrough route as it was when the CONNECT was decided (a reload before
/// the first byte does not change it).
pub async fn run(
    shared: Arc<Shared>,
    upgraded: Upgraded,
    client: SocketAddr,
    origin: Origin,
    passthrough: Option<RouteRef>,
) {
    let gauge_shared = shared.clone();
    let _gauge = gauge_shared.metrics.tunnel();
    let mut io = TokioIo::new(upgraded);
    let mut first = [0u8; 1];
    let n = match tokio::time::timeout(shared.limits.client_header_timeout, io.read(&mut first))
        .await
    {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => {
            tracing::debug!(%client, error = %e, "tunnel closed before its first byte");
            return;
        }
        Err(_) => {
            tracing::debug!(%client, "tunnel sent nothing in time");
            return;
        }
    };
    if n == 0 {
        return;
    }
    let io = Prefixed::new(Bytes::copy_from_slice(&first), io);
    match passthrough {
        Some(route) => splice(shared, io, client, origin, route, first[0] == TLS_HANDSHAKE).await,
        None if first[0] == TLS_HANDSHAKE => intercept_tls(shared, io, client, origin).await,
        None => {
            let ctx = ConnContext {
                client,
                tunnel: Some(Arc::new(Tunnel {
                    origin,
                    scheme: UrlScheme::Http,
                })),
            };
            serve_http1(shared, io, ctx).await;
        }
    }
}

/// Terminate TLS with a leaf for the CONNECT host and serve the requests inside.
async fn intercept_tls<IO>(shared: Arc<Shared>, io: IO, client: SocketAddr, origin: Origin)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let handshake_timeout = shared.limits.handshake_timeout;
    let start = match tokio::time::timeout(
        handshake_timeout,
        LazyConfigAcceptor::new(Acceptor::default(), io),
    )
    .await
    {
        Ok(Ok(start)) => start,
        Ok(Err(e)) => {
            tracing::debug!(%client, host = %origin.host, error = %e, "client TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%client, host = %origin.host, "client TLS handshake timed out");
            return;
        }
    };
    if let Some(sni) = start.client_hello().server_name()
        && let Err(e) = check_sni(&origin, sni)
    {
        refuse_tunnel(&shared, client, &origin, None, None, e);
        return;
    }
    let config = match shared.leaves.server_config(&origin.host) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(host = %origin.host, error = %e, "cannot mint a leaf certificate");
            return;
        }
    };
    let tls = match tokio::time::timeout(handshake_timeout, start.into_stream(config)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::info!(%client, host = %origin.host, error = %e, "client refused the proxy's certificate or TLS failed (does it trust the proxy CA?)");
            return;
        }
        Err(_) => {
            tracing::debug!(%client, host = %origin.host, "client TLS handshake timed out");
            return;
        }
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let ctx = ConnContext {
        client,
        tunnel: Some(Arc::new(Tunnel {
            origin,
            scheme: UrlScheme::Https,
        })),
    };
    if h2 {
        serve_http2(shared, tls, ctx).await;
    } else {
        serve_http1(shared, tls, ctx).await;
    }
}

/// Audit and log a tunnel refused before any request (SNI, not TLS); the
/// connection is closed, after a `status` answer when one was sent.
fn refuse_tunnel(
    shared: &Arc<Shared>,
    client: SocketAddr,
    origin: &Origin,
    route: Option<RouteRef>,
    status: Option<u16>,
    e: IntegrityError,
) {
    let (reason, detail) = match e {
        IntegrityError::Invalid(d) => (Reason::BadRequest, d),
        IntegrityError::Mismatch(d) => (Reason::HostMismatch, d),
    };
    tracing::info!(%client, host = %origin.host, reason = reason.code(), detail, "tunnel refused");
    let mut record = AuditRecord::new(client, "CONNECT", UrlScheme::Https, "");
    record.host.clone_from(&origin.host);
    record.port = origin.port;
    record.route = route;
    record.status = status;
    record.set_reason(reason);
    shared.metrics.request(reason);
    drop(AuditGuard::new(shared.clone(), record, Instant::now()));
}

/// Splice a passthrough tunnel to the origin (via the upstream proxy when configured).
///
/// Only TLS is spliced, and only after its ClientHello has named the CONNECT
/// host: the bytes that follow cannot be read, so the SNI is the one name
/// left to hold to the route (no domain fronting, no plaintext side channel).
async fn splice<IO>(
    shared: Arc<Shared>,
    mut io: IO,
    client: SocketAddr,
    origin: Origin,
    route: RouteRef,
    tls: bool,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let start = Instant::now();
    if !tls {
        let detail = format!(
            "{}:{} is a passthrough route, which carries TLS only; connect with https://",
            origin.host, origin.port
        );
        refuse_tunnel(
            &shared,
            client,
            &origin,
            Some(route),
            Some(400),
            IntegrityError::Invalid(detail.clone()),
        );
        let body = refusal_body(Reason::BadRequest, &detail);
        let answer = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = io.write_all(answer.as_bytes()).await;
        let _ = io.shutdown().await;
        return;
    }
    let mut hello = Vec::new();
    let checked =
        match read_client_hello(&mut io, &mut hello, shared.limits.handshake_timeout).await {
            Ok(sni) => check_passthrough_sni(&origin, sni.as_deref()),
            Err(e) => Err(IntegrityError::Invalid(format!(
                "passthrough tunnels carry TLS only, and no valid ClientHello arrived: {e}"
            ))),
        };
    if let Err(e) = checked {
        refuse_tunnel(&shared, client, &origin, Some(route), None, e);
        return;
    }
    let mut record = AuditRecord::new(client, "CONNECT", UrlScheme::Https, "");
    record.host.clone_from(&origin.host);
    record.port = origin.port;
    record.route = Some(route);
    let mut upstream = match shared.dialer.tunnel(&origin.host, origin.port, true).await {
        Ok(d) => d.stream,
        Err(e) => {
            shared.metrics.upstream_error();
            record.set_reason(Reason::UpstreamError);
            shared.metrics.request(Reason::UpstreamError);
            tracing::warn!(host = %origin.host, error = %e, "passthrough tunnel could not reach the origin");
            drop(AuditGuard::new(shared.clone(), record, start));
            return;
        }
    };
    record.set_reason(Reason::Passthrough);
    shared.metrics.request(Reason::Passthrough);
    let mut guard = AuditGuard::new(shared.clone(), record, start);
    if upstream.write_all(&hello).await.is_err() {
        return;
    }
    guard.add_in(hello.len() as u64);
    let copied = tokio::select! {
        r = tokio::io::copy_bidirectional(&mut io, &mut upstream) => r,
        _ = shared.abort.cancelled() => return,
    };
    if let Ok((from_client, from_origin)) = copied {
        guard.add_in(from_client);
        guard.add_out(from_origin);
    }
}

/// Read a TLS ClientHello into `buf` and return its SNI, if it has one.
async fn read_client_hello<IO: AsyncRead + Unpin>(
    io: &mut IO,
    buf: &mut Vec<u8>,
    timeout: std::time::Duration,
) -> std::io::Result<Option<String>> {
    let mut acceptor = Acceptor::default();
    let read = async {
        loop {
            let mut chunk = [0u8; 4096];
            let n = io.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
            acceptor.read_tls(&mut &chunk[..n])?;
            match acceptor.accept() {
                Ok(Some(accepted)) => {
                    return Ok(accepted.client_hello().server_name().map(str::to_owned));
                }
                Ok(None) if buf.len() < MAX_CLIENT_HELLO => continue,
                Ok(None) => return Err(std::io::Error::other("ClientHello too large")),
                Err((e, _)) => return Err(std::io::Error::other(e)),
            }
        }
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}
