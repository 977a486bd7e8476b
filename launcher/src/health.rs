//! Waiting for a bottle's sidecars to be ready, probing each from inside its
//! own container, and failing with the service's name and last log lines.

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::docker;
use crate::render::topology::{EGRESS_PROXY_PORT, GIT_GATE_PORT, SUPERVISE_PORT};
use crate::state::StateDir;

/// How a sidecar shows it is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// `GET path` on the local port answers 200.
    Http { port: u16, path: &'static str },
    /// Something accepts TCP connections on the local port.
    Tcp { port: u16 },
    /// A command in the container exits 0 (for images without a shell).
    Command(Vec<String>),
}

impl Probe {
    /// The command that runs the probe inside the container.
    pub fn argv(&self) -> Vec<String> {
        let bash = |script: String| vec!["bash".to_string(), "-c".to_string(), script];
        match self {
            Probe::Http { port, path } => bash(format!(
                "exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET {path} HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 \
                 && IFS= read -r status <&3 && case \"$status\" in *' 200'*) exit 0;; *) exit 1;; esac"
            )),
            Probe::Tcp { port } => bash(format!("exec 3<>/dev/tcp/127.0.0.1/{port}")),
            Probe::Command(argv) => argv.clone(),
        }
    }
}

/// The probe for each sidecar service.
pub fn probe_for(service: &str) -> Option<Probe> {
    match service {
        "egress-proxy" => Some(Probe::Http {
            port: EGRESS_PROXY_PORT,
            path: "/healthz",
        }),
        "git-gate" => Some(Probe::Tcp {
            port: GIT_GATE_PORT,
        }),
        "supervise" => Some(Probe::Tcp {
            port: SUPERVISE_PORT,
        }),
        "pipelock" => Some(Probe::Command(vec![
            "/pipelock".into(),
            "healthcheck".into(),
        ])),
        _ => None,
    }
}

/// Wait until every sidecar in `services` answers its probe, or fail naming the one that did not.
pub async fn wait_ready(
    state: &StateDir,
    services: &[String],
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    for service in services {
        let Some(probe) = probe_for(service) else {
            continue;
        };
        let container = state.container(service);
        let argv = probe.argv();
        let mut args: Vec<&str> = vec!["exec", &container];
        args.extend(argv.iter().map(String::as_str));
        loop {
            let running = docker::capture(
                &[
                    "inspect",
                    "--format",
                    "{{.State.Status}} {{.State.ExitCode}}",
                    &container,
                ],
                None,
            )
            .await?;
            let state_line = running.stdout.trim().to_string();
            if running.code != 0 || !state_line.starts_with("running") {
                bail!(
                    "{service} is not running ({}); its last log lines:\n{}\nsee also {}",
                    if state_line.is_empty() {
                        "no such container".to_string()
                    } else {
                        state_line
                    },
                    indent(&docker::logs_tail(&container, 30).await),
                    state.compose_log().display()
                );
            }
            if docker::capture(&args, None).await?.code == 0 {
                break;
            }
            if Instant::now() >= deadline {
                bail!(
                    "{service} did not become ready within {}s (probe: {}); its last log lines:\n{}",
                    timeout.as_secs(),
                    argv.join(" "),
                    indent(&docker::logs_tail(&container, 30).await)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

fn indent(text: &str) -> String {
    if text.is_empty() {
        return "    (no output)".into();
    }
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_need_only_bash_or_the_sidecar_itself() {
        let http = probe_for("egress-proxy").unwrap().argv();
        assert_eq!(&http[..2], ["bash", "-c"]);
        assert!(http[2].contains("/dev/tcp/127.0.0.1/3128") && http[2].contains("GET /healthz"));
        assert_eq!(
            probe_for("pipelock").unwrap().argv(),
            ["/pipelock", "healthcheck"]
        );
        assert_eq!(probe_for("agent"), None);
    }
}
