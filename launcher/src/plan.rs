//! A resolved bottle: everything the launcher will create, decided from the
//! manifests before anything touches Docker.
//!
//! The plan holds token *names* only. Values are read from the host
//! environment by [`read_tokens`] at start, and go straight to files that
//! only egress-proxy mounts.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use bottle_common::located::{ConfigError, ConfigErrors, Pos, Source, resolve_relative};
use egress_proxy::host::HostPattern;
use egress_proxy::routes::{RoutesFile, Scheme, TlsMode, parse_routes};
use git_gate::config::{is_host_name, parse_host_key, parse_upstream};
use serde::Serialize;
use serde_saphyr::Spanned;

use crate::manifest::{
    self, AgentManifest, BottleManifest, DlpAction, GitEntry, Loaded, Locations, ManifestRoute,
    Runtime,
};

/// Where egress-proxy finds token files (a directory only it mounts).
pub const TOKEN_DIR: &str = "/run/bottle/secrets";
/// Agent image used when a bottle names none.
pub const DEFAULT_AGENT_IMAGE: &str = "bottle-agent:latest";
/// pipelock image used when a bottle names none.
pub const DEFAULT_PIPELOCK_IMAGE: &str = "ghcr.io/luckypipewrench/pipelock:2.3.0";
/// Default command for an agent (Claude Code).
pub const DEFAULT_AGENT_COMMAND: &str = "claude";

/// Variables the launcher sets in the agent; a bottle's `env` may not override them.
pub const RESERVED_ENV: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "NODE_EXTRA_CA_CERTS",
    "REQUESTS_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "CARGO_HTTP_CAINFO",
    "PIP_CERT",
    "BOTTLE_ID",
    "BOTTLE_AGENT_PROMPT_FILE",
    "BOTTLE_CURRENT_CONFIG",
];

/// Everything a bottle start will create.
#[derive(Debug)]
pub struct Plan {
    /// The agent.
    pub agent: AgentPlan,
    /// The bottle's name and file.
    pub bottle_name: String,
    /// The bottle manifest file.
    pub bottle_file: PathBuf,
    /// Where the agent image comes from.
    pub image: AgentImage,
    /// egress-proxy's routes (credentials as `token_file` under [`TOKEN_DIR`]).
    pub routes: RoutesFile,
    /// Host environment variables holding route credentials, with where each is named.
    pub tokens: Vec<TokenRef>,
    /// pipelock, when the bottle runs it.
    pub pipelock: Option<PipelockPlan>,
    /// Extra CA certificates egress-proxy trusts for origins (host paths).
    pub trust_ca: Vec<PathBuf>,
    /// An existing Docker network used as the egress side.
    pub egress_network: Option<String>,
    /// Git remotes fronted by git-gate.
    pub git: Vec<GitRemote>,
    /// Extra agent environment.
    pub env: BTreeMap<String, String>,
    /// Whether supervise runs.
    pub supervise: bool,
    /// Requested runtime.
    pub runtime: Runtime,
    /// Agent resource limits.
    pub limits: AgentLimits,
}

/// Agent resource limits, validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentLimits {
    /// Docker memory limit (`4g`).
    pub memory: Option<String>,
    /// CPUs.
    pub cpus: Option<f64>,
    /// Process limit.
    pub pids: Option<u32>,
}

/// The agent side of a plan.
#[derive(Debug, Clone)]
pub struct AgentPlan {
    /// Agent name (file stem).
    pub name: String,
    /// Its manifest file.
    pub file: PathBuf,
    /// The system prompt (manifest body).
    pub prompt: String,
    /// One-line description.
    pub description: Option<String>,
    /// Program run when no `-- CMD` is given.
    pub command: Vec<String>,
    /// Whether the agent file is the project's (a repository's) rather than the home directory's.
    pub from_project: bool,
}

/// Where the agent image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentImage {
    /// An image that exists (or is pulled) by name.
    Image(String),
    /// A Dockerfile built at start; its directory is the build context.
    Dockerfile(PathBuf),
}

/// A route credential: a host environment variable, and where the manifest names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRef {
    /// The variable name.
    pub var: String,
    /// `file:line:col` of the `token_ref`.
    pub at: ConfigError,
}

/// pipelock's settings for this bottle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PipelockPlan {
    /// Image to run.
    pub image: String,
    /// Hostnames allowed out: route hosts and the bottle's allowlist.
    pub allowlist: Vec<String>,
    /// Hosts pipelock tunnels without decrypting: credentialed and passthrough routes, LLM APIs.
    pub passthrough: Vec<String>,
    /// Private addresses the bottle's routes name literally (exempt from SSRF blocking).
    pub ip_allowlist: Vec<String>,
    /// What DLP does on a finding.
    pub dlp_action: DlpAction,
}

/// A git remote fronted by git-gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRemote {
    /// Served as `git://git-gate/<name>.git`.
    pub name: String,
    /// The real remote, `ssh://…`.
    pub upstream: String,
    /// The host key file the gate uses (host path).
    pub identity_file: PathBuf,
    /// Pinned host key.
    pub known_host_key: String,
    /// Host → IP overrides for the gate.
    pub extra_hosts: BTreeMap<String, String>,
}

impl GitRemote {
    /// Spellings of the upstream the agent might use: the URL and, on port 22, the scp-style forms.
    pub fn upstream_spellings(&self) -> Vec<String> {
        let mut out = vec![self.upstream.clone()];
        let Ok(u) = parse_upstream(&self.upstream) else {
            return out;
        };
        if u.port.is_some_and(|p| p != 22) {
            return out;
        }
        let userhost = match &u.user {
            Some(user) => format!("{user}@{}", bracket(&u.host)),
            None => bracket(&u.host),
        };
        if u.port.is_some() {
            out.push(format!("ssh://{userhost}{}", u.path));
        }
        let relative = u.path.trim_start_matches('/');
        if !relative.starts_with('~') {
            out.push(format!("{userhost}:{relative}"));
        }
        out.push(format!("{userhost}:{}", u.path));
        out
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Resolve `agent_name` into a plan: read both manifests and check everything that can be checked offline.
pub fn resolve(locations: &Locations, agent_name: &str) -> anyhow::Result<Plan> {
    let agent_path = locations.agent_path(agent_name)?;
    let agent: Loaded<AgentManifest> = manifest::load(&agent_path)?;
    let bottle_name = agent.manifest.bottle.value.clone();
    if !manifest::valid_name(&bottle_name) {
        return Err(agent
            .source
            .error_at(
                Pos::of_spanned(&agent.manifest.bottle),
                format!(
                    "bottle: `{bottle_name}` is not a valid name: {}",
                    manifest::NAME_RULE
                ),
            )
            .into());
    }
    let bottle_path = locations.bottle_path(&bottle_name).map_err(|e| {
        anyhow::Error::from(
            agent
                .source
                .error_at(Pos::of_spanned(&agent.manifest.bottle), e.to_string()),
        )
    })?;
    let bottle: Loaded<BottleManifest> = manifest::load(&bottle_path)?;
    let mut errors = Vec::new();
    let mut plan = build(agent_name, &agent, &bottle_name, &bottle, &mut errors);
    plan.agent.from_project = locations.is_project_agent(&agent.path);
    if errors.is_empty() {
        Ok(plan)
    } else {
        Err(ConfigErrors(errors).into())
    }
}

fn build(
    agent_name: &str,
    agent: &Loaded<AgentManifest>,
    bottle_name: &str,
    bottle: &Loaded<BottleManifest>,
    errors: &mut Vec<ConfigError>,
) -> Plan {
    let m = &bottle.manifest;
    let src = &bottle.source;
    let command = match &agent.manifest.command {
        Some(c) if c.value.is_empty() => {
            errors.push(agent.source.error_at(
                Pos::of_spanned(c),
                "command: an empty list runs nothing; omit `command` to run `claude`",
            ));
            Vec::new()
        }
        Some(c) => c.value.clone(),
        None => vec![DEFAULT_AGENT_COMMAND.to_string()],
    };
    let image = match (&m.image, &m.dockerfile) {
        (Some(_), Some(d)) => {
            errors.push(src.error_at(
                Pos::of_spanned(d),
                "give either `image` or `dockerfile`, not both",
            ));
            AgentImage::Image(DEFAULT_AGENT_IMAGE.into())
        }
        (Some(i), None) => {
            AgentImage::Image(image_ref("image", i, DEFAULT_AGENT_IMAGE, src, errors))
        }
        (None, Some(d)) => {
            let path = resolve_relative(&bottle.path, &expand_home(&d.value));
            if !path.is_file() {
                errors.push(src.error_at(
                    Pos::of_spanned(d),
                    format!("dockerfile: {} does not exist", path.display()),
                ));
            }
            AgentImage::Dockerfile(path)
        }
        (None, None) => AgentImage::Image(DEFAULT_AGENT_IMAGE.into()),
    };
    let (routes, tokens) = routes_of(&m.egress.routes, src, errors);
    let allowlist = allowlist_of(&m.egress.allowlist, src, errors);
    let pipelock_image = match &m.egress.pipelock_image {
        Some(i) => image_ref(
            "egress.pipelock_image",
            i,
            DEFAULT_PIPELOCK_IMAGE,
            src,
            errors,
        ),
        None => DEFAULT_PIPELOCK_IMAGE.to_string(),
    };
    let pipelock = m.egress.pipelock.then(|| PipelockPlan {
        image: pipelock_image,
        allowlist: pipelock_allowlist(&routes, &allowlist),
        passthrough: pipelock_passthrough(&routes, &allowlist),
        ip_allowlist: pipelock_ip_allowlist(&routes, &allowlist),
        dlp_action: m.egress.dlp_action,
    });
    let trust_ca = m
        .egress
        .trust_ca
        .iter()
        .map(|p| {
            let path = resolve_relative(&bottle.path, &expand_home(&p.value));
            if let Err(problem) = check_trust_ca(&path) {
                errors
                    .push(src.error_at(Pos::of_spanned(p), format!("egress.trust_ca: {problem}")));
            }
            path
        })
        .collect();
    let egress_network = m.egress.network.as_ref().map(|n| {
        if let Err(problem) = check_egress_network(&n.value) {
            errors.push(src.error_at(Pos::of_spanned(n), format!("egress.network: {problem}")));
        }
        n.value.clone()
    });
    let git = git_of(&m.git, bottle, errors);
    let env = env_of(m, src, errors);
    Plan {
        agent: AgentPlan {
            name: agent_name.to_string(),
            file: agent.path.clone(),
            prompt: agent.body.clone(),
            description: agent.manifest.description.clone(),
            command,
            from_project: false,
        },
        bottle_name: bottle_name.to_string(),
        bottle_file: bottle.path.clone(),
        image,
        routes,
        tokens,
        pipelock,
        trust_ca,
        egress_network,
        git,
        env,
        supervise: m.supervise,
        runtime: m.runtime.as_ref().map(|r| r.value).unwrap_or_default(),
        limits: limits_of(m, src, errors),
    }
}

fn limits_of(m: &BottleManifest, src: &Source, errors: &mut Vec<ConfigError>) -> AgentLimits {
    let Some(l) = &m.limits else {
        return AgentLimits::default();
    };
    let l = &l.value;
    if let Some(mem) = &l.memory {
        let v = mem.value.to_ascii_lowercase();
        let digits = v.trim_end_matches(['b', 'k', 'm', 'g']);
        let unit_len = v.len() - digits.len();
        if digits.is_empty()
            || unit_len > 1
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.bytes().all(|b| b == b'0')
        {
            errors.push(src.error_at(
                Pos::of_spanned(mem),
                format!(
                    "limits.memory: `{}` is not a size; write e.g. 512m or 4g",
                    mem.value
                ),
            ));
        }
    }
    if let Some(c) = &l.cpus
        && !(c.value > 0.0 && c.value <= 1024.0)
    {
        errors.push(src.error_at(
            Pos::of_spanned(c),
            "limits.cpus: must be a number above 0, e.g. 2 or 1.5",
        ));
    }
    if let Some(p) = &l.pids
        && p.value < 16
    {
        errors.push(src.error_at(
            Pos::of_spanned(p),
            "limits.pids: below 16 processes the agent cannot run its tools",
        ));
    }
    AgentLimits {
        memory: l.memory.as_ref().map(|m| m.value.to_ascii_lowercase()),
        cpus: l.cpus.as_ref().map(|c| c.value),
        pids: l.pids.as_ref().map(|p| p.value),
    }
}

/// A route in the routes-file shape, for rendering before validation.
#[derive(Serialize)]
struct RouteOut<'a> {
    host: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    paths: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    methods: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<AuthOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<TlsMode>,
}

#[derive(Serialize)]
struct AuthOut<'a> {
    scheme: Scheme,
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<&'a str>,
    token_file: String,
}

/// The image reference given as `field`, or (with an error) `default` when it is not one.
fn image_ref(
    field: &str,
    image: &Spanned<String>,
    default: &str,
    src: &Source,
    errors: &mut Vec<ConfigError>,
) -> String {
    if valid_image_ref(&image.value) {
        return image.value.clone();
    }
    errors.push(src.error_at(
        Pos::of_spanned(image),
        format!(
            "{field}: `{}` is not an image reference; {IMAGE_RULE}",
            image.value.escape_default()
        ),
    ));
    default.to_string()
}

/// Turn manifest routes into a validated routes file, reporting errors at manifest positions.
///
/// The routes are rendered in the routes-file format and checked by
/// egress-proxy's own parser, so the launcher accepts exactly what the proxy will load.
fn routes_of(
    routes: &[ManifestRoute],
    src: &Source,
    errors: &mut Vec<ConfigError>,
) -> (RoutesFile, Vec<TokenRef>) {
    let mut tokens: Vec<TokenRef> = Vec::new();
    let mut text = String::from("routes:\n");
    let mut starts = Vec::new();
    let before = errors.len();
    for route in routes {
        if let Some(auth) = &route.auth {
            let var = &auth.value.token_ref;
            if !valid_env_name(&var.value) {
                errors.push(src.error_at(
                    Pos::of_spanned(var),
                    format!(
                        "auth.token_ref: `{}` is not an environment variable name (letters, digits, `_`)",
                        var.value.escape_default()
                    ),
                ));
            } else if !tokens.iter().any(|t| t.var == var.value) {
                tokens.push(TokenRef {
                    var: var.value.clone(),
                    at: src.error_at(Pos::of_spanned(var), "auth.token_ref"),
                });
            }
        }
        let out = RouteOut {
            host: &route.host.value,
            port: route.port.as_ref().map(|p| p.value),
            paths: route
                .paths
                .as_ref()
                .map(|ps| ps.value.iter().map(|p| p.value.as_str()).collect()),
            methods: route
                .methods
                .as_ref()
                .map(|ms| ms.value.iter().map(|m| m.value.as_str()).collect()),
            auth: route.auth.as_ref().map(|a| AuthOut {
                scheme: a.value.scheme.value,
                header: a.value.header.as_ref().map(|h| h.value.as_str()),
                token_file: format!("{TOKEN_DIR}/{}", a.value.token_ref.value),
            }),
            tls: route.tls.as_ref().map(|t| t.value),
        };
        let item = serde_saphyr::to_string(&vec![out]).unwrap_or_default();
        starts.push(text.lines().count() as u64 + 1);
        text.push_str(&item);
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    if routes.is_empty() {
        text = "routes: []\n".into();
    }
    if errors.len() > before {
        return (RoutesFile::default(), tokens);
    }
    match parse_routes(&text, &Source::named("routes")) {
        Ok(file) => (file, tokens),
        Err(ConfigErrors(found)) => {
            for e in found {
                let line = e.pos.map(|p| p.line).unwrap_or(0);
                let index = starts.iter().rposition(|s| *s <= line).unwrap_or(0);
                let message = renumber(&e.message, &starts, routes, src);
                match routes.get(index) {
                    Some(route) => errors.push(src.error_at(
                        field_pos(route, &e.message),
                        format!("egress.routes[{index}]: {message}"),
                    )),
                    None => errors.push(src.error(format!("egress.routes: {}", e.message))),
                }
            }
            (RoutesFile::default(), tokens)
        }
    }
}

/// Rewrite "line N" (a line of the rendered routes) into the manifest route it came from.
fn renumber(message: &str, starts: &[u64], routes: &[ManifestRoute], src: &Source) -> String {
    let Some(at) = message.find("line ") else {
        return message.to_string();
    };
    let digits: String = message[at + 5..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let Ok(line) = digits.parse::<u64>() else {
        return message.to_string();
    };
    let Some(index) = starts.iter().position(|s| *s == line) else {
        return message.to_string();
    };
    let manifest_line = Pos::of_spanned(&routes[index].host).line + src.line_offset;
    format!(
        "{}egress.routes[{index}] (line {manifest_line}){}",
        &message[..at],
        &message[at + 5 + digits.len()..]
    )
}

/// The manifest position of the field a routes-parser message is about.
fn field_pos(route: &ManifestRoute, message: &str) -> Pos {
    let host = Pos::of_spanned(&route.host);
    let field = message.split(':').next().unwrap_or("");
    match field {
        "port" => route.port.as_ref().map(Pos::of_spanned),
        "tls" => route.tls.as_ref().map(Pos::of_spanned),
        "paths" => route.paths.as_ref().map(|ps| {
            ps.value
                .iter()
                .find(|p| message.contains(&format!("`{}`", p.value.escape_default())))
                .map(Pos::of_spanned)
                .unwrap_or_else(|| Pos::of_spanned(ps))
        }),
        "methods" => route.methods.as_ref().map(|ms| {
            ms.value
                .iter()
                .find(|m| message.contains(&format!("`{}`", m.value.escape_default())))
                .map(Pos::of_spanned)
                .unwrap_or_else(|| Pos::of_spanned(ms))
        }),
        "auth.header" => route
            .auth
            .as_ref()
            .and_then(|a| a.value.header.as_ref().map(Pos::of_spanned)),
        f if f.starts_with("auth") => route.auth.as_ref().map(Pos::of_spanned),
        _ => None,
    }
    .unwrap_or(host)
}

fn valid_env_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && !b[0].is_ascii_digit()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

fn allowlist_of(
    list: &[Spanned<String>],
    src: &Source,
    errors: &mut Vec<ConfigError>,
) -> Vec<String> {
    let mut out = Vec::new();
    for entry in list {
        match HostPattern::parse(&entry.value) {
            Ok(p) => {
                let s = p.to_string();
                if !out.contains(&s) {
                    out.push(s);
                }
            }
            Err(e) => {
                errors.push(src.error_at(Pos::of_spanned(entry), format!("egress.allowlist: {e}")))
            }
        }
    }
    out
}

fn push_unique(out: &mut Vec<String>, s: String) {
    if !out.contains(&s) {
        out.push(s);
    }
}

fn pipelock_allowlist(routes: &RoutesFile, extra: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for r in &routes.routes {
        push_unique(&mut out, r.host.to_string());
    }
    for h in extra {
        push_unique(&mut out, h.clone());
    }
    out
}

/// LLM API domains whose request bodies legitimately trip DLP (conversation text).
const LLM_DOMAINS: &[&str] = &["anthropic.com", "openai.com"];

/// Hosts pipelock splices: credentialed and passthrough route hosts, and LLM API hosts among `routes` and `extra`.
pub(crate) fn pipelock_passthrough(routes: &RoutesFile, extra: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for r in &routes.routes {
        if r.auth.is_some() || r.tls == TlsMode::Passthrough {
            push_unique(&mut out, r.host.to_string());
        }
    }
    let hosts = routes
        .routes
        .iter()
        .map(|r| r.host.to_string())
        .chain(extra.iter().cloned());
    for h in hosts {
        let bare = h.trim_start_matches("*.");
        if LLM_DOMAINS
            .iter()
            .any(|d| bare == *d || bare.ends_with(&format!(".{d}")))
        {
            push_unique(&mut out, h);
        }
    }
    out
}

/// Private addresses among the hosts of `routes` and `extra`, as CIDRs pipelock exempts from SSRF blocking.
pub(crate) fn pipelock_ip_allowlist(routes: &RoutesFile, extra: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let hosts = routes
        .routes
        .iter()
        .map(|r| r.host.to_string())
        .chain(extra.iter().cloned());
    for h in hosts {
        let bare = h.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) if ip.is_private() || ip.is_loopback() || ip.is_link_local() => {
                push_unique(&mut out, format!("{ip}/32"));
            }
            Ok(IpAddr::V6(ip)) if !ip.is_multicast() && !ip.is_unspecified() => {
                push_unique(&mut out, format!("{ip}/128"));
            }
            _ => {}
        }
    }
    out
}

fn git_of(
    entries: &[GitEntry],
    bottle: &Loaded<BottleManifest>,
    errors: &mut Vec<ConfigError>,
) -> Vec<GitRemote> {
    let src = &bottle.source;
    let mut out: Vec<GitRemote> = Vec::new();
    for e in entries {
        let name = &e.name.value;
        if !manifest::valid_name(name) {
            errors.push(src.error_at(
                Pos::of_spanned(&e.name),
                format!("git.name: `{name}` is not valid: {}", manifest::NAME_RULE),
            ));
        } else if out.iter().any(|g| &g.name == name) {
            errors.push(src.error_at(
                Pos::of_spanned(&e.name),
                format!("git.name: `{name}` is used twice; each remote needs its own name"),
            ));
        }
        if let Err(problem) = parse_upstream(&e.upstream.value) {
            errors.push(src.error_at(
                Pos::of_spanned(&e.upstream),
                format!("git.upstream: {problem}"),
            ));
        }
        let key = e.known_host_key.value.trim();
        if let Err(problem) = parse_host_key(key) {
            errors.push(src.error_at(
                Pos::of_spanned(&e.known_host_key),
                format!("git.known_host_key: {problem} (ssh-keyscan HOST prints the key)"),
            ));
        }
        let identity = resolve_relative(&bottle.path, &expand_home(&e.identity_file.value));
        if !identity.is_file() {
            errors.push(src.error_at(
                Pos::of_spanned(&e.identity_file),
                format!("git.identity_file: {} does not exist", identity.display()),
            ));
        }
        let mut extra_hosts = BTreeMap::new();
        for (host, ip) in &e.extra_hosts.0 {
            if !is_host_name(&host.value) {
                errors.push(src.error_at(
                    Pos::of_spanned(host),
                    format!(
                        "git.extra_hosts: `{}` is not a host name",
                        host.value.escape_default()
                    ),
                ));
            } else if ip.value.parse::<IpAddr>().is_err() {
                errors.push(src.error_at(
                    Pos::of_spanned(ip),
                    format!(
                        "git.extra_hosts: `{}` is not an IP address (write {}: 192.0.2.10)",
                        ip.value.escape_default(),
                        host.value
                    ),
                ));
            }
            extra_hosts.insert(host.value.clone(), ip.value.clone());
        }
        out.push(GitRemote {
            name: name.clone(),
            upstream: e.upstream.value.clone(),
            identity_file: identity,
            known_host_key: key.to_string(),
            extra_hosts,
        });
    }
    out
}

fn env_of(
    m: &BottleManifest,
    src: &Source,
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, value) in &m.env.0 {
        if !valid_env_name(&name.value) {
            errors.push(src.error_at(
                Pos::of_spanned(name),
                format!(
                    "env: `{}` is not an environment variable name (letters, digits, `_`, not starting with a digit)",
                    name.value.escape_default()
                ),
            ));
        } else if RESERVED_ENV.contains(&name.value.as_str()) {
            errors.push(src.error_at(
                Pos::of_spanned(name),
                format!(
                    "env: `{}` is set by bottle (proxy and CA wiring) and cannot be overridden",
                    name.value
                ),
            ));
        }
        if value.value.contains('\0') {
            errors.push(src.error_at(
                Pos::of_spanned(value),
                format!(
                    "env: the value of `{}` contains a NUL character, which no environment can hold",
                    name.value.escape_default()
                ),
            ));
        }
        out.insert(name.value.clone(), value.value.clone());
    }
    out
}

/// What an image reference must look like, for error messages.
pub const IMAGE_RULE: &str = "write `[registry[:port]/]name[:tag][@sha256:digest]` (lowercase name, no spaces), e.g. `bottle-agent:latest`";

/// Whether `image` is a plausible Docker image reference: `[host[:port]/]path[:tag][@algo:hex]`.
///
/// Stricter than needed by Docker in no way that matters, and strict enough
/// that a value cannot carry whitespace, newlines, options (`--privileged`)
/// or Compose substitutions into the commands and files it is written to.
pub fn valid_image_ref(image: &str) -> bool {
    if image.is_empty() || image.len() > 255 {
        return false;
    }
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let Some((algo, hex)) = d.split_once(':') else {
            return false;
        };
        if algo.is_empty()
            || !algo
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            || hex.len() < 32
            || !hex.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return false;
        }
    }
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        let b = t.as_bytes();
        if b.is_empty()
            || b.len() > 128
            || !(b[0].is_ascii_alphanumeric() || b[0] == b'_')
            || !b
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
        {
            return false;
        }
    }
    let mut components: Vec<&str> = name.split('/').collect();
    let first = components[0];
    if components.len() > 1 && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        let (host, port) = match first.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (first, None),
        };
        if !is_host_name(host)
            || port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return false;
        }
        components.remove(0);
    }
    components.iter().all(|c| {
        let b = c.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || b"._-".contains(x))
    })
}

/// Docker's own networks, refused as `egress.network`: `host` would put the
/// sidecars' listeners on the host's interfaces, `none` has no way out, and
/// on `bridge` (the default network) every plain `docker run` container could
/// use egress-proxy's credentials, and container names do not resolve.
pub const REFUSED_NETWORKS: &[&str] = &["host", "none", "bridge"];

/// Whether `name` can be the egress side of a bottle.
fn check_egress_network(name: &str) -> Result<(), String> {
    let b = name.as_bytes();
    if b.is_empty()
        || b.len() > 128
        || !b[0].is_ascii_alphanumeric()
        || !b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
    {
        return Err(format!(
            "`{}` is not a Docker network name (letters, digits, `-`, `_`, `.`)",
            name.escape_default()
        ));
    }
    if REFUSED_NETWORKS.contains(&name) {
        return Err(format!(
            "`{name}` is one of Docker's own networks ({}), which a bottle cannot use as its egress side: \
             create a network for it (docker network create NAME) or leave `network` out",
            REFUSED_NETWORKS.join(", ")
        ));
    }
    Ok(())
}

/// Whether `path` holds CA certificates egress-proxy will load, checked with egress-proxy's own loader.
fn check_trust_ca(path: &Path) -> Result<(), String> {
    if !path.is_file() {
        return Err(format!("{} does not exist", path.display()));
    }
    egress_proxy::origin_tls::OriginTls::new(&[path.to_path_buf()])
        .map(|_| ())
        .map_err(|e| match e {
            egress_proxy::origin_tls::TrustError::File { path, reason } => format!(
                "{}: {reason}; give a PEM file with `-----BEGIN CERTIFICATE-----` blocks",
                path.display()
            ),
            other => format!("{}: {other}", path.display()),
        })
}

/// `~/x` → `$HOME/x`; other paths unchanged.
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// A credential value read from the host, never logged or displayed.
pub struct TokenValue {
    /// The variable name.
    pub var: String,
    /// The secret.
    pub value: String,
}

impl std::fmt::Debug for TokenValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenValue({}, <redacted>)", self.var)
    }
}

/// Read every token the plan names from `lookup` (the host environment); all missing ones are reported.
pub fn read_tokens(
    plan: &Plan,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<TokenValue>, ConfigErrors> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for t in &plan.tokens {
        match lookup(&t.var) {
            Some(v) if !v.trim().is_empty() => out.push(TokenValue {
                var: t.var.clone(),
                value: v.trim_end_matches(['\r', '\n']).to_string(),
            }),
            found => {
                let mut e = t.at.clone();
                e.message = format!(
                    "auth.token_ref: environment variable {} is {}; export it before `bottle start` (only egress-proxy receives it)",
                    t.var,
                    if found.is_some() { "empty" } else { "not set" }
                );
                errors.push(e);
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ConfigErrors(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        home: tempfile::TempDir,
        project: tempfile::TempDir,
    }

    impl Fixture {
        fn new(bottle: &str) -> Fixture {
            let f = Fixture {
                home: tempfile::tempdir().unwrap(),
                project: tempfile::tempdir().unwrap(),
            };
            f.write(
                "agents/coder.md",
                "---\nbottle: dev\ndescription: writes code\n---\nYou write code.\n",
            );
            f.write("bottles/dev.md", bottle);
            f
        }
        fn write(&self, rel: &str, text: &str) {
            let p = self.home.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        fn locations(&self) -> Locations {
            Locations {
                home: self.home.path().to_path_buf(),
                project: self.project.path().to_path_buf(),
            }
        }
        fn resolve(&self) -> anyhow::Result<Plan> {
            resolve(&self.locations(), "coder")
        }
    }

    const FULL: &str = "---
egress:
  routes:
    - host: api.github.com
      paths: [\"/repos/acme/\"]
      auth: { scheme: bearer, token_ref: GH_TOKEN }
    - host: uploads.github.com
      auth: { scheme: token, token_ref: GH_TOKEN }
    - host: \"*.pythonhosted.org\"
    - host: pinned.example.org
      tls: passthrough
  allowlist: [pypi.org, api.anthropic.com]
  dlp_action: warn
env: { EDITOR: vim }
supervise: true
runtime: runc
---
";

    #[test]
    fn a_full_bottle_resolves() {
        let f = Fixture::new(FULL);
        let p = f.resolve().unwrap();
        assert_eq!(p.agent.prompt, "You write code.");
        assert_eq!(p.agent.command, vec!["claude"]);
        assert_eq!(p.image, AgentImage::Image(DEFAULT_AGENT_IMAGE.into()));
        assert_eq!(p.routes.routes.len(), 4);
        assert_eq!(p.tokens.len(), 1, "one variable, named twice, is one token");
        assert_eq!(p.tokens[0].var, "GH_TOKEN");
        assert!(
            p.tokens[0].at.to_string().contains("dev.md:6:"),
            "{}",
            p.tokens[0].at
        );
        let yaml = p.routes.to_yaml();
        assert!(
            yaml.contains("token_file: /run/bottle/secrets/GH_TOKEN"),
            "{yaml}"
        );
        let pl = p.pipelock.unwrap();
        assert_eq!(
            pl.allowlist,
            [
                "api.github.com",
                "uploads.github.com",
                "*.pythonhosted.org",
                "pinned.example.org",
                "pypi.org",
                "api.anthropic.com"
            ]
        );
        assert_eq!(
            pl.passthrough,
            [
                "api.github.com",
                "uploads.github.com",
                "pinned.example.org",
                "api.anthropic.com"
            ]
        );
        assert_eq!(pl.dlp_action, DlpAction::Warn);
        assert!(p.supervise);
        assert_eq!(p.runtime, Runtime::Runc);
        assert_eq!(p.env["EDITOR"], "vim");
    }

    #[test]
    fn route_errors_point_into_the_bottle_file() {
        let f = Fixture::new(
            "---\negress:\n  routes:\n    - host: a.com\n    - host: b.com\n      paths: [\"/ok/\", \"/a/../b\"]\n---\n",
        );
        let e = f.resolve().unwrap_err().to_string();
        assert!(
            e.contains("dev.md:6:23: egress.routes[1]: paths: `/a/../b` is not canonical"),
            "{e}"
        );
        let f = Fixture::new(
            "---\negress:\n  routes:\n    - host: a.com\n      tls: passthrough\n      auth: {scheme: bearer, token_ref: T}\n---\n",
        );
        let e = f.resolve().unwrap_err().to_string();
        assert!(
            e.contains("dev.md:5:12: egress.routes[0]: tls: passthrough"),
            "{e}"
        );
        let f = Fixture::new("---\negress:\n  routes:\n    - host: a..com\n---\n");
        let e = f.resolve().unwrap_err().to_string();
        assert!(
            e.contains("dev.md:4:13: egress.routes[0]: host: invalid host"),
            "{e}"
        );
        let f = Fixture::new(
            "---\negress:\n  routes:\n    - host: a.com\n      auth: {scheme: bearer, token_ref: \"A-B\"}\n---\n",
        );
        let e = f.resolve().unwrap_err().to_string();
        assert!(e.contains("dev.md:5:"), "{e}");
        assert!(e.contains("not an environment variable name"), "{e}");
    }

    #[test]
    fn conflicting_routes_are_reported_at_the_later_route() {
        let f = Fixture::new(
            "---\negress:\n  routes:\n    - host: a.com\n    - host: a.com\n      tls: passthrough\n---\n",
        );
        let e = f.resolve().unwrap_err().to_string();
        assert!(
            e.contains("dev.md:5:13: egress.routes[1]: route for a.com conflicts with egress.routes[0] (line 4)"),
            "{e}"
        );
    }

    #[test]
    fn bottle_errors_are_collected_in_one_pass() {
        let f = Fixture::new(
            "---\nimage: x\ndockerfile: ./Dockerfile\nenv: { HTTPS_PROXY: x }\ngit:\n  - name: app\n    upstream: git@github.com:a/b.git\n    identity_file: ./nokey\n    known_host_key: nope\n---\n",
        );
        let e = f.resolve().unwrap_err().to_string();
        for want in [
            "not both",
            "cannot be overridden",
            "scp-style",
            "does not exist",
            "known_host_key",
        ] {
            assert!(e.contains(want), "missing {want}: {e}");
        }
        assert!(e.lines().count() >= 5, "{e}");
    }

    #[test]
    fn missing_bottle_is_reported_at_the_agent_line() {
        let f = Fixture::new("---\n---\n");
        f.write("agents/coder.md", "---\nbottle: nope\n---\n");
        let e = f.resolve().unwrap_err().to_string();
        assert!(e.contains("coder.md:2:9: no bottle `nope`"), "{e}");
    }

    #[test]
    fn tokens_missing_from_the_environment_name_the_manifest_line() {
        let f = Fixture::new(FULL);
        let p = f.resolve().unwrap();
        let e = read_tokens(&p, |_| None).unwrap_err().to_string();
        assert!(e.contains("dev.md:6:"), "{e}");
        assert!(e.contains("GH_TOKEN is not set"), "{e}");
        let e = read_tokens(&p, |_| Some("  ".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("GH_TOKEN is empty"), "{e}");
        let t = read_tokens(&p, |_| Some("s3cret\n".into())).unwrap();
        assert_eq!(t[0].value, "s3cret");
        assert!(!format!("{t:?}").contains("s3cret"));
    }

    #[test]
    fn git_entries_resolve_with_scp_spellings() {
        let f = Fixture::new(
            "---\ngit:\n  - name: app\n    upstream: ssh://git@github.com/acme/app.git\n    identity_file: ./key\n    known_host_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMcDwTLWeNwa0uZUa7PhFFhdCNFdqe+DFoQy3xtOWu8O\n    extra_hosts: { github.com: 140.82.112.3 }\n---\n",
        );
        f.write("bottles/key", "k");
        let p = f.resolve().unwrap();
        assert_eq!(p.git[0].identity_file, f.home.path().join("bottles/./key"));
        assert_eq!(
            p.git[0].upstream_spellings(),
            [
                "ssh://git@github.com/acme/app.git",
                "git@github.com:acme/app.git",
                "git@github.com:/acme/app.git"
            ]
        );
        let mut g = p.git[0].clone();
        g.upstream = "ssh://git@h:2222/x.git".into();
        assert_eq!(g.upstream_spellings(), ["ssh://git@h:2222/x.git"]);
        g.upstream = "ssh://git@h:22/x.git".into();
        assert_eq!(
            g.upstream_spellings(),
            [
                "ssh://git@h:22/x.git",
                "ssh://git@h/x.git",
                "git@h:x.git",
                "git@h:/x.git"
            ]
        );
    }

    #[test]
    fn private_ip_routes_are_exempt_from_pipelock_ssrf_blocking() {
        let f = Fixture::new(
            "---\negress:\n  routes:\n    - host: 10.1.2.3\n      port: 8443\n    - host: 8.8.8.8\n---\n",
        );
        let p = f.resolve().unwrap();
        assert_eq!(p.pipelock.unwrap().ip_allowlist, ["10.1.2.3/32"]);
    }

    #[test]
    fn limits_are_validated() {
        let f = Fixture::new("---\nlimits: { memory: 4G, cpus: 1.5, pids: 512 }\n---\n");
        let l = f.resolve().unwrap().limits;
        assert_eq!(
            l,
            AgentLimits {
                memory: Some("4g".into()),
                cpus: Some(1.5),
                pids: Some(512)
            }
        );
        let f = Fixture::new("---\nlimits: { memory: lots, cpus: 0, pids: 2 }\n---\n");
        let e = f.resolve().unwrap_err().to_string();
        assert!(
            e.contains("dev.md:2:19: limits.memory: `lots` is not a size"),
            "{e}"
        );
        assert!(
            e.contains("limits.cpus") && e.contains("limits.pids"),
            "{e}"
        );
        let f = Fixture::new("---\nlimits: { memroy: 4g }\n---\n");
        assert!(
            f.resolve()
                .unwrap_err()
                .to_string()
                .contains("did you mean `memory`?")
        );
    }

    #[test]
    fn pipelock_false_means_no_pipelock() {
        let f = Fixture::new("---\negress:\n  pipelock: false\n---\n");
        assert!(f.resolve().unwrap().pipelock.is_none());
    }

    #[test]
    fn env_and_extra_hosts_errors_point_at_the_bad_entry() {
        let f = Fixture::new(
            "---\nenv:\n  EDITOR: vim\n  1BAD: x\n  HTTPS_PROXY: y\n  NUL: \"a\\0b\"\n---\n",
        );
        let e = f.resolve().unwrap_err().to_string();
        assert!(
            e.contains("dev.md:4:3: env: `1BAD` is not an environment variable name"),
            "{e}"
        );
        assert!(
            e.contains("dev.md:5:3: env: `HTTPS_PROXY` is set by bottle"),
            "{e}"
        );
        assert!(
            e.contains("dev.md:6:8: env: the value of `NUL` contains a NUL"),
            "{e}"
        );
        let f = Fixture::new(&format!(
            "---\ngit:\n  - name: app\n    upstream: ssh://git@h.example/a.git\n    identity_file: ./key\n    \
             known_host_key: {KEY}\n    extra_hosts:\n      h.example: 10.0.0.1\n      bad_host!: 10.0.0.2\n      \
             ok.example: not-an-ip\n---\n"
        ));
        f.write("bottles/key", "k");
        let e = f.resolve().unwrap_err().to_string();
        assert!(
            e.contains("dev.md:9:7: git.extra_hosts: `bad_host!` is not a host name"),
            "{e}"
        );
        assert!(
            e.contains("dev.md:10:19: git.extra_hosts: `not-an-ip` is not an IP address"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 2, "{e}");
    }

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMcDwTLWeNwa0uZUa7PhFFhdCNFdqe+DFoQy3xtOWu8O";

    #[test]
    fn image_references_are_checked() {
        for good in [
            "bottle-agent:latest",
            "debian",
            "ghcr.io/luckypipewrench/pipelock:2.3.0",
            "localhost:5000/team/agent:v1_2",
            "registry.example.com/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "a.b/c:d@sha256:0123456789abcdef0123456789abcdef",
        ] {
            assert!(valid_image_ref(good), "{good}");
        }
        for bad in [
            "",
            " debian",
            "debian latest",
            "debian\n--privileged",
            "--privileged",
            "Debian",
            "debian:",
            "debian:-x",
            "a//b",
            "debian@sha256:xyz",
            "${IMAGE}",
            "a:b:c",
            &"x".repeat(256),
        ] {
            assert!(!valid_image_ref(bad), "{bad:?}");
        }
        let f = Fixture::new("---\nimage: \"bottle agent\"\n---\n");
        let e = f.resolve().unwrap_err().to_string();
        assert!(
            e.contains("dev.md:2:8: image: `bottle agent` is not an image reference"),
            "{e}"
        );
        let f = Fixture::new("---\negress:\n  pipelock_image: \"x\\ny\"\n---\n");
        let e = f.resolve().unwrap_err().to_string();
        assert!(
            e.contains("dev.md:3:19: egress.pipelock_image: `x\\ny`"),
            "{e}"
        );
    }

    #[test]
    fn dockers_own_networks_are_refused_as_the_egress_side() {
        for (net, want) in [
            ("host", "one of Docker's own networks"),
            ("none", "one of Docker's own networks"),
            ("bridge", "one of Docker's own networks"),
            ("\"a b\"", "not a Docker network name"),
            ("\"-x\"", "not a Docker network name"),
        ] {
            let f = Fixture::new(&format!("---\negress:\n  network: {net}\n---\n"));
            let e = f.resolve().unwrap_err().to_string();
            assert!(e.contains("dev.md:3:12: egress.network: "), "{net}: {e}");
            assert!(e.contains(want), "{net}: {e}");
        }
        let f = Fixture::new("---\negress:\n  network: corp-net.1\n---\n");
        assert_eq!(
            f.resolve().unwrap().egress_network.as_deref(),
            Some("corp-net.1")
        );
    }

    #[test]
    fn trust_ca_must_hold_certificates_when_the_plan_is_made() {
        let f = Fixture::new("---\negress:\n  trust_ca: [./not.pem, ./ca.pem, ./gone.pem]\n---\n");
        f.write("bottles/not.pem", "just text\n");
        f.write(
            "bottles/ca.pem",
            &egress_proxy::ca::generate_ca("plan test CA")
                .unwrap()
                .cert_pem,
        );
        let e = f.resolve().unwrap_err().to_string();
        assert!(e.contains("dev.md:3:14: egress.trust_ca: "), "{e}");
        assert!(
            e.contains("not.pem: contains no `BEGIN CERTIFICATE` block"),
            "{e}"
        );
        assert!(
            e.contains("dev.md:3:35: egress.trust_ca: ") && e.contains("gone.pem does not exist"),
            "{e}"
        );
        assert_eq!(
            e.lines().count(),
            2,
            "the real certificate is accepted: {e}"
        );
    }

    #[test]
    fn flags_must_be_booleans() {
        for text in [
            "supervise: \"yes\"",
            "supervise: 1",
            "egress:\n  pipelock: \"no\"",
        ] {
            let f = Fixture::new(&format!("---\n{text}\n---\n"));
            let e = f.resolve().unwrap_err().to_string();
            assert!(e.contains("dev.md:"), "{text}: {e}");
            assert!(e.contains("true or false"), "{text}: {e}");
        }
    }

    #[test]
    fn hostile_manifests_fail_cleanly_with_their_location() {
        let bomb = "---\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n---\n";
        let deep = format!("---\nenv: {}{}\n---\n", "[".repeat(500), "]".repeat(500));
        let cases: Vec<(&str, String)> = vec![
            ("alias bomb", bomb.to_string()),
            ("deep nesting", deep),
            (
                "duplicate key",
                "---\nsupervise: true\nsupervise: false\n---\n".into(),
            ),
            (
                "duplicate env key",
                "---\nenv:\n  A: x\n  A: y\n---\n".into(),
            ),
            (
                "control character",
                "---\nimage: \"a\u{1b}b\"\n---\n".into(),
            ),
        ];
        for (what, text) in cases {
            let f = Fixture::new(&text);
            let e = f.resolve().unwrap_err().to_string();
            assert!(e.contains("bottles/dev.md"), "{what}: {e}");
            assert!(e.len() < 2000, "{what}: error is {} bytes", e.len());
        }
        let f = Fixture::new("---\n---\n");
        std::fs::write(
            f.home.path().join("bottles/dev.md"),
            b"---\nenv: { A: \"\xff\xfe\" }\n---\n",
        )
        .unwrap();
        let e = f.resolve().unwrap_err().to_string();
        assert!(
            e.contains("dev.md:2:") && e.contains("not valid UTF-8"),
            "{e}"
        );
    }

    #[test]
    fn a_projects_agent_cannot_be_a_link_out_of_the_project() {
        let f = Fixture::new("---\n---\n");
        let agents = f.project.path().join(".claude-bottle/agents");
        std::fs::create_dir_all(&agents).unwrap();
        let outside = f.home.path().join("secret.md");
        std::fs::write(&outside, "---\nbottle: dev\n---\nhost file\n").unwrap();
        std::os::unix::fs::symlink(&outside, agents.join("coder.md")).unwrap();
        let e = f.resolve().unwrap_err().to_string();
        assert!(e.contains("resolves outside the project"), "{e}");
        std::fs::remove_file(agents.join("coder.md")).unwrap();
        std::fs::write(
            f.project.path().join("real.md"),
            "---\nbottle: dev\n---\nin repo\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(f.project.path().join("real.md"), agents.join("coder.md"))
            .unwrap();
        let p = f.resolve().unwrap();
        assert_eq!(p.agent.prompt, "in repo");
        assert!(p.agent.from_project);
        std::fs::remove_file(agents.join("coder.md")).unwrap();
        assert!(!f.resolve().unwrap().agent.from_project);
    }
}
