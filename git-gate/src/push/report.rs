//! What the push hooks hand back to the server, and what the server hands them.
//!
//! The server writes a [`HookContext`] into a private per-push directory and
//! names it in `GIT_GATE_SESSION`; each hook writes its report there as JSON;
//! after `receive-pack` exits the server folds them into one audit record.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Environment variable naming the per-push session directory.
pub const SESSION_ENV: &str = "GIT_GATE_SESSION";
/// File names inside a session directory.
pub const CONTEXT_FILE: &str = "context.json";
/// The pre-receive hook's report.
pub const SCAN_FILE: &str = "scan.json";
/// The proc-receive hook's report.
pub const FORWARD_FILE: &str = "forward.json";

/// Everything a hook needs to know, decided by the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HookContext {
    /// Repo name.
    pub repo: String,
    /// Mirror path.
    pub mirror: PathBuf,
    /// Operator rules file.
    pub rules: Option<PathBuf>,
    /// Keep the built-in pack alongside `rules`.
    pub extend_default: bool,
    /// Largest blob scanned.
    pub max_blob_bytes: u64,
    /// Scan time limit, seconds.
    pub scan_timeout_secs: u64,
    /// Forwarding time limit, seconds.
    pub push_timeout_secs: u64,
}

/// One ref update as the client asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefUpdate {
    /// Full ref name.
    #[serde(rename = "ref")]
    pub name: String,
    /// Old object id (40 zeros: the ref is new).
    pub old: String,
    /// New object id (40 zeros: delete the ref).
    pub new: String,
}

/// Where a finding sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushFinding {
    /// Rule id.
    pub rule: String,
    /// Rule description.
    pub description: String,
    /// Commit (or tag object) the content belongs to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// What was scanned: a file path, `commit message`, `tag message`, …
    pub location: String,
    /// 1-based line in the file (new side), when it has lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Secret length in bytes; the value itself is never recorded.
    pub secret_len: usize,
}

impl PushFinding {
    /// One line for the person pushing: where, which rule, and that the value is withheld.
    pub fn describe(&self) -> String {
        let commit = self
            .commit
            .as_deref()
            .map(|c| format!("{} ", &c[..c.len().min(12)]))
            .unwrap_or_default();
        let at = match self.line {
            Some(l) => format!("{}:{l}", self.location),
            None => self.location.clone(),
        };
        format!(
            "{commit}{at}: {} ({}; secret redacted, {} chars)",
            self.rule, self.description, self.secret_len
        )
    }
}

/// The scan verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Nothing found; the push may be forwarded.
    Clean,
    /// Secrets (or refused blobs) found; the push is refused.
    Rejected,
    /// The scan could not complete; the push is refused.
    Error,
}

/// The pre-receive hook's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanReport {
    /// Ref updates in the push.
    pub refs: Vec<RefUpdate>,
    /// Commits scanned.
    pub commits: usize,
    /// Bytes of content scanned.
    pub bytes: u64,
    /// Findings (secrets redacted).
    pub findings: Vec<PushFinding>,
    /// Blobs refused unscanned (too large), as `path (N bytes)`.
    pub oversized: Vec<String>,
    /// Outcome.
    pub verdict: Verdict,
    /// Why the scan failed, for `Verdict::Error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Scan time in milliseconds.
    pub duration_ms: u64,
}

/// The upstream's answer for one ref.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamResult {
    /// Full ref name.
    #[serde(rename = "ref")]
    pub name: String,
    /// Whether the upstream accepted it.
    pub ok: bool,
    /// The upstream's reason when it did not (or git's summary when it did).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The proc-receive hook's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForwardReport {
    /// Per-ref upstream outcome.
    pub results: Vec<UpstreamResult>,
    /// Whether the client asked for an atomic push (forwarded atomically).
    pub atomic: bool,
    /// Forwarding time in milliseconds.
    pub duration_ms: u64,
}

/// Write a report as JSON (mode 0600).
pub fn write_report<T: Serialize>(dir: &Path, name: &str, value: &T) -> std::io::Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    bottle_common::atomic::write_atomic(&dir.join(name), &text, 0o600)
}

/// Read a report written by [`write_report`], if present and well-formed.
pub fn read_report<T: for<'de> Deserialize<'de>>(dir: &Path, name: &str) -> Option<T> {
    let text = std::fs::read(dir.join(name)).ok()?;
    serde_json::from_slice(&text).ok()
}
