//! `bottle cleanup`: remove what stopped bottles leave behind.
//!
//! Precisely: for every bottle that is not running (its agent container is
//! not running) — or for the ids given — remove its containers (running or
//! not), its networks, and its state directory (transcript and audit logs
//! included). Containers and networks labelled with a bottle id that has no
//! state directory are removed too. Running bottles are never touched.

use std::collections::BTreeSet;

use anyhow::bail;

use super::{Home, confirm, require_terminal};

const QUESTION: &str = "Remove these for good?";
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

/// What `cleanup` found: the bottles to remove, and labels it refuses to act on.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Targets {
    /// Valid bottle ids to remove.
    pub ids: BTreeSet<String>,
    /// Containers and networks whose `bottle.id` label is not a bottle id: never touched.
    pub ignored: Vec<String>,
}

/// Decide what to remove from the state directories and Docker's labelled objects.
///
/// Every id, from the command line or from a label, goes through
/// [`state::valid_id`] before it can name a state directory: a label like
/// `../../x` is reported and left alone.
pub fn choose_targets(
    requested: &[String],
    states: &[StateDir],
    containers: &[docker::BottleContainer],
    networks: &[(String, String)],
) -> anyhow::Result<Targets> {
    let mut out = Targets::default();
    let (containers, bad_containers): (Vec<&docker::BottleContainer>, Vec<_>) =
        containers.iter().partition(|c| state::valid_id(&c.bottle));
    let (networks, bad_networks): (Vec<&(String, String)>, Vec<_>) =
        networks.iter().partition(|(_, b)| state::valid_id(b));
    for c in bad_containers {
        out.ignored.push(format!(
            "container {} (bottle.id label `{}`)",
            c.name.escape_default(),
            c.bottle.escape_default()
        ));
    }
    for (n, b) in bad_networks {
        out.ignored.push(format!(
            "network {} (bottle.id label `{}`)",
            n.escape_default(),
            b.escape_default()
        ));
    }
    let running: BTreeSet<&str> = containers
        .iter()
        .filter(|c| c.service == "agent" && c.state == "running")
        .map(|c| c.bottle.as_str())
        .collect();
    if requested.is_empty() {
        out.ids.extend(states.iter().map(|s| s.id().to_string()));
        out.ids.extend(containers.iter().map(|c| c.bottle.clone()));
        out.ids.extend(networks.iter().map(|(_, b)| b.clone()));
        out.ids.retain(|id| !running.contains(id.as_str()));
        return Ok(out);
    }
    for id in requested {
        state::check_id(id)?;
        if running.contains(id.as_str()) {
            bail!("bottle {id} is running; `bottle stop {id}` first");
        }
        let known = states.iter().any(|s| s.id() == id)
            || containers.iter().any(|c| &c.bottle == id)
            || networks.iter().any(|(_, b)| b == id);
        if !known {
            bail!("no bottle `{id}` (see `bottle list --all`)");
        }
        out.ids.insert(id.clone());
    }
    Ok(out)
}

/// Remove leftovers.
pub async fn cleanup(home: &Home, args: CleanupArgs) -> anyhow::Result<u8> {
    if !args.yes && !args.dry_run {
        require_terminal(QUESTION, "--yes")?;
    }
    docker::check_engine().await?;
    let containers = docker::bottle_containers().await?;
    let networks = docker::bottle_networks().await?;
    let states = state::all(&home.state_root());
    let Targets {
        ids: targets,
        ignored,
    } = choose_targets(&args.ids, &states, &containers, &networks)?;
    for what in &ignored {
        eprintln!(
            "warning: ignoring {what}: not a bottle id, so bottle will not remove it; inspect it with docker"
        );
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
    if !args.yes && !confirm(QUESTION, "--yes")? {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::BottleContainer;

    fn container(bottle: &str, service: &str, state: &str) -> BottleContainer {
        BottleContainer {
            name: format!("{bottle}-{service}"),
            bottle: bottle.into(),
            service: service.into(),
            state: state.into(),
            status: String::new(),
        }
    }

    #[test]
    fn hostile_labels_never_become_paths() {
        let root = std::path::Path::new("/state");
        let states = vec![StateDir::new(root, "coder-aaaaaa")];
        let containers = vec![
            container("../../home", "agent", "exited"),
            container("coder-bbbbbb", "agent", "exited"),
            container("coder-cccccc", "agent", "running"),
            container("/etc", "egress-proxy", "exited"),
        ];
        let networks = vec![
            ("evil_internal".to_string(), "..".to_string()),
            ("ok_internal".to_string(), "coder-bbbbbb".to_string()),
        ];
        let t = choose_targets(&[], &states, &containers, &networks).unwrap();
        assert_eq!(
            t.ids.iter().map(String::as_str).collect::<Vec<_>>(),
            ["coder-aaaaaa", "coder-bbbbbb"],
            "a running bottle and hostile labels are left alone"
        );
        assert_eq!(t.ignored.len(), 3, "{:?}", t.ignored);
        assert!(t.ignored[0].contains("`../../home`"), "{:?}", t.ignored);
        for hostile in ["../../home", "..", "/etc", "coder-bbbbbb/../..", "x"] {
            let e = choose_targets(&[hostile.to_string()], &states, &containers, &networks)
                .unwrap_err()
                .to_string();
            assert!(e.contains("is not a bottle id"), "{hostile}: {e}");
        }
        let e = choose_targets(&["coder-cccccc".into()], &states, &containers, &networks)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is running"), "{e}");
        let e = choose_targets(&["coder-dddddd".into()], &states, &containers, &networks)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no bottle `coder-dddddd`"), "{e}");
    }
}
