//! The decision: given what a request is and the route table, allow or deny.
//!
//! Everything here is pure (no I/O, no clock), so the whole rule set is
//! unit-tested exhaustively. Order: git push block, route lookup by host and
//! port (most specific host pattern), canonical path when a route has
//! `paths`, longest path prefix, then method.

use std::fmt;

use crate::canonical::{PathProblem, canonical_path, encode_path, path_under};
use crate::gitpush::is_git_push;
use crate::routes::{Route, TlsMode};
use crate::table::RouteTable;

/// The URL scheme a request is made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlScheme {
    /// Plain HTTP (absolute-form requests, or plaintext inside a CONNECT tunnel).
    Http,
    /// HTTPS (TLS terminated by the proxy inside a CONNECT tunnel).
    Https,
}

impl UrlScheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            UrlScheme::Http => "http",
            UrlScheme::Https => "https",
        }
    }

    /// The port a URL of this scheme means when it names none.
    pub fn default_port(self) -> u16 {
        match self {
            UrlScheme::Http => 80,
            UrlScheme::Https => 443,
        }
    }
}

/// What the decision looks at; hosts are already normalized.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// How the origin is reached.
    pub scheme: UrlScheme,
    /// Normalized host name or IP literal.
    pub host: &'a str,
    /// Origin port.
    pub port: u16,
    /// Uppercase method.
    pub method: &'a str,
    /// The raw path as sent, without the query.
    pub path: &'a str,
    /// The raw query, without `?`.
    pub query: Option<&'a str>,
}

/// Why a request was allowed or refused; the codes are stable (audit logs, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A route allows it.
    Allowed,
    /// Tunnelled unread under a passthrough route.
    Passthrough,
    /// No route for the host and port.
    NoRoute,
    /// Routes exist for the host but none covers the path.
    PathNotAllowed,
    /// The route covering the path does not allow the method.
    MethodNotAllowed,
    /// The path is not canonical and the host has path rules.
    NonCanonicalPath,
    /// CONNECT target, SNI, Host and URI authority disagree.
    HostMismatch,
    /// A git smart-HTTP push.
    GitPushBlocked,
    /// The route injects a credential but the request is plain HTTP.
    PlaintextCredential,
    /// Malformed or ambiguous request (framing, target form).
    BadRequest,
    /// The origin or upstream proxy could not be reached or failed.
    UpstreamError,
    /// The proxy's own routes listing at `_egress.local`.
    Introspection,
}

impl Reason {
    /// Every reason, for metrics.
    pub const ALL: [Reason; 12] = [
        Reason::Allowed,
        Reason::Passthrough,
        Reason::NoRoute,
        Reason::PathNotAllowed,
        Reason::MethodNotAllowed,
        Reason::NonCanonicalPath,
        Reason::HostMismatch,
        Reason::GitPushBlocked,
        Reason::PlaintextCredential,
        Reason::BadRequest,
        Reason::UpstreamError,
        Reason::Introspection,
    ];

    /// The stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Allowed => "allowed",
            Reason::Passthrough => "passthrough",
            Reason::NoRoute => "no_route",
            Reason::PathNotAllowed => "path_not_allowed",
            Reason::MethodNotAllowed => "method_not_allowed",
            Reason::NonCanonicalPath => "non_canonical_path",
            Reason::HostMismatch => "host_mismatch",
            Reason::GitPushBlocked => "git_push_blocked",
            Reason::PlaintextCredential => "plaintext_credential",
            Reason::BadRequest => "bad_request",
            Reason::UpstreamError => "upstream_error",
            Reason::Introspection => "introspection",
        }
    }

    /// Whether the policy let requests with this reason through (an
    /// upstream error happens after an allow).
    pub fn allows(self) -> bool {
        matches!(
            self,
            Reason::Allowed | Reason::Passthrough | Reason::Introspection | Reason::UpstreamError
        )
    }

    /// Index into [`Reason::ALL`].
    pub fn index(self) -> usize {
        Reason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refusal: what to answer and how the agent could get it allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// Stable reason code.
    pub reason: Reason,
    /// HTTP status to answer with.
    pub status: u16,
    /// One or two sentences on why.
    pub detail: String,
    /// A route the agent could propose so the request would be allowed.
    pub suggestion: Option<Route>,
    /// The route that was considered, if any (index into the table).
    pub route: Option<usize>,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward under route `route` (index into the table).
    Allow {
        /// Index of the route in the table.
        route: usize,
    },
    /// Refuse.
    Deny(Denial),
}

/// Decide one request against one table snapshot.
pub fn decide(facts: &RequestFacts<'_>, table: &RouteTable) -> Decision {
    if is_git_push(facts.path, facts.query) {
        return deny(
            Reason::GitPushBlocked,
            403,
            "git pushes over HTTP(S) are refused on every route: pushes go through git-gate, \
             which scans every commit for secrets before forwarding it. Push to the git-gate \
             remote configured in this sandbox instead."
                .to_string(),
            None,
            None,
        );
    }
    let routes = &table.file.routes;
    let candidates = candidates(
        routes,
        facts.host,
        facts.port,
        facts.scheme == UrlScheme::Https,
    );
    if candidates.is_empty() {
        return deny(
            Reason::NoRoute,
            403,
            format!(
                "no route allows host {} on port {}.",
                facts.host, facts.port
            ),
            Some(new_route(facts)),
            None,
        );
    }
    let has_paths = candidates.iter().any(|&i| routes[i].paths.is_some());
    let canonical = if has_paths {
        match canonical_path(facts.path) {
            Ok(p) => Some(p),
            Err(problem) => return non_canonical(problem, candidates[0]),
        }
    } else {
        None
    };
    let coverage = |route: &Route| -> Option<usize> {
        match (&route.paths, &canonical) {
            (None, _) => Some(0),
            (Some(prefixes), Some(path)) => prefixes
                .iter()
                .filter(|p| path_under(path, p))
                .map(|p| p.len())
                .max(),
            (Some(_), None) => None,
        }
    };
    let best_len = candidates
        .iter()
        .filter_map(|&i| coverage(&routes[i]))
        .max();
    let Some(best_len) = best_len else {
        let first = candidates[0];
        let mut extended = routes[first].clone();
        if let (Some(paths), Some(path)) = (extended.paths.as_mut(), &canonical) {
            paths.push(path.clone());
        }
        return deny(
            Reason::PathNotAllowed,
            403,
            format!(
                "the route for {} (routes file line {}) does not include the path {}.",
                routes[first].host,
                routes[first].line,
                canonical
                    .as_deref()
                    .map_or(facts.path.to_string(), encode_path)
            ),
            Some(extended),
            Some(first),
        );
    };
    let best: Vec<usize> = candidates
        .into_iter()
        .filter(|&i| coverage(&routes[i]) == Some(best_len))
        .collect();
    if let Some(&route) = best
        .iter()
        .find(|&&i| routes[i].allows_method(facts.method))
    {
        if routes[route].auth.is_some() && facts.scheme == UrlScheme::Http {
            return plaintext_credential(&routes[route], route);
        }
        return Decision::Allow { route };
    }
    let first = best[0];
    let mut extended = routes[first].clone();
    if let Some(methods) = extended.methods.as_mut() {
        methods.push(facts.method.to_string());
    }
    let allowed: Vec<&str> = best
        .iter()
        .flat_map(|&i| routes[i].methods.iter().flatten().map(String::as_str))
        .collect();
    deny(
        Reason::MethodNotAllowed,
        403,
        format!(
            "the route for {} (routes file line {}) covers this path but allows only {}, not {}.",
            routes[first].host,
            routes[first].line,
            allowed.join(", "),
            facts.method
        ),
        Some(extended),
        Some(first),
    )
}

/// The passthrough route that a CONNECT to `host:port` is spliced under, if any.
///
/// Only the most specific host pattern counts, so an intercepted exact route
/// beats a passthrough wildcard.
pub fn passthrough_route(table: &RouteTable, host: &str, port: u16) -> Option<usize> {
    let routes = &table.file.routes;
    candidates(routes, host, port, true)
        .into_iter()
        .find(|&i| routes[i].tls == TlsMode::Passthrough)
}

/// Routes for `host` and `port`, restricted to the most specific host pattern, in file order.
fn candidates(routes: &[Route], host: &str, port: u16, tls: bool) -> Vec<usize> {
    let matching = routes
        .iter()
        .enumerate()
        .filter(|(_, r)| r.host.matches(host) && r.covers_port(port, tls));
    let Some(top) = matching.clone().map(|(_, r)| r.host.specificity()).max() else {
        return Vec::new();
    };
    matching
        .filter(|(_, r)| r.host.specificity() == top)
        .map(|(i, _)| i)
        .collect()
}

/// A route with `auth` reached over plain HTTP: the credential would travel in
/// clear (to the origin, and to anyone on the way), so the request is refused.
fn plaintext_credential(route: &Route, index: usize) -> Decision {
    deny(
        Reason::PlaintextCredential,
        403,
        format!(
            "the route for {} (routes file line {}) injects a credential, and credentials are \
             only sent over https; this request is plain http. Use https:// for this host.",
            route.host, route.line
        ),
        None,
        Some(index),
    )
}

fn non_canonical(problem: PathProblem, route: usize) -> Decision {
    deny(
        Reason::NonCanonicalPath,
        400,
        format!(
            "the path is not canonical: {problem}. Routes for this host match paths, so only \
             canonical paths are accepted (no `.`/`..` segments, no `//`, no encoded `/`, `\\`, \
             `.` or `%`, no backslashes); send the path in its plain form."
        ),
        None,
        Some(route),
    )
}

fn new_route(facts: &RequestFacts<'_>) -> Route {
    let default_port = facts.port == facts.scheme.default_port();
    Route {
        host: crate::host::HostPattern::Exact(facts.host.to_string()),
        port: (!default_port).then_some(facts.port),
        paths: canonical_path(facts.path).ok().map(|p| vec![p]),
        methods: Some(vec![facts.method.to_string()]),
        auth: None,
        tls: TlsMode::Intercept,
        line: 0,
    }
}

fn deny(
    reason: Reason,
    status: u16,
    detail: String,
    suggestion: Option<Route>,
    route: Option<usize>,
) -> Decision {
    Decision::Deny(Denial {
        reason,
        status,
        detail,
        suggestion,
        route,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use bottle_common::located::Source;

    use super::*;
    use crate::routes::{RoutesFile, parse_routes};

    const ROUTES: &str = r#"
routes:
  - host: api.github.com
    paths: ["/repos/acme/", "/user"]
    methods: [GET, POST]
    auth: {scheme: bearer, token_env: GH}
  - host: api.github.com
    paths: ["/repos/acme/public/"]
    methods: [GET]
  - host: "*.github.com"
    methods: [GET]
  - host: "*.raw.github.com"
  - host: uploads.example.com
    paths: ["/in/"]
    methods: [PUT]
  - host: uploads.example.com
    paths: ["/in/"]
    methods: [GET]
    auth: {scheme: bearer, token_env: GH}
  - host: pinned.example.org
    tls: passthrough
  - host: "*.pinned.example.org"
    tls: passthrough
  - host: intercepted.pinned.example.org
  - host: local.test
    port: 8443
  - host: plain.example.com
    port: 80
  - host: plain-auth.example.com
    port: 80
    auth: {scheme: bearer, token_env: GH}
"#;

    fn table() -> RouteTable {
        let file = parse_routes(ROUTES, &Source::named("routes.yaml")).unwrap();
        RouteTable::build(file, Path::new("routes.yaml"), 1, &|_| Some("t".into())).unwrap()
    }

    fn facts<'a>(
        scheme: UrlScheme,
        host: &'a str,
        port: u16,
        method: &'a str,
        target: &'a str,
    ) -> RequestFacts<'a> {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        RequestFacts {
            scheme,
            host,
            port,
            method,
            path,
            query,
        }
    }

    fn https(host: &str, method: &str, target: &str) -> Decision {
        decide(
            &facts(UrlScheme::Https, host, 443, method, target),
            &table(),
        )
    }

    fn reason(d: &Decision) -> Reason {
        match d {
            Decision::Allow { .. } => Reason::Allowed,
            Decision::Deny(d) => d.reason,
        }
    }

    fn allowed_by(d: &Decision) -> usize {
        match d {
            Decision::Allow { route } => *route,
            Decision::Deny(d) => panic!("denied: {d:?}"),
        }
    }

    #[test]
    fn most_specific_host_then_longest_path_wins() {
        assert_eq!(
            allowed_by(&https("api.github.com", "GET", "/repos/acme/x")),
            0
        );
        assert_eq!(
            allowed_by(&https("api.github.com", "GET", "/repos/acme/public/x")),
            1
        );
        assert_eq!(allowed_by(&https("api.github.com", "GET", "/user")), 0);
        assert_eq!(allowed_by(&https("api.github.com", "GET", "/user/keys")), 0);
        assert_eq!(allowed_by(&https("gist.github.com", "GET", "/anything")), 2);
        assert_eq!(allowed_by(&https("a.b.github.com", "GET", "/")), 2);
        assert_eq!(allowed_by(&https("x.raw.github.com", "DELETE", "/")), 3);
        assert_eq!(
            allowed_by(&https("intercepted.pinned.example.org", "GET", "/")),
            8
        );
    }

    #[test]
    fn longest_prefix_route_decides_the_method() {
        // /repos/acme/public/ is only GET even though /repos/acme/ allows POST.
        assert_eq!(
            reason(&https("api.github.com", "POST", "/repos/acme/public/x")),
            Reason::MethodNotAllowed
        );
        assert_eq!(
            reason(&https("api.github.com", "DELETE", "/repos/acme/x")),
            Reason::MethodNotAllowed
        );
        assert_eq!(
            reason(&https("gist.github.com", "POST", "/")),
            Reason::MethodNotAllowed
        );
    }

    #[test]
    fn equal_routes_split_by_method() {
        assert_eq!(allowed_by(&https("uploads.example.com", "PUT", "/in/a")), 4);
        assert_eq!(allowed_by(&https("uploads.example.com", "GET", "/in/a")), 5);
        let d = https("uploads.example.com", "POST", "/in/a");
        let Decision::Deny(d) = d else { panic!() };
        assert_eq!(d.reason, Reason::MethodNotAllowed);
        assert!(d.detail.contains("PUT, GET"), "{}", d.detail);
    }

    #[test]
    fn exact_host_routes_do_not_fall_back_to_wildcards() {
        // api.github.com has exact routes, so *.github.com does not apply to it.
        assert_eq!(
            reason(&https("api.github.com", "GET", "/orgs/evil")),
            Reason::PathNotAllowed
        );
        assert_eq!(
            reason(&https("api.github.com", "GET", "/repos/acme-evil/x")),
            Reason::PathNotAllowed
        );
        assert_eq!(reason(&https("github.com", "GET", "/")), Reason::NoRoute);
        assert_eq!(
            reason(&https("evilgithub.com", "GET", "/")),
            Reason::NoRoute
        );
    }

    #[test]
    fn ports_and_schemes_must_match() {
        let t = table();
        let d = |scheme, host, port| reason(&decide(&facts(scheme, host, port, "GET", "/"), &t));
        assert_eq!(
            d(UrlScheme::Https, "gist.github.com", 8443),
            Reason::NoRoute
        );
        assert_eq!(d(UrlScheme::Http, "gist.github.com", 80), Reason::Allowed);
        assert_eq!(d(UrlScheme::Http, "gist.github.com", 443), Reason::NoRoute);
        assert_eq!(d(UrlScheme::Https, "local.test", 8443), Reason::Allowed);
        assert_eq!(d(UrlScheme::Https, "local.test", 443), Reason::NoRoute);
        assert_eq!(d(UrlScheme::Http, "plain.example.com", 80), Reason::Allowed);
        assert_eq!(
            d(UrlScheme::Https, "plain.example.com", 443),
            Reason::NoRoute
        );
    }

    #[test]
    fn non_canonical_paths_are_refused_where_paths_matter() {
        for target in [
            "/repos/acme/../evil",
            "/repos/acme/%2e%2e/evil",
            "/repos/acme%2fevil",
            "/repos//acme/x",
            "/repos/acme/..;/evil",
            "/repos\\acme",
            "/repos/acme/%",
        ] {
            let d = https("api.github.com", "GET", target);
            let Decision::Deny(d) = d else {
                panic!("{target} allowed")
            };
            assert_eq!(
                (d.reason, d.status),
                (Reason::NonCanonicalPath, 400),
                "{target}"
            );
        }
        // Hosts without path rules forward paths untouched.
        assert_eq!(allowed_by(&https("gist.github.com", "GET", "/a/../b")), 2);
        // Decoded matching: %61cme is acme.
        assert_eq!(
            allowed_by(&https("api.github.com", "GET", "/repos/%61cme/x")),
            0
        );
    }

    #[test]
    fn queries_do_not_affect_path_matching() {
        assert_eq!(
            allowed_by(&https("api.github.com", "GET", "/user?x=/repos/evil")),
            0
        );
        assert_eq!(
            reason(&https("api.github.com", "GET", "/orgs?p=/repos/acme/")),
            Reason::PathNotAllowed
        );
    }

    #[test]
    fn git_push_is_blocked_before_any_route() {
        for target in [
            "/repos/acme/x.git/git-receive-pack",
            "/repos/acme/x.git/info/refs?service=git-receive-pack",
            "/nowhere/git-receive-pack",
        ] {
            for host in ["api.github.com", "gist.github.com", "unknown.example"] {
                assert_eq!(
                    reason(&https(host, "POST", target)),
                    Reason::GitPushBlocked,
                    "{host}{target}"
                );
            }
        }
        assert_eq!(
            allowed_by(&https(
                "api.github.com",
                "GET",
                "/repos/acme/x.git/info/refs?service=git-upload-pack"
            )),
            0
        );
    }

    #[test]
    fn pushes_are_blocked_in_every_spelling_on_routes_without_paths() {
        for target in [
            "/r.git/git-receive-pack/.",
            "/r.git/git-receive-pack/x/..",
            "/r.git/git-receive-pack%2F.",
            "/r.git/info/refs/.?service=git-receive-pack",
            "/r.git/info/refs?a=1&service=git%2Dreceive-pack",
        ] {
            for host in ["gist.github.com", "x.raw.github.com", "plain.example.com"] {
                assert_eq!(
                    reason(&https(host, "POST", target)),
                    Reason::GitPushBlocked,
                    "{host}{target}"
                );
            }
        }
    }

    #[test]
    fn credentials_are_never_sent_over_plain_http() {
        let t = table();
        let plain = decide(
            &facts(UrlScheme::Http, "plain-auth.example.com", 80, "GET", "/"),
            &t,
        );
        let Decision::Deny(d) = plain else {
            panic!("allowed: {plain:?}")
        };
        assert_eq!(
            (d.reason, d.status, d.route),
            (Reason::PlaintextCredential, 403, Some(11))
        );
        assert!(d.detail.contains("only sent over https"), "{}", d.detail);
        assert!(d.suggestion.is_none());
        let tls = decide(
            &facts(UrlScheme::Https, "plain-auth.example.com", 80, "GET", "/"),
            &t,
        );
        assert_eq!(allowed_by(&tls), 11);
        // Routes without auth still serve plain http.
        let open = decide(
            &facts(UrlScheme::Http, "plain.example.com", 80, "GET", "/"),
            &t,
        );
        assert_eq!(allowed_by(&open), 10);
    }

    #[test]
    fn passthrough_is_decided_by_the_most_specific_pattern() {
        let t = table();
        assert_eq!(passthrough_route(&t, "pinned.example.org", 443), Some(6));
        assert_eq!(passthrough_route(&t, "a.pinned.example.org", 443), Some(7));
        assert_eq!(
            passthrough_route(&t, "intercepted.pinned.example.org", 443),
            None
        );
        assert_eq!(passthrough_route(&t, "pinned.example.org", 8443), None);
        assert_eq!(passthrough_route(&t, "api.github.com", 443), None);
    }

    #[test]
    fn denials_suggest_a_route_that_would_allow_the_request() {
        let t = table();
        let cases = [
            facts(
                UrlScheme::Https,
                "new.example",
                443,
                "GET",
                "/v1/x?key=secret",
            ),
            facts(UrlScheme::Https, "new.example", 8443, "POST", "/v1/x"),
            facts(UrlScheme::Http, "new.example", 80, "GET", "/"),
            facts(UrlScheme::Https, "api.github.com", 443, "GET", "/orgs/acme"),
            facts(
                UrlScheme::Https,
                "api.github.com",
                443,
                "DELETE",
                "/repos/acme/x",
            ),
        ];
        for f in cases {
            let Decision::Deny(d) = decide(&f, &t) else {
                panic!()
            };
            let mut routes = t.file.clone();
            routes
                .routes
                .push(d.suggestion.clone().expect("suggestion"));
            if let Some(i) = d.route {
                routes.routes.remove(i);
            }
            let yaml = routes.to_yaml();
            let file =
                parse_routes(&yaml, &Source::named("s")).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
            let t2 = RouteTable::build(file, Path::new("s"), 2, &|_| Some("t".into())).unwrap();
            assert!(
                matches!(decide(&f, &t2), Decision::Allow { .. }),
                "{f:?}\n{yaml}"
            );
        }
    }

    /// A small deterministic generator (xorshift), so the property test needs no extra crate.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[(self.next() % from.len() as u64) as usize]
        }
    }

    #[test]
    fn every_suggestion_reads_back_as_itself() {
        // Raw path pieces, including escapes whose decoded form YAML or the
        // path parser would misread if rendered as is.
        const PIECES: &[&str] = &[
            "a",
            "v1",
            "%20",
            "%C3%A9",
            "caf%C3%A9",
            "%3F",
            "%23",
            "%3B",
            ";p=1",
            ":",
            "'",
            "\"",
            "%22",
            "-",
            "*",
            "&x",
            "!t",
            "%7E",
            "~",
            "@",
            "$",
            "%25",
            "..x",
            ".e",
            "%5B",
            "[",
            "]",
            "{",
            "}",
            ",",
            "%2C",
            "+",
            "=",
            "|",
            ">",
            "%09",
            "%E2%80%A8",
            "%EF%BB%BF",
            "null",
            "true",
            "0x1",
            "1e3",
            "#",
            "..",
        ];
        const HOSTS: &[&str] = &[
            "new.example",
            "[::1]",
            "10.0.0.1",
            "null.example",
            "1e3.example",
        ];
        const METHODS: &[&str] = &["GET", "POST", "M-SEARCH", "PROPFIND", "X!#$%&'*+-.^_`|~Y"];
        let t = RouteTable::empty();
        let mut g = Gen(0x9e37_79b9_7f4a_7c15);
        let mut checked = 0;
        for _ in 0..3000 {
            let depth = 1 + g.next() % 4;
            let mut path = String::new();
            for _ in 0..depth {
                path.push('/');
                for _ in 0..(g.next() % 3) {
                    path.push_str(g.pick(PIECES));
                }
            }
            if g.next().is_multiple_of(2) {
                path.push('/');
            }
            let scheme = if g.next().is_multiple_of(2) {
                UrlScheme::Https
            } else {
                UrlScheme::Http
            };
            let port = [443, 80, 8443, 1][(g.next() % 4) as usize];
            let f = facts(scheme, g.pick(HOSTS), port, g.pick(METHODS), &path);
            let Decision::Deny(d) = decide(&f, &t) else {
                panic!("empty table allowed {f:?}")
            };
            if d.reason == Reason::GitPushBlocked {
                continue;
            }
            let suggestion = d.suggestion.expect("no_route suggests a route");
            let yaml = RoutesFile {
                routes: vec![suggestion.clone()],
            }
            .to_yaml();
            let back = parse_routes(&yaml, &Source::named("s"))
                .unwrap_or_else(|e| panic!("{f:?}\n{yaml}\n{e}"));
            let mut route = back.routes.into_iter().next().expect("one route");
            route.line = suggestion.line;
            assert_eq!(route, suggestion, "{f:?}\n{yaml}");
            let t2 = RouteTable::build(
                RoutesFile {
                    routes: vec![route],
                },
                Path::new("s"),
                2,
                &|_| None,
            )
            .unwrap();
            assert!(
                matches!(decide(&f, &t2), Decision::Allow { .. }),
                "{f:?}\n{yaml}"
            );
            checked += 1;
        }
        assert!(checked > 2000, "{checked}");
    }

    #[test]
    fn empty_table_denies_everything() {
        let t = RouteTable::empty();
        for (m, p) in [("GET", "/"), ("POST", "/x"), ("OPTIONS", "*")] {
            assert_eq!(
                reason(&decide(&facts(UrlScheme::Https, "a.com", 443, m, p), &t)),
                Reason::NoRoute
            );
        }
    }

    #[test]
    fn reason_codes_are_stable_and_indexed() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert!(
                r.code()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
        }
    }
}
