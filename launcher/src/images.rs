//! Building bottle's images: the three sidecars (from prebuilt workspace
//! binaries) and the example agent.
//!
//! The Dockerfiles live in the repository's `Dockerfiles/` and are embedded
//! here, so an installed `bottle` builds the same images anywhere. Sidecar
//! build contexts hold only the Dockerfile and one binary: fast, and no
//! multi-stage build (the legacy builder would build every stage).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::docker;
use crate::render::topology::{EGRESS_PROXY_IMAGE, GIT_GATE_IMAGE, SUPERVISE_IMAGE};

/// `Dockerfiles/egress-proxy.Dockerfile`.
pub const EGRESS_PROXY_DOCKERFILE: &str = include_str!("../../Dockerfiles/egress-proxy.Dockerfile");
/// `Dockerfiles/git-gate.Dockerfile`.
pub const GIT_GATE_DOCKERFILE: &str = include_str!("../../Dockerfiles/git-gate.Dockerfile");
/// `Dockerfiles/supervise.Dockerfile`.
pub const SUPERVISE_DOCKERFILE: &str = include_str!("../../Dockerfiles/supervise.Dockerfile");
/// `Dockerfiles/agent.Dockerfile`.
pub const AGENT_DOCKERFILE: &str = include_str!("../../Dockerfiles/agent.Dockerfile");

/// Default base image (public); override with `--base-image` or `BOTTLE_BASE_IMAGE`.
pub const DEFAULT_BASE_IMAGE: &str = "debian:bookworm-slim";

/// One image bottle builds.
#[derive(Debug, Clone, Copy)]
pub struct ImageSpec {
    /// Short name (`egress-proxy`, `agent`, …).
    pub name: &'static str,
    /// Tag it is built as.
    pub tag: &'static str,
    /// Its Dockerfile.
    pub dockerfile: &'static str,
    /// The workspace binary copied into the context, for sidecars.
    pub binary: Option<&'static str>,
}

/// Every image `bottle images build` knows, in build order.
pub const IMAGES: &[ImageSpec] = &[
    ImageSpec {
        name: "egress-proxy",
        tag: EGRESS_PROXY_IMAGE,
        dockerfile: EGRESS_PROXY_DOCKERFILE,
        binary: Some("egress-proxy"),
    },
    ImageSpec {
        name: "git-gate",
        tag: GIT_GATE_IMAGE,
        dockerfile: GIT_GATE_DOCKERFILE,
        binary: Some("git-gate"),
    },
    ImageSpec {
        name: "supervise",
        tag: SUPERVISE_IMAGE,
        dockerfile: SUPERVISE_DOCKERFILE,
        binary: Some("supervise"),
    },
    ImageSpec {
        name: "agent",
        tag: crate::plan::DEFAULT_AGENT_IMAGE,
        dockerfile: AGENT_DOCKERFILE,
        binary: None,
    },
];

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Base image for every Dockerfile.
    pub base_image: String,
    /// Where the workspace binaries are.
    pub bin_dir: PathBuf,
    /// Uid and gid of the example agent's user.
    pub agent_ids: (u32, u32),
}

/// Build `specs` one after another, printing progress per image.
pub async fn build(specs: &[ImageSpec], options: &BuildOptions) -> anyhow::Result<()> {
    let total = specs.len();
    for (i, spec) in specs.iter().enumerate() {
        let started = Instant::now();
        eprintln!("[{}/{total}] {} ({})", i + 1, spec.name, spec.tag);
        let context = tempfile::Builder::new()
            .prefix("bottle-image-")
            .tempdir()
            .context("cannot create a build context directory")?;
        std::fs::write(context.path().join("Dockerfile"), spec.dockerfile)?;
        if let Some(binary) = spec.binary {
            let source = options.bin_dir.join(binary);
            if !source.is_file() {
                bail!(
                    "{} is missing: build the workspace first (cargo build --release) or point --bin-dir at the directory holding egress-proxy, git-gate and supervise",
                    source.display()
                );
            }
            let staged = context.path().join(binary);
            std::fs::copy(&source, &staged).with_context(|| {
                format!("cannot copy {} into the build context", source.display())
            })?;
            strip_debug_info(&staged).await;
        }
        let mut args = vec![format!("BASE_IMAGE={}", options.base_image)];
        if spec.binary.is_none() {
            args.push(format!("AGENT_UID={}", options.agent_ids.0));
            args.push(format!("AGENT_GID={}", options.agent_ids.1));
        }
        docker_build(context.path(), spec.tag, &args, spec.name).await?;
        if let Some(binary) = spec.binary {
            check_binary_runs(spec.tag, binary, &options.base_image).await?;
        }
        eprintln!("      done in {:.1}s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// Drop debug info from a staged binary when `strip` is available (debug builds shrink ~8x).
async fn strip_debug_info(binary: &Path) {
    let _ = Command::new("strip")
        .arg("--strip-debug")
        .arg(binary)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

/// Build the Dockerfile at `dockerfile` with its directory as context, tagged `tag`.
///
/// A Dockerfile that declares `ARG AGENT_UID` (the example agent's, and
/// approved ones derived from it) gets `agent_ids` as `AGENT_UID`/`AGENT_GID`,
/// as `bottle images build` passes them.
pub async fn build_dockerfile(
    dockerfile: &Path,
    tag: &str,
    agent_ids: (u32, u32),
) -> anyhow::Result<()> {
    let context = dockerfile
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    eprintln!("building {tag} from {}", dockerfile.display());
    let mut args = Vec::new();
    if let Ok(base) = std::env::var("BOTTLE_BASE_IMAGE") {
        args.push(format!("BASE_IMAGE={base}"));
    }
    let text = std::fs::read_to_string(dockerfile)
        .with_context(|| format!("cannot read {}", dockerfile.display()))?;
    if declares_agent_ids(&text) {
        args.push(format!("AGENT_UID={}", agent_ids.0));
        args.push(format!("AGENT_GID={}", agent_ids.1));
    }
    let started = Instant::now();
    docker_build_file(context, Some(dockerfile), tag, &args, "agent").await?;
    eprintln!("      done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn docker_build(
    context: &Path,
    tag: &str,
    build_args: &[String],
    name: &str,
) -> anyhow::Result<()> {
    docker_build_file(context, None, tag, build_args, name).await
}

/// Run `docker build`, showing each build step and keeping the output for errors.
async fn docker_build_file(
    context: &Path,
    dockerfile: Option<&Path>,
    tag: &str,
    build_args: &[String],
    name: &str,
) -> anyhow::Result<()> {
    let mut cmd = Command::new("docker");
    cmd.arg("build").arg("-t").arg(tag);
    for a in build_args {
        cmd.arg("--build-arg").arg(a);
    }
    if let Some(f) = dockerfile {
        cmd.arg("-f").arg(f);
    }
    cmd.arg(context)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().context("cannot run `docker build`")?;
    // The legacy builder reports steps on stdout, BuildKit on stderr: read both.
    let mut out = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut err = BufReader::new(child.stderr.take().expect("piped")).lines();
    let (mut out_open, mut err_open) = (true, true);
    let mut kept: VecDeque<String> = VecDeque::new();
    while out_open || err_open {
        let (line, from_stdout) = tokio::select! {
            l = out.next_line(), if out_open => (l, true),
            l = err.next_line(), if err_open => (l, false),
        };
        let Some(line) = line.context("reading docker build output")? else {
            if from_stdout {
                out_open = false;
            } else {
                err_open = false;
            }
            continue;
        };
        if let Some(step) = step_line(&line) {
            eprintln!("      {step}");
        }
        kept.push_back(line);
        if kept.len() > 60 {
            kept.pop_front();
        }
    }
    let status = child.wait().await?;
    if !status.success() {
        let shown: Vec<String> = kept
            .iter()
            .skip(kept.len().saturating_sub(40))
            .map(|l| format!("    {l}"))
            .collect();
        bail!(
            "building the {name} image ({tag}) failed:\n{}\nif the base image cannot be pulled (no registry), build one locally (scripts/base-image) and pass --base-image",
            shown.join("\n")
        );
    }
    Ok(())
}

/// Whether a Dockerfile takes the agent user's ids as build arguments.
fn declares_agent_ids(dockerfile: &str) -> bool {
    dockerfile.lines().any(|l| {
        let mut words = l.split_whitespace();
        words.next().is_some_and(|w| w.eq_ignore_ascii_case("ARG"))
            && words
                .next()
                .is_some_and(|w| w.split('=').next() == Some("AGENT_UID"))
    })
}

/// A progress line from the legacy builder (`Step 2/5 : RUN …`) or BuildKit's
/// plain output (`#5 [2/4] RUN …`, `#7 [build 1/3] FROM …`), shortened; the
/// commands' own output and BuildKit's bookkeeping lines are not steps.
fn step_line(line: &str) -> Option<String> {
    let counter = |c: &str| {
        c.split_once('/').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|x| x.is_ascii_digit())
                && b.bytes().all(|x| x.is_ascii_digit())
        })
    };
    let step = if let Some(rest) = line.strip_prefix("Step ") {
        let (c, _) = rest.split_once(" : ")?;
        if !counter(c) {
            return None;
        }
        line
    } else {
        let rest = line.strip_prefix('#')?;
        let (number, step) = rest.split_once(' ')?;
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (label, _) = step.strip_prefix('[')?.split_once("] ")?;
        if !counter(label.rsplit(' ').next()?) {
            return None;
        }
        step
    };
    let mut shown: String = step.chars().take(100).collect();
    if shown.len() < step.len() {
        shown.push('…');
    }
    Some(shown)
}

/// Run the binary inside its image, so a glibc mismatch fails the build, not the bottle.
async fn check_binary_runs(tag: &str, binary: &str, base: &str) -> anyhow::Result<()> {
    let c = docker::capture(
        &[
            "run",
            "--rm",
            "--entrypoint",
            &format!("/usr/local/bin/{binary}"),
            tag,
            "--version",
        ],
        None,
    )
    .await?;
    if c.code != 0 {
        bail!(
            "{binary} does not run inside {tag} (exit {}): {}\nthe binary was built against a newer C library than the base image {base} has; build on an older system or choose a newer base with --base-image",
            c.code,
            c.stderr.trim()
        );
    }
    Ok(())
}

/// Select images by name (empty = all).
pub fn select(names: &[String]) -> anyhow::Result<Vec<ImageSpec>> {
    if names.is_empty() {
        return Ok(IMAGES.to_vec());
    }
    names
        .iter()
        .map(|n| {
            IMAGES.iter().find(|s| s.name == n).copied().ok_or_else(|| {
                anyhow::anyhow!(
                    "no image `{n}`; choose from {}",
                    IMAGES.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dockerfile_takes_a_base_image_argument() {
        for spec in IMAGES {
            assert!(
                spec.dockerfile
                    .contains("ARG BASE_IMAGE=debian:bookworm-slim\nFROM ${BASE_IMAGE}"),
                "{}",
                spec.name
            );
            if let Some(bin) = spec.binary {
                assert!(
                    spec.dockerfile
                        .contains(&format!("COPY {bin} /usr/local/bin/{bin}"))
                );
            }
        }
    }

    #[test]
    fn build_steps_are_shown_for_both_builders() {
        assert_eq!(
            step_line("Step 2/4 : RUN apt-get update").as_deref(),
            Some("Step 2/4 : RUN apt-get update")
        );
        assert_eq!(
            step_line("#5 [2/4] RUN apt-get update").as_deref(),
            Some("[2/4] RUN apt-get update")
        );
        assert_eq!(
            step_line("#7 [build 1/3] FROM docker.io/library/debian:bookworm-slim").as_deref(),
            Some("[build 1/3] FROM docker.io/library/debian:bookworm-slim")
        );
        let long = format!("#9 [stage-1 3/3] RUN {}", "x".repeat(200));
        let shown = step_line(&long).unwrap();
        assert!(
            shown.ends_with('…') && shown.chars().count() == 101,
            "{shown}"
        );
    }

    #[test]
    fn buildkit_bookkeeping_and_command_output_are_not_steps() {
        for line in [
            " ---> Using cache",
            "Step x/4 : RUN",
            "Stepping 1/2 : x",
            "#0 building with \"default\" instance using docker driver",
            "#1 [internal] load build definition from Dockerfile",
            "#1 transferring dockerfile: 92B done",
            "#4 DONE 0.3s",
            "#3 CACHED",
            "#4 0.215 Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]",
            "#4 1.0 [1/2] looks like a step but is output",
            "#5 exporting to image",
            "#x [1/2] RUN",
            "#5 [1/] RUN",
            "# [1/2] RUN",
            "",
            "#",
            "Step ",
        ] {
            assert_eq!(step_line(line), None, "{line:?}");
        }
    }

    #[test]
    fn agent_ids_are_passed_only_to_dockerfiles_that_declare_them() {
        assert!(declares_agent_ids(AGENT_DOCKERFILE));
        assert!(declares_agent_ids("FROM x\narg AGENT_UID\n"));
        assert!(!declares_agent_ids(
            "FROM x\nARG AGENT_UIDS=1\nRUN echo ARG AGENT_UID\n"
        ));
    }

    #[test]
    fn unknown_images_are_named() {
        assert_eq!(select(&[]).unwrap().len(), 4);
        let e = select(&["egress".into()]).unwrap_err().to_string();
        assert!(
            e.contains("egress-proxy, git-gate, supervise, agent"),
            "{e}"
        );
    }
}
