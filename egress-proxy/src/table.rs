//! The route table in force: a validated routes file plus the credentials it names.
//!
//! A table is built whole (file parsed, every token read) before it replaces
//! the old one, so a reload either takes effect completely or not at all.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine;
use bottle_common::located::{ConfigErrors, Pos, Source, resolve_relative};
use http::{HeaderName, HeaderValue};

use crate::headers::CREDENTIAL_HEADERS;
use crate::routes::{Auth, RoutesFile, Scheme, TokenSource, load_routes_file};
use crate::secret::Secret;

/// The header a route's credential is sent in, with its ready-made value.
#[derive(Debug, Clone)]
pub struct Credential {
    /// Lowercase header name (`authorization` or the route's own header).
    pub header: HeaderName,
    /// The full header value, marked sensitive so HTTP/2 never indexes it.
    pub value: Secret<HeaderValue>,
}

/// A routes file with its credentials loaded, as one request sees it.
#[derive(Debug)]
pub struct RouteTable {
    /// The validated routes, in file order.
    pub file: RoutesFile,
    /// `credentials[i]` is what route `i` injects, if anything.
    pub credentials: Vec<Option<Credential>>,
    /// Headers removed from the agent's request on every route with `auth`:
    /// [`CREDENTIAL_HEADERS`] plus every header a route of this table injects.
    pub strip_headers: Vec<HeaderName>,
    /// Counts loads since start (1 = the table loaded at startup).
    pub generation: u64,
    /// When this table was loaded.
    pub loaded_at: SystemTime,
    /// The routes file it came from (empty for tables built in memory).
    pub path: PathBuf,
}

impl RouteTable {
    /// Read `path`, validate it and load every token it names.
    pub fn load(path: &Path, generation: u64) -> Result<RouteTable, ConfigErrors> {
        let file = load_routes_file(path)?;
        RouteTable::build(file, path, generation, &|name| std::env::var(name).ok())
    }

    /// Build a table from a parsed file; `env` looks up `token_env` variables.
    pub fn build(
        file: RoutesFile,
        path: &Path,
        generation: u64,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<RouteTable, ConfigErrors> {
        let source = Source::file(path);
        let mut errors = Vec::new();
        let mut credentials = Vec::with_capacity(file.routes.len());
        for route in &file.routes {
            let at = Pos {
                line: route.line,
                column: 1,
            };
            credentials.push(match &route.auth {
                None => None,
                Some(auth) => match credential(auth, path, env) {
                    Ok(c) => Some(c),
                    Err(message) => {
                        errors.push(
                            source.error_at(at, format!("route for {}: {message}", route.host)),
                        );
                        None
                    }
                },
            });
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        let strip_headers = strip_headers(&credentials);
        Ok(RouteTable {
            file,
            credentials,
            strip_headers,
            generation,
            loaded_at: SystemTime::now(),
            path: path.to_path_buf(),
        })
    }

    /// An empty table (deny everything), for tests and tools.
    pub fn empty() -> RouteTable {
        RouteTable {
            file: RoutesFile::default(),
            credentials: Vec::new(),
            strip_headers: strip_headers(&[]),
            generation: 0,
            loaded_at: SystemTime::now(),
            path: PathBuf::new(),
        }
    }
}

/// The well-known credential headers plus every header one of `credentials` is sent in.
fn strip_headers(credentials: &[Option<Credential>]) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = CREDENTIAL_HEADERS
        .iter()
        .map(|n| HeaderName::from_static(n))
        .collect();
    for c in credentials.iter().flatten() {
        if !names.contains(&c.header) {
            names.push(c.header.clone());
        }
    }
    names
}

/// Load one route's token and turn it into the header it is sent in.
///
/// Error messages name the source (variable or file) and never the value.
fn credential(
    auth: &Auth,
    routes_path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Credential, String> {
    let (raw, from) = match &auth.token {
        TokenSource::Env(name) => (
            env(name).ok_or_else(|| {
                format!(
                    "auth.token_env: environment variable {name} is not set; export it for egress-proxy"
                )
            })?,
            format!("environment variable {name}"),
        ),
        TokenSource::File(file) => {
            let file = resolve_relative(routes_path, file);
            let text = std::fs::read(&file).map_err(|e| {
                format!("auth.token_file: cannot read {}: {e}", file.display())
            })?;
            let text = String::from_utf8(text).map_err(|_| {
                format!("auth.token_file: {} is not UTF-8 text", file.display())
            })?;
            (text, format!("token file {}", file.display()))
        }
    };
    let token = raw.trim_end_matches(['\n', '\r']);
    if token.is_empty() {
        return Err(format!("auth: the token in {from} is empty"));
    }
    let value = match auth.scheme {
        Scheme::Bearer => format!("Bearer {token}"),
        Scheme::Token => format!("token {token}"),
        Scheme::Basic => {
            if !token.contains(':') {
                return Err(format!(
                    "auth: scheme basic takes `user:password` as its token, and the token in {from} has no `:`"
                ));
            }
            let encoded = base64::engine::general_purpose::STANDARD.encode(token);
            format!("Basic {encoded}")
        }
        Scheme::Header => token.to_string(),
    };
    let mut value = HeaderValue::from_str(&value).map_err(|_| {
        format!(
            "auth: the token in {from} contains characters not allowed in an HTTP header (control characters, newlines or non-ASCII)"
        )
    })?;
    value.set_sensitive(true);
    let header = HeaderName::from_bytes(auth.header_name().as_bytes())
        .map_err(|_| format!("auth.header: `{}` is not a header name", auth.header_name()))?;
    Ok(Credential {
        header,
        value: Secret::new(value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::parse_routes;

    fn table(yaml: &str, env: &[(&str, &str)]) -> Result<RouteTable, String> {
        let file = parse_routes(yaml, &Source::named("routes.yaml")).map_err(|e| e.to_string())?;
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RouteTable::build(file, Path::new("/etc/routes.yaml"), 1, &|n| {
            env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
        })
        .map_err(|e| e.to_string())
    }

    fn value(t: &RouteTable, i: usize) -> (String, String) {
        let c = t.credentials[i].as_ref().unwrap();
        (
            c.header.to_string(),
            c.value.expose().to_str().unwrap().to_string(),
        )
    }

    #[test]
    fn schemes_render_their_header() {
        let t = table(
            "routes:\n  - host: a.com\n    auth: {scheme: bearer, token_env: A}\n  - host: b.com\n    auth: {scheme: token, token_env: A}\n  - host: c.com\n    auth: {scheme: basic, token_env: B}\n  - host: d.com\n    auth: {scheme: header, header: X-Custom-Key, token_env: A}\n  - host: e.com\n",
            &[("A", "tok123\n"), ("B", "user:pw")],
        )
        .unwrap();
        assert_eq!(
            value(&t, 0),
            ("authorization".into(), "Bearer tok123".into())
        );
        assert_eq!(
            value(&t, 1),
            ("authorization".into(), "token tok123".into())
        );
        assert_eq!(
            value(&t, 2),
            ("authorization".into(), "Basic dXNlcjpwdw==".into())
        );
        assert_eq!(value(&t, 3), ("x-custom-key".into(), "tok123".into()));
        assert!(t.strip_headers.iter().any(|h| h == "x-custom-key"));
        assert!(t.strip_headers.iter().any(|h| h == "authorization"));
        assert!(t.credentials[4].is_none());
        assert!(
            t.credentials[0]
                .as_ref()
                .unwrap()
                .value
                .expose()
                .is_sensitive()
        );
    }

    #[test]
    fn missing_or_bad_tokens_fail_without_showing_them() {
        let cases = [
            (
                "auth: {scheme: bearer, token_env: NOPE}",
                vec![],
                "NOPE is not set",
            ),
            (
                "auth: {scheme: bearer, token_env: A}",
                vec![("A", "")],
                "is empty",
            ),
            (
                "auth: {scheme: bearer, token_env: A}",
                vec![("A", "sec\nret")],
                "not allowed in an HTTP header",
            ),
            (
                "auth: {scheme: basic, token_env: A}",
                vec![("A", "secret")],
                "has no `:`",
            ),
            (
                "auth: {scheme: bearer, token_file: missing-token}",
                vec![],
                "cannot read /etc/missing-token",
            ),
        ];
        for (auth, env, want) in cases {
            let yaml = format!("routes:\n  - host: a.com\n    {auth}\n");
            let e = table(&yaml, &env).unwrap_err();
            assert!(e.contains(want), "{e}");
            assert!(
                e.starts_with("/etc/routes.yaml:2:1: route for a.com"),
                "{e}"
            );
            assert!(!e.contains("secret") && !e.contains("sec\n"), "{e}");
        }
    }

    #[test]
    fn token_files_are_read_relative_to_the_routes_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tok"), "filetoken\r\n").unwrap();
        let routes = dir.path().join("routes.yaml");
        std::fs::write(
            &routes,
            "routes:\n  - host: a.com\n    auth: {scheme: bearer, token_file: tok}\n",
        )
        .unwrap();
        let t = RouteTable::load(&routes, 3).unwrap();
        assert_eq!(value(&t, 0).1, "Bearer filetoken");
        assert_eq!(t.generation, 3);
    }
}
