//! A real upstream (sshd + bare repos), a real git-gate process and a real git client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use bottle_tests::fake::Rng;
use bottle_tests::net::{free_port, wait_for_port};
use bottle_tests::process::ChildGuard;
use bottle_tests::sshd::Sshd;
use git_gate::config::{Config, RepoConfig, unlocated};

/// One test's world: an sshd upstream, bare repos on it, and a gate in front.
pub struct World {
    pub dir: tempfile::TempDir,
    pub sshd: Sshd,
    pub gate_addr: SocketAddr,
    pub audit: PathBuf,
    pub config: PathBuf,
    gate: Option<ChildGuard>,
}

/// A change to the generated config, made before it is written.
pub type Tweak = Box<dyn Fn(&mut Config, &World)>;

/// How to set up the gate.
pub struct Options {
    /// Repo names to create upstream (each gets one commit on `main`).
    pub repos: Vec<&'static str>,
    /// Change the generated config before it is written.
    pub tweak: Tweak,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            repos: vec!["app"],
            tweak: Box::new(|_, _| {}),
        }
    }
}

impl World {
    /// Start sshd, create upstream repos, start the gate.
    pub fn start(opts: Options) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let sshd = Sshd::start(&dir.path().join("sshd"));
        std::fs::create_dir_all(dir.path().join("upstream")).unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        let mut world = World {
            gate_addr: ([127, 0, 0, 1], free_port()).into(),
            audit: dir.path().join("audit.jsonl"),
            config: dir.path().join("git-gate.yaml"),
            dir,
            sshd,
            gate: None,
        };
        for name in &opts.repos {
            world.create_upstream(name);
        }
        let repos = opts
            .repos
            .iter()
            .map(|name| {
                RepoConfig::new(
                    name,
                    &world.sshd.url(&world.upstream(name)),
                    world.sshd.client_key.clone(),
                    &world.sshd.host_key,
                )
            })
            .collect();
        let mut config = Config::new(world.gate_addr, world.dir.path().join("data"), repos);
        config.audit_log = Some(unlocated(world.audit.clone()));
        config.timeouts.request = Some(unlocated(2));
        config.timeouts.connect = Some(unlocated(5));
        config.timeouts.sync = Some(unlocated(20));
        (opts.tweak)(&mut config, &world);
        std::fs::write(&world.config, config.to_yaml()).unwrap();
        world.start_gate();
        world
    }

    /// (Re)start the gate process with the current config file.
    pub fn start_gate(&mut self) {
        self.gate = None;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_git-gate"));
        cmd.arg("run").arg("--config").arg(&self.config);
        cmd.env("RUST_LOG", "info");
        let guard = ChildGuard::spawn("git-gate", cmd, self.dir.path());
        wait_for_port(self.gate_addr, Duration::from_secs(20), "git-gate");
        self.gate = Some(guard);
    }

    /// The gate's stderr so far.
    pub fn gate_log(&self) -> String {
        self.gate.as_ref().map(|g| g.stderr()).unwrap_or_default()
    }

    /// Path of upstream bare repo `name`.
    pub fn upstream(&self, name: &str) -> PathBuf {
        self.dir.path().join("upstream").join(format!("{name}.git"))
    }

    /// A new bare upstream with one commit on `main` (HEAD → main).
    pub fn create_upstream(&self, name: &str) {
        let bare = self.upstream(name);
        self.git_ok(
            self.dir.path(),
            &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
        );
        let work = self.dir.path().join(format!("seed-{name}"));
        self.git_ok(
            self.dir.path(),
            &["init", "-q", "-b", "main", work.to_str().unwrap()],
        );
        self.write(&work, "README.md", "hello\n");
        self.commit(&work, "initial commit");
        self.git_ok(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
    }

    /// The gate URL of repo `name`.
    pub fn url(&self, name: &str) -> String {
        format!("git://{}/{name}.git", self.gate_addr)
    }

    /// git in `dir` with an empty environment but `PATH`, the test's own `HOME` and no system config.
    fn git_command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new("git");
        command
            .current_dir(dir)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path().join("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1");
        command
    }

    /// Run the real git client with a clean environment in `dir`.
    pub fn git(&self, dir: &Path, args: &[&str]) -> Output {
        self.git_command(dir, args)
            .env("GIT_AUTHOR_NAME", "Agent")
            .env("GIT_AUTHOR_EMAIL", "agent@example.invalid")
            .env("GIT_COMMITTER_NAME", "Agent")
            .env("GIT_COMMITTER_EMAIL", "agent@example.invalid")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_SSH_COMMAND", self.sshd.git_ssh_command())
            .output()
            .expect("run git")
    }

    /// Run git with `input` on its standard input and require success; returns stdout.
    pub fn git_stdin(&self, dir: &Path, args: &[&str], input: &[u8]) -> String {
        use std::io::Write;
        let mut child = self
            .git_command(dir, args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run git");
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run git and require success; returns stdout.
    pub fn git_ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.git(dir, args);
        assert!(
            out.status.success(),
            "git {args:?} failed in {}:\n{}{}\ngate log:\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.gate_log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run git and require failure; returns stderr.
    pub fn git_fails(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.git(dir, args);
        assert!(
            !out.status.success(),
            "git {args:?} should have failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Clone repo `name` through the gate into a fresh directory.
    pub fn clone(&self, name: &str, into: &str) -> PathBuf {
        let dest = self.dir.path().join(into);
        self.git_ok(
            self.dir.path(),
            &["clone", "-q", &self.url(name), dest.to_str().unwrap()],
        );
        dest
    }

    /// Write a file in a work tree.
    pub fn write(&self, work: &Path, path: &str, content: impl AsRef<[u8]>) {
        let p = work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// Stage everything and commit.
    pub fn commit(&self, work: &Path, message: &str) -> String {
        self.git_ok(work, &["add", "-A"]);
        self.git_ok(work, &["commit", "-q", "--allow-empty", "-m", message]);
        self.git_ok(work, &["rev-parse", "HEAD"]).trim().to_string()
    }

    /// A commit made directly on the upstream (not through the gate); returns its id.
    pub fn upstream_commit(&self, name: &str, branch: &str, file: &str) -> String {
        let work = self.dir.path().join(format!("oob-{name}"));
        if !work.exists() {
            self.git_ok(
                self.dir.path(),
                &[
                    "clone",
                    "-q",
                    self.upstream(name).to_str().unwrap(),
                    work.to_str().unwrap(),
                ],
            );
        }
        self.git_ok(&work, &["fetch", "-q", "origin"]);
        let start = format!("origin/{branch}");
        let has_branch = self
            .git(&work, &["rev-parse", "--verify", "-q", &start])
            .status
            .success();
        let base = if has_branch {
            start.as_str()
        } else {
            "origin/main"
        };
        self.git_ok(&work, &["checkout", "-q", "-B", branch, base]);
        self.write(&work, file, format!("{file}\n"));
        let id = self.commit(&work, &format!("out-of-band {file}"));
        self.git_ok(
            &work,
            &[
                "push",
                "-q",
                "origin",
                &format!("{branch}:refs/heads/{branch}"),
            ],
        );
        id
    }

    /// The upstream's refs as `<oid> <ref>` lines.
    pub fn upstream_refs(&self, name: &str) -> String {
        self.git_ok(
            self.dir.path(),
            &[
                "--git-dir",
                self.upstream(name).to_str().unwrap(),
                "for-each-ref",
                "--format=%(objectname) %(refname)",
            ],
        )
    }

    /// Push `args` from `work`, expect refusal that names `rule`, never shows `secret`,
    /// and leaves the upstream exactly as it was.
    pub fn refused(&self, work: &Path, args: &[&str], rule: &str, secret: &str) -> String {
        self.refused_with(work, args, rule, secret, false)
    }

    /// [`World::refused`]; with `client_echoes_secret` (the secret is in a ref name the client itself
    /// prints in its status lines) only what the gate sent, the `remote:` lines, must be free of it.
    pub fn refused_with(
        &self,
        work: &Path,
        args: &[&str],
        rule: &str,
        secret: &str,
        client_echoes_secret: bool,
    ) -> String {
        let before = self.upstream_refs("app");
        let mut full = vec!["push"];
        full.extend_from_slice(args);
        let stderr = self.git_fails(work, &full);
        assert!(stderr.contains("push refused"), "{stderr}");
        assert!(stderr.contains(rule), "expected rule {rule} in:\n{stderr}");
        let from_gate: String = if client_echoes_secret {
            stderr
                .lines()
                .filter(|l| l.starts_with("remote:"))
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            stderr.clone()
        };
        assert!(
            !from_gate.contains(secret),
            "the secret leaked into the rejection:\n{stderr}"
        );
        let middle = &secret[secret.len() / 2 - 4..secret.len() / 2 + 4];
        assert!(
            !from_gate.contains(middle),
            "part of the secret leaked:\n{stderr}"
        );
        assert_eq!(
            self.upstream_refs("app"),
            before,
            "the upstream must be untouched"
        );
        stderr
    }

    /// Every audit record so far.
    pub fn audit_records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.audit)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
            .collect()
    }

    /// Wait until the audit log holds at least `n` records of `event`.
    pub fn wait_audit(&self, event: &str, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..200 {
            let recs: Vec<_> = self
                .audit_records()
                .into_iter()
                .filter(|r| r["event"] == event)
                .collect();
            if recs.len() >= n {
                return recs;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "audit log never reached {n} {event} records:\n{:#?}",
            self.audit_records()
        );
    }
}

/// A fake secret of rule family `kind`, generated so no literal sits in the source.
pub fn fake_secret(kind: &str, seed: u64) -> String {
    const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = Rng::new(seed);
    let mut rnd = |n: usize| rng.text(ALNUM, n);
    match kind {
        "github" => format!("ghp_{}", rnd(36)),
        "aws" => format!(
            "AKIA{}",
            rnd(16).to_uppercase().replace(['0', '1', '8', '9'], "Q")
        ),
        "jwt" => format!("eyJ{}.eyJ{}.{}", rnd(30), rnd(60), rnd(43)),
        "slack" => format!(
            "xoxb-{}-{}-{}",
            1234567890 + seed,
            9876543210u64 + seed,
            rnd(24)
        ),
        _ => panic!("unknown secret kind {kind}"),
    }
}

/// Deterministic base64 text (for private-key bodies), so no key material sits in the source.
pub fn fake_base64(seed: u64, len: usize) -> String {
    const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    Rng::new(seed).text(B64, len)
}
