//! mitmdump as an upstream proxy that intercepts TLS with its own CA.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::net::{free_port, wait_for_port};
use crate::process::ChildGuard;
use crate::tools::required_tool;

/// A running mitmdump.
#[derive(Debug)]
pub struct Mitmdump {
    /// Listen address.
    pub addr: SocketAddr,
    /// mitmproxy's CA certificate (what the proxy in front must trust).
    pub ca_cert: PathBuf,
    /// Where its flow log (stdout) goes.
    pub log: PathBuf,
    _child: ChildGuard,
}

impl Mitmdump {
    /// Start mitmdump in `dir`, verifying origins against `origin_ca`.
    pub fn start(dir: &Path, origin_ca: &Path) -> Mitmdump {
        let mitmdump = required_tool("BOTTLE_TEST_MITMDUMP", "mitmdump");
        std::fs::create_dir_all(dir).expect("create mitmdump dir");
        let port = free_port();
        let confdir = dir.join("confdir");
        let log = dir.join("mitmdump.log");
        let script = format!(
            "exec '{}' --listen-host 127.0.0.1 --listen-port {port} --set confdir='{}' \
             --set ssl_verify_upstream_trusted_ca='{}' --set flow_detail=1 > '{}'",
            mitmdump.display(),
            confdir.display(),
            origin_ca.display(),
            log.display()
        );
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script);
        for name in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"] {
            cmd.env_remove(name);
        }
        let child = ChildGuard::spawn("mitmdump", cmd, dir);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_for_port(addr, Duration::from_secs(30), "mitmdump");
        let ca_cert = confdir.join("mitmproxy-ca-cert.pem");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ca_cert.exists() {
            assert!(
                Instant::now() < deadline,
                "mitmdump wrote no CA in {}",
                confdir.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Mitmdump {
            addr,
            ca_cert,
            log,
            _child: child,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What mitmdump logged so far (one line per flow).
    pub fn flows(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
