//! Docker fixtures: images built from inline Dockerfiles, and containers and
//! networks that are removed when the test that made them ends (pass or fail).

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Run `docker ARGS`, returning its output whatever the exit status.
pub fn docker_output(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker {args:?}: {e}; is the Docker CLI installed?"))
}

/// Run `docker ARGS` and return stdout; panic with Docker's message on failure.
pub fn docker(args: &[&str]) -> String {
    let out = docker_output(args);
    assert!(
        out.status.success(),
        "docker {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Build `tag` from `dockerfile` text (empty context) unless it exists; returns the tag.
pub fn ensure_image(tag: &str, dockerfile: &str, build_args: &[(&str, &str)]) -> String {
    if docker_output(&["image", "inspect", tag]).status.success() {
        return tag.to_string();
    }
    let dir = tempfile::tempdir().expect("temp build context");
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).expect("write Dockerfile");
    let mut args: Vec<String> = vec!["build".into(), "-q".into(), "-t".into(), tag.into()];
    for (k, v) in build_args {
        args.push("--build-arg".into());
        args.push(format!("{k}={v}"));
    }
    args.push(dir.path().display().to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    docker(&refs);
    tag.to_string()
}

/// A user-defined bridge network, removed on drop.
#[derive(Debug)]
pub struct NetworkGuard {
    /// The network's name.
    pub name: String,
}

impl NetworkGuard {
    /// Create a (non-internal) bridge network.
    pub fn create(name: &str) -> NetworkGuard {
        NetworkGuard::create_with(name, &[])
    }

    /// Create a network with `docker network create ARGS… NAME` (`--label k=v`, `--internal`).
    pub fn create_with(name: &str, args: &[&str]) -> NetworkGuard {
        let _ = docker_output(&["network", "rm", name]);
        let mut all = vec!["network", "create"];
        all.extend_from_slice(args);
        all.push(name);
        docker(&all);
        NetworkGuard {
            name: name.to_string(),
        }
    }
}

impl Drop for NetworkGuard {
    fn drop(&mut self) {
        let _ = docker_output(&["network", "rm", &self.name]);
    }
}

/// A detached container, force-removed on drop.
#[derive(Debug)]
pub struct ContainerGuard {
    /// The container's name.
    pub name: String,
}

impl ContainerGuard {
    /// `docker run -d --name NAME ARGS…` (ARGS include the image and command).
    pub fn run(name: &str, args: &[&str]) -> ContainerGuard {
        let _ = docker_output(&["rm", "-f", name]);
        let mut all = vec!["run", "-d", "--name", name];
        all.extend_from_slice(args);
        docker(&all);
        ContainerGuard {
            name: name.to_string(),
        }
    }

    /// Run a shell script in the container (as root), returning stdout; panics on failure.
    pub fn exec(&self, script: &str) -> String {
        docker(&["exec", "-u", "0", &self.name, "sh", "-c", script])
    }

    /// The container's IP address on `network`.
    pub fn ip_on(&self, network: &str) -> String {
        let format = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
        docker(&["inspect", "--format", &format, &self.name])
            .trim()
            .to_string()
    }

    /// The container's last log lines (for failure messages).
    pub fn logs(&self) -> String {
        let out = docker_output(&["logs", "--tail", "50", &self.name]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let _ = docker_output(&["rm", "-f", &self.name]);
    }
}

/// Removes every container and network labelled `bottle.id=<id>` on drop,
/// so a failed bottle test leaves nothing behind.
#[derive(Debug, Default)]
pub struct BottleLeftovers {
    /// Bottle ids to sweep.
    pub ids: Vec<String>,
}

impl Drop for BottleLeftovers {
    fn drop(&mut self) {
        for id in &self.ids {
            let left = bottle_objects(id);
            for c in left.containers.unwrap_or_default() {
                let _ = docker_output(&["rm", "-f", &c]);
            }
            for n in left.networks.unwrap_or_default() {
                let _ = docker_output(&["network", "rm", &n]);
            }
        }
    }
}

/// The containers and networks labelled `bottle.id=<id>`, by Docker id;
/// each an error (Docker's message) when it could not be listed.
#[derive(Debug)]
pub struct BottleObjects {
    /// Containers, running or not.
    pub containers: Result<Vec<String>, String>,
    /// Networks.
    pub networks: Result<Vec<String>, String>,
}

/// What Docker holds of bottle `id`.
pub fn bottle_objects(id: &str) -> BottleObjects {
    let filter = format!("label=bottle.id={id}");
    let ids = |args: &[&str]| {
        let out = docker_output(args);
        if !out.status.success() {
            return Err(format!(
                "docker {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect())
    };
    BottleObjects {
        containers: ids(&["ps", "-aq", "--filter", &filter]),
        networks: ids(&["network", "ls", "-q", "--filter", &filter]),
    }
}

/// Write a container's filesystem (without its bind mounts) to `path` as a tar file.
pub fn export_to(container: &str, path: &Path) {
    let p = path.display().to_string();
    docker(&["export", "-o", &p, container]);
}

/// Whether `file` contains any line of `patterns_file` as a fixed string (binary-safe `grep -F`).
pub fn file_contains(file: &Path, patterns_file: &Path) -> bool {
    let status = Command::new("grep")
        .arg("-q")
        .arg("-a")
        .arg("-F")
        .arg("-f")
        .arg(patterns_file)
        .arg(file)
        .status()
        .expect("run grep");
    match status.code() {
        Some(0) => true,
        Some(1) => false,
        _ => panic!("grep failed on {}", file.display()),
    }
}
