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

pub mod ws;

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

    /// One HTTP/1.1 `request` through a CONNECT tunnel to `target` (`host:port`), in TLS
    /// to `localhost` that trusts the proxy's CA: the raw response.
    pub fn tunnel_exchange(&self, target: &str, request: &[u8]) -> String {
        let tcp = connect_tunnel(self.proxy.addr, target);
        let config = tls_config(&self.proxy.ca_cert, &[b"http/1.1"], true);
        exchange(&mut tls_over(tcp, config, "localhost"), request)
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

/// A TCP connection to `proxy` whose reads give up after 5 s, so a silent peer fails the test.
pub fn dial(proxy: SocketAddr) -> TcpStream {
    let tcp = TcpStream::connect(proxy).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp
}

/// Read an HTTP/1.1 response head, up to and including the blank line.
pub fn read_head<S: Read>(s: &mut S) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Open a CONNECT tunnel to `target` (`host:port`) through the proxy; panics unless it answers 200.
pub fn connect_tunnel(proxy: SocketAddr, target: &str) -> TcpStream {
    let mut tcp = dial(proxy);
    write!(tcp, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").unwrap();
    let head = read_head(&mut tcp);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    tcp
}

/// A rustls client configuration trusting `ca`, offering `alpn`, sending SNI only when `sni`.
pub fn tls_config(
    ca: &std::path::Path,
    alpn: &[&[u8]],
    sni: bool,
) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.enable_sni = sni;
    std::sync::Arc::new(config)
}

/// TLS over `tcp` to `name`; the handshake completes on first use.
pub fn tls_over(
    tcp: TcpStream,
    config: std::sync::Arc<rustls::ClientConfig>,
    name: &str,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let server = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
    let conn = rustls::ClientConnection::new(config, server).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// Write `request` and read until the peer closes, errs or times out; an
/// error that ends the exchange is appended as `<error: …>`.
pub fn exchange<S: Read + Write>(stream: &mut S, request: &[u8]) -> String {
    if let Err(e) = stream.write_all(request).and_then(|()| stream.flush()) {
        return format!("<error: {e}>");
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    let end = loop {
        match stream.read(&mut buf) {
            Ok(0) => break String::new(),
            Err(e) => break format!("<error: {e}>"),
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    };
    String::from_utf8_lossy(&out).into_owned() + &end
}

/// The status code of an HTTP/1.1 response text (0 when there is none).
pub fn status_of(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The nginx origin's access log so far.
pub fn access_log(s: &Setup) -> String {
    std::fs::read_to_string(s.dir.path().join("origin/nginx-access.log")).unwrap_or_default()
}

/// One HTTP/2 GET of `https://localhost:<port>/echo` through a CONNECT
/// tunnel, with `headers` added as given (hyper's client checks none of
/// them against the server's limits): the status, or the error that ended
/// the stream or connection.
pub fn h2_get(
    proxy: SocketAddr,
    ca: &std::path::Path,
    port: u16,
    headers: &[(&str, String)],
) -> Result<u16, String> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let tcp = connect_tunnel(proxy, &format!("localhost:{port}"));
        tcp.set_nonblocking(true).unwrap();
        let tcp = tokio::net::TcpStream::from_std(tcp).unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio_rustls::TlsConnector::from(tls_config(ca, &[b"h2"], true))
            .connect(name, tcp)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (mut sender, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tls),
        )
        .await
        .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let mut req = http::Request::get(format!("https://localhost:{port}/echo"));
        for (name, value) in headers {
            req = req.header(*name, value.as_str());
        }
        let req = req
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        sender
            .send_request(req)
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| format!("{e:?}"))
    })
}
