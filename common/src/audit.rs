//! Append-only JSON-lines audit logs, written off the async runtime.
//!
//! Every sidecar records its decisions through [`AuditLog`]: one JSON object
//! per line with a `ts` field first, so `jq` and log shippers read them as-is.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde::Serialize;

enum Msg {
    Line(String),
    Flush(mpsc::Sender<()>),
}

/// Where audit lines go; cheap to clone, safe to call from async code (never blocks on disk).
#[derive(Clone)]
pub struct AuditLog {
    tx: Option<mpsc::Sender<Msg>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("enabled", &self.tx.is_some())
            .finish()
    }
}

/// Failure to open an audit log; a sidecar refuses to start rather than run unaudited.
#[derive(Debug, thiserror::Error)]
#[error("cannot open audit log {path}: {source}; check that its directory exists and is writable")]
pub struct AuditOpenError {
    path: PathBuf,
    #[source]
    source: io::Error,
}

impl AuditLog {
    /// An audit log that drops every record (no `--audit-log` given).
    pub fn disabled() -> AuditLog {
        AuditLog { tx: None }
    }

    /// Whether records go anywhere (`false` for [`AuditLog::disabled`]).
    pub fn is_enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Append to `path` (created 0600 if missing); `-` means standard output.
    pub fn open(path: &Path) -> Result<AuditLog, AuditOpenError> {
        let mut sink: Box<dyn Write + Send> = if path == Path::new("-") {
            Box::new(io::stdout())
        } else {
            let mut options = OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            Box::new(options.open(path).map_err(|source| AuditOpenError {
                path: path.to_path_buf(),
                source,
            })?)
        };
        let (tx, rx) = mpsc::channel::<Msg>();
        let name = path.display().to_string();
        thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || write_batches(&rx, sink.as_mut(), &name))
            .map_err(|source| AuditOpenError {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(AuditLog { tx: Some(tx) })
    }

    /// Record one event; `event` must serialize to a JSON object.
    pub fn record<E: Serialize>(&self, event: &E) {
        let Some(tx) = &self.tx else { return };
        let line = match audit_line(event) {
            Ok(line) => line,
            Err(e) => {
                tracing::error!(error = %e, "audit event is not a JSON object; dropped");
                return;
            }
        };
        let _ = tx.send(Msg::Line(line));
    }

    /// Wait until every record so far is written (used at shutdown and in tests).
    pub fn flush(&self) {
        let Some(tx) = &self.tx else { return };
        let (done_tx, done_rx) = mpsc::channel();
        if tx.send(Msg::Flush(done_tx)).is_ok() {
            let _ = done_rx.recv();
        }
    }
}

/// How long the writer lets records gather after a write before it sleeps on the
/// channel again. Under load this turns one wake-up and one `write` per record
/// into one per batch; a lone record still reaches the file at once.
const BATCH_WINDOW: Duration = Duration::from_millis(5);

/// The writer thread: wait for a record, take every record queued behind it,
/// write them with one call, then let the next batch gather.
fn write_batches(rx: &mpsc::Receiver<Msg>, sink: &mut dyn Write, name: &str) {
    let mut batch = String::new();
    while let Ok(first) = rx.recv() {
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Line(line) => batch.push_str(&line),
                Msg::Flush(done) => flushes.push(done),
            }
            next = rx.try_recv().ok();
        }
        if !batch.is_empty() {
            if let Err(e) = sink.write_all(batch.as_bytes()) {
                tracing::error!(audit_log = %name, error = %e, "audit log write failed");
            }
            batch.clear();
        }
        if !flushes.is_empty() {
            let _ = sink.flush();
            for done in flushes {
                let _ = done.send(());
            }
            continue;
        }
        thread::sleep(BATCH_WINDOW);
    }
    let _ = sink.flush();
}

/// Render `event` as one audit line: `{"ts":"…",<event fields>}\n`.
pub fn audit_line<E: Serialize>(event: &E) -> Result<String, serde_json::Error> {
    let body = serde_json::to_string(event)?;
    let Some(fields) = body.strip_prefix('{') else {
        return Err(serde::ser::Error::custom(
            "audit event must be a JSON object",
        ));
    };
    let ts = crate::time::now_rfc3339();
    let sep = if fields == "}" { "" } else { "," };
    Ok(format!("{{\"ts\":\"{ts}\"{sep}{fields}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_are_objects_with_timestamp_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        log.record(&json!({"decision": "allow", "host": "a.com"}));
        log.record(&json!({}));
        log.flush();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        for line in lines {
            assert!(line.starts_with("{\"ts\":\""), "{line}");
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v["ts"].as_str().unwrap().ends_with('Z'));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn concurrent_records_arrive_whole_and_in_order_per_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        std::thread::scope(|s| {
            for t in 0..8 {
                let log = log.clone();
                s.spawn(move || {
                    for i in 0..500 {
                        log.record(&json!({"writer": t, "seq": i, "pad": "x".repeat(i % 97)}));
                    }
                });
            }
        });
        log.flush();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut next = [0u64; 8];
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let t = v["writer"].as_u64().unwrap() as usize;
            assert_eq!(
                v["seq"].as_u64().unwrap(),
                next[t],
                "writer {t} out of order"
            );
            next[t] += 1;
        }
        assert_eq!(next, [500; 8]);
    }

    #[test]
    fn only_an_opened_log_is_enabled() {
        assert!(!AuditLog::disabled().is_enabled());
        let dir = tempfile::tempdir().unwrap();
        assert!(
            AuditLog::open(&dir.path().join("a.jsonl"))
                .unwrap()
                .is_enabled()
        );
    }

    #[test]
    fn non_objects_are_refused() {
        assert!(audit_line(&json!([1, 2])).is_err());
        assert!(audit_line(&json!("x")).is_err());
    }

    #[test]
    fn unwritable_path_is_a_clear_error() {
        let e = AuditLog::open(Path::new("/nonexistent-dir/x/audit.jsonl")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent-dir/x/audit.jsonl"));
    }
}
