//! `bottle start` and `bottle resume`: render, bring up, wait for health,
//! provision, attach, and tear down on exit (or on SIGINT/SIGTERM/SIGHUP)
//! keeping the state directory.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::signal::unix::{SignalKind, signal};

use super::{Home, confirm, host_ids, require_terminal, warn_ignored_bottles};
use crate::compose::Compose;
use crate::docker;
use crate::manifest::{Locations, Runtime};
use crate::plan::{self, AgentImage, Plan, TokenValue};
use crate::render::{self, RenderOptions, Secrets};
use crate::state::{Metadata, StateDir, mkdir, new_id};
use crate::{health, images, preflight, provision};

/// `bottle start`.
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// Agent name (its manifest is in .claude-bottle/agents/ or $BOTTLE_HOME/agents/).
    pub agent: String,
    /// Project directory whose .claude-bottle/agents/ is searched first (default: current directory).
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Start without asking for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print the preflight summary and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Seconds the sidecars get to become ready.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub ready_timeout: u64,
    /// Run this instead of the agent's command (exit status is passed through).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `bottle resume`.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The bottle's id (see `bottle list --all`).
    pub id: String,
    /// Resume without asking for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Seconds the sidecars get to become ready.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub ready_timeout: u64,
    /// Run this instead of the agent's command.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// What a start or resume needs once the manifests are read.
struct Launch {
    plan: Plan,
    tokens: Vec<TokenValue>,
    state: StateDir,
    command: Vec<String>,
    ready_timeout: Duration,
    resume: bool,
}

/// `bottle start AGENT`.
pub async fn start(home: &Home, args: StartArgs) -> anyhow::Result<u8> {
    let locations = home.locations(args.cwd.clone())?;
    warn_ignored_bottles(&locations);
    let plan = plan::resolve(&locations, &args.agent)?;
    let tokens = plan::read_tokens(&plan, |v| std::env::var(v).ok())?;
    let id = new_id(&plan.agent.name);
    let command = agent_command(&plan, args.command);
    if !args.dry_run && !args.yes {
        require_terminal(START_QUESTION, "--yes")?;
    }
    if args.dry_run {
        let runtime = match docker::runtimes().await {
            Ok(available) => {
                describe_runtime(plan.runtime, &available).unwrap_or_else(|e| format!("error: {e}"))
            }
            Err(_) => format!("{:?} (Docker engine not reachable)", plan.runtime).to_lowercase(),
        };
        print!(
            "{}",
            preflight::summary(
                &plan,
                &preflight::Resolved {
                    id: "(new)",
                    runtime,
                    command: &command,
                    staged: None,
                }
            )
        );
        return Ok(0);
    }
    let state = StateDir::new(&home.state_root(), &id);
    let launch = Launch {
        plan,
        tokens,
        state,
        command,
        ready_timeout: Duration::from_secs(args.ready_timeout),
        resume: false,
    };
    run(launch, args.yes, &locations.project).await
}

/// `bottle resume ID`.
pub async fn resume(home: &Home, args: ResumeArgs) -> anyhow::Result<u8> {
    let state = home.existing(&args.id)?;
    let meta = Metadata::read(&state)?;
    if !args.yes {
        require_terminal(RESUME_QUESTION, "--yes")?;
    }
    let running = docker::bottle_containers()
        .await?
        .into_iter()
        .any(|c| c.bottle == meta.id && c.state == "running");
    if running {
        bail!(
            "bottle {} is running; attach with `docker exec -it {} bash` or stop it first",
            meta.id,
            state.container("agent")
        );
    }
    let locations = resume_locations(home, &meta)?;
    warn_ignored_bottles(&locations);
    let plan = plan::resolve(&locations, &meta.agent)?;
    if plan.agent.file != meta.agent_file {
        eprintln!(
            "note: agent `{}` is now read from {} (bottle {} was created with {})",
            meta.agent,
            super::show(&plan.agent.file),
            meta.id,
            super::show(&meta.agent_file)
        );
    }
    let tokens = plan::read_tokens(&plan, |v| std::env::var(v).ok())?;
    let command = agent_command(&plan, args.command);
    let launch = Launch {
        plan,
        tokens,
        state,
        command,
        ready_timeout: Duration::from_secs(args.ready_timeout),
        resume: true,
    };
    run(launch, args.yes, &locations.project).await
}

const START_QUESTION: &str = "Start this bottle?";
const RESUME_QUESTION: &str = "Resume this bottle?";

/// Where `resume` looks for the agent: the project directory the bottle was
/// started from, never the current directory (which could hold another
/// repository's agent of the same name).
fn resume_locations(home: &Home, meta: &Metadata) -> anyhow::Result<Locations> {
    let project = &meta.project_dir;
    if !project.is_dir() && meta.agent_file.starts_with(project) {
        bail!(
            "cannot resume {}: its project directory {} is gone, and its agent `{}` came from there ({}); \
             restore the directory, or start a new bottle with `bottle start {} --cwd DIR`",
            meta.id,
            project.display(),
            meta.agent,
            meta.agent_file.display(),
            meta.agent
        );
    }
    Ok(Locations {
        home: home.root.clone(),
        project: project.clone(),
    })
}

/// The agent's command, or `-- CMD` when given.
fn agent_command(plan: &Plan, given: Vec<String>) -> Vec<String> {
    if given.is_empty() {
        plan.agent.command.clone()
    } else {
        given
    }
}

/// What runtime a request resolves to on an engine with `available` runtimes.
fn resolve_runtime(requested: Runtime, available: &[String]) -> anyhow::Result<Option<String>> {
    let has_runsc = available.iter().any(|r| r == "runsc");
    match requested {
        Runtime::Runsc if !has_runsc => bail!(
            "the bottle asks for `runtime: runsc` but the Docker engine has no runsc runtime (it has: {}); install gVisor and register it with Docker, or set `runtime: auto`",
            available.join(", ")
        ),
        Runtime::Runsc => Ok(Some("runsc".into())),
        Runtime::Auto if has_runsc => Ok(Some("runsc".into())),
        Runtime::Auto | Runtime::Runc => Ok(None),
    }
}

fn describe_runtime(requested: Runtime, available: &[String]) -> anyhow::Result<String> {
    Ok(match (requested, resolve_runtime(requested, available)?) {
        (_, Some(r)) => format!("{r} (gVisor)"),
        (Runtime::Auto, None) => "runc (runsc is not registered with Docker)".into(),
        (_, None) => "runc".into(),
    })
}

async fn run(launch: Launch, yes: bool, project: &Path) -> anyhow::Result<u8> {
    let Launch {
        plan,
        tokens,
        state,
        command,
        ready_timeout,
        resume,
    } = launch;
    docker::check_engine().await?;
    let compose = Compose::detect().await?;
    let available = docker::runtimes().await?;
    let runtime = resolve_runtime(plan.runtime, &available)?;
    let staged = state.staged_dockerfile();
    let use_staged = resume && staged.is_file();
    let agent_image = if use_staged {
        AgentImage::Dockerfile(staged.clone())
    } else {
        plan.image.clone()
    };
    check_images(&plan, &agent_image).await?;
    let summary = preflight::summary(
        &plan,
        &preflight::Resolved {
            id: state.id(),
            runtime: describe_runtime(plan.runtime, &available)?,
            command: &command,
            staged: use_staged.then_some(staged.as_path()),
        },
    );
    eprint!("{summary}");
    if !yes
        && !confirm(
            if resume {
                RESUME_QUESTION
            } else {
                START_QUESTION
            },
            "--yes",
        )?
    {
        eprintln!("not started");
        return Ok(1);
    }
    let ids = host_ids()?;
    let image_tag = match &agent_image {
        AgentImage::Image(i) => i.clone(),
        AgentImage::Dockerfile(path) => {
            // The staged Dockerfile is this bottle's own; a manifest's is shared by its bottles.
            let tag = if use_staged {
                format!("bottle-agent-{}:latest", state.id())
            } else {
                format!("bottle-agent-{}:latest", plan.bottle_name)
            };
            images::build_dockerfile(path, &tag, super::agent_ids(ids)).await?;
            tag
        }
    };
    let mut signals = Signals::new()?;
    let options = RenderOptions {
        host_user: format!("{}:{}", ids.0, ids.1),
        agent_image: image_tag,
        runtime,
        keep_live_config: resume,
    };
    prepare(&plan, &state, &options, tokens, project, resume)?;

    let outcome = tokio::select! {
        r = bring_up(&compose, &plan, &state, ready_timeout) => r,
        s = signals.recv() => Err(anyhow::anyhow!("interrupted by {s} during start")),
    };
    let code = match outcome {
        Ok(()) => {
            eprintln!(
                "bottle {} is up; attaching (exit the agent to stop the bottle)",
                state.id()
            );
            tokio::select! {
                r = attach(&state, &command) => r,
                s = signals.recv() => {
                    eprintln!("bottle: {s} received, stopping {}", state.id());
                    Ok(signal_code(&s))
                }
            }
        }
        Err(e) => Err(e),
    };
    teardown(&compose, &state, ids).await;
    let code = code?;
    eprintln!(
        "bottle {} stopped; its state is in {} (resume with `bottle resume {}`)",
        state.id(),
        super::show(state.root()),
        state.id()
    );
    Ok(code)
}

/// Record the bottle in `metadata.json`, then write its project.
///
/// Metadata comes first so that a bottle whose rendering fails is still
/// found by `list --all` and `cleanup`; a failed render has already removed
/// the secret material it wrote, and the bottle is marked stopped.
fn prepare(
    plan: &Plan,
    state: &StateDir,
    options: &RenderOptions,
    tokens: Vec<TokenValue>,
    project: &Path,
    resume: bool,
) -> anyhow::Result<()> {
    mkdir(state.root(), 0o700)
        .with_context(|| format!("cannot create {}", state.root().display()))?;
    let now = bottle_common::time::now_rfc3339();
    let fresh = render::metadata(plan, state, options, project, now.clone());
    let mut meta = match Metadata::read(state) {
        // A resumed bottle keeps who it is and when it was created.
        Ok(old) if resume => Metadata {
            id: old.id,
            agent: old.agent,
            agent_file: old.agent_file,
            bottle: old.bottle,
            bottle_file: old.bottle_file,
            project_dir: old.project_dir,
            created_at: old.created_at,
            ..fresh
        },
        _ => fresh,
    };
    meta.started_at = Some(now);
    meta.services = services(plan);
    meta.write(state)
        .with_context(|| format!("cannot write {}", state.metadata().display()))?;
    let rendered = render::materialize(plan, state, options, Some(&Secrets { tokens: &tokens }));
    drop(tokens);
    if rendered.is_err() {
        meta.stopped_at = Some(bottle_common::time::now_rfc3339());
        let _ = meta.write(state);
    }
    rendered
}

/// Services of the compose project, sidecars first.
fn services(plan: &Plan) -> Vec<String> {
    let mut s = vec!["egress-proxy".to_string()];
    if plan.pipelock.is_some() {
        s.push("pipelock".into());
    }
    if !plan.git.is_empty() {
        s.push("git-gate".into());
    }
    if plan.supervise {
        s.push("supervise".into());
    }
    s.push("agent".into());
    s
}

/// Every image the bottle needs must exist before anything starts.
async fn check_images(plan: &Plan, agent: &AgentImage) -> anyhow::Result<()> {
    let mut needed: Vec<(String, &str)> = vec![(
        crate::render::topology::EGRESS_PROXY_IMAGE.into(),
        "run `bottle images build`",
    )];
    if !plan.git.is_empty() {
        needed.push((
            crate::render::topology::GIT_GATE_IMAGE.into(),
            "run `bottle images build`",
        ));
    }
    if plan.supervise {
        needed.push((
            crate::render::topology::SUPERVISE_IMAGE.into(),
            "run `bottle images build`",
        ));
    }
    if let Some(p) = &plan.pipelock {
        needed.push((
            p.image.clone(),
            "pull it (docker pull), or set `egress.pipelock: false` in the bottle",
        ));
    }
    if let AgentImage::Image(i) = agent {
        needed.push((
            i.clone(),
            "run `bottle images build agent`, or build the image the bottle names",
        ));
    }
    let mut missing = Vec::new();
    for (image, hint) in needed {
        if !docker::image_exists(&image).await? {
            missing.push(format!("  {image}: {hint}"));
        }
    }
    if !missing.is_empty() {
        bail!(
            "images this bottle needs are missing:\n{}",
            missing.join("\n")
        );
    }
    Ok(())
}

async fn bring_up(
    compose: &Compose,
    plan: &Plan,
    state: &StateDir,
    timeout: Duration,
) -> anyhow::Result<()> {
    compose.up(state).await?;
    health::wait_ready(state, &services(plan), timeout).await?;
    provision::provision(plan, state)
        .await
        .context("provisioning the agent container failed")?;
    Ok(())
}

/// Run the command in the agent, attached to our terminal; its exit status is ours.
async fn attach(state: &StateDir, command: &[String]) -> anyhow::Result<u8> {
    let container = state.container("agent");
    let mut cmd = tokio::process::Command::new("docker");
    cmd.arg("exec").arg("-i");
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        cmd.arg("-t");
    }
    cmd.arg(&container).args(command).kill_on_drop(true);
    let status = cmd.status().await.context("cannot run `docker exec`")?;
    Ok(status.code().map(|c| c.clamp(0, 255) as u8).unwrap_or(128))
}

/// Bring the bottle down, keep its state, scrub its secrets. Failures are reported, not fatal.
pub async fn teardown(compose: &Compose, state: &StateDir, host: (u32, u32)) {
    for problem in teardown_reporting(compose, state, host).await {
        eprintln!("bottle: {problem}");
    }
}

/// [`teardown`], returning its failures instead of printing them (for the dashboard).
pub async fn teardown_reporting(
    compose: &Compose,
    state: &StateDir,
    host: (u32, u32),
) -> Vec<String> {
    let mut problems = Vec::new();
    provision::release_transcript(state, host).await;
    if let Err(e) = compose.down(state).await {
        problems.push(format!("{e:#}"));
    }
    if let Err(e) = render::scrub_secrets(state) {
        problems.push(format!("{e:#}"));
    }
    if let Ok(mut meta) = Metadata::read(state) {
        meta.stopped_at = Some(bottle_common::time::now_rfc3339());
        if let Err(e) = meta.write(state) {
            problems.push(format!("cannot update {}: {e}", state.metadata().display()));
        }
    }
    problems
}

/// The signals that stop a bottle.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) -> String {
        tokio::select! {
            _ = self.int.recv() => "SIGINT".into(),
            _ = self.term.recv() => "SIGTERM".into(),
            _ = self.hup.recv() => "SIGHUP".into(),
        }
    }
}

fn signal_code(name: &str) -> u8 {
    match name {
        "SIGINT" => 130,
        "SIGHUP" => 129,
        _ => 143,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_auto_prefers_runsc_and_runsc_requires_it() {
        let with = vec!["runc".to_string(), "runsc".to_string()];
        let without = vec!["runc".to_string()];
        assert_eq!(
            resolve_runtime(Runtime::Auto, &with).unwrap().as_deref(),
            Some("runsc")
        );
        assert_eq!(resolve_runtime(Runtime::Auto, &without).unwrap(), None);
        assert_eq!(resolve_runtime(Runtime::Runc, &with).unwrap(), None);
        let e = resolve_runtime(Runtime::Runsc, &without)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no runsc runtime (it has: runc)"), "{e}");
    }

    #[test]
    fn a_start_that_fails_to_render_is_recorded_and_keeps_no_secrets() {
        let home = tempfile::tempdir().unwrap();
        let w = |rel: &str, text: &str| {
            let p = home.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w("agents/coder.md", "---\nbottle: dev\n---\n");
        w("bottles/key", "key");
        w(
            "bottles/dev.md",
            "---\negress:\n  routes:\n    - host: a.example\n      auth: { scheme: bearer, token_ref: T }\n\
             git:\n  - name: app\n    upstream: ssh://git@g.example/app.git\n    identity_file: ./key\n    \
             known_host_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMcDwTLWeNwa0uZUa7PhFFhdCNFdqe+DFoQy3xtOWu8O\n---\n",
        );
        let locations = Locations {
            home: home.path().to_path_buf(),
            project: home.path().to_path_buf(),
        };
        let plan = plan::resolve(&locations, "coder").unwrap();
        let tokens = plan::read_tokens(&plan, |_| Some("tok-failed-start".into())).unwrap();
        std::fs::remove_file(home.path().join("bottles/key")).unwrap();
        let root = home.path().join("state");
        let state = StateDir::new(&root, "coder-abc123");
        let options = RenderOptions {
            host_user: "1000:1000".into(),
            agent_image: "bottle-agent:latest".into(),
            runtime: None,
            keep_live_config: false,
        };
        let e = prepare(&plan, &state, &options, tokens, home.path(), false).unwrap_err();
        assert!(format!("{e:#}").contains("identity file"), "{e:#}");
        assert!(!state.secrets().exists() && !state.root().join("ca").exists());
        let listed = crate::state::all(&root);
        assert_eq!(listed.len(), 1, "cleanup and list --all must find it");
        let meta = Metadata::read(&listed[0]).unwrap();
        assert!(meta.stopped_at.is_some(), "{meta:?}");
        assert_eq!(meta.token_refs, ["T"]);
    }

    #[test]
    fn resume_never_looks_in_another_directory() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home {
            root: dir.path().join("home"),
        };
        let gone = dir.path().join("gone-project");
        let meta = |agent_file: PathBuf| Metadata {
            id: "coder-abc123".into(),
            agent: "coder".into(),
            agent_file,
            bottle: "dev".into(),
            bottle_file: home.root.join("bottles/dev.md"),
            project_dir: gone.clone(),
            created_at: String::new(),
            started_at: None,
            stopped_at: None,
            image: String::new(),
            runtime: String::new(),
            services: Vec::new(),
            token_refs: Vec::new(),
            launcher_version: String::new(),
        };
        let e = resume_locations(&home, &meta(gone.join(".claude-bottle/agents/coder.md")))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("project directory") && e.contains("is gone"),
            "{e}"
        );
        assert!(e.contains("--cwd"), "{e}");
        let loc = resume_locations(&home, &meta(home.root.join("agents/coder.md"))).unwrap();
        assert_eq!(
            loc.project, gone,
            "the recorded project, not the current directory"
        );
    }
}
