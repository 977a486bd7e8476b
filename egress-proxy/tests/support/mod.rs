//! Shared set-up for egress-proxy's end-to-end tests: a real nginx origin
//! with its own CA and a real egress-proxy process in front of it.

#![allow(dead_code, unused_imports)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

pub use bottle_tests::curl::{CurlOutput, curl, curl_via};
pub use bottle_tests::egress::EgressProxy;
pub use bottle_tests::nginx::NginxOrigin;

/// A token value that must never appear in any output.
pub const TOKEN: &str = "tok-SECRET-4f9a2c71e0";

/// The egress-proxy binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_egress-proxy"))
}

/// An origin and a proxy in front of it.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub origin: NginxOrigin,
    pub proxy: EgressProxy,
}

impl Setup {
    /// Start nginx and a proxy whose routes are `routes(origin tls port, origin plain port)`.
    pub fn new(routes: impl Fn(u16, u16) -> String) -> Setup {
        Setup::with(routes, &[("API_TOKEN", TOKEN)], &[])
    }

    /// Like [`Setup::new`] with proxy environment and extra flags.
    pub fn with(routes: impl Fn(u16, u16) -> String, env: &[(&str, &str)], args: &[&str]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let origin = NginxOrigin::start(&dir.path().join("origin"), None);
        let trust = origin.ca_cert.to_string_lossy().into_owned();
        let mut all_args = vec!["--trust-ca", trust.as_str()];
        all_args.extend_from_slice(args);
        let proxy = EgressProxy::start(
            &bin(),
            &dir.path().join("proxy"),
            &routes(origin.tls_port, origin.plain_port),
            env,
            &all_args,
        );
        Setup { dir, origin, proxy }
    }

    /// curl through the proxy, trusting its CA.
    pub fn curl(&self, args: &[&str]) -> CurlOutput {
        curl_via(&self.proxy.url(), &self.proxy.ca_cert, args)
    }

    /// `https://localhost:<tls port><path>`.
    pub fn https(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.origin.tls_port)
    }

    /// `http://localhost:<plain port><path>`.
    pub fn http(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.origin.plain_port)
    }

    /// Audit lines as JSON, after waiting for at least `n`.
    pub fn audit(&self, n: usize) -> Vec<serde_json::Value> {
        self.proxy
            .wait_audit(n)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line {l:?}: {e}")))
            .collect()
    }
}

/// Send raw bytes to `addr` and read until the peer closes or 3 s pass.
pub fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A GET to the proxy's own listener (origin-form): status and body.
pub fn listener_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let resp = raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
