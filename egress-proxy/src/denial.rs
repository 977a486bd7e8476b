//! The text an agent reads when a request is refused.
//!
//! A denial must let an agent fix its situation without a human reading
//! logs: what was refused, why, a route that would allow it, and the tool
//! to propose it with. Query values never appear (they often carry keys).

use std::fmt::Write;

use crate::policy::{Denial, Reason, UrlScheme};
use crate::routes::RoutesFile;

/// The request as a denial describes it (no query values).
#[derive(Debug, Clone, Copy)]
pub struct Refused<'a> {
    /// Uppercase method.
    pub method: &'a str,
    /// Scheme.
    pub scheme: UrlScheme,
    /// Normalized host.
    pub host: &'a str,
    /// Port.
    pub port: u16,
    /// Raw path, without the query.
    pub path: &'a str,
    /// Raw query, if any; only parameter names are shown.
    pub query: Option<&'a str>,
}

/// The plain-text body of a refusal that has no route to suggest (malformed
/// requests, refused tunnels): the reason code and what was wrong.
pub fn refusal_body(reason: Reason, detail: &str) -> String {
    format!(
        "egress-proxy refused this request.\n\nreason: {}: {detail}\n",
        reason.code()
    )
}

/// Render the plain-text body of a denial.
pub fn render(refused: &Refused<'_>, denial: &Denial) -> String {
    let mut out = String::with_capacity(1024);
    let _ = writeln!(out, "egress-proxy refused this request.\n");
    let _ = writeln!(
        out,
        "request: {} {}://{}:{}{}",
        refused.method,
        refused.scheme.as_str(),
        refused.host,
        refused.port,
        refused.path
    );
    if let Some(names) = refused.query.map(query_names) {
        let _ = writeln!(out, "query parameters (values not shown): {names}");
    }
    let _ = writeln!(out, "reason: {}: {}", denial.reason.code(), denial.detail);
    if let Some(route) = &denial.suggestion {
        let what = if route.line > 0 {
            format!(
                "A route that would allow it (change the route on line {} of routes.yaml to this)",
                route.line
            )
        } else {
            "A route that would allow it (add it to routes.yaml)".to_string()
        };
        let snippet = RoutesFile {
            routes: vec![route.clone()],
        }
        .to_yaml();
        let _ = writeln!(out, "\n{what}:\n\n{snippet}");
    }
    out.push_str(AFTERWORD);
    out
}

/// How to ask for more, appended to every route denial.
pub const AFTERWORD: &str = "\nTo get access, propose the complete new routes.yaml (the current \
routes plus your change) with a justification through the supervise MCP tool `egress-block`; \
read the current routes with the `list-egress-routes` tool or at http://_egress.local/.\n";

/// Parameter names of a query, values dropped; names that do not look like identifiers are masked.
pub fn query_names(query: &str) -> String {
    let names: Vec<&str> = query
        .split(['&', ';'])
        .filter(|p| !p.is_empty())
        .take(20)
        .map(|pair| {
            let name = pair.split_once('=').map_or(pair, |(n, _)| n);
            let plain = name.len() <= 40
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.[]".contains(&b));
            if plain { name } else { "…" }
        })
        .collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Reason;
    use crate::routes::{Route, TlsMode};

    #[test]
    fn body_names_request_reason_snippet_and_tool_without_query_values() {
        let denial = Denial {
            reason: Reason::NoRoute,
            status: 403,
            detail: "no route allows host api.example.com on port 443.".into(),
            suggestion: Some(Route {
                host: crate::host::HostPattern::Exact("api.example.com".into()),
                port: None,
                paths: Some(vec!["/v1/things".into()]),
                methods: Some(vec!["GET".into()]),
                auth: None,
                tls: TlsMode::Intercept,
                line: 0,
            }),
            route: None,
        };
        let r = Refused {
            method: "GET",
            scheme: UrlScheme::Https,
            host: "api.example.com",
            port: 443,
            path: "/v1/things",
            query: Some("page=2&api_key=SECRETVALUE&sk-LONGTOKENLIKENAME0123456789abcdefghijk"),
        };
        let body = render(&r, &denial);
        assert!(
            body.contains("request: GET https://api.example.com:443/v1/things"),
            "{body}"
        );
        assert!(body.contains("reason: no_route: no route allows"), "{body}");
        assert!(
            body.contains("query parameters (values not shown): page, api_key, …"),
            "{body}"
        );
        assert!(body.contains("- host: api.example.com"), "{body}");
        assert!(
            body.contains("egress-block") && body.contains("http://_egress.local/"),
            "{body}"
        );
        assert!(
            !body.contains("SECRETVALUE") && !body.contains("LONGTOKEN"),
            "{body}"
        );
    }
}
