//! Every decision in the queue is audited once, whoever wrote it and whether or not a call waited.
//!
//! Answers come from the CLI, the dashboard or the server's expiry, often
//! while no tool call is waiting. The server therefore looks for decision
//! files itself (every [`SWEEP_INTERVAL`]), leaving out proposals a call is
//! waiting on (that call reports and audits the answer), as well as when it
//! reports one to the agent. It marks each decision it audited with
//! `<id>.audited` in the queue directory, so a restarted server does not audit
//! it again. The audit record is flushed before the marker is written: a crash
//! between the two repeats the record at the next start rather than losing it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bottle_common::audit::AuditLog;
use tokio_util::sync::CancellationToken;

use crate::audit::AuditEvent;
use crate::id::ProposalId;
use crate::queue::{Decision, Queue, QueueError, Tool};

/// How often the server looks for decisions nobody reported yet.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(2);

/// How the server came to audit a decision (the `via` field of the record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// It ended a waiting proposing call.
    Wait,
    /// `proposal-status` reported it.
    Status,
    /// The server found it in the queue with no call involved.
    Queue,
}

impl Via {
    /// The name written into the audit record.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Wait => "wait",
            Via::Status => "status",
            Via::Queue => "queue",
        }
    }
}

/// Audits decisions exactly once; shared by the tools and the sweep.
#[derive(Debug)]
pub struct DecisionAudit {
    queue: Queue,
    audit: AuditLog,
    done: Mutex<HashSet<ProposalId>>,
    waited_on: Mutex<HashSet<ProposalId>>,
    /// Decisions the sweep could not audit and said so; it does not say so again every tick.
    warned: Mutex<HashSet<ProposalId>>,
}

/// A proposal a call is waiting on; the sweep leaves its decision to that call until dropped.
#[derive(Debug)]
pub struct Waiting<'a> {
    decisions: &'a DecisionAudit,
    id: ProposalId,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        lock(&self.decisions.waited_on).remove(&self.id);
    }
}

/// Lock `mutex`, taking the data over from a thread that panicked while holding it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl DecisionAudit {
    /// Audit decisions in `queue` to `audit`; with a disabled log nothing is recorded or marked.
    pub fn new(queue: Queue, audit: AuditLog) -> DecisionAudit {
        DecisionAudit {
            queue,
            audit,
            done: Mutex::new(HashSet::new()),
            waited_on: Mutex::new(HashSet::new()),
            warned: Mutex::new(HashSet::new()),
        }
    }

    /// Note that a call waits on `id`, until the returned guard is dropped.
    pub fn waiting(&self, id: &ProposalId) -> Waiting<'_> {
        lock(&self.waited_on).insert(id.clone());
        Waiting {
            decisions: self,
            id: id.clone(),
        }
    }

    /// Record `decision` (on a proposal made with `tool`) unless it was already; `true` if recorded.
    ///
    /// Blocking: reads and writes the queue directory and waits for the audit log.
    pub fn record(&self, tool: Tool, decision: &Decision, via: Via) -> Result<bool, QueueError> {
        if !self.audit.is_enabled() {
            return Ok(false);
        }
        let mut done = lock(&self.done);
        if done.contains(&decision.id) {
            return Ok(false);
        }
        if self.queue.is_audited(&decision.id)? {
            done.insert(decision.id.clone());
            return Ok(false);
        }
        self.audit.record(&AuditEvent::Decision {
            id: decision.id.as_str(),
            tool: tool.name(),
            status: decision.status.as_str(),
            comment: &decision.comment,
            decided_by: &decision.decided_by,
            decided_at: &decision.decided_at,
            via: via.as_str(),
        });
        self.audit.flush();
        done.insert(decision.id.clone());
        self.queue.mark_audited(&decision.id)?;
        Ok(true)
    }

    /// Audit every decision in the queue that has not been; returns how many were recorded.
    ///
    /// A decision that cannot be read or recorded is logged (once per proposal)
    /// and left for the next sweep; the decisions after it are still audited.
    /// Blocking, like [`DecisionAudit::record`].
    pub fn sweep(&self) -> Result<usize, QueueError> {
        self.sweep_with(|tool, decision| self.record(tool, decision, Via::Queue))
    }

    /// [`DecisionAudit::sweep`], recording each decision with `record`.
    fn sweep_with(
        &self,
        record: impl Fn(Tool, &Decision) -> Result<bool, QueueError>,
    ) -> Result<usize, QueueError> {
        if !self.audit.is_enabled() {
            return Ok(0);
        }
        let mut recorded = 0;
        for id in self.queue.unaudited_decisions()? {
            if lock(&self.waited_on).contains(&id) {
                continue;
            }
            let entry = match self.queue.get(&id) {
                Ok(entry) => entry,
                Err(e) => {
                    self.warn_once(&id, &e);
                    continue;
                }
            };
            let Some(decision) = &entry.decision else {
                continue;
            };
            match record(entry.proposal.tool, decision) {
                Ok(true) => recorded += 1,
                Ok(false) => {}
                Err(e) => self.warn_once(&id, &e),
            }
        }
        Ok(recorded)
    }

    /// Log that the decision on `id` cannot be audited, unless the sweep said so already.
    fn warn_once(&self, id: &ProposalId, e: &QueueError) {
        if lock(&self.warned).insert(id.clone()) {
            tracing::warn!("cannot audit the decision on proposal {id}: {e}");
        }
    }
}

/// Sweep the queue for unaudited decisions every [`SWEEP_INTERVAL`] until `shutdown`.
pub async fn run_sweeper(decisions: Arc<DecisionAudit>, shutdown: CancellationToken) {
    crate::sweeper::run(
        "decision audit sweep",
        SWEEP_INTERVAL,
        shutdown,
        move || decisions.sweep(),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{Answer, NewProposal, Status};

    fn submit(queue: &Queue) -> ProposalId {
        queue
            .submit(NewProposal {
                tool: Tool::PipelockBlock,
                justification: "j".into(),
                content: "a.com\n".into(),
                base: None,
            })
            .unwrap()
            .id
    }

    /// A queue and the path of an audit log beside it, in a fresh directory.
    fn queue_and_log() -> (tempfile::TempDir, Queue, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let queue_dir = dir.path().join("queue");
        std::fs::create_dir(&queue_dir).unwrap();
        let queue = Queue::open(&queue_dir).unwrap();
        let log = dir.path().join("audit.jsonl");
        (dir, queue, log)
    }

    fn decision_records(log: &std::path::Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["event"] == "decision")
            .collect()
    }

    #[test]
    fn each_decision_is_recorded_once_across_restarts() {
        let (_dir, queue, log) = queue_and_log();
        let answered = submit(&queue);
        let waiting = submit(&queue);
        let decision = queue
            .answer(
                &answered,
                Answer::new(Status::Rejected, "no", "op").unwrap(),
            )
            .unwrap();

        let first = DecisionAudit::new(queue.clone(), AuditLog::open(&log).unwrap());
        assert!(
            first
                .record(Tool::PipelockBlock, &decision, Via::Wait)
                .unwrap()
        );
        assert!(
            !first
                .record(Tool::PipelockBlock, &decision, Via::Status)
                .unwrap()
        );
        assert_eq!(first.sweep().unwrap(), 0);
        let records = decision_records(&log);
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0]["via"], "wait");
        assert_eq!(records[0]["comment"], "no");

        queue
            .answer(&waiting, Answer::new(Status::Approved, "", "op").unwrap())
            .unwrap();
        let restarted = DecisionAudit::new(queue.clone(), AuditLog::open(&log).unwrap());
        assert_eq!(restarted.sweep().unwrap(), 1);
        assert_eq!(restarted.sweep().unwrap(), 0);
        assert!(
            !restarted
                .record(Tool::PipelockBlock, &decision, Via::Status)
                .unwrap()
        );
        let records = decision_records(&log);
        assert_eq!(records.len(), 2, "{records:?}");
        assert_eq!(records[1]["id"], waiting.as_str());
        assert_eq!(records[1]["via"], "queue");
    }

    #[test]
    fn the_sweep_leaves_decisions_to_the_call_waiting_on_them() {
        let (_dir, queue, log) = queue_and_log();
        let id = submit(&queue);
        let decisions = DecisionAudit::new(queue.clone(), AuditLog::open(&log).unwrap());
        let waiting = decisions.waiting(&id);
        let decision = queue
            .answer(&id, Answer::new(Status::Approved, "", "op").unwrap())
            .unwrap();
        assert_eq!(decisions.sweep().unwrap(), 0);
        drop(waiting);
        assert_eq!(
            decisions.sweep().unwrap(),
            1,
            "a call that went away leaves it to the sweep"
        );
        assert!(
            !decisions
                .record(Tool::PipelockBlock, &decision, Via::Wait)
                .unwrap()
        );
        assert_eq!(decision_records(&log).len(), 1);
    }

    #[test]
    fn the_sweep_goes_on_past_a_decision_it_cannot_record() {
        let (_dir, queue, log) = queue_and_log();
        let (first, second) = (submit(&queue), submit(&queue));
        for id in [&first, &second] {
            queue
                .answer(id, Answer::new(Status::Approved, "", "op").unwrap())
                .unwrap();
        }
        let decisions = DecisionAudit::new(queue.clone(), AuditLog::open(&log).unwrap());
        let failing = |tool, decision: &Decision| {
            if decision.id == first {
                return Err(QueueError::NotFound {
                    id: first.clone(),
                    dir: "test".into(),
                });
            }
            decisions.record(tool, decision, Via::Queue)
        };
        assert_eq!(decisions.sweep_with(failing).unwrap(), 1);
        assert!(queue.is_audited(&second).unwrap());
        assert!(!queue.is_audited(&first).unwrap());
        assert_eq!(decisions.sweep().unwrap(), 1, "the next sweep retries it");
        assert_eq!(decision_records(&log).len(), 2);
    }

    /// Counts the warnings logged while it is the thread's subscriber.
    #[derive(Default)]
    struct WarnCounter(std::sync::atomic::AtomicUsize);

    impl WarnCounter {
        fn count(&self) -> usize {
            self.0.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    impl tracing::Subscriber for WarnCounter {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            if *event.metadata().level() == tracing::Level::WARN {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn the_sweep_does_not_repeat_warnings_every_tick() {
        let (_dir, queue, log) = queue_and_log();
        let (unreadable, readable) = (submit(&queue), submit(&queue));
        for id in [&unreadable, &readable] {
            queue
                .answer(id, Answer::new(Status::Approved, "", "op").unwrap())
                .unwrap();
        }
        std::fs::write(queue.proposal_path(&unreadable), "{").unwrap();
        std::fs::write(queue.dir().join("stray.decision.json"), "{}").unwrap();
        let decisions = DecisionAudit::new(queue.clone(), AuditLog::open(&log).unwrap());
        let warnings = Arc::new(WarnCounter::default());
        tracing::subscriber::with_default(warnings.clone(), || {
            assert_eq!(decisions.sweep().unwrap(), 1);
            assert_eq!(
                warnings.count(),
                1,
                "the unreadable proposal, and not the stray file"
            );
            assert_eq!(decisions.sweep().unwrap(), 0);
            assert_eq!(warnings.count(), 1, "nothing new to say");
            queue.list().unwrap();
            assert!(warnings.count() > 1, "listing the queue still names both");
        });
        assert!(queue.is_audited(&readable).unwrap());
    }

    #[test]
    fn without_an_audit_log_nothing_is_marked() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path()).unwrap();
        let id = submit(&queue);
        let decision = queue
            .answer(&id, Answer::new(Status::Approved, "", "op").unwrap())
            .unwrap();
        let decisions = DecisionAudit::new(queue.clone(), AuditLog::disabled());
        assert!(
            !decisions
                .record(Tool::PipelockBlock, &decision, Via::Wait)
                .unwrap()
        );
        assert_eq!(decisions.sweep().unwrap(), 0);
        assert!(!queue.is_audited(&id).unwrap());
    }
}
