//! WebSocket upgrades: forwarded as an HTTP/1.1 upgrade on a fresh origin
//! connection (through the upstream proxy when configured), then spliced.

use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Request, StatusCode, Uri};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::audit::{AuditGuard, AuditRecord};
use crate::body::{RequestBody, ResponseBody};
use crate::connector::{OriginStream, connect_tls};
use crate::handler::{ProxyResponse, Target, error_chain, upstream_failure};
use crate::headers::strip_hop_by_hop;
use crate::policy::{Reason, UrlScheme};
use crate::state::Shared;

/// Send an allowed upgrade request to the origin and, on 101, splice the two upgraded streams.
pub async fn forward(
    shared: Arc<Shared>,
    target: Target,
    mut outbound: Request<RequestBody>,
    client_upgrade: OnUpgrade,
    mut record: AuditRecord,
    start: Instant,
) -> ProxyResponse {
    let fail = |record, status, detail: &str| {
        upstream_failure(&shared, record, start, status, &target, detail)
    };
    let host = target.origin.host.clone();
    let port = target.origin.port;
    let stream = match target.scheme {
        UrlScheme::Https => {
            match connect_tls(&shared.dialer, shared.origin_tls.http1.clone(), &host, port).await {
                Ok(tls) => OriginStream::Tls(Box::new(tls)),
                Err(e) => return fail(record, StatusCode::BAD_GATEWAY, &e.to_string()),
            }
        }
        UrlScheme::Http => match shared.dialer.tunnel(&host, port, false).await {
            Ok(d) => OriginStream::Plain {
                io: d.stream,
                proxied: false,
            },
            Err(e) => return fail(record, StatusCode::BAD_GATEWAY, &e.to_string()),
        },
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        Ok(pair) => pair,
        Err(e) => return fail(record, StatusCode::BAD_GATEWAY, &error_chain(&e)),
    };
    shared.tasks.spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "websocket origin connection ended");
        }
    });
    let path: Uri = outbound
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .parse()
        .unwrap_or_else(|_| Uri::from_static("/"));
    if let Ok(h) = HeaderValue::from_str(&target.authority()) {
        outbound.headers_mut().insert(header::HOST, h);
    }
    *outbound.uri_mut() = path;
    let sent = tokio::time::timeout(
        shared.limits.response_header_timeout,
        sender.send_request(outbound),
    )
    .await;
    let mut response = match sent {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return fail(record, StatusCode::BAD_GATEWAY, &error_chain(&e)),
        Err(_) => {
            return fail(
                record,
                StatusCode::GATEWAY_TIMEOUT,
                "no response headers in time",
            );
        }
    };
    record.set_reason(Reason::Allowed);
    shared.metrics.request(Reason::Allowed);
    record.status = Some(response.status().as_u16());
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers, false);
        let guard = AuditGuard::new(shared.clone(), record, start);
        return http::Response::from_parts(parts, ResponseBody::incoming(body, Some(guard)));
    }
    let origin_upgrade = hyper::upgrade::on(&mut response);
    let mut guard = AuditGuard::new(shared.clone(), record, start);
    let tunnel_shared = shared.clone();
    shared.tasks.spawn(async move {
        let _tunnel = tunnel_shared.metrics.tunnel();
        let (client, origin) = match tokio::try_join!(client_upgrade, origin_upgrade) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "websocket upgrade did not complete");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut origin = TokioIo::new(origin);
        let copied = tokio::select! {
            r = tokio::io::copy_bidirectional(&mut client, &mut origin) => r,
            _ = tunnel_shared.abort.cancelled() => return,
        };
        if let Ok((from_client, from_origin)) = copied {
            guard.add_in(from_client);
            guard.add_out(from_origin);
        }
    });
    let (parts, _) = response.into_parts();
    http::Response::from_parts(parts, ResponseBody::empty())
}
