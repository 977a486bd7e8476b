//! Reaching a running bottle's sidecars from the host, for applying approvals.
//!
//! Sidecar ports are not published, and the sidecar images carry no HTTP
//! client, so requests are made from inside the sidecar's own container with
//! bash's `/dev/tcp` through `docker exec` (as the readiness probes are).

use std::time::Duration;

use anyhow::{Context, bail};

use crate::docker;
use crate::health::probe_for;
use crate::render::topology::EGRESS_PROXY_PORT;
use crate::state::StateDir;

/// What applying an approval needs from a bottle's sidecars.
pub trait Sidecars {
    /// Whether `service`'s container is running.
    async fn running(&self, service: &str) -> anyhow::Result<bool>;
    /// `GET path` on egress-proxy's listener; the body of a 200 answer.
    async fn proxy_get(&self, path: &str) -> anyhow::Result<String>;
    /// Send egress-proxy SIGHUP (reload routes and token files).
    async fn proxy_hangup(&self) -> anyhow::Result<()>;
    /// Restart pipelock so it reads its config again.
    async fn restart_pipelock(&self) -> anyhow::Result<()>;
    /// Whether pipelock answers its health check.
    async fn pipelock_healthy(&self) -> anyhow::Result<bool>;
}

/// A bottle's sidecars on the Docker engine.
#[derive(Debug, Clone)]
pub struct DockerSidecars {
    state: StateDir,
}

/// Longest a single `docker exec` request may take.
const EXEC_TIMEOUT: Duration = Duration::from_secs(15);

impl DockerSidecars {
    /// The sidecars of the bottle in `state`.
    pub fn new(state: &StateDir) -> DockerSidecars {
        DockerSidecars {
            state: state.clone(),
        }
    }
}

impl Sidecars for DockerSidecars {
    async fn running(&self, service: &str) -> anyhow::Result<bool> {
        let container = self.state.container(service);
        let c = docker::capture(
            &["inspect", "--format", "{{.State.Running}}", &container],
            None,
        )
        .await?;
        Ok(c.code == 0 && c.stdout.trim() == "true")
    }

    async fn proxy_get(&self, path: &str) -> anyhow::Result<String> {
        let container = self.state.container("egress-proxy");
        let script = format!(
            "exec 3<>/dev/tcp/127.0.0.1/{EGRESS_PROXY_PORT} && printf 'GET {path} HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && cat <&3"
        );
        let c = tokio::time::timeout(
            EXEC_TIMEOUT,
            docker::capture(&["exec", &container, "bash", "-c", &script], None),
        )
        .await
        .with_context(|| format!("GET {path} in {container} took over {EXEC_TIMEOUT:?}"))??;
        if c.code != 0 {
            bail!(
                "cannot reach egress-proxy in {container} (exit {}): {}",
                c.code,
                c.stderr.trim()
            );
        }
        http_body(&c.stdout).with_context(|| format!("GET {path} from egress-proxy in {container}"))
    }

    async fn proxy_hangup(&self) -> anyhow::Result<()> {
        let container = self.state.container("egress-proxy");
        docker::run(&["kill", "--signal", "HUP", &container]).await?;
        Ok(())
    }

    async fn restart_pipelock(&self) -> anyhow::Result<()> {
        let container = self.state.container("pipelock");
        docker::run(&["restart", "--time", "5", &container]).await?;
        Ok(())
    }

    async fn pipelock_healthy(&self) -> anyhow::Result<bool> {
        let container = self.state.container("pipelock");
        let probe = probe_for("pipelock").expect("pipelock has a probe");
        let mut args = vec!["exec".to_string(), container];
        args.extend(probe.argv());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Ok(docker::capture(&args, None).await?.code == 0)
    }
}

/// The body of a raw HTTP/1.x response whose status is 200.
pub fn http_body(response: &str) -> anyhow::Result<String> {
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("the answer is not an HTTP response")?;
    let status = head.lines().next().unwrap_or_default();
    if status.split(' ').nth(1) != Some("200") {
        bail!("answered `{status}`");
    }
    Ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_200_answers_have_a_body() {
        assert_eq!(
            http_body("HTTP/1.1 200 OK\r\ncontent-type: x\r\n\r\n{\"a\":1}\n").unwrap(),
            "{\"a\":1}\n"
        );
        let e = http_body("HTTP/1.1 404 Not Found\r\n\r\nno").unwrap_err();
        assert!(e.to_string().contains("404 Not Found"), "{e}");
        assert!(http_body("garbage").is_err());
    }
}
