//! A minimal WebSocket client through the proxy, for byte-level control:
//! `wss://` over a CONNECT tunnel with rustls, `ws://` as an absolute-form request.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use super::{connect_tunnel, dial, read_head, tls_config, tls_over};

/// A WebSocket client that reaches origins through one proxy, trusting its CA.
pub struct Client {
    proxy: SocketAddr,
    config: Arc<rustls::ClientConfig>,
}

impl Client {
    /// A client for the proxy at `proxy` whose CA certificate is `ca`.
    pub fn new(proxy: SocketAddr, ca: &Path) -> Client {
        Client {
            proxy,
            config: tls_config(ca, &[b"http/1.1"], true),
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
        let authority = format!("{host}:{port}");
        let tcp = connect_tunnel(self.proxy, &authority);
        let mut tls = tls_over(tcp, self.config.clone(), host);
        upgrade(&mut tls, path, &authority, payload, extra)
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
        let mut tcp = dial(self.proxy);
        let target = format!("http://{host}:{port}{path}");
        upgrade(&mut tcp, &target, &format!("{host}:{port}"), payload, extra)
    }
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
