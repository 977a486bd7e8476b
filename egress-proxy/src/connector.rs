//! The pooled client's connector: origin streams that know how they were reached.
//!
//! hyper-util's pool asks for a connection per scheme and authority; this
//! opens it through [`Dialer`] (direct or via the upstream proxy) and adds
//! TLS for https, reporting ALPN h2 and absolute-form needs back to the pool.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::dial::Dialer;
use crate::io::Prefixed;
use crate::origin_tls::server_name;

/// Connects the pooled client to origins.
#[derive(Debug, Clone)]
pub struct Connector {
    dialer: Arc<Dialer>,
    tls: Arc<ClientConfig>,
}

impl Connector {
    /// A connector dialing with `dialer` and verifying origins with `tls`.
    pub fn new(dialer: Arc<Dialer>, tls: Arc<ClientConfig>) -> Connector {
        Connector { dialer, tls }
    }
}

/// An open connection to an origin (or to the upstream proxy for plain http).
#[derive(Debug)]
pub enum OriginStream {
    /// Plain TCP; `proxied` when it goes to an HTTP proxy.
    Plain {
        /// The stream.
        io: Prefixed<TcpStream>,
        /// Requests must be absolute-form.
        proxied: bool,
    },
    /// TLS to the origin.
    Tls(Box<TlsStream<Prefixed<TcpStream>>>),
}

/// Open a TLS connection to `host:port` (through the upstream proxy when configured).
pub async fn connect_tls(
    dialer: &Dialer,
    tls: Arc<ClientConfig>,
    host: &str,
    port: u16,
) -> io::Result<TlsStream<Prefixed<TcpStream>>> {
    let dialed = dialer
        .tunnel(host, port, true)
        .await
        .map_err(io::Error::other)?;
    let name = server_name(host).map_err(io::Error::other)?;
    TlsConnector::from(tls)
        .connect(name, dialed.stream)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("TLS to {host}:{port} failed: {e}")))
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<OriginStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| io::Error::other(format!("URI {uri} has no host")))?;
            let https = uri.scheme_str() == Some("https");
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let stream = if https {
                OriginStream::Tls(Box::new(
                    connect_tls(&this.dialer, this.tls, host, port).await?,
                ))
            } else {
                let dialed = this
                    .dialer
                    .http(host, port)
                    .await
                    .map_err(io::Error::other)?;
                OriginStream::Plain {
                    io: dialed.stream,
                    proxied: dialed.http_proxy,
                }
            };
            Ok(TokioIo::new(stream))
        })
    }
}

impl Connection for OriginStream {
    fn connected(&self) -> Connected {
        match self {
            OriginStream::Plain { proxied, .. } => Connected::new().proxy(*proxied),
            OriginStream::Tls(tls) => {
                if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                    Connected::new().negotiated_h2()
                } else {
                    Connected::new()
                }
            }
        }
    }
}

impl AsyncRead for OriginStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            OriginStream::Plain { io, .. } => Pin::new(io).poll_read(cx, buf),
            OriginStream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for OriginStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            OriginStream::Plain { io, .. } => Pin::new(io).poll_write(cx, buf),
            OriginStream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            OriginStream::Plain { io, .. } => Pin::new(io).poll_write_vectored(cx, bufs),
            OriginStream::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            OriginStream::Plain { io, .. } => io.is_write_vectored(),
            OriginStream::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            OriginStream::Plain { io, .. } => Pin::new(io).poll_flush(cx),
            OriginStream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            OriginStream::Plain { io, .. } => Pin::new(io).poll_shutdown(cx),
            OriginStream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}
