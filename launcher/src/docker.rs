//! Thin helpers over the `docker` CLI, each failing with what was attempted
//! and what Docker said.

use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// A `docker` command's captured result.
#[derive(Debug)]
pub struct Captured {
    /// Exit status code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Run `docker ARGS` with optional stdin, capturing output.
pub async fn capture(args: &[&str], stdin: Option<&[u8]>) -> anyhow::Result<Captured> {
    let mut cmd = Command::new("docker");
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .context("cannot run `docker`: is the Docker CLI installed and on PATH?")?;
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(input)
            .await
            .context("cannot write to docker's stdin")?;
        drop(pipe);
    }
    let out = child
        .wait_with_output()
        .await
        .context("waiting for docker")?;
    Ok(Captured {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Run `docker ARGS`; a non-zero exit is an error quoting Docker's message.
pub async fn run(args: &[&str]) -> anyhow::Result<String> {
    let c = capture(args, None).await?;
    if c.code != 0 {
        bail!(
            "`docker {}` failed (exit {}): {}",
            args.join(" "),
            c.code,
            c.stderr.trim()
        );
    }
    Ok(c.stdout)
}

/// Check the engine answers, with advice when it does not.
pub async fn check_engine() -> anyhow::Result<()> {
    let c = capture(&["version", "--format", "{{.Server.Version}}"], None).await?;
    if c.code != 0 {
        bail!(
            "the Docker engine is not reachable: {}\nstart Docker, or check that your user may use it (docker version should work)",
            c.stderr.trim()
        );
    }
    Ok(())
}

/// Whether an image exists locally.
pub async fn image_exists(image: &str) -> anyhow::Result<bool> {
    Ok(
        capture(&["image", "inspect", "--format", "{{.Id}}", image], None)
            .await?
            .code
            == 0,
    )
}

/// OCI runtimes the engine has registered.
pub async fn runtimes() -> anyhow::Result<Vec<String>> {
    let out = run(&["info", "--format", "{{json .Runtimes}}"]).await?;
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(out.trim()).context("cannot read `docker info` runtimes")?;
    Ok(map.keys().cloned().collect())
}

/// Run a shell script inside a container (script on stdin, so it never shows in argv).
pub async fn exec_script(
    container: &str,
    user: Option<&str>,
    script: &str,
) -> anyhow::Result<String> {
    let mut args = vec!["exec", "-i"];
    if let Some(u) = user {
        args.extend(["-u", u]);
    }
    args.extend([container, "sh", "-s"]);
    let c = capture(&args, Some(script.as_bytes())).await?;
    if c.code != 0 {
        bail!(
            "provisioning step in {container} failed (exit {}): {}",
            c.code,
            c.stderr.trim()
        );
    }
    Ok(c.stdout)
}

/// The last lines a container logged, for error messages.
pub async fn logs_tail(container: &str, lines: usize) -> String {
    let n = lines.to_string();
    match capture(&["logs", "--tail", &n, container], None).await {
        Ok(c) => {
            let mut s = c.stdout;
            s.push_str(&c.stderr);
            s.trim_end().to_string()
        }
        Err(e) => format!("(cannot read its logs: {e})"),
    }
}

/// One container that belongs to a bottle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BottleContainer {
    /// Container name.
    pub name: String,
    /// The bottle it belongs to (`bottle.id` label).
    pub bottle: String,
    /// The service (`bottle.service` label).
    pub service: String,
    /// `running`, `exited`, `created`, ...
    pub state: String,
    /// Docker's human status ("Exited (1) 3 minutes ago").
    pub status: String,
}

/// Every container carrying a `bottle.id` label (running or not).
pub async fn bottle_containers() -> anyhow::Result<Vec<BottleContainer>> {
    let out = run(&[
        "ps",
        "-a",
        "--filter",
        "label=bottle.id",
        "--format",
        "{{.Names}}\t{{.Label \"bottle.id\"}}\t{{.Label \"bottle.service\"}}\t{{.State}}\t{{.Status}}",
    ])
    .await?;
    Ok(parse_ps(&out))
}

fn parse_ps(out: &str) -> Vec<BottleContainer> {
    out.lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            Some(BottleContainer {
                name: f.next()?.to_string(),
                bottle: f.next()?.to_string(),
                service: f.next()?.to_string(),
                state: f.next()?.to_string(),
                status: f.next().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// Networks carrying a `bottle.id` label, as (name, bottle id).
pub async fn bottle_networks() -> anyhow::Result<Vec<(String, String)>> {
    let out = run(&[
        "network",
        "ls",
        "--filter",
        "label=bottle.id",
        "--format",
        "{{.Name}}\t{{.Label \"bottle.id\"}}",
    ])
    .await?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, b)| (n.to_string(), b.to_string()))
        .collect())
}

/// Quote `s` for a POSIX shell.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_lines_parse() {
        let c = parse_ps("coder-a-agent\tcoder-a\tagent\trunning\tUp 2 minutes\nx\n");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].service, "agent");
        assert_eq!(c[0].status, "Up 2 minutes");
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(sh_quote("a'b"), r"'a'\''b'");
        assert_eq!(sh_quote("$(x)"), "'$(x)'");
    }
}
