//! Helpers shared by supervise's integration tests: the real binary, the Python MCP client,
//! and the queue as the operator sees it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use bottle_tests::supervise::SuperviseServer;
use bottle_tests::tools::required_tool;
use serde_json::Value;
use supervise::queue::{Entry, Queue, Status};

/// The supervise binary under test.
pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_supervise"))
}

/// Start a server whose calls wait `decision_timeout` seconds, with fast progress.
pub fn server(decision_timeout: &str, extra: &[&str]) -> SuperviseServer {
    let mut args = vec!["--progress-interval", "0.3"];
    args.extend_from_slice(extra);
    SuperviseServer::start(binary(), decision_timeout, &args)
}

/// Run `supervise queue ARGS...` and return its output.
pub fn queue_cli(args: &[&str]) -> Output {
    Command::new(binary())
        .arg("queue")
        .args(args)
        .env("USER", "test-operator")
        .output()
        .expect("run supervise queue")
}

/// Answer proposal `id` in `queue_dir` as the operator (`verb` is `approve` or `reject`), with
/// `comment` if given; panics unless `supervise queue` succeeds.
pub fn answer(queue_dir: &Path, verb: &str, id: &str, comment: Option<&str>) {
    let mut args = vec![verb, id, "--queue", queue_dir.to_str().unwrap()];
    if let Some(comment) = comment {
        args.extend(["--comment", comment]);
    }
    let out = queue_cli(&args);
    assert!(out.status.success(), "queue {verb} {id}: {out:?}");
}

/// Wait until the queue holds `count` pending proposals; return them oldest first.
pub fn wait_for_pending(queue_dir: &Path, count: usize) -> Vec<Entry> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(queue) = Queue::open(queue_dir) {
            let pending: Vec<Entry> = queue
                .list()
                .unwrap()
                .into_iter()
                .filter(|e| e.status() == Status::Pending)
                .collect();
            if pending.len() >= count {
                return pending;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no {count} pending proposals in {}",
            queue_dir.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every proposal in the queue.
pub fn entries(queue_dir: &Path) -> Vec<Entry> {
    match Queue::open(queue_dir) {
        Ok(q) => q.list().unwrap(),
        Err(_) => Vec::new(),
    }
}

/// The Python interpreter with the `mcp` package, from scripts/test-env.
pub fn python() -> PathBuf {
    required_tool("BOTTLE_TEST_MCP_PYTHON", "python-with-mcp-sdk")
}

/// A running Python MCP client; killed when dropped.
pub struct PyClient {
    child: Child,
    lines: Receiver<Value>,
    stderr: Receiver<String>,
}

impl PyClient {
    /// Start `mcp_client.py URL --mode MODE ARGS...` with `input` on its standard input.
    pub fn start(url: &str, mode: &str, args: &[&str], input: &str) -> PyClient {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp_client.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg(url)
            .args(["--mode", mode])
            .args(args)
            .env("NO_PROXY", "*")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the Python MCP client");
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(input.as_bytes())
            .expect("write the call's arguments");
        drop(stdin);
        let (tx, lines) = channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("client printed non-JSON {line:?}: {e}"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let (etx, stderr) = channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                text.push_str(&line);
                text.push('\n');
            }
            let _ = etx.send(text);
        });
        PyClient {
            child,
            lines,
            stderr,
        }
    }

    /// Call `tool` with `arguments`, progress notifications on.
    pub fn call(url: &str, mode: &str, tool: &str, arguments: &Value) -> PyClient {
        PyClient::start(
            url,
            mode,
            &["call", tool, "--progress"],
            &arguments.to_string(),
        )
    }

    /// Wait for the final result, returning it with the progress values seen before it.
    pub fn result(self, timeout: Duration) -> (Value, Vec<Value>) {
        match self.outcome(timeout) {
            Ok(done) => done,
            Err(failure) => panic!("client failed: {failure}"),
        }
    }

    /// Wait for the final result, or the error the client reported (with its stderr).
    pub fn outcome(mut self, timeout: Duration) -> Result<(Value, Vec<Value>), String> {
        let deadline = Instant::now() + timeout;
        let mut progress = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if v.get("progress").is_some() => progress.push(v),
                Ok(v) if v.get("result").is_some() => return Ok((v["result"].clone(), progress)),
                Ok(v) => return Err(format!("{v}\nstderr:\n{}", self.stderr_text())),
                Err(RecvTimeoutError::Timeout) => panic!("no result within {timeout:?}"),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "client exited without a result; stderr:\n{}",
                        self.stderr_text()
                    ));
                }
            }
        }
    }

    /// Kill the client process (an abrupt disconnect).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn stderr_text(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .recv_timeout(Duration::from_secs(2))
            .unwrap_or_default()
    }
}

impl Drop for PyClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Call a tool that answers at once and return its result.
pub fn call_now(url: &str, tool: &str, arguments: Value) -> Value {
    PyClient::call(url, "legacy", tool, &arguments)
        .result(Duration::from_secs(30))
        .0
}
