//! The routes file: what the proxy lets through, and how it authenticates.
//!
//! This module is the single parser of `routes.yaml`. egress-proxy loads it,
//! `egress-proxy check` validates with it, supervise validates proposals with
//! it, and the launcher renders it; all of them agree because they share it.

use std::fmt;
use std::path::{Path, PathBuf};

use bottle_common::located::{ConfigError, ConfigErrors, Pos, Source, from_yaml, read_text};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::canonical::{canonical_path, encode_path};
use crate::host::HostPattern;

/// How a route's credential is presented to the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `Authorization: token <token>` (GitHub's classic form).
    Token,
    /// `Authorization: Basic base64(<token>)`, where the token is `user:password`.
    Basic,
    /// `<header>: <token>` in a header of the route's choosing.
    Header,
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::Bearer => "bearer",
            Scheme::Token => "token",
            Scheme::Basic => "basic",
            Scheme::Header => "header",
        })
    }
}

/// Whether the proxy terminates TLS for a route or splices bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Terminate TLS, apply path/method rules and credentials.
    #[default]
    Intercept,
    /// Tunnel bytes unmodified (for clients that pin certificates).
    Passthrough,
}

/// Where a credential comes from; the value itself is never stored here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TokenSource {
    /// An environment variable of the proxy process.
    #[serde(rename = "token_env")]
    Env(String),
    /// A file whose contents (trailing newline trimmed) are the token; re-read on reload.
    #[serde(rename = "token_file")]
    File(PathBuf),
}

/// A route's credential injection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Auth {
    /// How the credential is presented.
    pub scheme: Scheme,
    /// The header name, lowercase, for `scheme: header` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Where the token is read from.
    #[serde(flatten)]
    pub token: TokenSource,
}

impl Auth {
    /// The header this credential is sent in (lowercase).
    pub fn header_name(&self) -> &str {
        self.header.as_deref().unwrap_or("authorization")
    }
}

/// One validated route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// Which hosts it covers.
    #[serde(serialize_with = "display")]
    pub host: HostPattern,
    /// The port it covers; `None` means 443 for https/CONNECT and 80 for http.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Decoded canonical path prefixes; `None` means every path. Rendered
    /// re-encoded ([`encode_path`]) so a listing parses back to the same route.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "encoded_paths"
    )]
    pub paths: Option<Vec<String>>,
    /// Uppercase method names; `None` means every method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    /// Credential to inject, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// Intercept or pass through.
    pub tls: TlsMode,
    /// Line of the route in its file, so logs and denials can point at it.
    #[serde(skip)]
    pub line: u64,
}

fn display<T: fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn encoded_paths<S: serde::Serializer>(
    paths: &Option<Vec<String>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let encoded: Option<Vec<String>> = paths
        .as_ref()
        .map(|ps| ps.iter().map(|p| encode_path(p)).collect());
    encoded.serialize(s)
}

impl Route {
    /// Whether this route covers a connection to `port` made with TLS (`https`) or not.
    pub fn covers_port(&self, port: u16, tls: bool) -> bool {
        match self.port {
            Some(p) => p == port,
            None => port == if tls { 443 } else { 80 },
        }
    }

    /// Whether this route lets `method` through (uppercase).
    pub fn allows_method(&self, method: &str) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|ms| ms.iter().any(|m| m == method))
    }
}

/// A validated routes file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RoutesFile {
    /// Routes in file order.
    pub routes: Vec<Route>,
}

impl RoutesFile {
    /// Render as YAML in the routes-file format (tokens are never part of
    /// it), ending in a newline; [`parse_routes`] reads it back unchanged.
    pub fn to_yaml(&self) -> String {
        let mut text = serde_saphyr::to_string(self)
            .unwrap_or_else(|e| format!("# cannot render routes: {e}\n"));
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    routes: Spanned<Vec<RawRoute>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    host: Spanned<String>,
    #[serde(default)]
    port: Option<Spanned<u16>>,
    #[serde(default)]
    paths: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    methods: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    auth: Option<Spanned<RawAuth>>,
    #[serde(default)]
    tls: Option<Spanned<TlsMode>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    #[serde(default)]
    scheme: Option<Spanned<Scheme>>,
    #[serde(default)]
    header: Option<Spanned<String>>,
    #[serde(default)]
    token_env: Option<Spanned<String>>,
    #[serde(default)]
    token_file: Option<Spanned<String>>,
}

/// Headers that may not carry a credential: the proxy and HTTP framing own them.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
    "cookie",
];

/// Parse and validate routes YAML; every problem is reported with its position.
pub fn parse_routes(text: &str, source: &Source) -> Result<RoutesFile, ConfigErrors> {
    let raw: RawFile = from_yaml(text, source).map_err(|mut e| {
        e.message = reword(&e.message);
        e
    })?;
    let mut errors = Vec::new();
    let mut routes = Vec::new();
    for raw_route in raw.routes.value {
        if let Some(route) = validate_route(raw_route, source, &mut errors) {
            routes.push(route);
        }
    }
    check_conflicts(&routes, source, &mut errors);
    if errors.is_empty() {
        Ok(RoutesFile { routes })
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Say what to do about a repeated key, instead of the YAML library's advice
/// to reconfigure it.
fn reword(message: &str) -> String {
    let key = if let Some(rest) = message.strip_prefix("duplicate mapping key") {
        rest.strip_prefix(": ")
            .and_then(|r| r.split_once(", set DuplicateKeyPolicy"))
            .map(|(k, _)| k.trim_matches(['`', '"', '\'']).to_string())
    } else if let Some(rest) = message.strip_prefix("duplicate field `") {
        rest.split_once('`').map(|(k, _)| k.to_string())
    } else {
        return message.to_string();
    };
    match key {
        Some(k) => format!("`{k}` is given twice in the same mapping; keep one of them"),
        None => "a key is given twice in the same mapping; keep one of them".to_string(),
    }
}

/// Read and validate a routes file from disk.
pub fn load_routes_file(path: &Path) -> Result<RoutesFile, ConfigErrors> {
    let source = Source::file(path);
    let text = read_text(path, &source)?;
    parse_routes(&text, &source)
}

fn validate_route(raw: RawRoute, source: &Source, errors: &mut Vec<ConfigError>) -> Option<Route> {
    let line = raw.host.referenced.line();
    let before = errors.len();
    let host = match HostPattern::parse(&raw.host.value) {
        Ok(h) => Some(h),
        Err(e) => {
            errors.push(source.error_at(Pos::of_spanned(&raw.host), format!("host: {e}")));
            None
        }
    };
    let port = match raw.port {
        Some(p) if p.value == 0 => {
            errors.push(source.error_at(Pos::of_spanned(&p), "port: must be 1-65535"));
            None
        }
        Some(p) => Some(p.value),
        None => None,
    };
    let tls = raw.tls.as_ref().map(|t| t.value).unwrap_or_default();
    if tls == TlsMode::Passthrough {
        let at = raw
            .tls
            .as_ref()
            .map(Pos::of_spanned)
            .unwrap_or(Pos::of_spanned(&raw.host));
        for (present, what) in [
            (raw.paths.is_some(), "paths"),
            (raw.methods.is_some(), "methods"),
            (raw.auth.is_some(), "auth"),
        ] {
            if present {
                errors.push(source.error_at(
                    at,
                    format!(
                        "tls: passthrough tunnels bytes without reading them, so `{what}` cannot apply; \
                         remove `{what}` or use `tls: intercept`"
                    ),
                ));
            }
        }
    }
    let paths = raw.paths.map(|paths| validate_paths(paths, source, errors));
    let methods = raw
        .methods
        .map(|methods| validate_methods(methods, source, errors));
    if let (Some(HostPattern::Subdomains(suffix)), Some(a)) = (&host, &raw.auth) {
        errors.push(source.error_at(
            Pos::of_spanned(a),
            format!(
                "auth: not allowed on the wildcard host `*.{suffix}`: a credential sent to every \
                 subdomain reaches any subdomain an agent can control or register; list each \
                 host that needs the credential as its own route"
            ),
        ));
    }
    let auth = raw.auth.and_then(|a| validate_auth(a, source, errors));
    if errors.len() > before {
        return None;
    }
    Some(Route {
        host: host?,
        port,
        paths,
        methods,
        auth,
        tls,
        line,
    })
}

fn validate_paths(
    paths: Spanned<Vec<Spanned<String>>>,
    source: &Source,
    errors: &mut Vec<ConfigError>,
) -> Vec<String> {
    if paths.value.is_empty() {
        errors.push(source.error_at(
            Pos::of_spanned(&paths),
            "paths: an empty list would allow nothing; omit `paths` to allow every path",
        ));
    }
    let mut out = Vec::new();
    for p in paths.value {
        match canonical_path(&p.value) {
            Ok(decoded) if !p.value.contains('?') => out.push(decoded),
            Ok(_) => errors.push(source.error_at(
                Pos::of_spanned(&p),
                format!(
                    "paths: `{}` contains `?`; paths match without the query string",
                    p.value
                ),
            )),
            Err(problem) => errors.push(source.error_at(
                Pos::of_spanned(&p),
                format!(
                    "paths: `{}` is not canonical: {problem}",
                    p.value.escape_default()
                ),
            )),
        }
    }
    out
}

fn validate_methods(
    methods: Spanned<Vec<Spanned<String>>>,
    source: &Source,
    errors: &mut Vec<ConfigError>,
) -> Vec<String> {
    if methods.value.is_empty() {
        errors.push(source.error_at(
            Pos::of_spanned(&methods),
            "methods: an empty list would allow nothing; omit `methods` to allow every method",
        ));
    }
    let mut out = Vec::new();
    for m in methods.value {
        let upper = m.value.to_ascii_uppercase();
        if upper.is_empty() || upper.len() > 32 || !upper.bytes().all(is_token_byte) {
            errors.push(source.error_at(
                Pos::of_spanned(&m),
                format!(
                    "methods: `{}` is not an HTTP method name",
                    m.value.escape_default()
                ),
            ));
        } else if upper == "CONNECT" {
            errors.push(source.error_at(
                Pos::of_spanned(&m),
                "methods: CONNECT is how clients reach a route, not a method a route can allow; remove it",
            ));
        } else if !out.contains(&upper) {
            out.push(upper);
        }
    }
    out
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn validate_auth(
    auth: Spanned<RawAuth>,
    source: &Source,
    errors: &mut Vec<ConfigError>,
) -> Option<Auth> {
    let at = Pos::of_spanned(&auth);
    let raw = auth.value;
    if raw.scheme.is_none()
        && raw.header.is_none()
        && raw.token_env.is_none()
        && raw.token_file.is_none()
    {
        errors.push(source.error_at(
            at,
            "auth: `{}` is not allowed; omit `auth` for no credential, or give `scheme` and `token_env`/`token_file`",
        ));
        return None;
    }
    let before = errors.len();
    let Some(scheme) = raw.scheme.as_ref().map(|s| s.value) else {
        errors.push(source.error_at(
            at,
            "auth: `scheme` is required (bearer, token, basic or header)",
        ));
        return None;
    };
    let header = match (scheme, raw.header) {
        (Scheme::Header, None) => {
            errors.push(source.error_at(
                at,
                "auth: `scheme: header` needs `header: <name>` (e.g. x-api-key)",
            ));
            None
        }
        (Scheme::Header, Some(h)) => {
            let name = h.value.to_ascii_lowercase();
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                errors.push(source.error_at(
                    Pos::of_spanned(&h),
                    format!(
                        "auth.header: `{}` is not a valid header name",
                        h.value.escape_default()
                    ),
                ));
            } else if RESERVED_HEADERS.contains(&name.as_str()) {
                errors.push(source.error_at(
                    Pos::of_spanned(&h),
                    format!("auth.header: `{name}` is managed by the proxy and cannot carry a credential"),
                ));
            }
            Some(name)
        }
        (_, Some(h)) => {
            errors.push(source.error_at(
                Pos::of_spanned(&h),
                format!("auth.header: only allowed with `scheme: header` (this route uses `scheme: {scheme}`)"),
            ));
            None
        }
        (_, None) => None,
    };
    let token = match (raw.token_env, raw.token_file) {
        (Some(env), None) => {
            let name = env.value;
            if name.is_empty()
                || name.as_bytes()[0].is_ascii_digit()
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                errors.push(source.error_at(
                    at,
                    format!(
                        "auth.token_env: `{}` is not an environment variable name (letters, digits, `_`)",
                        name.escape_default()
                    ),
                ));
            }
            Some(TokenSource::Env(name))
        }
        (None, Some(file)) => {
            if file.value.is_empty() || file.value.contains('\0') {
                errors.push(
                    source.error_at(Pos::of_spanned(&file), "auth.token_file: must be a path"),
                );
            }
            Some(TokenSource::File(PathBuf::from(file.value)))
        }
        (Some(_), Some(_)) => {
            errors.push(source.error_at(
                at,
                "auth: give exactly one of `token_env` and `token_file`, not both",
            ));
            None
        }
        (None, None) => {
            errors.push(source.error_at(
                at,
                "auth: needs `token_env: VAR` or `token_file: /path` for the credential",
            ));
            None
        }
    };
    if errors.len() > before {
        return None;
    }
    Some(Auth {
        scheme,
        header,
        token: token?,
    })
}

/// Routes that would make a decision ambiguous are errors, reported at the later route.
fn check_conflicts(routes: &[Route], source: &Source, errors: &mut Vec<ConfigError>) {
    for (i, later) in routes.iter().enumerate() {
        for earlier in &routes[..i] {
            if earlier.host != later.host || !ports_overlap(earlier.port, later.port) {
                continue;
            }
            let at = Pos {
                line: later.line,
                column: 1,
            };
            if earlier.tls != later.tls {
                errors.push(source.error_at(
                    at,
                    format!(
                        "route for {} conflicts with line {}: one host and port cannot be both intercepted and passed through",
                        later.host, earlier.line
                    ),
                ));
                continue;
            }
            let overlap = match (&earlier.paths, &later.paths) {
                (None, None) => true,
                (Some(a), Some(b)) => a.iter().any(|p| b.contains(p)),
                _ => false,
            };
            let methods_overlap = match (&earlier.methods, &later.methods) {
                (Some(a), Some(b)) => a.iter().any(|m| b.contains(m)),
                _ => true,
            };
            if overlap && methods_overlap && earlier.auth != later.auth {
                errors.push(source.error_at(
                    at,
                    format!(
                        "route for {} duplicates line {} (same host, port and path) with different auth; \
                         merge them or give them different paths",
                        later.host, earlier.line
                    ),
                ));
            }
        }
    }
}

/// Whether two routes' ports can describe the same connection (`None` is 443 or 80).
fn ports_overlap(a: Option<u16>, b: Option<u16>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        (None, Some(p)) | (Some(p), None) => p == 443 || p == 80,
        (None, None) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RoutesFile, String> {
        parse_routes(text, &Source::named("routes.yaml")).map_err(|e| e.to_string())
    }

    #[test]
    fn full_example_parses() {
        let f = parse(
            r#"
routes:
  - host: api.github.com
    port: 443
    paths: ["/repos/acme/"]
    methods: [get, POST]
    auth:
      scheme: bearer
      token_env: GITHUB_TOKEN
    tls: intercept
  - host: files.example.com
    auth: { scheme: header, header: X-Api-Key, token_file: /run/secrets/k }
  - host: "*.example.com"
  - host: pinned.example.org
    tls: passthrough
"#,
        )
        .unwrap();
        assert_eq!(f.routes.len(), 4);
        let r = &f.routes[0];
        assert_eq!(r.host, HostPattern::Exact("api.github.com".into()));
        assert_eq!(
            r.methods.as_deref(),
            Some(&["GET".to_string(), "POST".to_string()][..])
        );
        assert_eq!(r.line, 3);
        assert_eq!(
            f.routes[1].auth.as_ref().unwrap().header_name(),
            "x-api-key"
        );
        assert_eq!(f.routes[3].tls, TlsMode::Passthrough);
    }

    #[test]
    fn empty_routes_list_is_valid_default_deny() {
        assert_eq!(parse("routes: []\n").unwrap().routes.len(), 0);
    }

    #[test]
    fn malformed_files_name_line_and_column() {
        let cases: &[(&str, &str)] = &[
            ("", "routes.yaml"),
            (
                "routes:\n  - host: a.com\n    auth: {}\n",
                "routes.yaml:3:11: auth: `{}` is not allowed",
            ),
            (
                "routes:\n  - host: a.com\n    tls: passthrough\n    paths: [/a]\n",
                "routes.yaml:3:10: tls: passthrough",
            ),
            (
                "routes:\n  - host: a.com\n    paths: [/a/../b]\n",
                "routes.yaml:3:13: paths: `/a/../b` is not canonical",
            ),
            (
                "routes:\n  - host: a.com\n    paths: [a]\n",
                "not canonical: path does not start",
            ),
            (
                "routes:\n  - host: a.com\n    paths: []\n",
                "routes.yaml:3:12: paths: an empty list",
            ),
            (
                "routes:\n  - host: a.com\n    paths: [\"/a?b=1\"]\n",
                "contains `?`",
            ),
            (
                "routes:\n  - host: a..com\n",
                "routes.yaml:2:11: host: invalid host",
            ),
            ("routes:\n  - host: '*'\n", "bare `*`"),
            (
                "routes:\n  - host: a.com\n    port: 0\n",
                "routes.yaml:3:11: port: must be 1-65535",
            ),
            (
                "routes:\n  - host: a.com\n    port: 70000\n",
                "routes.yaml:3:11",
            ),
            (
                "routes:\n  - host: a.com\n    methods: [CONNECT]\n",
                "CONNECT is how clients",
            ),
            (
                "routes:\n  - host: a.com\n    methods: [\"GE T\"]\n",
                "not an HTTP method",
            ),
            (
                "routes:\n  - host: a.com\n    auth: {scheme: bearer}\n",
                "needs `token_env",
            ),
            (
                "routes:\n  - host: a.com\n    auth: {token_env: X}\n",
                "`scheme` is required",
            ),
            (
                "routes:\n  - host: a.com\n    auth: {scheme: header, token_env: X}\n",
                "needs `header:",
            ),
            (
                "routes:\n  - host: a.com\n    auth: {scheme: bearer, header: x, token_env: X}\n",
                "only allowed with `scheme: header`",
            ),
            (
                "routes:\n  - host: a.com\n    auth: {scheme: header, header: Host, token_env: X}\n",
                "managed by the proxy",
            ),
            (
                "routes:\n  - host: a.com\n    auth: {scheme: bearer, token_env: X, token_file: /y}\n",
                "exactly one of",
            ),
            (
                "routes:\n  - host: a.com\n    auth: {scheme: bearer, token_env: 'A-B'}\n",
                "not an environment variable",
            ),
            (
                "routes:\n  - host: a.com\n    auth: {scheme: bearr, token_env: X}\n",
                "did you mean `bearer`?",
            ),
            (
                "routes:\n  - host: a.com\n    tokn_env: X\n",
                "unknown key `tokn_env`",
            ),
            ("routes:\n  - hots: a.com\n", "did you mean `host`?"),
            (
                "routes:\n  - host: a.com\n  - host: a.com\n    tls: passthrough\n",
                "routes.yaml:3:1: route for a.com conflicts with line 2",
            ),
            (
                "routes:\n  - host: a.com\n    auth: {scheme: bearer, token_env: A}\n  - host: A.com.\n    auth: {scheme: bearer, token_env: B}\n",
                "duplicates line 2",
            ),
            ("routes:\n  - host: [a.com]\n", "routes.yaml:2:"),
            (
                "routes:\n  - host: '*.github.io'\n    auth: {scheme: bearer, token_env: T}\n",
                "routes.yaml:3:11: auth: not allowed on the wildcard host `*.github.io`: a credential sent to every subdomain",
            ),
            ("route: []\n", "did you mean `routes`?"),
            (
                "routes:\n  - host: a.com\n  - host: a.com\n    port: 443\n    tls: passthrough\n",
                "conflicts with line 2",
            ),
        ];
        for (text, want) in cases {
            let e = parse(text).expect_err(text);
            assert!(e.contains(want), "for {text:?}\n got: {e}\nwant: {want}");
        }
    }

    #[test]
    fn text_level_problems_are_located_and_explained() {
        // YAML forbids tabs for indentation.
        let e = parse("routes:\n\t- host: a.com\n").unwrap_err();
        assert!(e.starts_with("routes.yaml:2:"), "{e}");
        // Duplicate keys: ours, not the YAML library's configuration advice.
        let e = parse("routes:\n  - host: a.com\n    host: b.com\n").unwrap_err();
        assert!(e.starts_with("routes.yaml:3:"), "{e}");
        assert!(e.contains("`host` is given twice"), "{e}");
        assert!(
            !e.contains("DuplicateKeyPolicy") && !e.contains("Options"),
            "{e}"
        );
        let e = parse("routes: []\nroutes: []\n").unwrap_err();
        assert!(e.contains("`routes` is given twice"), "{e}");
        // A byte-order mark is not part of the document.
        assert_eq!(
            parse("\u{FEFF}routes:\n  - host: a.com\n")
                .unwrap()
                .routes
                .len(),
            1
        );
    }

    #[test]
    fn files_that_are_not_utf8_are_refused_with_their_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routes.yaml");
        std::fs::write(&path, b"routes:\n  - host: caf\xe9.com\n").unwrap();
        let e = load_routes_file(&path).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}:2:14: ", path.display())) && e.contains("not valid UTF-8"),
            "{e}"
        );
    }

    #[test]
    fn all_errors_are_reported_at_once() {
        let e = parse("routes:\n  - host: a..com\n  - host: b.com\n    port: 0\n").unwrap_err();
        assert_eq!(e.lines().count(), 2, "{e}");
    }

    #[test]
    fn rendering_round_trips_without_token_values() {
        let text = "routes:\n  - host: api.example.com\n    paths: [/v1/]\n    auth: {scheme: bearer, token_env: API_TOKEN}\n  - host: '*.cdn.example.com'\n";
        let f = parse(text).unwrap();
        let yaml = f.to_yaml();
        assert!(yaml.contains("token_env: API_TOKEN"), "{yaml}");
        let again = parse(&yaml).unwrap();
        assert_eq!(again.routes.len(), 2);
        assert_eq!(again.routes[0].paths, f.routes[0].paths);
        assert_eq!(again.routes[1].host, f.routes[1].host);
    }

    #[test]
    fn ports_default_by_scheme() {
        let f = parse("routes:\n  - host: a.com\n  - host: b.com\n    port: 8443\n").unwrap();
        assert!(f.routes[0].covers_port(443, true));
        assert!(f.routes[0].covers_port(80, false));
        assert!(!f.routes[0].covers_port(80, true));
        assert!(f.routes[1].covers_port(8443, true));
        assert!(!f.routes[1].covers_port(443, true));
    }

    #[test]
    fn hostile_documents_are_refused_cleanly() {
        let huge = format!("routes:\n{}", "  - host: a.com\n".repeat(400_000));
        assert!(parse(&huge).is_err());
        assert!(parse("routes: !!binary aGVsbG8=\n").is_err());
        assert!(parse("---\nroutes: []\n---\nroutes: []\n").is_err());
    }
}
