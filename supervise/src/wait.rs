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
    let notify = |value: f64| {
        let sink = progress.clone();
        async move {
            if let Some(sink) = sink {
                send_progress(&sink, id, value, settings.decision_timeout).await;
            }
        }
    };
    wait_loop(queue, id, settings, notify, cancel).await
}

/// The wait itself, with progress going to `notify`.
///
/// A notification that cannot be delivered (a client that stopped reading)
/// is given at most one progress interval, and never holds up an answer, the
/// deadline or a cancellation.
async fn wait_loop<F, Fut>(
    queue: &Queue,
    id: &ProposalId,
    settings: WaitSettings,
    notify: F,
    cancel: &CancellationToken,
) -> Result<WaitEnd, QueueError>
where
    F: Fn(f64) -> Fut,
    Fut: Future<Output = ()>,
{
    let start = Instant::now();
    let deadline = start + settings.decision_timeout;
    let mut poll = tokio::time::interval(settings.poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_progress = start + settings.progress_interval;
    let mut last_progress = 0.0_f64;
    let mut sending = std::pin::pin!(None::<tokio::time::Timeout<Fut>>);
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
                if sending.is_none() {
                    let elapsed = start.elapsed().as_millis() as f64 / 1000.0;
                    let value = elapsed.max(last_progress + 0.001);
                    last_progress = value;
                    let send = tokio::time::timeout(settings.progress_interval, notify(value));
                    sending.set(Some(send));
                }
            }
            sent = async { sending.as_mut().as_pin_mut().expect("guarded by is_some").await },
                if sending.is_some() =>
            {
                sending.set(None);
                if sent.is_err() {
                    tracing::debug!(%id, "progress notification not delivered within the progress interval");
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

    /// Answer `id` with `status` after `delay_ms`, as an operator would while a call waits.
    fn answer_after(
        queue: &Queue,
        id: &ProposalId,
        delay_ms: u64,
        status: Status,
        comment: &'static str,
    ) -> tokio::task::JoinHandle<()> {
        let (queue, id) = (queue.clone(), id.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            queue
                .answer(&id, Answer::new(status, comment, "op").unwrap())
                .unwrap();
        })
    }

    #[tokio::test]
    async fn sees_an_answer_written_later() {
        let (_dir, queue, id) = setup();
        let writer = answer_after(&queue, &id, 50, Status::Rejected, "no");
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

    #[tokio::test]
    async fn a_stalled_progress_send_holds_up_neither_answers_nor_the_deadline() {
        let (_dir, queue, id) = setup();
        let stalled = |_| std::future::pending::<()>();
        let sent = std::sync::Mutex::new(Vec::new());
        let recording = |value: f64| {
            sent.lock().unwrap().push(value);
            std::future::pending::<()>()
        };
        let end = wait_loop(
            &queue,
            &id,
            settings(300),
            stalled,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert!(matches!(end, WaitEnd::TimedOut), "{end:?}");
        let end = wait_loop(
            &queue,
            &id,
            settings(400),
            recording,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert!(matches!(end, WaitEnd::TimedOut), "{end:?}");
        let sent = sent.lock().unwrap().clone();
        assert!(
            sent.len() >= 2,
            "a stalled send is abandoned and the next one goes out: {sent:?}"
        );
        assert!(sent.windows(2).all(|w| w[1] > w[0]), "{sent:?}");

        let writer = answer_after(&queue, &id, 100, Status::Approved, "");
        let end = wait_loop(
            &queue,
            &id,
            settings(60_000),
            stalled,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        writer.await.unwrap();
        assert!(matches!(end, WaitEnd::Decided(_)), "{end:?}");
    }
}
