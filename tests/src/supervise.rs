//! A real `supervise run` on a loopback port, with its queue, current config and audit log in a temp dir.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::net::{free_port, wait_for_port};
use crate::process::ChildGuard;

/// A running supervise server; stopped (and its files removed) when dropped.
#[derive(Debug)]
pub struct SuperviseServer {
    /// The MCP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    /// The listening address.
    pub addr: SocketAddr,
    /// The queue directory.
    pub queue: PathBuf,
    /// The current-config directory (empty unless the test writes files into it).
    pub current: PathBuf,
    /// The audit log file.
    pub audit: PathBuf,
    child: ChildGuard,
    _dir: tempfile::TempDir,
}

impl SuperviseServer {
    /// Start `binary run` with `--decision-timeout decision_timeout` and `extra` flags.
    pub fn start(binary: &Path, decision_timeout: &str, extra: &[&str]) -> SuperviseServer {
        let dir = tempfile::tempdir().expect("create temp dir");
        let queue = dir.path().join("queue");
        let current = dir.path().join("current-config");
        let audit = dir.path().join("audit.jsonl");
        std::fs::create_dir_all(&current).expect("create current-config dir");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut cmd = Command::new(binary);
        cmd.arg("run")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--queue")
            .arg(&queue)
            .arg("--current-config")
            .arg(&current)
            .arg("--audit-log")
            .arg(&audit)
            .arg("--decision-timeout")
            .arg(decision_timeout)
            .args(extra)
            .env("RUST_LOG", "info,rmcp=warn");
        let child = ChildGuard::spawn("supervise", cmd, dir.path());
        wait_for_port(addr, Duration::from_secs(10), "supervise");
        SuperviseServer {
            url: format!("http://{addr}/mcp"),
            addr,
            queue,
            current,
            audit,
            child,
            _dir: dir,
        }
    }

    /// What the server logged so far.
    pub fn stderr(&self) -> String {
        self.child.stderr()
    }

    /// The audit log's lines so far.
    pub fn audit_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.audit)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Wait until an audit line contains every one of `needles`; panic after `timeout`.
    pub fn wait_for_audit(&self, needles: &[&str], timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self
                .audit_lines()
                .into_iter()
                .find(|l| needles.iter().all(|n| l.contains(n)))
            {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no audit line with {needles:?} within {timeout:?}; audit log:\n{}\nserver log:\n{}",
                self.audit_lines().join("\n"),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
