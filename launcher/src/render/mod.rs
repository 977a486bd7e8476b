//! Rendering a plan into a compose project on disk: CAs, live config, the
//! read-only current config, git-gate's config, secrets and the compose file.
//!
//! `bottle render` and `bottle start` share this code; only start writes
//! credentials (tokens, copies of git keys). Both mint the per-bottle CAs,
//! whose private keys stay in `ca/` (0600).

pub mod compose;
pub mod pipelock;
pub mod topology;

use std::path::Path;

use anyhow::Context;
use bottle_common::atomic::write_atomic;

use crate::plan::{AgentImage, Plan, TokenValue};
use crate::state::{Metadata, StateDir, mkdir};

/// Choices made outside the manifests (by the host or the engine).
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// `uid:gid` sidecars that write host files run as.
    pub host_user: String,
    /// Agent image reference (a Dockerfile bottle's image is built and tagged first).
    pub agent_image: String,
    /// OCI runtime for the agent, when not the engine default.
    pub runtime: Option<String>,
    /// Keep existing live config (routes approved while the bottle ran) instead of re-rendering it.
    pub keep_live_config: bool,
}

/// What `metadata.json` records for `plan` rendered into `state` with
/// `options`, created at `created_at`: not started, and no services yet
/// (`start` records those it brings up).
pub fn metadata(
    plan: &Plan,
    state: &StateDir,
    options: &RenderOptions,
    project_dir: &Path,
    created_at: String,
) -> Metadata {
    Metadata {
        id: state.id().to_string(),
        agent: plan.agent.name.clone(),
        agent_file: plan.agent.file.clone(),
        bottle: plan.bottle_name.clone(),
        bottle_file: plan.bottle_file.clone(),
        project_dir: project_dir.to_path_buf(),
        created_at,
        started_at: None,
        stopped_at: None,
        image: options.agent_image.clone(),
        runtime: options.runtime.clone().unwrap_or_else(|| "default".into()),
        services: Vec::new(),
        token_refs: plan.tokens.iter().map(|t| t.var.clone()).collect(),
        launcher_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// Secret material written by `start` (never by `render`).
#[derive(Debug)]
pub struct Secrets<'a> {
    /// Route tokens read from the host environment.
    pub tokens: &'a [TokenValue],
}

/// Write the whole project for `plan` into `state`.
///
/// The compose file is rendered in memory first, so a state path Compose
/// cannot mount fails before anything is written. If writing fails later,
/// secret material (tokens, key copies, CA keys) already written is removed
/// before the error is returned.
pub fn materialize(
    plan: &Plan,
    state: &StateDir,
    options: &RenderOptions,
    secrets: Option<&Secrets<'_>>,
) -> anyhow::Result<()> {
    let compose = topology::compose_file(plan, state, options)?.to_yaml()?;
    let Err(failed) = write_project(plan, state, options, secrets, &compose) else {
        return Ok(());
    };
    match scrub_secrets(state) {
        Ok(()) => Err(failed),
        Err(e) => Err(anyhow::anyhow!(
            "{failed:#}; removing the secret material written so far failed too: {e:#}"
        )),
    }
}

fn write_project(
    plan: &Plan,
    state: &StateDir,
    options: &RenderOptions,
    secrets: Option<&Secrets<'_>>,
    compose: &str,
) -> anyhow::Result<()> {
    mkdir(state.root(), 0o700)?;
    write_cas(plan, state)?;
    write_live_config(plan, state, options.keep_live_config)?;
    write_current_config(plan, state)?;
    write_text(
        &state.agent_dir().join("prompt.md"),
        &plan.agent.prompt,
        0o644,
    )?;
    mkdir(&state.secrets(), 0o700)?;
    mkdir(&state.secrets_of("egress-proxy"), 0o700)?;
    if !plan.git.is_empty() {
        mkdir(&state.secrets_of("git-gate"), 0o700)?;
    }
    if let Some(secrets) = secrets {
        write_secrets(plan, state, secrets)?;
    }
    if !plan.git.is_empty() {
        let config = topology::git_gate_config(plan);
        write_text(
            &state.git_gate_dir().join("git-gate.yaml"),
            &config.to_yaml(),
            0o644,
        )?;
    }
    for dir in [state.queue(), state.transcript()] {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    for sidecar in ["egress-proxy", "git-gate", "supervise"] {
        mkdir(&state.logs_of(sidecar), 0o755)?;
    }
    write_text(&state.compose_file(), compose, 0o644)
}

/// Write `text` atomically, creating the parent directory.
pub fn write_text(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    write_atomic(path, text.as_bytes(), mode)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Fresh CAs per start: egress-proxy's (its certificate goes to the agent), and pipelock's (to egress-proxy).
fn write_cas(plan: &Plan, state: &StateDir) -> anyhow::Result<()> {
    let mut sidecars = vec!["egress-proxy"];
    if plan.pipelock.is_some() {
        sidecars.push("pipelock");
    }
    let trust_egress = state.trust_dir("egress-proxy");
    let trust_agent = state.trust_dir("agent");
    for dir in [state.root().join("ca"), state.root().join("trust")] {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot replace {}", dir.display()))?;
        }
    }
    for sidecar in sidecars {
        let dir = state.ca_dir(sidecar);
        mkdir(&dir, 0o700)?;
        let (cert, _key) =
            egress_proxy::ca::init_ca_dir(&dir, &format!("bottle {sidecar} CA {}", state.id()))
                .with_context(|| format!("cannot mint the {sidecar} CA in {}", dir.display()))?;
        let pem = std::fs::read_to_string(&cert)?;
        match sidecar {
            "egress-proxy" => write_text(&trust_agent.join(topology::AGENT_CA_FILE), &pem, 0o644)?,
            _ => write_text(&trust_egress.join("pipelock-ca.pem"), &pem, 0o644)?,
        }
    }
    mkdir(&trust_egress, 0o755)?;
    for (i, path) in plan.trust_ca.iter().enumerate() {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read egress.trust_ca file {}", path.display()))?;
        write_text(
            &trust_egress.join(topology::trust_file_name(i)),
            &pem,
            0o644,
        )?;
    }
    Ok(())
}

fn write_live_config(plan: &Plan, state: &StateDir, keep: bool) -> anyhow::Result<()> {
    mkdir(&state.live_egress_dir(), 0o755)?;
    if !(keep && state.live_routes().exists()) {
        write_text(&state.live_routes(), &plan.routes.to_yaml(), 0o644)?;
    }
    if let Some(p) = &plan.pipelock {
        mkdir(&state.live_pipelock_dir(), 0o755)?;
        if !(keep && state.live_pipelock_config().exists()) {
            write_text(&state.live_pipelock_config(), &pipelock::to_yaml(p)?, 0o644)?;
        }
    }
    Ok(())
}

/// The read-only view the agent and supervise get: routes (no secrets), allowlist, Dockerfile.
fn write_current_config(plan: &Plan, state: &StateDir) -> anyhow::Result<()> {
    let dir = state.current_config();
    mkdir(&dir, 0o755)?;
    let routes = std::fs::read_to_string(state.live_routes())?;
    write_text(&dir.join("routes.yaml"), &routes, 0o644)?;
    let allowlist_file = dir.join("allowlist");
    if !allowlist_file.exists() {
        let hosts = match &plan.pipelock {
            Some(p) => p.allowlist.clone(),
            None => Vec::new(),
        };
        let mut text = hosts.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        write_text(&allowlist_file, &text, 0o644)?;
    }
    let dockerfile = if state.staged_dockerfile().is_file() {
        std::fs::read_to_string(state.staged_dockerfile())?
    } else {
        match &plan.image {
            AgentImage::Dockerfile(path) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
            AgentImage::Image(image) if image == crate::plan::DEFAULT_AGENT_IMAGE => {
                crate::images::AGENT_DOCKERFILE.to_string()
            }
            AgentImage::Image(image) => format!("FROM {image}\n"),
        }
    };
    write_text(&dir.join("Dockerfile"), &dockerfile, 0o644)
}

fn write_secrets(plan: &Plan, state: &StateDir, secrets: &Secrets<'_>) -> anyhow::Result<()> {
    let tokens = state.secrets_of("egress-proxy");
    for t in secrets.tokens {
        write_atomic(&tokens.join(&t.var), t.value.as_bytes(), 0o600)
            .with_context(|| format!("cannot write the {} token file", t.var))?;
    }
    if !plan.git.is_empty() {
        let keys = state.secrets_of("git-gate");
        for g in &plan.git {
            let key = std::fs::read(&g.identity_file).with_context(|| {
                format!(
                    "cannot read git identity file {}",
                    g.identity_file.display()
                )
            })?;
            write_atomic(&keys.join(topology::git_key_name(&g.name)), &key, 0o600).with_context(
                || format!("cannot copy the identity file of git remote {}", g.name),
            )?;
        }
    }
    Ok(())
}

/// Remove secret material (tokens, key copies) after a bottle stops; CAs die with it too.
pub fn scrub_secrets(state: &StateDir) -> anyhow::Result<()> {
    for dir in [state.secrets(), state.root().join("ca")] {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot remove {}", dir.display()))?;
        }
    }
    Ok(())
}
