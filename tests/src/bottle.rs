//! Driving the real `bottle` launcher on the Docker engine: its images, a
//! bottle started in the background, and the origin server bottles talk to.
//!
//! Shared by the Docker end-to-end tests so that each of them reads as the
//! story it proves, not as setup.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::docker::{ContainerGuard, NetworkGuard, bottle_objects, ensure_image};
use crate::pki::TestCa;

/// Test servers: nginx for HTTPS, sshd + git for a git upstream.
const FIXTURE_DOCKERFILE: &str = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n\
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
nginx-light openssh-server git ca-certificates && rm -rf /var/lib/apt/lists/* \
&& mkdir -p /run/sshd && ssh-keygen -A \
&& useradd -m -s /bin/sh git && usermod -p '*' git\n";

/// The Debian base bottle's images are built on (`scripts/test-env` builds it locally).
pub fn base_image() -> String {
    std::env::var("BOTTLE_TEST_BASE_IMAGE").unwrap_or_else(|_| "bottle-base:bookworm".into())
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The base image (built locally when missing) and bottle's images, via the real CLI.
pub fn build_images(bottle: &Path) {
    let status = Command::new(repo_root().join("scripts/base-image"))
        .arg(base_image())
        .status()
        .expect("run scripts/base-image");
    assert!(
        status.success(),
        "scripts/base-image failed; run scripts/test-env"
    );
    let bin_dir = bottle.parent().expect("bottle lives in a directory");
    let out = Command::new(bottle)
        .args([
            "images",
            "build",
            "--base-image",
            &base_image(),
            "--bin-dir",
        ])
        .arg(bin_dir)
        .output()
        .expect("run bottle images build");
    assert!(
        out.status.success(),
        "bottle images build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The image with the fixture servers (nginx, sshd, git), built once.
pub fn fixture_image() -> String {
    ensure_image(
        "bottle-e2e-fixture:1",
        FIXTURE_DOCKERFILE,
        &[("BASE_IMAGE", &base_image())],
    )
}

/// An HTTPS origin on its own network, reachable only from a bottle's egress side.
///
/// nginx answers every path with `origin path=<uri> auth=<yes|no>`: `yes` only
/// when the request carried exactly `Bearer <token>`, so a test can tell that
/// egress-proxy injected the host's token without the agent ever seeing it.
pub struct Origin {
    /// The CA that issued the origin's certificate (egress-proxy must trust it).
    pub ca: TestCa,
    /// The origin's address on [`Origin::network`].
    pub ip: String,
    /// The server (dropped before the network).
    pub container: ContainerGuard,
    /// The network a bottle names as `egress.network`.
    pub network: NetworkGuard,
}

impl Origin {
    /// Start the origin for `names` (its network aliases), with files under `dir`.
    pub fn start(dir: &Path, network: &str, names: &[&str], token: &str) -> Origin {
        std::fs::create_dir_all(dir).expect("create the origin's directory");
        let ca = TestCa::new(dir, "e2e-origin");
        let leaf = ca.issue("origin", names);
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                "events {{}}\nhttp {{\n  map_hash_bucket_size 128;\n  map $http_authorization $auth_ok {{ default no; \"Bearer {token}\" yes; }}\n  \
                 server {{\n    listen 443 ssl;\n    ssl_certificate {cert};\n    ssl_certificate_key {key};\n    \
                 location / {{ default_type text/plain; return 200 \"origin path=$uri auth=$auth_ok\\n\"; }}\n  }}\n}}\n",
                cert = in_fixture(&leaf.cert_path, dir),
                key = in_fixture(&leaf.key_path, dir),
            ),
        )
        .expect("write nginx.conf");
        let network = NetworkGuard::create(network);
        let mount = format!("{}:/fixture:ro", dir.display());
        let mut args = vec!["--network", &network.name];
        for name in names {
            args.extend(["--network-alias", name]);
        }
        let image = fixture_image();
        args.extend([
            "-v",
            &mount,
            &image,
            "nginx",
            "-c",
            "/fixture/nginx.conf",
            "-g",
            "daemon off;",
        ]);
        let container = ContainerGuard::run(&format!("{}-origin", network.name), &args);
        let ip = container.ip_on(&network.name);
        assert!(
            !ip.is_empty(),
            "origin has no IP; logs:\n{}",
            container.logs()
        );
        Origin {
            ca,
            ip,
            container,
            network,
        }
    }
}

/// Where `file` (under `dir`) appears inside the origin container.
fn in_fixture(file: &Path, dir: &Path) -> String {
    let rel = file
        .strip_prefix(dir)
        .expect("issued under the origin's directory");
    format!("/fixture/{}", rel.display())
}

/// Run `bottle ARGS` with `BOTTLE_HOME=home`; returns stdout, panics on failure.
pub fn run_bottle(bottle: &Path, home: &Path, args: &[&str]) -> String {
    let out = bottle_output(bottle, home, args);
    assert!(
        out.status.success(),
        "bottle {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run `bottle ARGS` with `BOTTLE_HOME=home`, whatever its exit status.
pub fn bottle_output(bottle: &Path, home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bottle)
        .args(args)
        .env("BOTTLE_HOME", home)
        .stdin(Stdio::null())
        .output()
        .expect("run bottle")
}

/// A child process killed (and reaped) if the test ends while it runs.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait up to `timeout` for `child` to exit.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(s) = child.try_wait().expect("poll child") {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// A random token no file on the machine contains by chance.
pub fn random_token(prefix: &str) -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

/// A bottle started with `bottle start AGENT --yes -- CMD…` in the background, once it is up.
#[derive(Debug)]
pub struct Started {
    /// The `bottle start` process.
    pub process: KillOnDrop,
    /// The bottle's id.
    pub id: String,
    /// Where `bottle start`'s stderr goes.
    pub log: PathBuf,
}

impl Started {
    /// What `bottle start` has written to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Start `agent` running `command`, with `env` added, and wait until it is attached.
pub fn start_in_background(
    bottle: &Path,
    home: &Path,
    agent: &str,
    command: &[&str],
    env: &[(&str, &str)],
) -> Started {
    let log = home.join(format!("start-{}.stderr", random_token("")));
    let mut cmd = Command::new(bottle);
    cmd.args(["start", agent, "--yes", "--"])
        .args(command)
        .env("BOTTLE_HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("create the start log"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut process = KillOnDrop(cmd.spawn().expect("start bottle"));
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find(|l| l.ends_with("attaching (exit the agent to stop the bottle)"))
        {
            let id = line
                .split_whitespace()
                .nth(1)
                .expect("the line names the bottle")
                .to_string();
            return Started { process, id, log };
        }
        if let Some(status) = process.0.try_wait().expect("poll bottle start") {
            panic!("bottle start exited ({status}) before the bottle was up:\n{text}");
        }
        assert!(Instant::now() < deadline, "bottle did not come up:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Assert that no container or network of bottle `id` is left.
pub fn assert_gone(id: &str) {
    let left = bottle_objects(id);
    let containers = left.containers.unwrap_or_else(|e| panic!("{e}"));
    assert!(containers.is_empty(), "containers left: {containers:?}");
    let networks = left.networks.unwrap_or_else(|e| panic!("{e}"));
    assert!(networks.is_empty(), "networks left: {networks:?}");
}
