//! `bottle render AGENT --out DIR`: the compose project on disk, no Docker.
//!
//! Everything `start` would write except credentials: token files and
//! copies of git keys are left out (their directories are created empty),
//! and `runtime: auto` leaves the engine's default runtime. The CAs are
//! minted as for a start, so `ca/` holds their private keys (0600), which
//! nothing outside the rendered project trusts.
//!
//! `--out` is made absolute first: Compose reads a relative bind source as
//! a named volume. A render that fails removes what it wrote.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::{Home, warn_ignored_bottles};
use crate::manifest::{Locations, Runtime};
use crate::plan::{self, AgentImage};
use crate::render::{self, RenderOptions};
use crate::state::{StateDir, new_id};

/// Render `agent` into `out`.
pub async fn render(
    home: &Home,
    agent: &str,
    out: &Path,
    cwd: Option<PathBuf>,
) -> anyhow::Result<u8> {
    let out = &absolute(out)?;
    let existed = out.exists();
    if existed && std::fs::read_dir(out)?.next().is_some() {
        bail!(
            "{} is not empty; choose a new directory for --out",
            out.display()
        );
    }
    let locations = home.locations(cwd)?;
    warn_ignored_bottles(&locations);
    let plan = plan::resolve(&locations, agent)?;
    let id = new_id(&plan.agent.name);
    let state = StateDir::at(out, &id);
    if let Err(e) = write(&plan, &state, &locations) {
        let removed = if existed {
            std::fs::read_dir(out).and_then(|entries| {
                entries.flatten().try_for_each(|e| {
                    let p = e.path();
                    if p.is_dir() && !p.is_symlink() {
                        std::fs::remove_dir_all(p)
                    } else {
                        std::fs::remove_file(p)
                    }
                })
            })
        } else if out.exists() {
            std::fs::remove_dir_all(out)
        } else {
            Ok(())
        };
        return Err(match removed {
            Ok(()) => e,
            Err(r) => anyhow::anyhow!(
                "{e:#}; cleaning {} failed too ({r}); remove it by hand",
                out.display()
            ),
        });
    }
    println!("wrote bottle {id} to {}", out.display());
    if !plan.tokens.is_empty() {
        println!(
            "token files are not written by render; `start` puts them in secrets/egress-proxy/: {}",
            plan.tokens
                .iter()
                .map(|t| t.var.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(0)
}

/// `path` made absolute against the current directory.
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()
        .context("cannot read the current directory to resolve --out")?
        .join(path))
}

/// Write the project, then its metadata.
fn write(plan: &plan::Plan, state: &StateDir, locations: &Locations) -> anyhow::Result<()> {
    let ids = super::host_ids()?;
    let image = match &plan.image {
        AgentImage::Image(i) => i.clone(),
        AgentImage::Dockerfile(_) => format!("bottle-agent-{}:latest", plan.bottle_name),
    };
    let options = RenderOptions {
        host_user: format!("{}:{}", ids.0, ids.1),
        agent_image: image,
        runtime: (plan.runtime == Runtime::Runsc).then(|| "runsc".to_string()),
        keep_live_config: false,
    };
    render::materialize(plan, state, &options, None)?;
    render::metadata(
        plan,
        state,
        &options,
        &locations.project,
        bottle_common::time::now_rfc3339(),
    )
    .write(state)?;
    Ok(())
}
