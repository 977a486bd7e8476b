//! The listener's own requests: CONNECT, absolute-form `http://` proxy
//! requests, and origin-form requests for the introspection endpoints.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::audit::{AuditGuard, AuditRecord, RouteRef};
use crate::body::ResponseBody;
use crate::denial::refusal_body;
use crate::handler::{ConnContext, ProxyResponse, close_after, handle, text_response};
use crate::host::split_authority;
use crate::integrity::Origin;
use crate::introspect;
use crate::policy::{Reason, UrlScheme, passthrough_route};
use crate::server::http1_builder;
use crate::state::Shared;
use crate::tunnel;

/// Serve one client connection to the listener.
pub async fn serve<IO>(shared: Arc<Shared>, io: IO, client: SocketAddr)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service_shared = shared.clone();
    let service = service_fn(move |req| route(service_shared.clone(), client, req));
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
        tracing::debug!(%client, error = %e, "client connection ended with an error");
    }
}

async fn route(
    shared: Arc<Shared>,
    client: SocketAddr,
    req: Request<Incoming>,
) -> Result<ProxyResponse, Infallible> {
    if req.method() == Method::CONNECT {
        return Ok(connect(shared, client, req));
    }
    if req.uri().scheme().is_some() {
        let ctx = ConnContext {
            client,
            tunnel: None,
        };
        return handle(shared, ctx, req).await;
    }
    Ok(introspect::origin_form(&shared, &req))
}

/// Accept a CONNECT: answer 200 and run the tunnel once the connection upgrades.
fn connect(shared: Arc<Shared>, client: SocketAddr, req: Request<Incoming>) -> ProxyResponse {
    let start = Instant::now();
    let target = req.uri().authority().map(|a| a.as_str().to_string());
    let parsed = match &target {
        Some(t)
            if req.uri().scheme().is_none()
                && req
                    .uri()
                    .path_and_query()
                    .is_none_or(|p| p.as_str().is_empty() || p.as_str() == "/") =>
        {
            split_authority(t).map_err(|e| e.to_string())
        }
        _ => Err(format!(
            "CONNECT needs a host:port target (got `{}`)",
            req.uri()
        )),
    };
    let origin = match parsed {
        Ok((host, Some(port))) => Origin { host, port },
        Ok((host, None)) => {
            let detail = format!("CONNECT {host} names no port; use host:port");
            return bad_connect(&shared, client, start, target.as_deref(), &detail);
        }
        Err(e) => return bad_connect(&shared, client, start, target.as_deref(), &e),
    };
    // The route is read off the table now: a reload before the tunnel's first
    // byte must not change which route (or whether any) it is spliced under.
    let table = shared.table.load();
    let passthrough = passthrough_route(&table, &origin.host, origin.port)
        .map(|route| RouteRef::from(&table.file.routes[route]));
    drop(table);
    let tunnel_shared = shared.clone();
    shared.tasks.spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => tunnel::run(tunnel_shared, upgraded, client, origin, passthrough).await,
            Err(e) => tracing::debug!(%client, error = %e, "CONNECT upgrade failed"),
        }
    });
    Response::new(ResponseBody::empty())
}

fn bad_connect(
    shared: &Arc<Shared>,
    client: SocketAddr,
    start: Instant,
    target: Option<&str>,
    detail: &str,
) -> ProxyResponse {
    let mut record = AuditRecord::new(client, "CONNECT", UrlScheme::Https, "");
    record.host = target.unwrap_or_default().chars().take(256).collect();
    record.set_reason(Reason::BadRequest);
    record.status = Some(400);
    shared.metrics.request(Reason::BadRequest);
    tracing::info!(%client, detail, "bad CONNECT refused");
    let body = refusal_body(Reason::BadRequest, detail);
    let guard = AuditGuard::new(shared.clone(), record, start);
    let mut response = text_response(StatusCode::BAD_REQUEST, body, Some(guard));
    close_after(&mut response);
    response
}
