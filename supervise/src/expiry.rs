//! Expiry: proposals nobody answers within the TTL are answered `expired` by the server.
//!
//! Expiring is an ordinary answer written with the queue's exactly-once
//! rule, so an operator answering at the same moment either wins (and the
//! expiry is dropped) or gets "already answered: expired".

use std::time::Duration;

use bottle_common::audit::AuditLog;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::audit::AuditEvent;
use crate::queue::{Answer, Queue, QueueError, Status};

/// Who expired answers are attributed to.
pub const EXPIRY_ACTOR: &str = "supervise";

/// How often to sweep for a given TTL: a quarter of it, between 1 s and 60 s.
pub fn sweep_interval(ttl: Duration) -> Duration {
    (ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Expire every pending proposal older than `ttl` as of `now`; returns how many were expired.
pub fn expire_once(
    queue: &Queue,
    ttl: Duration,
    now: OffsetDateTime,
    audit: &AuditLog,
) -> Result<usize, QueueError> {
    let mut expired = 0;
    for entry in queue.list()? {
        if entry.status() != Status::Pending || entry.proposal.created() + ttl > now {
            continue;
        }
        let note = format!(
            "no operator answered within {}; the server expired it",
            humanize(ttl)
        );
        let answer = Answer::new(Status::Expired, note, EXPIRY_ACTOR)?;
        match queue.answer(&entry.proposal.id, answer) {
            Ok(_) => {
                expired += 1;
                audit.record(&AuditEvent::Expired {
                    id: entry.proposal.id.as_str(),
                    tool: entry.proposal.tool.name(),
                    created_at: &entry.proposal.created_at,
                });
                tracing::info!(id = %entry.proposal.id, "expired an unanswered proposal");
            }
            Err(QueueError::AlreadyAnswered { .. }) => {}
            Err(e) => tracing::warn!(id = %entry.proposal.id, "cannot expire proposal: {e}"),
        }
    }
    Ok(expired)
}

/// Sweep the queue every [`sweep_interval`] until `shutdown`.
pub async fn run_sweeper(
    queue: Queue,
    ttl: Duration,
    audit: AuditLog,
    shutdown: CancellationToken,
) {
    crate::sweeper::run("expiry sweep", sweep_interval(ttl), shutdown, move || {
        expire_once(&queue, ttl, OffsetDateTime::now_utc(), &audit)
    })
    .await;
}

fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{NewProposal, Tool};

    #[test]
    fn expires_only_old_pending_proposals() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path()).unwrap();
        let new = || NewProposal {
            tool: Tool::PipelockBlock,
            justification: "j".into(),
            content: "a.com\n".into(),
            base: None,
        };
        let old = queue.submit(new()).unwrap();
        let answered = queue.submit(new()).unwrap();
        queue
            .answer(
                &answered.id,
                Answer::new(Status::Approved, "", "op").unwrap(),
            )
            .unwrap();
        let ttl = Duration::from_secs(3600);
        let audit = AuditLog::disabled();
        let now = OffsetDateTime::now_utc();
        assert_eq!(expire_once(&queue, ttl, now, &audit).unwrap(), 0);
        let later = now + Duration::from_secs(3601);
        assert_eq!(expire_once(&queue, ttl, later, &audit).unwrap(), 1);
        let d = queue.decision(&old.id).unwrap().unwrap();
        assert_eq!(d.status, Status::Expired);
        assert_eq!(d.decided_by, EXPIRY_ACTOR);
        assert!(d.comment.contains("1h"), "{}", d.comment);
        assert_eq!(
            queue.decision(&answered.id).unwrap().unwrap().status,
            Status::Approved
        );
        assert_eq!(expire_once(&queue, ttl, later, &audit).unwrap(), 0);
    }

    #[test]
    fn sweep_interval_is_bounded() {
        assert_eq!(
            sweep_interval(Duration::from_secs(2)),
            Duration::from_secs(1)
        );
        assert_eq!(
            sweep_interval(Duration::from_secs(86_400)),
            Duration::from_secs(60)
        );
    }
}
