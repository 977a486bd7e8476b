//! Driving Docker Compose for one bottle: v2 (`docker compose`) when the
//! plugin is there, else v1 (`docker-compose`); the project name is the
//! bottle's id and every command's output is appended to `compose.log`.

use std::io::Write;
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::state::StateDir;

/// The Compose program to run.
#[derive(Debug, Clone)]
pub struct Compose {
    program: Vec<String>,
}

impl Compose {
    /// Find Compose: `$BOTTLE_COMPOSE` (e.g. `docker-compose`) if set, else v2, else v1.
    pub async fn detect() -> anyhow::Result<Compose> {
        if let Ok(forced) = std::env::var("BOTTLE_COMPOSE") {
            let program: Vec<String> = forced.split_whitespace().map(str::to_string).collect();
            if program.is_empty() {
                bail!(
                    "BOTTLE_COMPOSE is empty; unset it or set it to `docker compose` or `docker-compose`"
                );
            }
            return Ok(Compose { program });
        }
        for candidate in [&["docker", "compose"][..], &["docker-compose"][..]] {
            let ok = Command::new(candidate[0])
                .args(&candidate[1..])
                .arg("version")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(Compose {
                    program: candidate.iter().map(|s| s.to_string()).collect(),
                });
            }
        }
        bail!(
            "Docker Compose is not installed: neither `docker compose` (v2) nor `docker-compose` (v1) works; install one of them"
        )
    }

    /// How Compose is invoked, for messages.
    pub fn describe(&self) -> String {
        self.program.join(" ")
    }

    /// Run `compose -p ID -f FILE ARGS`, appending all output to the bottle's compose.log.
    pub async fn run(&self, state: &StateDir, args: &[&str]) -> anyhow::Result<()> {
        let log_path = state.compose_log();
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        writeln!(
            log,
            "==> {} {} {}",
            bottle_common::time::now_rfc3339(),
            self.describe(),
            args.join(" ")
        )?;
        let compose_file = state.compose_file();
        let mut cmd = Command::new(&self.program[0]);
        cmd.args(&self.program[1..])
            .arg("-p")
            .arg(state.id())
            .arg("-f")
            .arg(&compose_file)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?);
        let status = cmd
            .status()
            .await
            .with_context(|| format!("cannot run {}", self.describe()))?;
        writeln!(log, "<== exit {}", status.code().unwrap_or(-1))?;
        if !status.success() {
            bail!(
                "`{} {}` failed for bottle {} (exit {}); its output is in {}:\n{}",
                self.describe(),
                args.join(" "),
                state.id(),
                status.code().unwrap_or(-1),
                log_path.display(),
                tail(&log_path, 15)
            );
        }
        Ok(())
    }

    /// Create and start the project's containers.
    pub async fn up(&self, state: &StateDir) -> anyhow::Result<()> {
        self.run(state, &["up", "-d", "--no-build"]).await
    }

    /// Stop and remove the project's containers and networks (state stays).
    pub async fn down(&self, state: &StateDir) -> anyhow::Result<()> {
        self.run(state, &["down", "--remove-orphans", "--timeout", "5"])
            .await
    }
}

/// The last `n` lines of a log file, indented.
pub fn tail(path: &std::path::Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
