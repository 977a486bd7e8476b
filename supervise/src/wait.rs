//! Waiting for the operator: poll the queue, keep the client informed, give up on time.
//!
//! Polling (not inotify) because the queue is usually a Docker bind mount
//! written from the host, where file events do not cross reliably.

use std::time::Duration;

use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::{Peer, RoleServer};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::id::ProposalId;
use crate::queue::{Decision, Queue, QueueError};

/// How a proposing call waits.
#[derive(Debug, Clone, Copy)]
pub struct WaitSettings {
    /// Give up and report "still pending" after this long.
    pub decision_timeout: Duration,
    /// Send a progress notification at least this often.
    pub progress_interval: Duration,
    /// Look for a decision file this often.
    pub poll_interval: Duration,
}

/// Where progress notifications go: the calling client, under the token it chose.
#[derive(Debug, Clone)]
pub struct ProgressSink {
    /// The client.
    pub peer: Peer<RoleServer>,
    /// The `progressToken` from the request's `_meta`.
    pub token: ProgressToken,
}

/// Why a wait ended.
#[derive(Debug)]
pub enum WaitEnd {
    /// Someone answered.
    Decided(Decision),
    /// Nobody answered within the decision timeout.
    TimedOut,
    /// The client cancelled or went away, or the server is stopping.
    Cancelled,
}

/// Wait for `id` to be answered; errors only if its decision file is unreadable.
pub async fn wait_for_decision(
    queue: &Queue,
    id: &ProposalId,
    settings: WaitSettings,
    progress: Option<ProgressSink>,
    cancel: &CancellationToken,
) -> Result<WaitEnd, QueueError> {
    let start = Instant::now();
    let deadline = start + settings.decision_timeout;
    let mut poll = tokio::time::interval(settings.poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_progress = start + settings.progress_interval;
    let mut last_progress = 0.0_f64;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Ok(WaitEnd::Cancelled),
            _ = tokio::time::sleep_until(deadline) => {
                return Ok(match read_decision(queue, id).await? {
                    Some(decision) => WaitEnd::Decided(decision),
                    None => WaitEnd::TimedOut,
                });
            }
            _ = tokio::time::sleep_until(next_progress) => {
                next_progress += settings.progress_interval;
                if let Some(sink) = &progress {
                    let elapsed = start.elapsed().as_millis() as f64 / 1000.0;
                    let value = elapsed.max(last_progress + 0.001);
                    last_progress = value;
                    send_progress(sink, id, value, settings.decision_timeout).await;
                }
            }
            _ = poll.tick() => {
                if let Some(decision) = read_decision(queue, id).await? {
                    return Ok(WaitEnd::Decided(decision));
                }
            }
        }
    }
}

async fn read_decision(queue: &Queue, id: &ProposalId) -> Result<Option<Decision>, QueueError> {
    let (reader, lookup) = (queue.clone(), id.clone());
    match tokio::task::spawn_blocking(move || reader.decision(&lookup)).await {
        Ok(result) => result,
        Err(join) => Err(QueueError::Io {
            action: "read",
            path: queue.decision_path(id),
            source: std::io::Error::other(join),
        }),
    }
}

async fn send_progress(sink: &ProgressSink, id: &ProposalId, value: f64, timeout: Duration) {
    let total = timeout.as_secs_f64();
    let message = format!(
        "waiting for the operator to answer proposal {id} ({:.0}s of {:.0}s)",
        value, total
    );
    let params = ProgressNotificationParam::new(sink.token.clone(), value)
        .with_total(total)
        .with_message(message);
    if let Err(e) = sink.peer.notify_progress(params).await {
        tracing::debug!(%id, error = %e, "progress notification not delivered");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{Answer, NewProposal, Status, Tool};

    fn settings(timeout_ms: u64) -> WaitSettings {
        WaitSettings {
            decision_timeout: Duration::from_millis(timeout_ms),
            progress_interval: Duration::from_millis(50),
            poll_interval: Duration::from_millis(10),
        }
    }

    fn setup() -> (tempfile::TempDir, Queue, ProposalId) {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path()).unwrap();
        let p = queue
            .submit(NewProposal {
                tool: Tool::EgressBlock,
                justification: "j".into(),
                content: "routes: []\n".into(),
                base: None,
            })
            .unwrap();
        (dir, queue, p.id)
    }

    #[tokio::test]
    async fn sees_an_answer_written_later() {
        let (_dir, queue, id) = setup();
        let writer = {
            let queue = queue.clone();
            let id = id.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                queue
                    .answer(&id, Answer::new(Status::Rejected, "no", "op").unwrap())
                    .unwrap();
            })
        };
        let end = wait_for_decision(
            &queue,
            &id,
            settings(5_000),
            None,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        writer.await.unwrap();
        match end {
            WaitEnd::Decided(d) => assert_eq!(d.status, Status::Rejected),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn times_out_and_cancels() {
        let (_dir, queue, id) = setup();
        let end = wait_for_decision(&queue, &id, settings(100), None, &CancellationToken::new())
            .await
            .unwrap();
        assert!(matches!(end, WaitEnd::TimedOut), "{end:?}");
        let cancel = CancellationToken::new();
        cancel.cancel();
        let end = wait_for_decision(&queue, &id, settings(5_000), None, &cancel)
            .await
            .unwrap();
        assert!(matches!(end, WaitEnd::Cancelled), "{end:?}");
    }
}
