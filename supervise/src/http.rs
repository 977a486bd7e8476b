//! The HTTP listener: `/mcp` (Streamable HTTP) behind Host and Origin checks, plus `/healthz`.
//!
//! rmcp's Streamable HTTP service does the DNS-rebinding protection: a
//! request whose `Host` is not an allowed host (any port) or whose `Origin`
//! is not `http(s)://<allowed host>[:port]` gets 403 before any MCP handling.
//! The server runs stateless (no MCP sessions), so a client that disconnects
//! cancels its waiting call while the proposal stays queued.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use egress_proxy::host::normalize_host;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::proposal::MAX_ARGUMENT_BYTES;
use crate::server::Supervise;

/// The MCP endpoint's path.
pub const MCP_PATH: &str = "/mcp";
/// Hosts accepted without `--allowed-host`: loopback and the compose service name.
pub const DEFAULT_ALLOWED_HOSTS: &[&str] = &["localhost", "127.0.0.1", "[::1]", "supervise"];
/// Largest request body; proposals are capped well below this, so bigger bodies are refused with 413.
pub const MAX_REQUEST_BODY_BYTES: usize = 1024 * 1024;

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

type Body = BoxBody<Bytes, Infallible>;
type Mcp = StreamableHttpService<Supervise, NeverSessionManager>;

/// Check an `--allowed-host` value: a host name or IP literal, without port or scheme.
pub fn parse_allowed_host(raw: &str) -> Result<String, String> {
    let bare = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
    if bare.is_none() && raw.matches(':').count() == 1 {
        return Err(format!(
            "--allowed-host `{raw}`: give the host without a port (every port is accepted)"
        ));
    }
    normalize_host(raw).map_err(|e| format!("--allowed-host: {e}"))
}

/// The allowed hosts: the defaults plus `extra` (already checked by [`parse_allowed_host`]).
pub fn allowed_hosts(extra: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = DEFAULT_ALLOWED_HOSTS
        .iter()
        .map(|h| h.to_string())
        .collect();
    for h in extra {
        if !hosts.contains(h) {
            hosts.push(h.clone());
        }
    }
    hosts
}

/// rmcp's service for `handler`, with Host/Origin checks for `hosts`.
pub fn mcp_service(handler: Supervise, hosts: &[String], shutdown: &CancellationToken) -> Mcp {
    let origins: Vec<String> = hosts
        .iter()
        .flat_map(|h| [format!("http://{h}:*"), format!("https://{h}:*")])
        .collect();
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_allowed_hosts(hosts.iter().cloned())
        .with_allowed_origins(origins)
        .enforce_origin_validation()
        .with_max_request_body_bytes(MAX_REQUEST_BODY_BYTES)
        .with_cancellation_token(shutdown.child_token());
    StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    )
}

/// Serve `mcp` on `listener` until `shutdown`, then let open requests finish briefly.
///
/// `hosts` are the allowed hosts, named in the body of every 403 so the fix is obvious.
pub async fn serve(listener: TcpListener, mcp: Mcp, hosts: &[String], shutdown: CancellationToken) {
    let graceful = GracefulShutdown::new();
    let hint: Arc<str> = Arc::from(format!(
        "supervise accepts the Host names {} (any port) and Origins http(s)://<one of them>[:port]; \
         start it with --allowed-host NAME to accept another name",
        hosts.join(", ")
    ));
    let mcp = Arc::new(mcp);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "cannot disable Nagle's algorithm");
        }
        let (mcp, hint) = (mcp.clone(), hint.clone());
        let service = service_fn(move |req| {
            let (mcp, hint) = (mcp.clone(), hint.clone());
            async move { Ok::<_, Infallible>(route(req, &mcp, &hint, peer).await) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::info!("closing connections that did not finish within {SHUTDOWN_GRACE:?}");
        }
    }
}

async fn route(req: Request<Incoming>, mcp: &Mcp, hint: &str, peer: SocketAddr) -> Response<Body> {
    tracing::debug!(%peer, method = %req.method(), path = req.uri().path(), "request");
    match req.uri().path() {
        MCP_PATH => {
            let host = req.headers().get(http::header::HOST).cloned();
            let origin = req.headers().get(http::header::ORIGIN).cloned();
            let response = mcp.handle(req).await;
            match response.status() {
                StatusCode::FORBIDDEN => {}
                StatusCode::PAYLOAD_TOO_LARGE => return too_large(),
                _ => return response,
            }
            tracing::warn!(%peer, ?host, ?origin, "refused a request with a foreign Host or Origin header");
            let (mut parts, body) = response.into_parts();
            let reason = match body.collect().await {
                Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
                Err(never) => match never {},
            };
            parts.headers.remove(http::header::CONTENT_LENGTH);
            parts.headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            let message = format!("{}. {hint}\n", reason.trim_end_matches(['.', '\n']));
            Response::from_parts(parts, Full::new(Bytes::from(message)).boxed())
        }
        "/healthz" => text(StatusCode::OK, "ok\n"),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: the MCP endpoint is /mcp (Streamable HTTP)\n",
        ),
    }
}

/// A 413 whose body is a JSON-RPC error, so MCP clients show the agent why the call failed.
fn too_large() -> Response<Body> {
    let message = format!(
        "the request is over {MAX_REQUEST_BODY_BYTES} bytes, the most supervise accepts; each \
         proposed file is limited to {MAX_ARGUMENT_BYTES} bytes, so send a smaller proposal"
    );
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32600, "message": message},
    });
    Response::builder()
        .status(StatusCode::PAYLOAD_TOO_LARGE)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())).boxed())
        .expect("static response is valid")
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from_static(body.as_bytes())).boxed())
        .expect("static response is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_hosts_take_no_ports() {
        assert_eq!(
            parse_allowed_host("Supervise.Bottle.").unwrap(),
            "supervise.bottle"
        );
        assert_eq!(parse_allowed_host("[::1]").unwrap(), "[::1]");
        assert_eq!(parse_allowed_host("::1").unwrap(), "[::1]");
        assert!(
            parse_allowed_host("supervise:9100")
                .unwrap_err()
                .contains("without a port")
        );
        assert!(parse_allowed_host("http://x").is_err());
        assert!(parse_allowed_host("").is_err());
        let hosts = allowed_hosts(&["sv".into(), "localhost".into()]);
        assert_eq!(hosts.iter().filter(|h| *h == "localhost").count(), 1);
        assert!(hosts.contains(&"sv".to_string()));
    }
}
