//! `bottle list`: bottles with their sidecars' states, flagging dead sidecars.

use std::collections::BTreeMap;

use supervise::operator::printable;

use super::Home;
use crate::docker::{self, BottleContainer};
use crate::state::{self, Metadata};

/// A bottle's status, from its containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Agent and every sidecar running.
    Running,
    /// Agent running, some sidecar not: the bottle is broken.
    Degraded(Vec<String>),
    /// No containers.
    Stopped,
    /// Containers left but the agent is not running.
    Leftover,
}

/// Work out a bottle's status from its expected services and its containers.
pub fn status(services: &[String], containers: &[&BottleContainer]) -> Status {
    if containers.is_empty() {
        return Status::Stopped;
    }
    let running = |s: &str| {
        containers
            .iter()
            .any(|c| c.service == s && c.state == "running")
    };
    if !running("agent") {
        return Status::Leftover;
    }
    let mut expected: Vec<&str> = services.iter().map(String::as_str).collect();
    for c in containers {
        if !expected.contains(&c.service.as_str()) {
            expected.push(&c.service);
        }
    }
    let dead: Vec<String> = expected
        .into_iter()
        .filter(|s| *s != "agent" && !running(s))
        .map(str::to_string)
        .collect();
    if dead.is_empty() {
        Status::Running
    } else {
        Status::Degraded(dead)
    }
}

/// Print the table.
pub async fn list(home: &Home, all: bool) -> anyhow::Result<u8> {
    let containers = docker::bottle_containers().await?;
    let mut by_bottle: BTreeMap<&str, Vec<&BottleContainer>> = BTreeMap::new();
    for c in &containers {
        by_bottle.entry(c.bottle.as_str()).or_default().push(c);
    }
    let states = state::all(&home.state_root());
    let mut rows = Vec::new();
    let mut degraded = false;
    for s in &states {
        let meta = Metadata::read(s).ok();
        let services = meta
            .as_ref()
            .map(|m| m.services.clone())
            .unwrap_or_default();
        let mine = by_bottle.remove(s.id()).unwrap_or_default();
        let st = status(&services, &mine);
        if st == Status::Stopped && !all {
            continue;
        }
        let text = match &st {
            Status::Running => "running".to_string(),
            Status::Degraded(dead) => {
                degraded = true;
                format!("DEGRADED ({} not running)", dead.join(", "))
            }
            Status::Stopped => "stopped".to_string(),
            Status::Leftover => "stopped (containers left; `bottle cleanup`)".to_string(),
        };
        rows.push([
            s.id().to_string(),
            meta.as_ref().map(|m| m.agent.clone()).unwrap_or_default(),
            meta.as_ref()
                .and_then(|m| m.started_at.clone())
                .unwrap_or_default(),
            text,
            describe(&mine),
        ]);
    }
    for (id, mine) in by_bottle {
        rows.push([
            id.to_string(),
            String::new(),
            String::new(),
            "orphaned (no state directory; `bottle cleanup`)".into(),
            describe(&mine),
        ]);
    }
    if rows.is_empty() {
        println!(
            "no {}bottles{}",
            if all { "" } else { "running " },
            if all {
                ""
            } else {
                " (--all shows stopped ones)"
            }
        );
        return Ok(0);
    }
    // Ids and services come from container labels, which anyone with Docker access can set.
    let rows: Vec<[String; 5]> = rows
        .into_iter()
        .map(|r| r.map(|cell| printable(&cell)))
        .collect();
    let header = ["ID", "AGENT", "STARTED", "STATUS", "SERVICES"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let print = |cells: &[String; 5]| {
        let line: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 4 {
                    c.clone()
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        println!("{}", line.join("  ").trim_end());
    };
    print(&header.map(str::to_string));
    for r in &rows {
        print(r);
    }
    if degraded {
        eprintln!(
            "a bottle with a dead sidecar cannot reach what that sidecar serves; see `docker logs <container>` and stop it"
        );
    }
    Ok(0)
}

fn describe(containers: &[&BottleContainer]) -> String {
    let mut parts: Vec<String> = containers
        .iter()
        .map(|c| {
            if c.state == "running" {
                format!("{}:up", c.service)
            } else {
                format!("{}:{}", c.service, c.status.to_lowercase())
            }
        })
        .collect();
    parts.sort();
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(service: &str, state: &str) -> BottleContainer {
        BottleContainer {
            name: format!("b-{service}"),
            bottle: "b".into(),
            service: service.into(),
            state: state.into(),
            status: String::new(),
        }
    }

    #[test]
    fn a_dead_sidecar_degrades_a_running_bottle() {
        let services: Vec<String> = ["egress-proxy", "git-gate", "agent"]
            .map(String::from)
            .to_vec();
        let (a, e, g) = (
            c("agent", "running"),
            c("egress-proxy", "running"),
            c("git-gate", "exited"),
        );
        assert_eq!(
            status(&services, &[&a, &e, &g]),
            Status::Degraded(vec!["git-gate".into()])
        );
        let g_up = c("git-gate", "running");
        assert_eq!(status(&services, &[&a, &e, &g_up]), Status::Running);
        assert_eq!(
            status(&services, &[&a, &e]),
            Status::Degraded(vec!["git-gate".into()])
        );
        assert_eq!(status(&services, &[]), Status::Stopped);
        let a_dead = c("agent", "exited");
        assert_eq!(status(&services, &[&a_dead, &e]), Status::Leftover);
    }
}
