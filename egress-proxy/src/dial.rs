//! Opening outbound byte streams, directly or through the upstream proxy.
//!
//! This is the one place that decides how to reach an origin, so pooled
//! requests, passthrough tunnels and WebSocket upgrades all honour the
//! upstream proxy the same way.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::io::Prefixed;
use crate::upstream::{ProxyAddr, Upstream};

/// Largest CONNECT answer accepted from an upstream proxy.
const MAX_PROXY_RESPONSE: usize = 16 * 1024;

/// An outbound stream and how it was reached.
#[derive(Debug)]
pub struct Dialed {
    /// The stream (bytes an upstream proxy sent past its answer are kept in front).
    pub stream: Prefixed<TcpStream>,
    /// Set for plain http through a proxy: requests must then be absolute-form.
    pub http_proxy: bool,
}

/// Why an outbound connection failed; shown to the agent in 502 answers.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// TCP connect or DNS failed.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// host:port (and proxy) tried.
        target: String,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// The upstream proxy answered CONNECT with something else than 200.
    #[error("upstream proxy {proxy} refused CONNECT {target}: {status}")]
    Refused {
        /// The proxy.
        proxy: String,
        /// host:port.
        target: String,
        /// Its status line.
        status: String,
    },
    /// No answer in time.
    #[error("connecting to {target} timed out after {timeout:?}")]
    Timeout {
        /// host:port (and proxy).
        target: String,
        /// The connect timeout.
        timeout: Duration,
    },
}

/// Opens outbound streams per the upstream configuration.
#[derive(Debug, Clone)]
pub struct Dialer {
    upstream: Upstream,
    connect_timeout: Duration,
}

impl Dialer {
    /// A dialer that reaches origins per `upstream`, giving up after `connect_timeout`.
    pub fn new(upstream: Upstream, connect_timeout: Duration) -> Dialer {
        Dialer {
            upstream,
            connect_timeout,
        }
    }

    /// A byte tunnel to `host:port` (TLS, passthrough, WebSocket): direct, or CONNECT via the proxy.
    pub async fn tunnel(&self, host: &str, port: u16, tls: bool) -> Result<Dialed, DialError> {
        let proxy = self.upstream.proxy_for(tls, host).cloned();
        let target = describe(host, port, proxy.as_ref());
        let fut = async {
            match &proxy {
                None => Ok(Dialed {
                    stream: Prefixed::new(Bytes::new(), tcp(host, port, &target).await?),
                    http_proxy: false,
                }),
                Some(p) => Ok(Dialed {
                    stream: connect_through(p, host, port, &target).await?,
                    http_proxy: false,
                }),
            }
        };
        self.timed(&target, fut).await
    }

    /// A connection for plain http requests: to the proxy (absolute-form) or the origin.
    pub async fn http(&self, host: &str, port: u16) -> Result<Dialed, DialError> {
        let proxy = self.upstream.proxy_for(false, host).cloned();
        let target = describe(host, port, proxy.as_ref());
        let fut = async {
            let (h, p) = match &proxy {
                Some(p) => (p.host.as_str(), p.port),
                None => (host, port),
            };
            Ok(Dialed {
                stream: Prefixed::new(Bytes::new(), tcp(h, p, &target).await?),
                http_proxy: proxy.is_some(),
            })
        };
        self.timed(&target, fut).await
    }

    async fn timed<F>(&self, target: &str, fut: F) -> Result<Dialed, DialError>
    where
        F: Future<Output = Result<Dialed, DialError>>,
    {
        tokio::time::timeout(self.connect_timeout, fut)
            .await
            .unwrap_or_else(|_| {
                Err(DialError::Timeout {
                    target: target.to_string(),
                    timeout: self.connect_timeout,
                })
            })
    }
}

fn describe(host: &str, port: u16, proxy: Option<&ProxyAddr>) -> String {
    match proxy {
        Some(p) => format!("{host}:{port} via upstream proxy {p}"),
        None => format!("{host}:{port}"),
    }
}

async fn tcp(host: &str, port: u16, target: &str) -> Result<TcpStream, DialError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let stream = TcpStream::connect((bare, port))
        .await
        .map_err(|source| DialError::Connect {
            target: target.to_string(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Open a CONNECT tunnel through `proxy` and return the stream positioned after its answer.
async fn connect_through(
    proxy: &ProxyAddr,
    host: &str,
    port: u16,
    target: &str,
) -> Result<Prefixed<TcpStream>, DialError> {
    let mut stream = tcp(&proxy.host, proxy.port, target).await?;
    let io_err = |source| DialError::Connect {
        target: target.to_string(),
        source,
    };
    let request = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(io_err)?;
    let mut buf = Vec::with_capacity(512);
    let head_end = loop {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await.map_err(io_err)?;
        if n == 0 {
            return Err(io_err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "upstream proxy closed the connection before answering CONNECT",
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if buf.len() > MAX_PROXY_RESPONSE {
            return Err(io_err(io::Error::new(
                io::ErrorKind::InvalidData,
                "upstream proxy answer to CONNECT is too large",
            )));
        }
    };
    let status_line =
        String::from_utf8_lossy(&buf[..buf.iter().position(|&b| b == b'\r').unwrap_or(0)])
            .into_owned();
    let code = status_line.split_whitespace().nth(1);
    if !status_line.starts_with("HTTP/1.")
        || code.is_none_or(|c| !c.starts_with('2') || c.len() != 3)
    {
        return Err(DialError::Refused {
            proxy: proxy.to_string(),
            target: format!("{host}:{port}"),
            status: status_line.chars().take(200).collect(),
        });
    }
    Ok(Prefixed::new(
        Bytes::copy_from_slice(&buf[head_end..]),
        stream,
    ))
}
