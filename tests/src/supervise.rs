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
    command: Vec<std::ffi::OsString>,
    binary: PathBuf,
    starts: usize,
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
        let mut command: Vec<std::ffi::OsString> = vec![
            "run".into(),
            "--listen".into(),
            addr.to_string().into(),
            "--queue".into(),
            queue.clone().into(),
            "--current-config".into(),
            current.clone().into(),
            "--audit-log".into(),
            audit.clone().into(),
            "--decision-timeout".into(),
            decision_timeout.into(),
        ];
        command.extend(extra.iter().map(Into::into));
        let child = spawn_server(binary, &command, addr, dir.path(), "supervise");
        SuperviseServer {
            url: format!("http://{addr}/mcp"),
            addr,
            queue,
            current,
            audit,
            child,
            command,
            binary: binary.to_path_buf(),
            starts: 1,
            _dir: dir,
        }
    }

    /// Stop the server with SIGTERM and wait for it to exit (at most `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.child.signal(libc::SIGTERM);
        self.child.wait_timeout(timeout)
    }

    /// Start the server again, on the same address with the same queue, config and audit log.
    pub fn restart(&mut self) {
        self.starts += 1;
        let name = format!("supervise-{}", self.starts);
        self.child = spawn_server(
            &self.binary,
            &self.command,
            self.addr,
            self._dir.path(),
            &name,
        );
    }

    /// Audit lines containing every one of `needles`, once there are at least `count`;
    /// panic after `timeout`.
    pub fn wait_for_audit_count(
        &self,
        needles: &[&str],
        count: usize,
        timeout: Duration,
    ) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let found: Vec<String> = self
                .audit_lines()
                .into_iter()
                .filter(|l| needles.iter().all(|n| l.contains(n)))
                .collect();
            if found.len() >= count {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {count} audit lines with {needles:?} within {timeout:?}; audit log:\n{}\nserver log:\n{}",
                found.len(),
                self.audit_lines().join("\n"),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
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
        self.wait_for_audit_count(needles, 1, timeout)
            .swap_remove(0)
    }
}

fn spawn_server(
    binary: &Path,
    args: &[std::ffi::OsString],
    addr: SocketAddr,
    log_dir: &Path,
    name: &str,
) -> ChildGuard {
    let mut cmd = Command::new(binary);
    cmd.args(args).env("RUST_LOG", "info,rmcp=warn");
    let child = ChildGuard::spawn(name, cmd, log_dir);
    wait_for_port(addr, Duration::from_secs(10), "supervise");
    child
}
