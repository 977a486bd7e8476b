//! Answering one proposal: reject it, or approve it (apply, then answer, so
//! the agent's waiting call returns only once the change is in force).
//!
//! The CLI and the dashboard both call [`decide`]. Decisions on one bottle
//! are serialized by a lock file, every step is audited, and the answer is
//! written with supervise's queue library (at most once per proposal).

use std::fs::{File, TryLockError};
use std::time::{Duration, Instant};

use supervise::id::ProposalId;
use supervise::queue::{Answer, Decision, Queue, QueueError, Status};

use super::apply::{self, Applied, ApplyError};
use super::audit::{DecisionRecord, Ending, OperatorAudit, ResultRecord, Via};
use super::review::review;
use super::sidecars::Sidecars;
use crate::state::StateDir;

/// How long a decision waits for another one on the same bottle to finish.
const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// Approve or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Apply the proposal, then answer `approved` (or `failed`).
    Approve {
        /// The operator accepts that existing credentials go somewhere new.
        confirm_credentials: bool,
    },
    /// Answer `rejected` with the comment.
    Reject,
}

/// One operator decision.
#[derive(Debug, Clone)]
pub struct Request {
    /// The proposal id as the operator typed it (validated here).
    pub proposal: String,
    /// What to do.
    pub verdict: Verdict,
    /// The operator's comment for the agent (required to reject).
    pub comment: String,
    /// Who decides (a user name).
    pub by: String,
    /// Through which tool.
    pub via: Via,
}

/// A decision that was written.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The answer in the queue.
    pub decision: Decision,
    /// What was applied, for approvals.
    pub applied: Option<Applied>,
}

/// Why a decision did not end as asked.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// Bad id, unknown proposal, already answered, unreadable queue, bad comment.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The proposal sends existing credentials somewhere new and the operator did not confirm.
    #[error(
        "this proposal sends existing credentials somewhere new:\n{}\nread the diff (bottle proposals ID PROPOSAL), then approve with --allow-credential-change if that is intended",
        .0.iter().map(|w| format!("  ! {w}")).collect::<Vec<_>>().join("\n")
    )]
    NeedsConfirmation(Vec<String>),
    /// Approved, but it could not be applied now; the proposal is still pending.
    #[error("{0}; the proposal is still pending")]
    NotApplied(String),
    /// Approved, applying was refused, and the proposal was answered `failed`.
    #[error("applying proposal {} failed, and it was answered `failed`: {message}", decision.id)]
    Failed {
        /// The `failed` answer.
        decision: Decision,
        /// Why.
        message: String,
    },
    /// Applied, but another answer (e.g. supervise's expiry) was written first.
    #[error(
        "the change was applied, but proposal {} had meanwhile been answered {} by {}; the agent was told that",
        winner.id, winner.status, winner.decided_by
    )]
    AnsweredElsewhere {
        /// What was applied.
        applied: Applied,
        /// The answer that won.
        winner: Box<Decision>,
    },
    /// The lock, the audit log or the file system failed.
    #[error("{0}")]
    Other(String),
}

impl DecideError {
    /// Exit status for the CLI.
    pub fn exit_code(&self) -> u8 {
        match self {
            DecideError::Queue(QueueError::InvalidId(_) | QueueError::BadAnswer(_))
            | DecideError::NeedsConfirmation(_) => 2,
            DecideError::Queue(QueueError::NotFound { .. }) => 3,
            DecideError::Queue(QueueError::AlreadyAnswered { .. }) => 4,
            DecideError::Failed { .. } => 5,
            _ => 1,
        }
    }
}

/// Carry out `request` on the bottle in `state`.
pub async fn decide<S: Sidecars>(
    state: &StateDir,
    sidecars: &S,
    audit: &OperatorAudit,
    request: Request,
) -> Result<Outcome, DecideError> {
    let id = ProposalId::parse(&request.proposal).map_err(QueueError::from)?;
    if request.verdict == Verdict::Reject {
        Answer::new(
            Status::Rejected,
            request.comment.clone(),
            request.by.clone(),
        )?;
    }
    let _lock = lock(state).await?;
    let queue = Queue::open(&state.queue())?;
    let entry = queue.get(&id)?;
    if let Some(decision) = entry.decision {
        return Err(QueueError::AlreadyAnswered {
            id,
            decision: Box::new(decision),
        }
        .into());
    }
    let proposal = entry.proposal;
    let facts = review(state, &proposal);
    audit.seen(state.id(), &proposal, &facts, &request.by, request.via);
    let started = Instant::now();
    let approve = matches!(request.verdict, Verdict::Approve { .. });
    if let Verdict::Approve {
        confirm_credentials: false,
    } = request.verdict
        && facts.needs_confirmation()
    {
        return Err(DecideError::NeedsConfirmation(facts.credential_warnings));
    }
    audit.decision(DecisionRecord {
        bottle: state.id(),
        proposal: &proposal,
        approve,
        by: &request.by,
        via: request.via,
        comment: &request.comment,
        credential_warnings: if approve {
            &facts.credential_warnings
        } else {
            &[]
        },
    });
    let ended = |ending, applied: Option<&Applied>, error: Option<&str>| {
        audit.result(ResultRecord {
            bottle: state.id(),
            proposal: &proposal,
            ending,
            by: &request.by,
            applied,
            error,
            duration_ms: started.elapsed().as_millis() as u64,
        });
        audit.flush();
    };
    if !approve {
        let answer = Answer::new(
            Status::Rejected,
            request.comment.clone(),
            request.by.clone(),
        )?;
        let decision = queue.answer(&id, answer)?;
        ended(Ending::Rejected, None, None);
        return Ok(Outcome {
            decision,
            applied: None,
        });
    }
    let applied = match apply::apply(state, sidecars, &proposal).await {
        Ok(applied) => applied,
        Err(ApplyError::NotNow(why)) => {
            ended(Ending::NotApplied, None, Some(&why));
            return Err(DecideError::NotApplied(why));
        }
        Err(ApplyError::Failed(why)) => {
            let comment = format!(
                "Approved by {}, but applying it failed, so nothing changed: {why}",
                request.by
            );
            let answer = Answer::new(Status::Failed, clip(&comment), request.by.clone())?;
            let decision = queue.answer(&id, answer)?;
            ended(Ending::Failed, None, Some(&why));
            return Err(DecideError::Failed {
                decision,
                message: why,
            });
        }
    };
    let comment = if request.comment.trim().is_empty() {
        format!("Applied: {}.", applied.summary)
    } else {
        format!(
            "{}\n\nApplied: {}.",
            request.comment.trim_end(),
            applied.summary
        )
    };
    let answer = Answer::new(Status::Approved, clip(&comment), request.by.clone())?;
    match queue.answer(&id, answer) {
        Ok(decision) => {
            ended(Ending::Approved, Some(&applied), None);
            Ok(Outcome {
                decision,
                applied: Some(applied),
            })
        }
        Err(QueueError::AlreadyAnswered { decision, .. }) => {
            ended(
                Ending::AnsweredElsewhere,
                Some(&applied),
                Some(&format!(
                    "answered {} by {} first",
                    decision.status, decision.decided_by
                )),
            );
            Err(DecideError::AnsweredElsewhere {
                applied,
                winner: decision,
            })
        }
        Err(e) => {
            ended(Ending::Approved, Some(&applied), Some(&e.to_string()));
            Err(e.into())
        }
    }
}

/// Keep an answer's comment within the queue's limit (apply errors can be long).
fn clip(comment: &str) -> String {
    const LIMIT: usize = supervise::queue::MAX_COMMENT_BYTES - 64;
    if comment.len() <= LIMIT {
        return comment.to_string();
    }
    let mut end = LIMIT;
    while !comment.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (truncated)", &comment[..end])
}

/// Hold the bottle's decision lock (`state/<id>/operator.lock`) until dropped.
async fn lock(state: &StateDir) -> Result<File, DecideError> {
    let path = state.root().join("operator.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| DecideError::Other(format!("cannot open {}: {e}", path.display())))?;
    let deadline = Instant::now() + LOCK_TIMEOUT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(TryLockError::WouldBlock) => {
                return Err(DecideError::Other(format!(
                    "another operator has been deciding on bottle {} for over {}s (lock {}); try again",
                    state.id(),
                    LOCK_TIMEOUT.as_secs(),
                    path.display()
                )));
            }
            Err(TryLockError::Error(e)) => {
                return Err(DecideError::Other(format!(
                    "cannot lock {}: {e}",
                    path.display()
                )));
            }
        }
    }
}
