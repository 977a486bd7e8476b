//! Audit records: one JSON object per line, with field names other tools may rely on.
//!
//! Each record gets a leading `ts` from [`bottle_common::audit::AuditLog`] and
//! an `event` naming its kind; the fields of each kind are documented in
//! `docs/supervise.md` and only ever grow.

use serde::Serialize;

/// One audited event.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AuditEvent<'a> {
    /// A valid proposal was queued.
    Proposal {
        /// The new proposal's id.
        id: &'a str,
        /// The tool that made it.
        tool: &'a str,
        /// The current-config file it replaces.
        target: &'a str,
        /// Size of the proposed file in bytes.
        bytes: usize,
        /// The agent's justification.
        justification: &'a str,
    },
    /// A tool call was refused before anything was queued.
    Invalid {
        /// The tool called.
        tool: &'a str,
        /// The message the agent received.
        error: &'a str,
    },
    /// A decision in the queue, recorded once whoever wrote it (see `decisions`).
    Decision {
        /// The proposal.
        id: &'a str,
        /// Its tool.
        tool: &'a str,
        /// approved, rejected, failed or expired.
        status: &'a str,
        /// The operator's comment.
        comment: &'a str,
        /// Who answered.
        decided_by: &'a str,
        /// When they answered.
        decided_at: &'a str,
        /// How the server came to it: `wait` (the proposing call returned it), `status`
        /// (proposal-status reported it) or `queue` (found in the queue with no call involved).
        via: &'a str,
    },
    /// The server expired a proposal nobody answered within the TTL.
    Expired {
        /// The proposal.
        id: &'a str,
        /// Its tool.
        tool: &'a str,
        /// When it was created.
        created_at: &'a str,
    },
    /// A proposing call stopped (or never started) waiting without a decision; the proposal
    /// stays queued.
    WaitEnded {
        /// The proposal.
        id: &'a str,
        /// `timeout` (decision timeout reached), `cancelled` (client went away or the server
        /// stopped) or `busy` (too many calls waited already, so this one did not).
        outcome: &'a str,
        /// How long the call waited, in milliseconds.
        waited_ms: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_flat_objects_tagged_by_kind() {
        let line = bottle_common::audit::audit_line(&AuditEvent::Invalid {
            tool: "egress-block",
            error: "routes:1:1: bad",
        })
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"], "invalid");
        assert_eq!(v["tool"], "egress-block");
        assert!(v["ts"].is_string());
        let line = bottle_common::audit::audit_line(&AuditEvent::WaitEnded {
            id: "x",
            outcome: "timeout",
            waited_ms: 5,
        })
        .unwrap();
        assert!(line.contains("\"event\":\"wait_ended\""), "{line}");
    }
}
