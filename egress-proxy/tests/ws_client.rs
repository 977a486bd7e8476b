#![allow(dead_code)]
//! A minimal WebSocket client through the proxy, for byte-level control:
//! `wss://` over a CONNECT tunnel with rustls, `ws://` as an absolute-form request.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

pub struct Client {
    proxy: SocketAddr,
    config: Arc<rustls::ClientConfig>,
}

impl Client {
    pub fn new(proxy: SocketAddr, ca: &Path) -> Client {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Client {
            proxy,
            config: Arc::new(config),
        }
    }

    /// `wss://`: upgrade at `path`, send one text frame, return the response head and the echoed payload.
    pub fn exchange(&self, host: &str, port: u16, path: &str, payload: &[u8]) -> (String, Vec<u8>) {
        self.exchange_with(host, port, path, payload, "")
    }

    /// Like [`Client::exchange`] with `extra` header lines (each ending in `\r\n`).
    pub fn exchange_with(
        &self,
        host: &str,
        port: u16,
        path: &str,
        payload: &[u8],
        extra: &str,
    ) -> (String, Vec<u8>) {
        let mut tcp = TcpStream::connect(self.proxy).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            tcp,
            "CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"
        )
        .unwrap();
        let head = read_head(&mut tcp);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let conn = rustls::ClientConnection::new(
            self.config.clone(),
            ServerName::try_from(host.to_string()).unwrap(),
        )
        .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        upgrade(&mut tls, path, &format!("{host}:{port}"), payload, extra)
    }

    /// `ws://`: the upgrade as an absolute-form request to the proxy listener.
    pub fn exchange_plain(
        &self,
        host: &str,
        port: u16,
        path: &str,
        payload: &[u8],
        extra: &str,
    ) -> (String, Vec<u8>) {
        let mut tcp = TcpStream::connect(self.proxy).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let target = format!("http://{host}:{port}{path}");
        upgrade(&mut tcp, &target, &format!("{host}:{port}"), payload, extra)
    }
}

fn read_head<S: Read>(s: &mut S) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Send the upgrade for `target`, then (on 101) one masked text frame; return the head and the echo.
fn upgrade<S: Read + Write>(
    s: &mut S,
    target: &str,
    host: &str,
    payload: &[u8],
    extra: &str,
) -> (String, Vec<u8>) {
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .unwrap();
    let head = read_head(s);
    if !head.starts_with("HTTP/1.1 101") {
        let mut rest = vec![0u8; 4096];
        let n = s.read(&mut rest).unwrap_or(0);
        return (head + &String::from_utf8_lossy(&rest[..n]), Vec::new());
    }
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&frame).unwrap();
    let mut hdr = [0u8; 2];
    s.read_exact(&mut hdr).unwrap();
    assert_eq!(hdr[0], 0x81);
    let mut echoed = vec![0u8; (hdr[1] & 0x7f) as usize];
    s.read_exact(&mut echoed).unwrap();
    (head, echoed)
}
