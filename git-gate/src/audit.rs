//! Audit records: one JSON object per fetch, per push, and per refused request.
//!
//! Every field is documented in docs/git-gate.md. Secrets never appear: a
//! finding records rule, commit, path, line and the secret's length only.

use serde::Serialize;

use crate::mirror::{RefMove, SyncKind, SyncOutcome};
use crate::push::report::{PushFinding, RefUpdate, ScanReport, UpstreamResult, Verdict};

/// One audit line (after the `ts` field the log adds).
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AuditEvent {
    /// A clone, fetch, pull or ls-remote.
    Fetch(FetchRecord),
    /// A push.
    Push(PushRecord),
    /// A request refused before any service ran.
    Refused(RefusedRecord),
}

/// Refs listed per sync record; `refs_changed` still counts them all.
pub const MAX_LISTED_MOVES: usize = 100;

/// The mirror sync that preceded a request.
#[derive(Debug, Clone, Serialize)]
pub struct SyncRecord {
    /// Round number for this repo; requests sharing one round share the id.
    pub id: u64,
    /// `skipped` (refs matched), `fetched`, or `error`.
    pub result: &'static str,
    /// Refs that were added, moved or removed by the fetch.
    pub refs_changed: usize,
    /// Which refs moved, old → new (the first [`MAX_LISTED_MOVES`] by name).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refs: Vec<RefMove>,
    /// Why it failed, for `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Duration of the round in milliseconds.
    pub duration_ms: u64,
}

impl From<&SyncOutcome> for SyncRecord {
    fn from(o: &SyncOutcome) -> Self {
        let (result, moves, error) = match &o.result {
            Ok((SyncKind::Skipped, m)) => ("skipped", &m[..], None),
            Ok((SyncKind::Fetched, m)) => ("fetched", &m[..], None),
            Err(e) => ("error", &[][..], Some(e.0.clone())),
        };
        SyncRecord {
            id: o.id,
            result,
            refs_changed: moves.len(),
            refs: moves.iter().take(MAX_LISTED_MOVES).cloned().collect(),
            error,
            duration_ms: o.duration.as_millis() as u64,
        }
    }
}

/// What happened to the client's connection after the request was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The service ran to completion.
    Served,
    /// The upstream could not be synced; the client got `ERR`.
    SyncFailed,
    /// The service exited with an error status.
    ServiceFailed,
    /// The client went quiet for longer than `timeouts.idle`.
    IdleTimeout,
    /// The service could not be started.
    SpawnFailed,
}

/// A fetch-side request.
#[derive(Debug, Serialize)]
pub struct FetchRecord {
    /// Repo name.
    pub repo: String,
    /// Always `git-upload-pack`.
    pub service: &'static str,
    /// Client address.
    pub client: String,
    /// Protocol version the client asked for, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u8>,
    /// The sync before serving.
    pub sync: SyncRecord,
    /// How it ended.
    pub outcome: Outcome,
    /// `git upload-pack`'s exit status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Bytes received from the client.
    pub bytes_in: u64,
    /// Bytes sent to the client.
    pub bytes_out: u64,
    /// Whole request in milliseconds.
    pub duration_ms: u64,
}

/// The scan part of a push record.
#[derive(Debug, Serialize)]
pub struct ScanRecord {
    /// `clean`, `rejected` or `error`.
    pub verdict: Verdict,
    /// Commits scanned.
    pub commits: usize,
    /// Bytes scanned.
    pub bytes: u64,
    /// Findings, secrets redacted.
    pub findings: Vec<PushFinding>,
    /// Blobs refused for size.
    pub oversized: Vec<String>,
    /// Why the scan failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Scan time in milliseconds.
    pub duration_ms: u64,
}

impl From<ScanReport> for ScanRecord {
    fn from(r: ScanReport) -> Self {
        ScanRecord {
            verdict: r.verdict,
            commits: r.commits,
            bytes: r.bytes,
            findings: r.findings,
            oversized: r.oversized,
            error: r.error,
            duration_ms: r.duration_ms,
        }
    }
}

/// The forwarding part of a push record.
#[derive(Debug, Serialize)]
pub struct ForwardRecord {
    /// Whether the push was forwarded atomically (the client asked for `--atomic`).
    pub atomic: bool,
    /// The upstream's verdict per ref.
    pub results: Vec<UpstreamResult>,
    /// Forwarding time in milliseconds.
    pub duration_ms: u64,
}

/// The overall result of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PushVerdict {
    /// Every ref reached the upstream.
    Forwarded,
    /// Some refs reached the upstream, some were refused by it.
    PartiallyForwarded,
    /// The upstream refused every ref.
    UpstreamRejected,
    /// The scan found secrets (or oversized blobs); nothing was forwarded.
    RejectedSecrets,
    /// The scan failed or timed out; nothing was forwarded.
    RejectedScanError,
    /// The upstream could not be synced before the push; the client got `ERR`.
    SyncFailed,
    /// The client disconnected or sent nothing to update before the hooks ran.
    Incomplete,
}

/// A push.
#[derive(Debug, Serialize)]
pub struct PushRecord {
    /// Repo name.
    pub repo: String,
    /// Always `git-receive-pack`.
    pub service: &'static str,
    /// Client address.
    pub client: String,
    /// The sync before serving.
    pub sync: SyncRecord,
    /// Ref updates requested (old → new).
    pub refs: Vec<RefUpdate>,
    /// The scan, if it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanRecord>,
    /// The forward, if it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward: Option<ForwardRecord>,
    /// Overall result.
    pub verdict: PushVerdict,
    /// How the connection ended.
    pub outcome: Outcome,
    /// Bytes received from the client.
    pub bytes_in: u64,
    /// Bytes sent to the client.
    pub bytes_out: u64,
    /// Whole request in milliseconds.
    pub duration_ms: u64,
}

/// A request refused before a service ran.
#[derive(Debug, Serialize)]
pub struct RefusedRecord {
    /// Client address.
    pub client: String,
    /// Why (the text the client got as `ERR`).
    pub reason: String,
    /// Milliseconds until the refusal.
    pub duration_ms: u64,
}

/// The push verdict implied by the hook reports.
pub fn push_verdict(scan: Option<&ScanRecord>, forward: Option<&ForwardRecord>) -> PushVerdict {
    match (scan.map(|s| s.verdict), forward) {
        (Some(Verdict::Rejected), _) => PushVerdict::RejectedSecrets,
        (Some(Verdict::Error), _) => PushVerdict::RejectedScanError,
        (_, Some(f)) => {
            let ok = f.results.iter().filter(|r| r.ok).count();
            match ok {
                n if n == f.results.len() => PushVerdict::Forwarded,
                0 => PushVerdict::UpstreamRejected,
                _ => PushVerdict::PartiallyForwarded,
            }
        }
        _ => PushVerdict::Incomplete,
    }
}
