//! The git-gate config file (`git-gate.yaml`): the one format and the one parser.
//!
//! [`Config`] is both what `git-gate run` reads and what the launcher renders
//! (build it in code, write it with [`Config::to_yaml`]); [`parse_config`]
//! validates everything and reports every problem as `file:line:col`.
//! [`Settings`] is the resolved, typed form the gate runs on.

mod host_key;
mod upstream;

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bottle_common::located::{ConfigError, ConfigErrors, Pos, Source, from_yaml, read_text};
use serde::{Deserialize, Serialize};
use serde_saphyr::{Location, Spanned};

pub use host_key::{HostKey, KNOWN_KEY_TYPES, parse_host_key};
pub use upstream::{Upstream, is_host_name, parse_upstream};

/// Default number of client connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 64;
/// Default size above which a pushed blob is refused rather than scanned.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 32 * 1024 * 1024;
/// Default size of the pack one push may send; a larger push is refused while it arrives.
pub const DEFAULT_MAX_PUSH_BYTES: u64 = 1 << 30;
/// Longest repo name accepted.
pub const MAX_REPO_NAME: usize = 100;

/// The whole config file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the git:// listener binds, `IP:PORT` (9418 is git's port).
    pub listen: Spanned<String>,
    /// Directory holding one bare mirror per repo plus the gate's private state.
    pub data_dir: Spanned<PathBuf>,
    /// JSON-lines audit log; `-` is standard output; absent disables auditing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_log: Option<Spanned<PathBuf>>,
    /// Client connections served at once; more wait for a slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<Spanned<u32>>,
    /// Largest pack one push may send, in bytes (git's `receive.maxInputSize`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_push_bytes: Option<Spanned<u64>>,
    /// Time limits, in seconds.
    #[serde(default, skip_serializing_if = "Timeouts::is_default")]
    pub timeouts: Timeouts,
    /// Secret-scanner settings.
    #[serde(default, skip_serializing_if = "ScannerConfig::is_default")]
    pub scanner: ScannerConfig,
    /// The repos the gate serves.
    pub repos: Spanned<Vec<RepoConfig>>,
}

/// Time limits in whole seconds; each absent key takes its documented default.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Time a client has to send its request line (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Spanned<u64>>,
    /// SSH connect timeout towards an upstream (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<Spanned<u64>>,
    /// Whole mirror sync: `ls-remote` plus fetch (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<Spanned<u64>>,
    /// Secret scan of one push; over it the push is refused (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<Spanned<u64>>,
    /// Forwarding one push to the upstream (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<Spanned<u64>>,
    /// Client inactivity during a fetch or push before the gate hangs up (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<Spanned<u64>>,
}

impl Timeouts {
    fn is_default(&self) -> bool {
        [
            &self.request,
            &self.connect,
            &self.sync,
            &self.scan,
            &self.push,
            &self.idle,
        ]
        .iter()
        .all(|v| v.is_none())
    }
}

/// Secret-scanner settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerConfig {
    /// A gitleaks-format TOML rules file; absent means the built-in rule pack alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Spanned<PathBuf>>,
    /// With `rules`: keep the built-in pack and add these rules (default true); false replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_default: Option<Spanned<bool>>,
    /// Pushed blobs larger than this are refused, not scanned (default 32 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_blob_bytes: Option<Spanned<u64>>,
}

impl ScannerConfig {
    fn is_default(&self) -> bool {
        self.rules.is_none() && self.extend_default.is_none() && self.max_blob_bytes.is_none()
    }
}

/// One repo the gate fronts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// Served as `git://<gate>/<name>.git` and `/<name>`; `[A-Za-z0-9._-]`, no leading dot.
    pub name: Spanned<String>,
    /// `ssh://[user@]host[:port]/path` of the real repository.
    pub upstream: Spanned<String>,
    /// Private key the gate authenticates to the upstream with (the agent never sees it).
    pub identity_file: Spanned<PathBuf>,
    /// `<type> <base64>`: the only host key accepted for the upstream.
    pub known_host_key: Spanned<String>,
    /// Host name → IP overrides for reaching the upstream host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_hosts: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
}

/// A value with no source position, for configs built in code rather than parsed.
pub fn unlocated<T>(value: T) -> Spanned<T> {
    Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
}

impl Config {
    /// A config with the given listener, data directory and repos, everything else default.
    pub fn new(listen: SocketAddr, data_dir: PathBuf, repos: Vec<RepoConfig>) -> Config {
        Config {
            listen: unlocated(listen.to_string()),
            data_dir: unlocated(data_dir),
            audit_log: None,
            max_connections: None,
            max_push_bytes: None,
            timeouts: Timeouts::default(),
            scanner: ScannerConfig::default(),
            repos: unlocated(repos),
        }
    }

    /// Render in the config-file format, for `git-gate run --config`.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self)
            .unwrap_or_else(|e| format!("# cannot render git-gate config: {e}\n"))
    }
}

impl RepoConfig {
    /// A repo entry without `extra_hosts`.
    pub fn new(
        name: &str,
        upstream: &str,
        identity_file: PathBuf,
        known_host_key: &str,
    ) -> RepoConfig {
        RepoConfig {
            name: unlocated(name.to_string()),
            upstream: unlocated(upstream.to_string()),
            identity_file: unlocated(identity_file),
            known_host_key: unlocated(known_host_key.to_string()),
            extra_hosts: None,
        }
    }
}

/// The resolved config the gate runs on: typed, defaults filled, paths absolute where possible.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listener address.
    pub listen: SocketAddr,
    /// Mirror and state directory.
    pub data_dir: PathBuf,
    /// Audit log path (`-` is stdout), if any.
    pub audit_log: Option<PathBuf>,
    /// Connections served at once.
    pub max_connections: usize,
    /// Largest pack one push may send.
    pub max_push_bytes: u64,
    /// Time limits.
    pub timeouts: TimeoutSettings,
    /// Scanner settings.
    pub scanner: ScannerSettings,
    /// Repos in file order.
    pub repos: Vec<RepoSettings>,
}

/// Resolved time limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutSettings {
    /// Receiving the request line.
    pub request: Duration,
    /// SSH connect to an upstream.
    pub connect: Duration,
    /// One mirror sync.
    pub sync: Duration,
    /// One push's secret scan.
    pub scan: Duration,
    /// Forwarding one push upstream.
    pub push: Duration,
    /// Client inactivity.
    pub idle: Duration,
}

impl Default for TimeoutSettings {
    fn default() -> Self {
        TimeoutSettings {
            request: Duration::from_secs(10),
            connect: Duration::from_secs(10),
            sync: Duration::from_secs(120),
            scan: Duration::from_secs(120),
            push: Duration::from_secs(300),
            idle: Duration::from_secs(600),
        }
    }
}

/// Resolved scanner settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannerSettings {
    /// Operator rules file, if any.
    pub rules: Option<PathBuf>,
    /// Keep the built-in pack alongside `rules`.
    pub extend_default: bool,
    /// Largest blob scanned; bigger ones refuse the push.
    pub max_blob_bytes: u64,
}

impl Default for ScannerSettings {
    fn default() -> Self {
        ScannerSettings {
            rules: None,
            extend_default: true,
            max_blob_bytes: DEFAULT_MAX_BLOB_BYTES,
        }
    }
}

/// One resolved repo.
#[derive(Debug, Clone)]
pub struct RepoSettings {
    /// Served name.
    pub name: String,
    /// Parsed upstream URL.
    pub upstream: Upstream,
    /// Private key path.
    pub identity_file: PathBuf,
    /// The pinned host key.
    pub known_host_key: HostKey,
    /// IP to dial instead of resolving the upstream host, from `extra_hosts`.
    pub host_ip: Option<IpAddr>,
}

/// Parse and validate config YAML; every problem is reported with its position.
pub fn parse_config(text: &str, source: &Source) -> Result<Config, ConfigErrors> {
    let config: Config = from_yaml(text, source)?;
    resolve(&config, source, None)?;
    Ok(config)
}

/// Read, validate and resolve a config file; relative paths are taken from the file's directory.
pub fn load_settings(path: &Path) -> Result<Settings, ConfigErrors> {
    let source = Source::file(path);
    let text = read_text(path, &source)?;
    let config: Config = from_yaml(&text, &source)?;
    let base = path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            p.to_path_buf()
        }
    });
    resolve(&config, &source, base.as_deref())
}

/// Validate `config` and build [`Settings`]; `base` anchors relative paths.
pub fn resolve(
    config: &Config,
    source: &Source,
    base: Option<&Path>,
) -> Result<Settings, ConfigErrors> {
    let mut v = Validator {
        source,
        errors: Vec::new(),
    };
    let listen = v.socket_addr(&config.listen);
    let data_dir = v.path(&config.data_dir, "data_dir", base);
    let audit_log = config.audit_log.as_ref().and_then(|p| {
        if p.value == Path::new("-") {
            Some(PathBuf::from("-"))
        } else {
            v.path(p, "audit_log", base)
        }
    });
    let max_connections = match &config.max_connections {
        None => DEFAULT_MAX_CONNECTIONS as usize,
        Some(n) => v.range(n, 1, 10_000, "max_connections").unwrap_or(1) as usize,
    };
    let max_push_bytes = match &config.max_push_bytes {
        None => DEFAULT_MAX_PUSH_BYTES,
        Some(n) => v
            .range(n, 1024, 1 << 40, "max_push_bytes")
            .unwrap_or(DEFAULT_MAX_PUSH_BYTES),
    };
    let timeouts = v.timeouts(&config.timeouts);
    let scanner = v.scanner(&config.scanner, base);
    let repos = v.repos(&config.repos, base);
    let (Some(listen), Some(data_dir), true) = (listen, data_dir, v.errors.is_empty()) else {
        return Err(ConfigErrors(v.errors));
    };
    Ok(Settings {
        listen,
        data_dir,
        audit_log,
        max_connections,
        max_push_bytes,
        timeouts,
        scanner,
        repos,
    })
}

struct Validator<'a> {
    source: &'a Source,
    errors: Vec<ConfigError>,
}

impl Validator<'_> {
    fn err<T>(&mut self, at: &Spanned<T>, message: impl Into<String>) {
        let e = if at.referenced == Location::UNKNOWN {
            self.source.error(message)
        } else {
            self.source.error_at(Pos::of_spanned(at), message)
        };
        self.errors.push(e);
    }

    fn socket_addr(&mut self, s: &Spanned<String>) -> Option<SocketAddr> {
        match s.value.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    s,
                    format!(
                        "listen: `{}` is not a socket address; write IP:PORT, e.g. 0.0.0.0:9418 or [::]:9418",
                        s.value.escape_default()
                    ),
                );
                None
            }
        }
    }

    fn path(&mut self, p: &Spanned<PathBuf>, key: &str, base: Option<&Path>) -> Option<PathBuf> {
        let text = p.value.to_string_lossy();
        if text.is_empty() {
            self.err(p, format!("{key}: the path is empty"));
            return None;
        }
        if let Some(c) = text.chars().find(|c| c.is_control() || *c == '"') {
            self.err(
                p,
                format!(
                    "{key}: the path contains `{}`; paths may not contain control characters or `\"`",
                    c.escape_default()
                ),
            );
            return None;
        }
        Some(match base {
            Some(base) if p.value.is_relative() => base.join(&p.value),
            _ => p.value.clone(),
        })
    }

    fn range<T: Copy + Into<u64>>(
        &mut self,
        n: &Spanned<T>,
        min: u64,
        max: u64,
        key: &str,
    ) -> Option<u64> {
        let value: u64 = n.value.into();
        if value < min || value > max {
            self.err(
                n,
                format!("{key}: {value} is out of range; use {min} to {max}"),
            );
            return None;
        }
        Some(value)
    }

    fn secs(&mut self, n: &Option<Spanned<u64>>, key: &str, default: Duration) -> Duration {
        match n {
            None => default,
            Some(n) => self
                .range(n, 1, 86_400, &format!("timeouts.{key}"))
                .map(Duration::from_secs)
                .unwrap_or(default),
        }
    }

    fn timeouts(&mut self, t: &Timeouts) -> TimeoutSettings {
        let d = TimeoutSettings::default();
        TimeoutSettings {
            request: self.secs(&t.request, "request", d.request),
            connect: self.secs(&t.connect, "connect", d.connect),
            sync: self.secs(&t.sync, "sync", d.sync),
            scan: self.secs(&t.scan, "scan", d.scan),
            push: self.secs(&t.push, "push", d.push),
            idle: self.secs(&t.idle, "idle", d.idle),
        }
    }

    fn scanner(&mut self, s: &ScannerConfig, base: Option<&Path>) -> ScannerSettings {
        let d = ScannerSettings::default();
        let max_blob_bytes = match &s.max_blob_bytes {
            None => d.max_blob_bytes,
            Some(n) => self
                .range(n, 1024, 1 << 30, "scanner.max_blob_bytes")
                .unwrap_or(d.max_blob_bytes),
        };
        if let (None, Some(ext)) = (&s.rules, &s.extend_default) {
            self.err(
                ext,
                "scanner.extend_default only applies together with scanner.rules; remove it or add `rules`",
            );
        }
        ScannerSettings {
            rules: s
                .rules
                .as_ref()
                .and_then(|p| self.path(p, "scanner.rules", base)),
            extend_default: s.extend_default.as_ref().is_none_or(|b| b.value),
            max_blob_bytes,
        }
    }

    fn repos(
        &mut self,
        repos: &Spanned<Vec<RepoConfig>>,
        base: Option<&Path>,
    ) -> Vec<RepoSettings> {
        if repos.value.is_empty() {
            self.err(
                repos,
                "repos: no repos configured; add at least one `- name: ... upstream: ...` entry",
            );
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for repo in &repos.value {
            let name_ok = self.repo_name(&repo.name);
            if name_ok && !seen.insert(repo.name.value.to_ascii_lowercase()) {
                self.err(
                    &repo.name,
                    format!(
                        "repo name `{}` is used twice (names are compared case-insensitively); give each repo its own name",
                        repo.name.value
                    ),
                );
            }
            let upstream = match parse_upstream(&repo.upstream.value) {
                Ok(u) => Some(u),
                Err(e) => {
                    self.err(&repo.upstream, format!("upstream: {e}"));
                    None
                }
            };
            let known_host_key = match parse_host_key(&repo.known_host_key.value) {
                Ok(k) => Some(k),
                Err(e) => {
                    self.err(&repo.known_host_key, format!("known_host_key: {e}"));
                    None
                }
            };
            let identity_file = self.path(&repo.identity_file, "identity_file", base);
            let host_ip = self.extra_hosts(repo, upstream.as_ref());
            if let (true, Some(upstream), Some(known_host_key), Some(identity_file)) =
                (name_ok, upstream, known_host_key, identity_file)
            {
                out.push(RepoSettings {
                    name: repo.name.value.clone(),
                    upstream,
                    identity_file,
                    known_host_key,
                    host_ip,
                });
            }
        }
        out
    }

    fn repo_name(&mut self, name: &Spanned<String>) -> bool {
        let n = &name.value;
        let problem = if n.is_empty() {
            Some("is empty".to_string())
        } else if n.len() > MAX_REPO_NAME {
            Some(format!("is longer than {MAX_REPO_NAME} characters"))
        } else if n.starts_with('.') {
            Some("starts with `.`".to_string())
        } else if n.to_ascii_lowercase().ends_with(".git") {
            Some(format!(
                "ends in `.git`; write `{}` (it is served as both /{0}.git and /{0})",
                &n[..n.len() - 4]
            ))
        } else {
            n.chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
                .map(|c| format!("contains `{}`", c.escape_default()))
        };
        match problem {
            None => true,
            Some(p) => {
                self.err(
                    name,
                    format!(
                        "repo name `{}` {p}; names may use letters, digits, `.`, `_` and `-`, and may not start with `.`",
                        n.escape_default()
                    ),
                );
                false
            }
        }
    }

    fn extra_hosts(&mut self, repo: &RepoConfig, upstream: Option<&Upstream>) -> Option<IpAddr> {
        let hosts = repo.extra_hosts.as_ref()?;
        let mut chosen = None;
        for (host, ip) in &hosts.value {
            let parsed = match ip.value.parse::<IpAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    self.err(
                        ip,
                        format!(
                            "extra_hosts: `{}` for `{}` is not an IP address",
                            ip.value.escape_default(),
                            host.escape_default()
                        ),
                    );
                    None
                }
            };
            if !is_host_name(host) {
                self.err(
                    ip,
                    format!(
                        "extra_hosts: `{}` is not a host name",
                        host.escape_default()
                    ),
                );
                continue;
            }
            let Some(upstream) = upstream else { continue };
            if host.eq_ignore_ascii_case(&upstream.host) {
                chosen = parsed;
            } else {
                self.err(
                    ip,
                    format!(
                        "extra_hosts: `{host}` is not this repo's upstream host `{}`; the gate only ever connects to the upstream, so map that host or remove the entry",
                        upstream.host
                    ),
                );
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests;
