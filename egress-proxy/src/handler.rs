//! The per-request phases: target → framing → decision → credentials →
//! forward → stream back, with one audit line at the end.
//!
//! The same handler serves absolute-form `http://` requests on the listener
//! and every request inside a CONNECT tunnel; the connection context says
//! which, and host integrity is checked accordingly.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;

use crate::audit::{AuditGuard, AuditRecord, RouteRef};
use crate::body::{RequestBody, ResponseBody};
use crate::denial::{Refused, refusal_body, render};
use crate::headers::{check_framing, inject_credential, is_websocket_upgrade, strip_hop_by_hop};
use crate::integrity::{IntegrityError, Origin, check_absolute_request, check_tunnel_request};
use crate::introspect;
use crate::policy::{Decision, Reason, RequestFacts, UrlScheme, decide};
use crate::state::Shared;
use crate::table::RouteTable;
use crate::websocket;

/// The host that serves the proxy's own routes listing through the proxy.
pub const INTROSPECTION_HOST: &str = "_egress.local";

/// A response as the handler produces it.
pub type ProxyResponse = Response<ResponseBody>;

/// Where requests on a connection come from and, inside a tunnel, go to.
#[derive(Debug, Clone)]
pub struct ConnContext {
    /// The client's address.
    pub client: SocketAddr,
    /// Set for connections inside a CONNECT tunnel.
    pub tunnel: Option<Arc<Tunnel>>,
}

/// A CONNECT tunnel's target and whether TLS was terminated in it.
#[derive(Debug, Clone)]
pub struct Tunnel {
    /// The CONNECT target.
    pub origin: Origin,
    /// `https` when the proxy terminated TLS, `http` for plaintext in the tunnel.
    pub scheme: UrlScheme,
}

/// Where a request goes once its names have been checked.
#[derive(Debug, Clone)]
pub struct Target {
    /// Scheme towards the origin.
    pub scheme: UrlScheme,
    /// Host and port.
    pub origin: Origin,
}

impl Target {
    /// `host[:port]`, the port omitted when it is the scheme's default.
    pub fn authority(&self) -> String {
        if self.origin.port == self.scheme.default_port() {
            self.origin.host.clone()
        } else {
            format!("{}:{}", self.origin.host, self.origin.port)
        }
    }
}

/// Handle one proxied request.
pub async fn handle(
    shared: Arc<Shared>,
    ctx: ConnContext,
    req: Request<Incoming>,
) -> Result<ProxyResponse, Infallible> {
    let start = Instant::now();
    let scheme = ctx.tunnel.as_ref().map_or(UrlScheme::Http, |t| t.scheme);
    let mut record = AuditRecord::new(ctx.client, req.method().as_str(), scheme, req.uri().path());
    let target = match resolve_target(&ctx, &req) {
        Ok(t) => t,
        Err(e) => {
            if let Some(t) = &ctx.tunnel {
                record.host.clone_from(&t.origin.host);
                record.port = t.origin.port;
            } else if let Some(a) = req.uri().authority() {
                record.host = a.host().to_string();
                record.port = a.port_u16().unwrap_or(80);
            }
            let (reason, status, detail) = match e {
                IntegrityError::Invalid(d) => (Reason::BadRequest, StatusCode::BAD_REQUEST, d),
                IntegrityError::Mismatch(d) => {
                    (Reason::HostMismatch, StatusCode::MISDIRECTED_REQUEST, d)
                }
            };
            return Ok(refuse(&shared, record, start, reason, status, &detail));
        }
    };
    record.host.clone_from(&target.origin.host);
    record.port = target.origin.port;
    if target.origin.host == INTROSPECTION_HOST {
        record.set_reason(Reason::Introspection);
        shared.metrics.request(Reason::Introspection);
        return Ok(introspect::routes_response(
            &shared,
            Some(guard(&shared, record, start, 200)),
        ));
    }
    if let Err(detail) = check_framing(req.headers()) {
        return Ok(refuse_bad_request(&shared, record, start, &detail));
    }
    let table = shared.table.load_full();
    let facts = RequestFacts {
        scheme: target.scheme,
        host: &target.origin.host,
        port: target.origin.port,
        method: req.method().as_str(),
        path: req.uri().path(),
        query: req.uri().query(),
    };
    match decide(&facts, &table) {
        Decision::Deny(denial) => {
            let body = render(
                &Refused {
                    method: facts.method,
                    scheme: facts.scheme,
                    host: facts.host,
                    port: facts.port,
                    path: facts.path,
                    query: facts.query,
                },
                &denial,
            );
            record.route = denial.route.map(|i| RouteRef::from(&table.file.routes[i]));
            record.set_reason(denial.reason);
            shared.metrics.request(denial.reason);
            tracing::info!(
                client = %ctx.client, method = facts.method, host = facts.host, port = facts.port,
                path = facts.path, reason = denial.reason.code(), "request refused"
            );
            let status = StatusCode::from_u16(denial.status).unwrap_or(StatusCode::FORBIDDEN);
            Ok(text_response(
                status,
                body,
                Some(guard(&shared, record, start, status.as_u16())),
            ))
        }
        Decision::Allow { route } => {
            Ok(forward(shared, req, target, table, route, record, start).await)
        }
    }
}

/// Check the names a request gives for its origin and settle where it goes.
fn resolve_target(ctx: &ConnContext, req: &Request<Incoming>) -> Result<Target, IntegrityError> {
    let host_header = match req.headers().get(header::HOST).map(HeaderValue::to_str) {
        None => None,
        Some(Ok(h)) => Some(h),
        Some(Err(_)) => {
            return Err(IntegrityError::Invalid(
                "the Host header is not ASCII".into(),
            ));
        }
    };
    if req.headers().get_all(header::HOST).iter().count() > 1 {
        return Err(IntegrityError::Invalid(
            "the request has more than one Host header".into(),
        ));
    }
    let uri = req.uri();
    match &ctx.tunnel {
        Some(t) => {
            check_tunnel_request(
                &t.origin,
                t.scheme,
                host_header,
                uri.authority().map(|a| a.as_str()),
                uri.scheme_str(),
            )?;
            Ok(Target {
                scheme: t.scheme,
                origin: t.origin.clone(),
            })
        }
        None => {
            if uri.scheme_str() != Some("http") {
                return Err(IntegrityError::Invalid(format!(
                    "absolute-form requests must use http:// (got {uri}); for https, CONNECT to the host and speak TLS through the tunnel"
                )));
            }
            let authority = uri
                .authority()
                .ok_or_else(|| IntegrityError::Invalid("the request URI has no host".into()))?;
            let origin = check_absolute_request(authority.as_str(), host_header)?;
            Ok(Target {
                scheme: UrlScheme::Http,
                origin,
            })
        }
    }
}

/// Forward an allowed request and stream the origin's answer back.
async fn forward(
    shared: Arc<Shared>,
    mut req: Request<Incoming>,
    target: Target,
    table: Arc<RouteTable>,
    route: usize,
    mut record: AuditRecord,
    start: Instant,
) -> ProxyResponse {
    record.route = Some(RouteRef::from(&table.file.routes[route]));
    let websocket = req.version() <= Version::HTTP_11 && is_websocket_upgrade(req.headers());
    let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers, websocket);
    parts.headers.remove(header::HOST);
    if let Some(credential) = &table.credentials[route] {
        inject_credential(&mut parts.headers, credential, &table.strip_headers);
        record.credential_injected = true;
    }
    drop(table);
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_string();
    parts.uri = match Uri::builder()
        .scheme(target.scheme.as_str())
        .authority(target.authority())
        .path_and_query(path_and_query)
        .build()
    {
        Ok(uri) => uri,
        Err(e) => {
            return refuse_bad_request(
                &shared,
                record,
                start,
                &format!("cannot form the origin URI: {e}"),
            );
        }
    };
    parts.version = Version::HTTP_11;
    parts.extensions.clear();
    let bytes_in = Arc::new(AtomicU64::new(0));
    let body_failure = Arc::new(OnceLock::new());
    let body = RequestBody::new(body, bytes_in.clone(), body_failure.clone());
    let outbound = Request::from_parts(parts, body);
    if let Some(client_upgrade) = client_upgrade {
        return websocket::forward(shared, target, outbound, client_upgrade, record, start).await;
    }
    let sent = tokio::time::timeout(
        shared.limits.response_header_timeout,
        shared.client.request(outbound),
    )
    .await;
    let response = match sent {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            if let Some(cause) = body_failure.get() {
                return refuse_bad_request(
                    &shared,
                    record,
                    start,
                    &format!("the request body is malformed: {cause}"),
                );
            }
            let detail = error_chain(&e);
            return upstream_failure(
                &shared,
                record,
                start,
                StatusCode::BAD_GATEWAY,
                &target,
                &detail,
            );
        }
        Err(_) => {
            let detail = format!(
                "no response headers within {:?}",
                shared.limits.response_header_timeout
            );
            return upstream_failure(
                &shared,
                record,
                start,
                StatusCode::GATEWAY_TIMEOUT,
                &target,
                &detail,
            );
        }
    };
    record.set_reason(Reason::Allowed);
    shared.metrics.request(Reason::Allowed);
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers, false);
    let mut guard = guard(&shared, record, start, parts.status.as_u16());
    guard.count_in(bytes_in);
    Response::from_parts(parts, ResponseBody::incoming(body, Some(guard)))
}

/// Answer an allowed request whose origin could not be reached.
pub fn upstream_failure(
    shared: &Arc<Shared>,
    mut record: AuditRecord,
    start: Instant,
    status: StatusCode,
    target: &Target,
    detail: &str,
) -> ProxyResponse {
    shared.metrics.upstream_error();
    record.set_reason(Reason::UpstreamError);
    shared.metrics.request(Reason::UpstreamError);
    tracing::warn!(host = %target.origin.host, port = target.origin.port, error = detail, "upstream request failed");
    let body = format!(
        "egress-proxy could not complete this request.\n\nreason: upstream_error: {}://{}:{}: {detail}\n",
        target.scheme.as_str(),
        target.origin.host,
        target.origin.port
    );
    let guard = guard(shared, record, start, status.as_u16());
    text_response(status, body, Some(guard))
}

/// Refuse a request that cannot be forwarded as written: 400, `bad_request`.
fn refuse_bad_request(
    shared: &Arc<Shared>,
    record: AuditRecord,
    start: Instant,
    detail: &str,
) -> ProxyResponse {
    refuse(
        shared,
        record,
        start,
        Reason::BadRequest,
        StatusCode::BAD_REQUEST,
        detail,
    )
}

/// Refuse a request before (or instead of) a route decision.
fn refuse(
    shared: &Arc<Shared>,
    mut record: AuditRecord,
    start: Instant,
    reason: Reason,
    status: StatusCode,
    detail: &str,
) -> ProxyResponse {
    record.set_reason(reason);
    shared.metrics.request(reason);
    tracing::info!(client = %record.client, host = %record.host, reason = reason.code(), detail, "request refused");
    let body = refusal_body(reason, detail);
    let mut response = text_response(
        status,
        body,
        Some(guard(shared, record, start, status.as_u16())),
    );
    if reason == Reason::BadRequest {
        close_after(&mut response);
    }
    response
}

/// Ask hyper to close the connection after this response: after a malformed
/// request, nothing that follows on the connection can be trusted.
pub fn close_after(response: &mut ProxyResponse) {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

fn guard(shared: &Arc<Shared>, mut record: AuditRecord, start: Instant, status: u16) -> AuditGuard {
    record.status = Some(status);
    AuditGuard::new(shared.clone(), record, start)
}

/// A `text/plain` response.
pub fn text_response(status: StatusCode, body: String, guard: Option<AuditGuard>) -> ProxyResponse {
    let mut r = Response::new(ResponseBody::full(body, guard));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// An error and its causes on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}
