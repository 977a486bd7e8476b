//! MCP load generator for bench/supervise.sh.
//!
//! `calls`: N keep-alive HTTP/1.1 connections send the same stateless
//! `tools/call` back to back for a fixed time after a warm-up; prints one JSON
//! line with requests/s and latency percentiles. Works against any Streamable
//! HTTP MCP server that answers stateless requests (supervise, or the Python
//! SDK's server with `stateless_http=True`).
//!
//! `decision`: queues a valid proposal through the server, answers it through
//! the queue library as soon as it appears, and measures how long the waiting
//! call takes to return after the answer was written.
//!
//! cargo bench -p supervise --bench mcp_load -- calls --url http://127.0.0.1:9100/mcp \
//!     --tool list-egress-routes [--args '{}'] [--connections 8] [--duration 10] [--warmup 2]
//! cargo bench -p supervise --bench mcp_load -- decision --url URL --queue DIR [--rounds 20]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use supervise::queue::{Answer, Queue, Status};
use tokio::net::TcpStream;

#[derive(Debug, Clone)]
struct Options {
    mode: String,
    url: http::Uri,
    tool: String,
    args: String,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    queue: Option<PathBuf>,
    rounds: usize,
}

fn options() -> Options {
    let mut argv = std::env::args().skip(1).filter(|a| a != "--bench");
    let mode = argv.next().expect("first argument: calls or decision");
    let mut o = Options {
        mode,
        url: "http://127.0.0.1:9100/mcp".parse().unwrap(),
        tool: "list-egress-routes".into(),
        args: "{}".into(),
        connections: 8,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(2),
        queue: None,
        rounds: 20,
    };
    while let Some(flag) = argv.next() {
        let value = argv
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => o.url = value.parse().expect("--url"),
            "--tool" => o.tool = value,
            "--args" => o.args = value,
            "--connections" => o.connections = value.parse().expect("--connections"),
            "--duration" => {
                o.duration = Duration::from_secs_f64(value.parse().expect("--duration"))
            }
            "--warmup" => o.warmup = Duration::from_secs_f64(value.parse().expect("--warmup")),
            "--queue" => o.queue = Some(value.into()),
            "--rounds" => o.rounds = value.parse().expect("--rounds"),
            other => panic!("unknown flag {other}"),
        }
    }
    o
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(url: &http::Uri) -> Sender {
    let authority = url
        .authority()
        .expect("URL with host:port")
        .as_str()
        .to_string();
    let stream = TcpStream::connect(&authority).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP handshake");
    tokio::spawn(conn);
    sender
}

/// One stateless tools/call; returns the response body.
async fn call(sender: &mut Sender, url: &http::Uri, id: u64, tool: &str, args: &str) -> String {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{args}}}}}"#
    );
    let request = http::Request::post(url.path())
        .header(http::header::HOST, url.authority().unwrap().as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    sender.ready().await.expect("connection ready");
    let response = sender.send_request(request).await.expect("send request");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("read body")
        .to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

async fn calls(o: Options) {
    let start = Instant::now();
    let measure_from = start + o.warmup;
    let end = measure_from + o.duration;
    let mut workers = Vec::new();
    for w in 0..o.connections {
        let o = o.clone();
        workers.push(tokio::spawn(async move {
            let mut sender = connect(&o.url).await;
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut id = (w as u64) << 32;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                id += 1;
                let body = call(&mut sender, &o.url, id, &o.tool, &o.args).await;
                if t0 >= measure_from {
                    if body.contains("\"result\"") {
                        latencies.push(t0.elapsed());
                    } else {
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    println!(
        "{{\"tool\":\"{}\",\"connections\":{},\"requests\":{},\"errors\":{},\"rps\":{:.0},\"p50_ms\":{:.2},\"p99_ms\":{:.2}}}",
        o.tool,
        o.connections,
        latencies.len(),
        errors,
        latencies.len() as f64 / o.duration.as_secs_f64(),
        pct(0.50),
        pct(0.99)
    );
}

async fn decision(o: Options) {
    let queue = Queue::open(o.queue.as_deref().expect("--queue DIR")).expect("open queue");
    let mut after_answer = Vec::new();
    for round in 0..o.rounds {
        let before: Vec<_> = queue
            .list()
            .unwrap()
            .into_iter()
            .map(|e| e.proposal.id)
            .collect();
        let mut sender = connect(&o.url).await;
        let url = o.url.clone();
        let args = format!(
            r#"{{"routes":"routes:\n  - host: bench{round}.example.com\n","justification":"bench"}}"#
        );
        let waiting =
            tokio::spawn(async move { call(&mut sender, &url, 1, "egress-block", &args).await });
        let id = loop {
            let fresh = queue
                .list()
                .unwrap()
                .into_iter()
                .map(|e| e.proposal.id)
                .find(|id| !before.contains(id));
            if let Some(id) = fresh {
                break id;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let answered = Instant::now();
        queue
            .answer(&id, Answer::new(Status::Approved, "", "bench").unwrap())
            .unwrap();
        let body = waiting.await.unwrap();
        after_answer.push(answered.elapsed());
        assert!(body.contains("approved"), "{body}");
    }
    after_answer.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{{\"rounds\":{},\"answer_to_return_p50_ms\":{:.1},\"answer_to_return_max_ms\":{:.1}}}",
        o.rounds,
        ms(&after_answer[after_answer.len() / 2]),
        ms(after_answer.last().unwrap())
    );
}

fn main() {
    let o = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match o.mode.as_str() {
        "calls" => runtime.block_on(calls(o)),
        "decision" => runtime.block_on(decision(o)),
        other => panic!("unknown mode {other}; use calls or decision"),
    }
}
