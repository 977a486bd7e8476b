//! The bottle's topology as a compose project:
//!
//! ```text
//!   internal (internal: true, no host address)      egress
//!   agent ──► egress-proxy ────────────────────────► pipelock ──► out
//!   agent ──► git-gate ────────────────────────────► ssh upstreams
//!   agent ──► supervise
//! ```
//!
//! The agent joins only `internal`, where the host has no address either
//! (see [`INHIBIT_IPV4`]). egress-proxy and git-gate join both;
//! supervise joins only `internal`; pipelock joins only `egress`. Each
//! secret directory is mounted into exactly one sidecar.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use git_gate::config::{Config as GateConfig, RepoConfig, unlocated};

use super::compose::{ComposeFile, FORMAT_VERSION, Network, Service, bind, labels};
use super::{RenderOptions, pipelock};
use crate::plan::{Plan, TOKEN_DIR};
use crate::state::StateDir;

/// egress-proxy's listener port.
pub const EGRESS_PROXY_PORT: u16 = 3128;
/// git-gate's git:// port (git's default, so URLs need no port).
pub const GIT_GATE_PORT: u16 = 9418;
/// supervise's MCP port.
pub const SUPERVISE_PORT: u16 = 9100;

/// Image names of the sidecars (built by `bottle images build`).
pub const EGRESS_PROXY_IMAGE: &str = "bottle-egress-proxy:latest";
/// git-gate image.
pub const GIT_GATE_IMAGE: &str = "bottle-git-gate:latest";
/// supervise image.
pub const SUPERVISE_IMAGE: &str = "bottle-supervise:latest";

/// Inside the agent: the egress-proxy CA certificate directory.
pub const AGENT_CA_DIR: &str = "/etc/bottle/ca";
/// File name of the egress-proxy CA certificate in [`AGENT_CA_DIR`].
pub const AGENT_CA_FILE: &str = "egress-proxy-ca.pem";
/// Inside the agent and supervise: the current config (read-only).
pub const CURRENT_CONFIG_DIR: &str = "/etc/bottle/current-config";
/// Inside the agent: the prompt directory.
pub const AGENT_PROMPT_DIR: &str = "/etc/bottle/agent";
/// Inside the agent: the transcript directory (linked from `~/.claude`).
pub const TRANSCRIPT_DIR: &str = "/var/lib/bottle/transcript";
/// The system CA bundle Debian-family images read (provisioning adds the CA to it).
pub const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Capabilities the agent never needs. `no-new-privileges` is not set on the
/// agent: it would also strip the capabilities of provisioning's
/// `docker exec -u 0` (CA install, transcript ownership).
const AGENT_CAP_DROP: &[&str] = &["NET_RAW", "MKNOD", "AUDIT_WRITE", "SETFCAP", "SYS_CHROOT"];

/// Bridge option that leaves the host without an address on the internal
/// network. `internal: true` only stops forwarding; a container on it still
/// has a default route to the host's bridge address, and packets for any of
/// the host's own addresses are delivered to host services listening there.
/// Without that address nothing answers for the gateway and the host is out
/// of reach, under runc and runsc alike.
pub const INHIBIT_IPV4: &str = "com.docker.network.bridge.inhibit_ipv4";

/// Inside egress-proxy: live routes directory.
const EP_LIVE: &str = "/etc/egress-proxy/live";
const EP_CA: &str = "/etc/egress-proxy/ca";
const EP_TRUST: &str = "/etc/egress-proxy/trust";
const EP_LOGS: &str = "/var/log/egress-proxy";
const GATE_CONFIG_DIR: &str = "/etc/git-gate";
const GATE_KEYS: &str = "/run/bottle/git-keys";
const GATE_LOGS: &str = "/var/log/git-gate";
const GATE_DATA: &str = "/var/lib/git-gate";
const SUPERVISE_QUEUE: &str = "/var/lib/supervise/queue";
const SUPERVISE_LOGS: &str = "/var/log/supervise";

/// File name of the `index`th extra trusted CA inside egress-proxy's trust directory.
pub fn trust_file_name(index: usize) -> String {
    format!("extra-{index}.pem")
}

/// File name of a git remote's key copy.
pub fn git_key_name(remote: &str) -> String {
    format!("{remote}.key")
}

/// Claude Code's MCP tool-call timeout set in bottles with supervise (unless
/// `env` sets one): supervise waits up to 10 minutes for a decision, so the
/// client waits a little longer.
pub const MCP_TOOL_TIMEOUT_MS: u32 = 660_000;

/// Environment of the agent: proxies, CA locations, bottle facts, the bottle's `env`.
pub fn agent_environment(plan: &Plan, state: &StateDir) -> BTreeMap<String, String> {
    let proxy = format!("http://egress-proxy:{EGRESS_PROXY_PORT}");
    let mut no_proxy = vec!["localhost", "127.0.0.1", "::1"];
    if !plan.git.is_empty() {
        no_proxy.push("git-gate");
    }
    if plan.supervise {
        no_proxy.push("supervise");
    }
    let no_proxy = no_proxy.join(",");
    let ca = format!("{AGENT_CA_DIR}/{AGENT_CA_FILE}");
    let mut env: BTreeMap<String, String> = plan.env.clone();
    if plan.supervise {
        env.entry("MCP_TOOL_TIMEOUT".into())
            .or_insert_with(|| MCP_TOOL_TIMEOUT_MS.to_string());
    }
    for (k, v) in [
        ("HTTP_PROXY", proxy.as_str()),
        ("HTTPS_PROXY", &proxy),
        ("http_proxy", &proxy),
        ("https_proxy", &proxy),
        ("NO_PROXY", &no_proxy),
        ("no_proxy", &no_proxy),
        ("SSL_CERT_FILE", SYSTEM_BUNDLE),
        ("REQUESTS_CA_BUNDLE", SYSTEM_BUNDLE),
        ("GIT_SSL_CAINFO", SYSTEM_BUNDLE),
        ("CARGO_HTTP_CAINFO", SYSTEM_BUNDLE),
        ("PIP_CERT", SYSTEM_BUNDLE),
        ("NODE_EXTRA_CA_CERTS", &ca),
        ("BOTTLE_ID", state.id()),
        (
            "BOTTLE_AGENT_PROMPT_FILE",
            &format!("{AGENT_PROMPT_DIR}/prompt.md"),
        ),
        ("BOTTLE_CURRENT_CONFIG", CURRENT_CONFIG_DIR),
    ] {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

/// The compose file for `plan`.
pub fn compose_file(
    plan: &Plan,
    state: &StateDir,
    options: &RenderOptions,
) -> anyhow::Result<ComposeFile> {
    let id = state.id();
    let mut services = BTreeMap::new();
    let sidecar_opts = vec!["no-new-privileges:true".to_string()];

    let mut ep_command: Vec<String> = [
        "run",
        "--listen",
        &format!("0.0.0.0:{EGRESS_PROXY_PORT}"),
        "--routes",
        &format!("{EP_LIVE}/routes.yaml"),
        "--ca-cert",
        &format!("{EP_CA}/{}", egress_proxy::ca::CA_CERT_FILE),
        "--ca-key",
        &format!("{EP_CA}/{}", egress_proxy::ca::CA_KEY_FILE),
        "--audit-log",
        &format!("{EP_LOGS}/audit.jsonl"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for i in 0..plan.trust_ca.len() {
        ep_command.extend([
            "--trust-ca".into(),
            format!("{EP_TRUST}/{}", trust_file_name(i)),
        ]);
    }
    if plan.pipelock.is_some() {
        ep_command.extend([
            "--trust-ca".into(),
            format!("{EP_TRUST}/pipelock-ca.pem"),
            "--upstream-proxy".into(),
            // By container name: on a shared `egress.network` the service name
            // `pipelock` could resolve to another bottle's pipelock.
            format!("http://{}:{}", state.container("pipelock"), pipelock::PORT),
        ]);
    }
    services.insert(
        "egress-proxy".to_string(),
        Service {
            image: EGRESS_PROXY_IMAGE.into(),
            container_name: state.container("egress-proxy"),
            user: Some(options.host_user.clone()),
            command: ep_command,
            volumes: vec![
                bind(&state.live_egress_dir(), EP_LIVE, true)?,
                bind(&state.ca_dir("egress-proxy"), EP_CA, true)?,
                bind(&state.trust_dir("egress-proxy"), EP_TRUST, true)?,
                bind(&state.secrets_of("egress-proxy"), TOKEN_DIR, true)?,
                bind(&state.logs_of("egress-proxy"), EP_LOGS, false)?,
            ],
            networks: vec!["internal".into(), "egress".into()],
            labels: labels(id, Some("egress-proxy")),
            init: true,
            cap_drop: vec!["ALL".into()],
            security_opt: sidecar_opts.clone(),
            depends_on: if plan.pipelock.is_some() {
                vec!["pipelock".into()]
            } else {
                Vec::new()
            },
            ..Service::default()
        },
    );

    if let Some(p) = &plan.pipelock {
        services.insert(
            "pipelock".to_string(),
            Service {
                image: p.image.clone(),
                container_name: state.container("pipelock"),
                // Like egress-proxy: your uid:gid reads its 0700 CA directory
                // without DAC_OVERRIDE, and listening on 8888 needs no capability.
                user: Some(options.host_user.clone()),
                command: [
                    "run",
                    "--listen",
                    &format!("0.0.0.0:{}", pipelock::PORT),
                    "--config",
                    &format!("{}/pipelock.yaml", pipelock::LIVE_DIR),
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
                volumes: vec![
                    bind(&state.live_pipelock_dir(), pipelock::LIVE_DIR, true)?,
                    bind(&state.ca_dir("pipelock"), pipelock::CA_DIR, true)?,
                ],
                networks: vec!["egress".into()],
                labels: labels(id, Some("pipelock")),
                init: true,
                cap_drop: vec!["ALL".into()],
                security_opt: sidecar_opts.clone(),
                ..Service::default()
            },
        );
    }

    if !plan.git.is_empty() {
        let mut extra_hosts: Vec<String> = plan
            .git
            .iter()
            .flat_map(|g| g.extra_hosts.iter().map(|(h, ip)| format!("{h}:{ip}")))
            .collect();
        extra_hosts.sort();
        extra_hosts.dedup();
        services.insert(
            "git-gate".to_string(),
            Service {
                image: GIT_GATE_IMAGE.into(),
                container_name: state.container("git-gate"),
                command: vec![
                    "run".into(),
                    "--config".into(),
                    format!("{GATE_CONFIG_DIR}/git-gate.yaml"),
                ],
                volumes: vec![
                    bind(&state.git_gate_dir(), GATE_CONFIG_DIR, true)?,
                    bind(&state.secrets_of("git-gate"), GATE_KEYS, true)?,
                    bind(&state.logs_of("git-gate"), GATE_LOGS, false)?,
                ],
                networks: vec!["internal".into(), "egress".into()],
                extra_hosts,
                labels: labels(id, Some("git-gate")),
                init: true,
                cap_drop: vec!["ALL".into()],
                cap_add: vec!["DAC_OVERRIDE".into()],
                security_opt: sidecar_opts.clone(),
                ..Service::default()
            },
        );
    }

    if plan.supervise {
        services.insert(
            "supervise".to_string(),
            Service {
                image: SUPERVISE_IMAGE.into(),
                container_name: state.container("supervise"),
                user: Some(options.host_user.clone()),
                command: [
                    "run",
                    "--listen",
                    &format!("0.0.0.0:{SUPERVISE_PORT}"),
                    "--queue",
                    SUPERVISE_QUEUE,
                    "--current-config",
                    CURRENT_CONFIG_DIR,
                    "--audit-log",
                    &format!("{SUPERVISE_LOGS}/audit.jsonl"),
                    "--allowed-host",
                    "supervise",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
                volumes: vec![
                    bind(&state.queue(), SUPERVISE_QUEUE, false)?,
                    bind(&state.current_config(), CURRENT_CONFIG_DIR, true)?,
                    bind(&state.logs_of("supervise"), SUPERVISE_LOGS, false)?,
                ],
                networks: vec!["internal".into()],
                labels: labels(id, Some("supervise")),
                init: true,
                cap_drop: vec!["ALL".into()],
                security_opt: sidecar_opts.clone(),
                ..Service::default()
            },
        );
    }

    let mut depends_on = vec!["egress-proxy".to_string()];
    if !plan.git.is_empty() {
        depends_on.push("git-gate".into());
    }
    if plan.supervise {
        depends_on.push("supervise".into());
    }
    services.insert(
        "agent".to_string(),
        Service {
            image: options.agent_image.clone(),
            container_name: state.container("agent"),
            entrypoint: vec!["sleep".into(), "infinity".into()],
            environment: agent_environment(plan, state),
            volumes: vec![
                bind(&state.trust_dir("agent"), AGENT_CA_DIR, true)?,
                bind(&state.agent_dir(), AGENT_PROMPT_DIR, true)?,
                bind(&state.current_config(), CURRENT_CONFIG_DIR, true)?,
                bind(&state.transcript(), TRANSCRIPT_DIR, false)?,
            ],
            networks: vec!["internal".into()],
            labels: labels(id, Some("agent")),
            init: true,
            runtime: options.runtime.clone(),
            cap_drop: AGENT_CAP_DROP.iter().map(|c| c.to_string()).collect(),
            mem_limit: plan.limits.memory.clone(),
            cpus: plan.limits.cpus,
            pids_limit: plan.limits.pids,
            depends_on,
            ..Service::default()
        },
    );

    let mut networks = BTreeMap::new();
    networks.insert(
        "internal".to_string(),
        Network {
            internal: true,
            driver_opts: BTreeMap::from([(INHIBIT_IPV4.to_string(), "true".to_string())]),
            labels: labels(id, None),
            ..Network::default()
        },
    );
    networks.insert(
        "egress".to_string(),
        match &plan.egress_network {
            Some(name) => Network {
                external: true,
                name: Some(name.clone()),
                ..Network::default()
            },
            None => Network {
                labels: labels(id, None),
                ..Network::default()
            },
        },
    );
    Ok(ComposeFile {
        version: FORMAT_VERSION,
        services,
        networks,
    })
}

/// git-gate's config for `plan`, in git-gate's own types.
pub fn git_gate_config(plan: &Plan) -> GateConfig {
    let repos = plan
        .git
        .iter()
        .map(|g| {
            let mut repo = RepoConfig::new(
                &g.name,
                &g.upstream,
                PathBuf::from(GATE_KEYS).join(git_key_name(&g.name)),
                &g.known_host_key,
            );
            if !g.extra_hosts.is_empty() {
                repo.extra_hosts = Some(unlocated(
                    g.extra_hosts
                        .iter()
                        .map(|(h, ip)| (h.clone(), unlocated(ip.clone())))
                        .collect(),
                ));
            }
            repo
        })
        .collect();
    let listen = SocketAddr::from(([0, 0, 0, 0], GIT_GATE_PORT));
    let mut config = GateConfig::new(listen, PathBuf::from(GATE_DATA), repos);
    config.audit_log = Some(unlocated(PathBuf::from(GATE_LOGS).join("audit.jsonl")));
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Locations;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMcDwTLWeNwa0uZUa7PhFFhdCNFdqe+DFoQy3xtOWu8O";

    const EGRESS: &str = "egress:\n  routes:\n    - host: api.example.com\n      auth: { scheme: bearer, token_ref: API_TOKEN }\n";

    fn plan(bottle_extra: &str) -> (tempfile::TempDir, Plan) {
        plan_with(EGRESS, bottle_extra)
    }

    fn plan_with(egress: &str, bottle_extra: &str) -> (tempfile::TempDir, Plan) {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join("agents")).unwrap();
        std::fs::create_dir_all(home.path().join("bottles")).unwrap();
        std::fs::write(
            home.path().join("agents/coder.md"),
            "---\nbottle: dev\n---\nHi.\n",
        )
        .unwrap();
        std::fs::write(home.path().join("bottles/key"), "secret key").unwrap();
        std::fs::write(
            home.path().join("bottles/dev.md"),
            format!(
                "---\n{egress}git:\n  - name: app\n    upstream: ssh://git@git.example.com/app.git\n    identity_file: ./key\n    known_host_key: {KEY}\n\
                 supervise: true\n{bottle_extra}---\n"
            ),
        )
        .unwrap();
        let loc = Locations {
            home: home.path().to_path_buf(),
            project: home.path().to_path_buf(),
        };
        let plan = crate::plan::resolve(&loc, "coder").unwrap();
        (home, plan)
    }

    fn options(user: &str, runtime: Option<&str>) -> RenderOptions {
        RenderOptions {
            host_user: user.into(),
            agent_image: "bottle-agent:latest".into(),
            runtime: runtime.map(Into::into),
            keep_live_config: false,
        }
    }

    fn render(plan: &Plan, user: &str) -> (tempfile::TempDir, StateDir, String) {
        let out = tempfile::tempdir().unwrap();
        let state = StateDir::at(out.path(), "coder-abc123");
        let options = options(user, None);
        crate::render::materialize(plan, &state, &options, None).unwrap();
        let yaml = std::fs::read_to_string(state.compose_file()).unwrap();
        (out, state, yaml)
    }

    #[test]
    fn agent_is_only_on_the_internal_network_and_sees_no_secrets() {
        let (_h, plan) = plan("");
        let out = tempfile::tempdir().unwrap();
        let state = StateDir::at(out.path(), "coder-abc123");
        let options = options("1000:1000", Some("runsc"));
        let file = compose_file(&plan, &state, &options).unwrap();
        let agent = &file.services["agent"];
        assert_eq!(agent.networks, ["internal"]);
        assert_eq!(agent.runtime.as_deref(), Some("runsc"));
        assert!(file.networks["internal"].internal);
        assert_eq!(
            file.networks["internal"].driver_opts[INHIBIT_IPV4], "true",
            "the host has no address the agent could reach"
        );
        assert!(file.networks["egress"].driver_opts.is_empty());
        assert!(!file.networks["egress"].internal);
        assert_eq!(file.services["supervise"].networks, ["internal"]);
        assert_eq!(file.services["pipelock"].networks, ["egress"]);
        assert_eq!(
            file.services["egress-proxy"].networks,
            ["internal", "egress"]
        );
        assert_eq!(file.services["git-gate"].networks, ["internal", "egress"]);
        let ep = &file.services["egress-proxy"].command;
        assert!(
            ep.windows(2)
                .any(|w| w == ["--upstream-proxy", "http://coder-abc123-pipelock:8888"]),
            "{ep:?}"
        );
        let secrets = state.secrets().display().to_string();
        let ca_keys = state.root().join("ca").display().to_string();
        for (name, service) in &file.services {
            let mounts_secrets: Vec<&String> = service
                .volumes
                .iter()
                .filter(|v| v.starts_with(&secrets))
                .collect();
            let mounts_ca: Vec<&String> = service
                .volumes
                .iter()
                .filter(|v| v.starts_with(&ca_keys))
                .collect();
            match name.as_str() {
                "egress-proxy" => {
                    assert_eq!(mounts_secrets.len(), 1);
                    assert!(
                        mounts_secrets[0].ends_with("/secrets/egress-proxy:/run/bottle/secrets:ro")
                    );
                    assert_eq!(mounts_ca.len(), 1);
                }
                "git-gate" => {
                    assert_eq!(mounts_secrets.len(), 1);
                    assert!(
                        mounts_secrets[0].ends_with("/secrets/git-gate:/run/bottle/git-keys:ro")
                    );
                }
                "pipelock" => assert_eq!(mounts_ca.len(), 1),
                _ => assert!(
                    mounts_secrets.is_empty() && mounts_ca.is_empty(),
                    "{name} mounts a secret"
                ),
            }
            assert_eq!(service.labels["bottle.id"], "coder-abc123");
            assert_eq!(&service.labels["bottle.service"], name);
            assert!(service.init);
        }
        let env = &agent.environment;
        assert_eq!(env["HTTPS_PROXY"], "http://egress-proxy:3128");
        assert_eq!(
            env["NO_PROXY"],
            "localhost,127.0.0.1,::1,git-gate,supervise"
        );
        for var in [
            "SSL_CERT_FILE",
            "NODE_EXTRA_CA_CERTS",
            "REQUESTS_CA_BUNDLE",
            "GIT_SSL_CAINFO",
            "CARGO_HTTP_CAINFO",
            "PIP_CERT",
        ] {
            assert!(env.contains_key(var), "{var}");
        }
    }

    #[test]
    fn rendered_files_parse_with_their_owners_parsers() {
        let (_h, plan) = plan("");
        let (_o, state, _yaml) = render(&plan, "1000:1000");
        let routes = egress_proxy::routes::load_routes_file(&state.live_routes()).unwrap();
        assert!(matches!(
            &routes.routes[0].auth.as_ref().unwrap().token,
            egress_proxy::routes::TokenSource::File(p) if p == std::path::Path::new("/run/bottle/secrets/API_TOKEN")
        ));
        let gate = std::fs::read_to_string(state.git_gate_dir().join("git-gate.yaml")).unwrap();
        let config = git_gate::config::parse_config(
            &gate,
            &bottle_common::located::Source::named("git-gate.yaml"),
        )
        .unwrap();
        assert_eq!(
            config.repos.value[0].identity_file.value,
            PathBuf::from("/run/bottle/git-keys/app.key")
        );
        assert_eq!(
            std::fs::read_to_string(state.current_config().join("routes.yaml")).unwrap(),
            std::fs::read_to_string(state.live_routes()).unwrap()
        );
        assert!(
            std::fs::read_to_string(state.current_config().join("Dockerfile"))
                .unwrap()
                .contains("FROM ${BASE_IMAGE}")
        );
    }

    #[test]
    fn render_writes_no_secret_material_and_keys_stay_private() {
        use std::os::unix::fs::PermissionsExt;
        let (_h, plan) = plan("");
        let (_o, state, yaml) = render(&plan, "1000:1000");
        assert!(!yaml.contains("secret key"));
        assert_eq!(
            std::fs::read_dir(state.secrets_of("egress-proxy"))
                .unwrap()
                .count(),
            0
        );
        assert_eq!(
            std::fs::read_dir(state.secrets_of("git-gate"))
                .unwrap()
                .count(),
            0
        );
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(state.root()), 0o700);
        assert_eq!(mode(&state.secrets()), 0o700);
        assert_eq!(
            mode(&state.ca_dir("egress-proxy").join("ca-key.pem")),
            0o600
        );
        let agent_trust: Vec<_> = std::fs::read_dir(state.trust_dir("agent"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            agent_trust,
            [std::ffi::OsString::from(AGENT_CA_FILE)],
            "the agent gets a certificate, never a key"
        );
        let cert = std::fs::read_to_string(state.trust_dir("agent").join(AGENT_CA_FILE)).unwrap();
        assert!(cert.contains("BEGIN CERTIFICATE") && !cert.contains("PRIVATE KEY"));
    }

    #[test]
    fn start_writes_tokens_0600_where_only_egress_proxy_looks() {
        use std::os::unix::fs::PermissionsExt;
        let (_h, plan) = plan("");
        let out = tempfile::tempdir().unwrap();
        let state = StateDir::at(out.path(), "coder-abc123");
        let options = options("1000:1000", None);
        let tokens = crate::plan::read_tokens(&plan, |_| Some("tok-123-secret".into())).unwrap();
        crate::render::materialize(
            &plan,
            &state,
            &options,
            Some(&crate::render::Secrets { tokens: &tokens }),
        )
        .unwrap();
        let token_file = state.secrets_of("egress-proxy").join("API_TOKEN");
        assert_eq!(
            std::fs::read_to_string(&token_file).unwrap(),
            "tok-123-secret"
        );
        assert_eq!(
            std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let key = state.secrets_of("git-gate").join("app.key");
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        for entry in walk(state.root()) {
            if entry.starts_with(state.secrets()) {
                continue;
            }
            let text = std::fs::read(&entry).unwrap();
            assert!(
                !String::from_utf8_lossy(&text).contains("tok-123-secret"),
                "token leaked into {}",
                entry.display()
            );
        }
        crate::render::scrub_secrets(&state).unwrap();
        assert!(!state.secrets().exists() && !state.root().join("ca").exists());
    }

    fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p))
            } else {
                out.push(p)
            }
        }
        out
    }

    #[test]
    fn ambiguous_yaml_scalars_are_quoted_for_compose_v1() {
        let (_h, plan) = plan("env: { FLAG: \"no\", COUNT: \"010\" }\n");
        let (_o, _s, yaml) = render(&plan, "1000:20");
        assert!(yaml.contains("user: \"1000:20\""), "{yaml}");
        assert!(yaml.contains("FLAG: \"no\""), "{yaml}");
        assert!(yaml.contains("COUNT: \"010\""), "{yaml}");
    }

    #[test]
    fn limits_reach_the_agent_only() {
        let (_h, plan) = plan("limits: { memory: 2g, cpus: 1.5, pids: 256 }\n");
        let (_o, _s, yaml) = render(&plan, "1000:1000");
        assert!(
            yaml.contains("mem_limit: 2g\n    cpus: 1.5\n    pids_limit: 256"),
            "{yaml}"
        );
        assert_eq!(yaml.matches("mem_limit").count(), 1);
    }

    #[test]
    fn an_existing_egress_network_is_used_instead_of_a_new_one() {
        let (_h, plan) = plan_with("egress:\n  pipelock: false\n  network: corp-net\n", "");
        let (_o, _s, yaml) = render(&plan, "1000:1000");
        assert!(
            yaml.contains("egress:\n    external: true\n    name: corp-net"),
            "{yaml}"
        );
        assert!(!yaml.contains("pipelock"), "{yaml}");
    }

    #[test]
    fn sidecars_drop_capabilities_and_cannot_gain_them() {
        let (_h, plan) = plan("");
        assert!(plan.pipelock.is_some());
        let out = tempfile::tempdir().unwrap();
        let state = StateDir::at(out.path(), "coder-abc123");
        let options = options("1000:1000", None);
        let file = compose_file(&plan, &state, &options).unwrap();
        for name in ["egress-proxy", "pipelock", "git-gate", "supervise"] {
            let s = &file.services[name];
            assert_eq!(s.cap_drop, ["ALL"], "{name}");
            assert_eq!(s.security_opt, ["no-new-privileges:true"], "{name}");
            if name == "git-gate" {
                assert_eq!(s.cap_add, ["DAC_OVERRIDE"]);
            } else {
                assert!(s.cap_add.is_empty(), "{name}");
                assert_eq!(s.user.as_deref(), Some("1000:1000"), "{name}");
            }
        }
    }

    #[test]
    fn dollar_signs_reach_compose_escaped() {
        let (_h, plan) = plan("env: { A: \"${API_TOKEN}\", B: \"$HOME and $$\" }\n");
        let (_o, _s, yaml) = render(&plan, "1000:1000");
        assert!(yaml.contains("A: $${API_TOKEN}"), "{yaml}");
        assert!(yaml.contains("B: $$HOME and $$$$"), "{yaml}");
        assert!(!yaml.contains("A: ${"), "{yaml}");
    }

    #[test]
    fn a_failed_render_leaves_no_secret_material() {
        let (home, plan) = plan("");
        let tokens = crate::plan::read_tokens(&plan, |_| Some("tok-partial".into())).unwrap();
        let options = options("1000:1000", None);
        let secrets = crate::render::Secrets { tokens: &tokens };
        // The git key vanishes after the plan was made: the token file is already written then.
        std::fs::remove_file(home.path().join("bottles/key")).unwrap();
        let out = tempfile::tempdir().unwrap();
        let state = StateDir::at(out.path(), "coder-abc123");
        let e = crate::render::materialize(&plan, &state, &options, Some(&secrets))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read git identity file"), "{e}");
        assert!(!state.secrets().exists(), "tokens left behind");
        assert!(!state.root().join("ca").exists(), "CA keys left behind");
        let mut files = Vec::new();
        files.extend(walk(state.root()));
        for f in files {
            let text = std::fs::read(&f).unwrap();
            assert!(
                !String::from_utf8_lossy(&text).contains("tok-partial"),
                "token in {}",
                f.display()
            );
        }
        // A path Compose cannot mount fails before anything is written.
        let bad = StateDir::at(&out.path().join("a:b"), "coder-abc123");
        let e = crate::render::materialize(&plan, &bad, &options, Some(&secrets))
            .unwrap_err()
            .to_string();
        assert!(e.contains("contains `:`"), "{e}");
        assert!(!bad.root().exists());
    }
}
