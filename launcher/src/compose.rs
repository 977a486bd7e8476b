//! Driving Docker Compose for one bottle: v2 (`docker compose`) when the
//! plugin is there, else v1 (`docker-compose`); the project name is the
//! bottle's id and every command's output is appended to `compose.log`.

use std::ffi::OsString;
use std::io::Write;
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::state::StateDir;

/// The Compose program to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compose {
    program: Vec<String>,
}

/// Compose v2, the Docker CLI plugin.
const V2: &[&str] = &["docker", "compose"];
/// Compose v1, the standalone program.
const V1: &[&str] = &["docker-compose"];

/// Host variables Compose may see: what it needs to find the engine (an
/// `ssh://` `DOCKER_HOST` needs the SSH agent), its config and a temporary
/// directory. Everything else (route tokens above
/// all) is withheld, so nothing can reach the agent through substitution.
const PASSED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_CONFIG",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
    "DOCKER_API_VERSION",
    "SSH_AUTH_SOCK",
];

/// The environment Compose runs with: only [`PASSED_ENV`] from `host`.
pub fn compose_env(
    host: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    host.into_iter()
        .filter(|(k, _)| k.to_str().is_some_and(|k| PASSED_ENV.contains(&k)))
        .collect()
}

/// `$BOTTLE_COMPOSE` as a program and its leading arguments (`docker compose`).
pub fn parse_override(value: &str) -> anyhow::Result<Vec<String>> {
    let program: Vec<String> = value.split_whitespace().map(str::to_string).collect();
    match program.first() {
        None => bail!(
            "BOTTLE_COMPOSE is empty; unset it or set it to `docker compose` or `docker-compose`"
        ),
        Some(p) if p.starts_with('-') => bail!(
            "BOTTLE_COMPOSE=`{}` starts with an option; it names the Compose program, e.g. `docker compose` or `docker-compose`",
            value.escape_default()
        ),
        Some(_) => Ok(program),
    }
}

/// Which Compose to use: the override, else v2 when `docker compose version` works, else v1.
pub fn choose(forced: Option<&str>, v2_works: bool, v1_works: bool) -> anyhow::Result<Compose> {
    let program = match forced {
        Some(value) => parse_override(value)?,
        None if v2_works => V2.iter().map(|s| s.to_string()).collect(),
        None if v1_works => V1.iter().map(|s| s.to_string()).collect(),
        None => bail!(
            "Docker Compose is not installed: neither `docker compose` (v2) nor `docker-compose` (v1) works; install one of them"
        ),
    };
    Ok(Compose { program })
}

impl Compose {
    /// Find Compose: `$BOTTLE_COMPOSE` (e.g. `docker-compose`) if set, else v2, else v1.
    pub async fn detect() -> anyhow::Result<Compose> {
        if let Some(forced) = std::env::var_os("BOTTLE_COMPOSE") {
            let forced = forced.into_string().map_err(|_| {
                anyhow::anyhow!(
                    "BOTTLE_COMPOSE is not UTF-8; set it to `docker compose` or `docker-compose`"
                )
            })?;
            return choose(Some(&forced), false, false);
        }
        let v2 = works(V2).await;
        let v1 = !v2 && works(V1).await;
        choose(None, v2, v1)
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
        let mut cmd = self.command(state, args, std::env::vars_os());
        cmd.stdout(log.try_clone()?).stderr(log.try_clone()?);
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

    /// `compose -p ID -f FILE ARGS` with only the variables [`compose_env`] keeps from `host`.
    pub fn command(
        &self,
        state: &StateDir,
        args: &[&str],
        host: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Command {
        let mut cmd = Command::new(&self.program[0]);
        cmd.args(&self.program[1..])
            .arg("-p")
            .arg(state.id())
            .arg("-f")
            .arg(state.compose_file())
            .args(args)
            .env_clear()
            .envs(compose_env(host))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
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

/// Whether `program version` exits 0.
async fn works(program: &[&str]) -> bool {
    Command::new(program[0])
        .args(&program[1..])
        .arg("version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_is_preferred_and_the_override_wins() {
        assert_eq!(
            choose(None, true, true).unwrap().describe(),
            "docker compose"
        );
        assert_eq!(
            choose(None, false, true).unwrap().describe(),
            "docker-compose"
        );
        let e = choose(None, false, false).unwrap_err().to_string();
        assert!(
            e.contains("neither `docker compose` (v2) nor `docker-compose` (v1)"),
            "{e}"
        );
        assert_eq!(
            choose(Some("  docker   compose "), false, true)
                .unwrap()
                .describe(),
            "docker compose"
        );
        assert_eq!(
            choose(Some("docker-compose"), true, false)
                .unwrap()
                .describe(),
            "docker-compose"
        );
    }

    #[test]
    fn a_bad_override_is_explained() {
        let e = parse_override("  ").unwrap_err().to_string();
        assert!(e.contains("BOTTLE_COMPOSE is empty"), "{e}");
        let e = parse_override("--file x").unwrap_err().to_string();
        assert!(e.contains("starts with an option"), "{e}");
        assert_eq!(
            parse_override("/opt/bin/docker compose").unwrap(),
            ["/opt/bin/docker", "compose"]
        );
    }

    #[test]
    fn compose_sees_no_token_variables() {
        let host = [
            ("PATH", "/usr/bin"),
            ("HOME", "/home/u"),
            ("DOCKER_HOST", "unix:///run/user/1000/docker.sock"),
            ("GH_TOKEN", "ghp_secret"),
            ("E2E_ORIGIN_TOKEN", "tok"),
            ("COMPOSE_FILE", "/elsewhere.yml"),
            ("LD_PRELOAD", "/tmp/x.so"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let kept: Vec<String> = compose_env(host)
            .into_iter()
            .map(|(k, _)| k.into_string().unwrap())
            .collect();
        assert_eq!(kept, ["PATH", "HOME", "DOCKER_HOST"]);
    }

    #[tokio::test]
    async fn real_compose_cannot_substitute_a_token_from_bottles_environment() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::at(dir.path(), "coder-abc123");
        std::fs::write(
            state.compose_file(),
            "version: \"2.4\"\nservices:\n  agent:\n    image: x\n    environment:\n      \
             A: \"${GH_TOKEN:-withheld}\"\n      B: \"${HOME:-nohome}\"\n",
        )
        .unwrap();
        let host = [
            ("GH_TOKEN", "ghp_leaked"),
            ("HOME", "/home/u"),
            ("PATH", "/usr/bin:/bin"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let compose = Compose::detect().await.unwrap();
        let out = compose
            .command(&state, &["config"], host)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("A: withheld"), "{text}");
        assert!(
            text.contains("B: /home/u"),
            "control: passed variables still work: {text}"
        );
        assert!(!text.contains("ghp_leaked"), "{text}");
    }
}
