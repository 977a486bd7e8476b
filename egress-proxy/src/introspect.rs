//! The proxy describing itself: health, metrics and the routes in force.
//!
//! Served to origin-form requests on the listener (`/healthz`, `/metrics`,
//! `/routes`, `/reload`) and, for agents, at `http://_egress.local/` through the proxy.
//! The listing shows where tokens come from, never their values.

use std::fmt::Write;

use http::header::{self, HeaderValue};
use http::{Method, Request, StatusCode};

use crate::audit::AuditGuard;
use crate::handler::{ProxyResponse, text_response};
use crate::state::Shared;

/// Answer an origin-form request made to the listener itself.
pub fn origin_form<B>(shared: &Shared, req: &Request<B>) -> ProxyResponse {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "egress-proxy: only GET /healthz, /metrics, /routes and /reload are served here\n"
                .to_string(),
            None,
        );
    }
    match req.uri().path() {
        "/healthz" => text_response(StatusCode::OK, "ok\n".to_string(), None),
        "/metrics" => {
            let mut r = text_response(
                StatusCode::OK,
                shared.metrics.render(shared.snapshot()),
                None,
            );
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        "/routes" => routes_response(shared, None),
        "/reload" => {
            let table = shared.table.load();
            let mut r = text_response(
                StatusCode::OK,
                shared.reloads.report(table.generation, table.loaded_at),
                None,
            );
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        other => text_response(
            StatusCode::NOT_FOUND,
            format!(
                "egress-proxy: no endpoint {other}. This is an HTTP proxy: point clients at it with \
                 HTTPS_PROXY/HTTP_PROXY=http://<this address>. Its own endpoints are GET /healthz, \
                 /metrics, /routes and /reload.\n"
            ),
            None,
        ),
    }
}

/// The routes table in force, as YAML in the routes-file format.
pub fn routes_response(shared: &Shared, guard: Option<AuditGuard>) -> ProxyResponse {
    let table = shared.table.load();
    let mut body = String::new();
    let _ = writeln!(
        body,
        "# egress-proxy routes in force: generation {}, loaded {} from {}",
        table.generation,
        bottle_common::time::format_rfc3339(time::OffsetDateTime::from(table.loaded_at)),
        table.path.display()
    );
    let _ = writeln!(
        body,
        "# To change them, propose a complete new routes.yaml through the supervise MCP tool `egress-block`."
    );
    if table.file.routes.is_empty() {
        body.push_str("routes: []\n");
    } else {
        body.push_str(&table.file.to_yaml());
    }
    let mut r = text_response(StatusCode::OK, body, guard);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/yaml; charset=utf-8"),
    );
    r
}
