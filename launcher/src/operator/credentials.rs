//! The credential rules for proposed routes.
//!
//! The agent writes proposals, so a proposal must never hand it a credential
//! it could not already use, and must not quietly send one somewhere new:
//!
//! * [`new_sources`]: a `token_env`/`token_file` the current routes do not
//!   use. Approving such a proposal is refused (credentials are granted in
//!   the bottle manifest, by a human, never through a proposal). File
//!   sources compare by path components (`a/./b` and `a//b` are `a/b`) and
//!   are never resolved: a spelling through `..` or a link is a new source
//!   even if it names the same file.
//! * [`widenings`]: an existing credential that the proposal would send to a
//!   host, port or path it was not sent to before. These are allowed but
//!   shown prominently, and approving one needs explicit confirmation.

use std::fmt;

use egress_proxy::canonical::path_under;
use egress_proxy::host::HostPattern;
use egress_proxy::routes::{Route, RoutesFile, TokenSource};

/// How a token source is written in a routes file (`token_env: X`, `token_file: /p`).
pub fn describe_source(source: &TokenSource) -> String {
    match source {
        TokenSource::Env(name) => format!("token_env: {name}"),
        TokenSource::File(path) => format!("token_file: {}", path.display()),
    }
}

/// Token sources `proposed` uses that `current` does not, in proposal order, each once.
pub fn new_sources(current: &RoutesFile, proposed: &RoutesFile) -> Vec<TokenSource> {
    let known: Vec<&TokenSource> = sources(current).collect();
    let mut out: Vec<TokenSource> = Vec::new();
    for s in sources(proposed) {
        if !known.contains(&s) && !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

fn sources(routes: &RoutesFile) -> impl Iterator<Item = &TokenSource> {
    routes
        .routes
        .iter()
        .filter_map(|r| r.auth.as_ref().map(|a| &a.token))
}

/// What about a credentialed route is new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The credential was never sent to this host (and port).
    NewHost,
    /// Sent to the host before, but only under some paths; now to every path.
    EveryPath,
    /// Sent to the host before, but not under these paths.
    NewPaths(Vec<String>),
}

/// An existing credential sent somewhere it was not sent before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Widening {
    /// The token source, as written (`token_file: …`).
    pub source: String,
    /// The proposed route's host pattern.
    pub host: String,
    /// The proposed route's port, when it names one.
    pub port: Option<u16>,
    /// What is new.
    pub reach: Reach,
    /// Line of the route in the proposed routes.yaml.
    pub line: u64,
}

impl fmt::Display for Widening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        };
        match &self.reach {
            Reach::NewHost => write!(
                f,
                "the credential from `{}` would be sent to {host}, a host it was never sent to (proposed routes.yaml line {})",
                self.source, self.line
            ),
            Reach::EveryPath => write!(
                f,
                "the credential from `{}` would be sent to every path of {host}, not only the paths it was sent to before (line {})",
                self.source, self.line
            ),
            Reach::NewPaths(paths) => write!(
                f,
                "the credential from `{}` would also be sent to {host} under {} (line {})",
                self.source,
                paths.join(", "),
                self.line
            ),
        }
    }
}

/// Credentialed routes in `proposed` that reach beyond where `current` sent the same credential.
pub fn widenings(current: &RoutesFile, proposed: &RoutesFile) -> Vec<Widening> {
    let mut out = Vec::new();
    for route in &proposed.routes {
        let Some(auth) = &route.auth else { continue };
        let before: Vec<&Route> = current
            .routes
            .iter()
            .filter(|old| {
                old.auth.as_ref().is_some_and(|a| a.token == auth.token)
                    && host_covers(&old.host, &route.host)
                    && old.port == route.port
            })
            .collect();
        let reach = if before.is_empty() {
            Some(Reach::NewHost)
        } else if before.iter().any(|old| old.paths.is_none()) {
            None
        } else {
            match &route.paths {
                None => Some(Reach::EveryPath),
                Some(paths) => {
                    let new: Vec<String> = paths
                        .iter()
                        .filter(|p| {
                            !before.iter().any(|old| {
                                old.paths
                                    .iter()
                                    .flatten()
                                    .any(|prefix| path_under(p, prefix))
                            })
                        })
                        .cloned()
                        .collect();
                    (!new.is_empty()).then_some(Reach::NewPaths(new))
                }
            }
        };
        if let Some(reach) = reach {
            out.push(Widening {
                source: describe_source(&auth.token),
                host: route.host.to_string(),
                port: route.port,
                reach,
                line: route.line,
            });
        }
    }
    out
}

/// Whether every host `new` matches is matched by `old`.
fn host_covers(old: &HostPattern, new: &HostPattern) -> bool {
    match (old, new) {
        (HostPattern::Exact(a), HostPattern::Exact(b)) => a == b,
        (HostPattern::Subdomains(_), HostPattern::Exact(b)) => old.matches(b),
        (HostPattern::Subdomains(a), HostPattern::Subdomains(b)) => a == b || old.matches(b),
        (HostPattern::Exact(_), HostPattern::Subdomains(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bottle_common::located::Source;
    use egress_proxy::routes::parse_routes;

    fn routes(yaml: &str) -> RoutesFile {
        parse_routes(yaml, &Source::named("routes.yaml")).unwrap_or_else(|e| panic!("{e}"))
    }

    const CURRENT: &str = "routes:
  - host: api.github.com
    paths: [/repos/acme/, /user]
    auth: {scheme: bearer, token_file: /run/bottle/secrets/GH_TOKEN}
  - host: api.example.com
    auth: {scheme: bearer, token_env: EX}
  - host: pypi.org
";

    fn with(extra: &str) -> RoutesFile {
        routes(&format!("{CURRENT}{extra}"))
    }

    #[test]
    fn unchanged_or_narrowed_credentials_are_not_flagged() {
        let current = routes(CURRENT);
        assert!(widenings(&current, &current).is_empty());
        assert!(new_sources(&current, &current).is_empty());
        let narrowed = with(
            "  - host: api.github.com\n    port: 8443\n  - host: api.example.com\n    paths: [/v1/]\n    auth: {scheme: token, token_env: EX}\n",
        );
        assert!(
            widenings(&current, &narrowed).is_empty(),
            "{:?}",
            widenings(&current, &narrowed)
        );
        let subpath =
            routes(&CURRENT.replace("[/repos/acme/, /user]", "[/repos/acme/app, /user/keys]"));
        assert!(widenings(&current, &subpath).is_empty());
    }

    #[test]
    fn a_credential_moved_to_another_host_is_flagged() {
        let current = routes(CURRENT);
        let moved = with(
            "  - host: evil.example\n    auth: {scheme: header, header: x-k, token_file: /run/bottle/secrets/GH_TOKEN}\n",
        );
        let w = widenings(&current, &moved);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].reach, Reach::NewHost);
        assert_eq!(w[0].host, "evil.example");
        assert_eq!(w[0].line, 8);
        let text = w[0].to_string();
        assert!(
            text.contains("token_file: /run/bottle/secrets/GH_TOKEN")
                && text.contains("evil.example"),
            "{text}"
        );
        // Sibling hosts, parents and other ports are other hosts too.
        for extra in [
            "  - host: uploads.github.com\n    auth: {scheme: bearer, token_file: /run/bottle/secrets/GH_TOKEN}\n",
            "  - host: example.com\n    auth: {scheme: bearer, token_env: EX}\n",
            "  - host: api.github.com\n    port: 8443\n    auth: {scheme: bearer, token_file: /run/bottle/secrets/GH_TOKEN}\n",
        ] {
            let w = widenings(&current, &with(extra));
            assert_eq!(w.len(), 1, "{extra}: {w:?}");
            assert_eq!(w[0].reach, Reach::NewHost, "{extra}");
        }
    }

    #[test]
    fn a_credential_sent_to_new_paths_is_flagged() {
        let current = routes(CURRENT);
        let wider = routes(&CURRENT.replace(
            "[/repos/acme/, /user]",
            "[/repos/acme/, /user, /orgs/acme/members]",
        ));
        let w = widenings(&current, &wider);
        assert_eq!(w.len(), 1);
        assert_eq!(
            w[0].reach,
            Reach::NewPaths(vec!["/orgs/acme/members".into()])
        );
        assert!(
            w[0].to_string()
                .contains("also be sent to api.github.com under /orgs/acme/members")
        );
        // `/repos/acme` (no slash) also covers `/repos/acme` itself, which `/repos/acme/` did not.
        let segment = routes(&CURRENT.replace("[/repos/acme/, /user]", "[/repos/acme, /user]"));
        assert_eq!(
            widenings(&current, &segment)[0].reach,
            Reach::NewPaths(vec!["/repos/acme".into()])
        );
        let every = routes(&CURRENT.replace("    paths: [/repos/acme/, /user]\n", ""));
        assert_eq!(widenings(&current, &every)[0].reach, Reach::EveryPath);
    }

    #[test]
    fn new_token_sources_are_found_however_they_are_spelled() {
        let current = routes(CURRENT);
        for (extra, source) in [
            (
                "    auth: {scheme: bearer, token_env: HOME}\n",
                TokenSource::Env("HOME".into()),
            ),
            (
                "    auth: {scheme: bearer, token_file: /run/bottle/secrets/../../../etc/shadow}\n",
                TokenSource::File("/run/bottle/secrets/../../../etc/shadow".into()),
            ),
            (
                "    auth: {scheme: bearer, token_file: /run/bottle/../bottle/secrets/GH_TOKEN}\n",
                TokenSource::File("/run/bottle/../bottle/secrets/GH_TOKEN".into()),
            ),
            (
                "    auth: {scheme: bearer, token_file: GH_TOKEN}\n",
                TokenSource::File("GH_TOKEN".into()),
            ),
        ] {
            let proposed = with(&format!("  - host: other.org\n{extra}"));
            assert_eq!(new_sources(&current, &proposed), [source], "{extra}");
        }
        let same_file = with(
            "  - host: api.github.com\n    paths: [/user/keys]\n    auth: {scheme: token, token_file: /run/bottle/secrets/./GH_TOKEN}\n",
        );
        assert!(
            new_sources(&current, &same_file).is_empty(),
            "`.` components name the same file"
        );
        let twice = with(
            "  - host: a.org\n    auth: {scheme: bearer, token_env: NEW}\n  - host: b.org\n    auth: {scheme: bearer, token_env: NEW}\n",
        );
        assert_eq!(new_sources(&current, &twice).len(), 1);
        assert_eq!(
            describe_source(&new_sources(&current, &twice)[0]),
            "token_env: NEW"
        );
    }
}
