//! The operator's audit trail of one bottle: `state/<id>/audit.jsonl`.
//!
//! One JSON object per line (`ts` first): when an operator tool first showed
//! a proposal (`seen`), who decided what (`decision`), and what was applied
//! with what result (`result`). supervise's own log (`logs/supervise/`)
//! records the agent's side; this one records the host's.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;

use bottle_common::audit::AuditLog;
use serde::Serialize;
use supervise::queue::Proposal;

use super::apply::Applied;
use super::review::Review;
use crate::state::StateDir;

/// Which operator tool acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// `bottle proposals`, `bottle approve`, `bottle reject`.
    Cli,
    /// `bottle dashboard`.
    Dashboard,
}

/// The audit log of one bottle.
#[derive(Debug)]
pub struct OperatorAudit {
    log: AuditLog,
    path: PathBuf,
    seen: Mutex<HashSet<String>>,
}

#[derive(Serialize)]
struct Seen<'a> {
    event: &'static str,
    bottle: &'a str,
    proposal: &'a str,
    tool: &'static str,
    created_at: &'a str,
    justification: &'a str,
    bytes: usize,
    credential_warnings: &'a [String],
    refusal: Option<&'a str>,
    by: &'a str,
    via: Via,
}

#[derive(Serialize)]
struct DecisionLine<'a> {
    event: &'static str,
    bottle: &'a str,
    proposal: &'a str,
    tool: &'static str,
    decision: &'static str,
    by: &'a str,
    via: Via,
    comment: &'a str,
    credential_warnings: &'a [String],
}

/// How a decision ended, for the `result` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Applied and answered `approved`.
    Approved,
    /// Answered `rejected`.
    Rejected,
    /// Approved, the apply was refused; answered `failed`.
    Failed,
    /// Approved but not applied (bottle not running, Docker unreachable); still pending.
    NotApplied,
    /// Applied, but someone else answered the proposal first.
    AnsweredElsewhere,
}

#[derive(Serialize)]
struct ResultLine<'a> {
    event: &'static str,
    bottle: &'a str,
    proposal: &'a str,
    tool: &'static str,
    result: Ending,
    by: &'a str,
    applied: Option<&'a Applied>,
    error: Option<&'a str>,
    duration_ms: u64,
}

impl OperatorAudit {
    /// Open (create, 0600) the audit log of the bottle in `state`.
    pub fn open(state: &StateDir) -> anyhow::Result<OperatorAudit> {
        let path = state.root().join("audit.jsonl");
        let log = AuditLog::open(&path)?;
        Ok(OperatorAudit {
            log,
            path,
            seen: Mutex::new(HashSet::new()),
        })
    }

    /// Record that an operator tool showed `proposal`, once per proposal.
    pub fn seen(&self, bottle: &str, proposal: &Proposal, review: &Review, by: &str, via: Via) {
        let id = proposal.id.as_str().to_string();
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if seen.contains(&id) || self.recorded(&id) {
                seen.insert(id);
                return;
            }
            seen.insert(id);
        }
        self.log.record(&Seen {
            event: "seen",
            bottle,
            proposal: proposal.id.as_str(),
            tool: proposal.tool.name(),
            created_at: &proposal.created_at,
            justification: &proposal.justification,
            bytes: proposal.content.len(),
            credential_warnings: &review.credential_warnings,
            refusal: review.refusal.as_deref(),
            by,
            via,
        });
    }

    /// Whether the file already has a `seen` record for `id` (ids are `[a-z0-9-]`, never escaped).
    fn recorded(&self, id: &str) -> bool {
        let needle = format!("\"proposal\":\"{id}\"");
        std::fs::read_to_string(&self.path).is_ok_and(|text| {
            text.lines()
                .any(|l| l.contains("\"event\":\"seen\"") && l.contains(&needle))
        })
    }

    /// Record an operator's decision, before it is applied.
    pub fn decision(&self, record: DecisionRecord<'_>) {
        self.log.record(&DecisionLine {
            event: "decision",
            bottle: record.bottle,
            proposal: record.proposal.id.as_str(),
            tool: record.proposal.tool.name(),
            decision: if record.approve { "approve" } else { "reject" },
            by: record.by,
            via: record.via,
            comment: record.comment,
            credential_warnings: record.credential_warnings,
        });
    }

    /// Record how a decision ended.
    pub fn result(&self, record: ResultRecord<'_>) {
        self.log.record(&ResultLine {
            event: "result",
            bottle: record.bottle,
            proposal: record.proposal.id.as_str(),
            tool: record.proposal.tool.name(),
            result: record.ending,
            by: record.by,
            applied: record.applied,
            error: record.error,
            duration_ms: record.duration_ms,
        });
    }

    /// Wait until every record so far is on disk.
    pub fn flush(&self) {
        self.log.flush();
    }
}

/// A `decision` record's facts.
#[derive(Debug, Clone, Copy)]
pub struct DecisionRecord<'a> {
    /// Bottle id.
    pub bottle: &'a str,
    /// The proposal.
    pub proposal: &'a Proposal,
    /// Approve (true) or reject.
    pub approve: bool,
    /// Who decided.
    pub by: &'a str,
    /// Through which tool.
    pub via: Via,
    /// The operator's comment.
    pub comment: &'a str,
    /// Credential warnings the operator confirmed (approvals).
    pub credential_warnings: &'a [String],
}

/// A `result` record's facts.
#[derive(Debug, Clone, Copy)]
pub struct ResultRecord<'a> {
    /// Bottle id.
    pub bottle: &'a str,
    /// The proposal.
    pub proposal: &'a Proposal,
    /// How it ended.
    pub ending: Ending,
    /// Who decided.
    pub by: &'a str,
    /// What was changed, when something was.
    pub applied: Option<&'a Applied>,
    /// Why it failed or was not applied.
    pub error: Option<&'a str>,
    /// Time from decision to answer.
    pub duration_ms: u64,
}
