//! An `egress-proxy run` process with its own CA, routes file and audit log.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::net::{free_port, wait_for_port};
use crate::process::ChildGuard;

/// A running egress-proxy.
#[derive(Debug)]
pub struct EgressProxy {
    /// Listen address.
    pub addr: SocketAddr,
    /// The proxy's CA certificate (clients trust it).
    pub ca_cert: PathBuf,
    /// The routes file it loaded (rewrite it and send SIGHUP to reload).
    pub routes: PathBuf,
    /// Its audit log.
    pub audit_log: PathBuf,
    /// The child process.
    pub child: ChildGuard,
}

/// The proxy environment variables that are removed from the child unless given.
const PROXY_ENV: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

impl EgressProxy {
    /// Start `bin` with `routes_yaml`, environment `env` and extra `args`, in `dir`.
    pub fn start(
        bin: &Path,
        dir: &Path,
        routes_yaml: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> EgressProxy {
        std::fs::create_dir_all(dir).expect("create proxy dir");
        let ca_dir = dir.join("ca");
        if !ca_dir.join("ca.pem").exists() {
            let out = Command::new(bin)
                .args(["ca", "init", "--out"])
                .arg(&ca_dir)
                .output()
                .expect("run egress-proxy ca init");
            assert!(
                out.status.success(),
                "ca init failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let routes = dir.join("routes.yaml");
        std::fs::write(&routes, routes_yaml).expect("write routes");
        let audit_log = dir.join("audit.jsonl");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut cmd = Command::new(bin);
        cmd.arg("run")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--routes")
            .arg(&routes)
            .arg("--ca-cert")
            .arg(ca_dir.join("ca.pem"))
            .arg("--ca-key")
            .arg(ca_dir.join("ca-key.pem"))
            .arg("--audit-log")
            .arg(&audit_log)
            .args(args);
        for name in PROXY_ENV {
            cmd.env_remove(name);
        }
        cmd.env(
            "RUST_LOG",
            std::env::var("BOTTLE_TEST_PROXY_LOG").unwrap_or_else(|_| "debug".into()),
        );
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = ChildGuard::spawn("egress-proxy", cmd, dir);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            if let Some(status) = child.try_wait() {
                panic!(
                    "egress-proxy exited with {status} during startup:\n{}",
                    child.stderr()
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "egress-proxy did not listen:\n{}",
                child.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        wait_for_port(addr, Duration::from_secs(1), "egress-proxy");
        EgressProxy {
            addr,
            ca_cert: ca_dir.join("ca.pem"),
            routes,
            audit_log,
            child,
        }
    }

    /// `http://127.0.0.1:<port>`, for `--proxy` and `HTTPS_PROXY`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The audit log so far, one JSON text per line.
    pub fn audit_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.audit_log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Wait until the audit log has at least `n` lines (lines are written when responses end).
    pub fn wait_audit(&self, n: usize) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let lines = self.audit_lines();
            if lines.len() >= n || std::time::Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
