//! HTTPS load generator for bench/egress-proxy.sh.
//!
//! Opens N keep-alive HTTP/1.1 connections over TLS, directly or through an
//! HTTP proxy with CONNECT, sends GETs back to back for a fixed time after a
//! warm-up, and prints one JSON line: requests/s, latency percentiles and
//! body throughput.
//!
//! cargo bench -p egress-proxy --bench loadgen -- --url https://localhost:8443/x \
//!     --cacert ca.pem [--proxy 127.0.0.1:3128] [--connections 16] [--duration 10] [--warmup 2]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Options {
    url: http::Uri,
    proxy: Option<SocketAddr>,
    cacert: PathBuf,
    connections: usize,
    duration: Duration,
    warmup: Duration,
}

fn options() -> Options {
    let mut args = std::env::args().skip(1);
    let mut url = None;
    let mut proxy = None;
    let mut cacert = None;
    let mut connections = 16;
    let mut duration = 10.0;
    let mut warmup = 2.0;
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--url" => url = Some(value().parse().expect("--url")),
            "--proxy" => proxy = Some(value().parse().expect("--proxy host:port")),
            "--cacert" => cacert = Some(PathBuf::from(value())),
            "--connections" => connections = value().parse().expect("--connections"),
            "--duration" => duration = value().parse().expect("--duration seconds"),
            "--warmup" => warmup = value().parse().expect("--warmup seconds"),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    Options {
        url: url.expect("--url is required"),
        proxy,
        cacert: cacert.expect("--cacert is required"),
        connections,
        duration: Duration::from_secs_f64(duration),
        warmup: Duration::from_secs_f64(warmup),
    }
}

fn tls_config(cacert: &PathBuf) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cacert).expect("read --cacert") {
        roots
            .add(cert.expect("PEM certificate"))
            .expect("usable CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

async fn connect(
    o: &Options,
    tls: Arc<rustls::ClientConfig>,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let host = o.url.host().expect("URL host").to_string();
    let port = o.url.port_u16().unwrap_or(443);
    let tcp = match o.proxy {
        Some(p) => {
            let mut s = TcpStream::connect(p).await.expect("connect to proxy");
            s.write_all(
                format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n").as_bytes(),
            )
            .await
            .expect("send CONNECT");
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let b = s.read_u8().await.expect("CONNECT answer");
                head.push(b);
            }
            assert!(
                head.starts_with(b"HTTP/1.1 200"),
                "CONNECT refused: {}",
                String::from_utf8_lossy(&head)
            );
            s
        }
        None => TcpStream::connect((host.as_str(), port))
            .await
            .expect("connect to origin"),
    };
    tcp.set_nodelay(true).ok();
    let name = ServerName::try_from(host).expect("server name");
    tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .expect("TLS handshake")
}

struct Sample {
    latencies_us: Vec<u32>,
    bytes: u64,
}

async fn worker(o: Arc<Options>, tls: Arc<rustls::ClientConfig>, start: Instant) -> Sample {
    let stream = connect(&o, tls).await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP handshake");
    tokio::spawn(conn);
    let authority = o.url.authority().expect("authority").to_string();
    let path = o
        .url
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let measure_from = start + o.warmup;
    let end = measure_from + o.duration;
    let mut sample = Sample {
        latencies_us: Vec::with_capacity(1 << 16),
        bytes: 0,
    };
    loop {
        let t = Instant::now();
        if t >= end {
            return sample;
        }
        let req = http::Request::get(path.as_str())
            .header(http::header::HOST, authority.as_str())
            .body(Empty::<Bytes>::new())
            .expect("request");
        let resp = sender.send_request(req).await.expect("response");
        assert!(resp.status().is_success(), "status {}", resp.status());
        let mut body = resp.into_body();
        let mut n = 0u64;
        while let Some(frame) = body.frame().await {
            if let Some(d) = frame.expect("body").data_ref() {
                n += d.len() as u64;
            }
        }
        if t >= measure_from {
            sample
                .latencies_us
                .push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
            sample.bytes += n;
        }
    }
}

fn main() {
    let o = Arc::new(options());
    let tls = tls_config(&o.cacert);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let samples: Vec<Sample> = runtime.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..o.connections)
            .map(|_| tokio::spawn(worker(o.clone(), tls.clone(), start)))
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("worker"));
        }
        out
    });
    let mut all: Vec<u32> = samples
        .iter()
        .flat_map(|s| s.latencies_us.iter().copied())
        .collect();
    all.sort_unstable();
    let bytes: u64 = samples.iter().map(|s| s.bytes).sum();
    let secs = o.duration.as_secs_f64();
    let pct = |p: f64| {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[i] as f64 / 1000.0
    };
    println!(
        "{{\"requests\":{},\"rps\":{:.1},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"mib_s\":{:.1}}}",
        all.len(),
        all.len() as f64 / secs,
        pct(0.50),
        pct(0.99),
        bytes as f64 / secs / (1024.0 * 1024.0)
    );
}
