//! `bottle cleanup`: remove what stopped bottles leave behind.
//!
//! Precisely: for every bottle that is not running (its agent container is
//! not running) — or for the ids given — remove its containers (running or
//! not), its networks, and its state directory (transcript and audit logs
//! included). Containers and networks labelled with a bottle id that has no
//! state directory are removed too. Running bottles are never touched.

use std::collections::BTreeSet;

use anyhow::bail;

use super::{Home, confirm};
use crate::docker;
use crate::state::{self, StateDir};

/// `bottle cleanup`.
#[derive(Debug, clap::Args)]
pub struct CleanupArgs {
    /// Only these bottles (default: every bottle that is not running).
    pub ids: Vec<String>,
    /// Remove without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Show what would be removed and stop.
    #[arg(long)]
    pub dry_run: bool,
}

/// Remove leftovers.
pub async fn cleanup(home: &Home, args: CleanupArgs) -> anyhow::Result<u8> {
    docker::check_engine().await?;
    let containers = docker::bottle_containers().await?;
    let networks = docker::bottle_networks().await?;
    let running: BTreeSet<&str> = containers
        .iter()
        .filter(|c| c.service == "agent" && c.state == "running")
        .map(|c| c.bottle.as_str())
        .collect();
    let states = state::all(&home.state_root());
    let mut targets: BTreeSet<String> = BTreeSet::new();
    if args.ids.is_empty() {
        targets.extend(states.iter().map(|s| s.id().to_string()));
        targets.extend(containers.iter().map(|c| c.bottle.clone()));
        targets.extend(networks.iter().map(|(_, b)| b.clone()));
        targets.retain(|id| !running.contains(id.as_str()));
    } else {
        for id in &args.ids {
            if running.contains(id.as_str()) {
                bail!("bottle {id} is running; `bottle stop {id}` first");
            }
            let known = states.iter().any(|s| s.id() == id)
                || containers.iter().any(|c| &c.bottle == id)
                || networks.iter().any(|(_, b)| b == id);
            if !known {
                bail!("no bottle `{id}` (see `bottle list --all`)");
            }
            targets.insert(id.clone());
        }
    }
    if targets.is_empty() {
        println!("nothing to clean up");
        return Ok(0);
    }
    println!("will remove:");
    for id in &targets {
        let c: Vec<&str> = containers
            .iter()
            .filter(|c| &c.bottle == id)
            .map(|c| c.name.as_str())
            .collect();
        let n: Vec<&str> = networks
            .iter()
            .filter(|(_, b)| b == id)
            .map(|(n, _)| n.as_str())
            .collect();
        let dir = StateDir::new(&home.state_root(), id);
        println!(
            "  {id}: {} container(s), {} network(s){}",
            c.len(),
            n.len(),
            if dir.root().is_dir() {
                format!(", state {} (transcript and logs)", super::show(dir.root()))
            } else {
                String::new()
            }
        );
    }
    if args.dry_run {
        return Ok(0);
    }
    if !args.yes && !confirm("Remove these for good?", "--yes")? {
        println!("nothing removed");
        return Ok(1);
    }
    let mut failed = false;
    for id in &targets {
        let names: Vec<&str> = containers
            .iter()
            .filter(|c| &c.bottle == id)
            .map(|c| c.name.as_str())
            .collect();
        if !names.is_empty() {
            let mut a = vec!["rm", "-f"];
            a.extend(names);
            if let Err(e) = docker::run(&a).await {
                eprintln!("bottle: {e:#}");
                failed = true;
            }
        }
        for (net, _) in networks.iter().filter(|(_, b)| b == id) {
            if let Err(e) = docker::run(&["network", "rm", net]).await {
                eprintln!("bottle: {e:#}");
                failed = true;
            }
        }
        let dir = StateDir::new(&home.state_root(), id);
        if dir.root().is_dir()
            && let Err(e) = std::fs::remove_dir_all(dir.root())
        {
            eprintln!(
                "bottle: cannot remove {}: {e} (files written by a container as another user? remove them with sudo)",
                dir.root().display()
            );
            failed = true;
        }
    }
    Ok(if failed { 1 } else { 0 })
}
