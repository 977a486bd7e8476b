//! The loop the server's background sweeps share: run a blocking sweep at an interval until shutdown.

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Run `sweep` off the async runtime every `interval` until `shutdown`, logging
/// a failed sweep as `<what> failed: <error>`. A sweep that overruns delays the next one.
pub async fn run<T, E, F>(
    what: &'static str,
    interval: Duration,
    shutdown: CancellationToken,
    sweep: F,
) where
    T: Send + 'static,
    E: Display + Send + 'static,
    F: Fn() -> Result<T, E> + Send + Sync + 'static,
{
    let sweep = Arc::new(sweep);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let sweep = sweep.clone();
        match tokio::task::spawn_blocking(move || sweep()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("{what} failed: {e}"),
            Err(e) => tracing::warn!("{what} failed: {e}"),
        }
    }
}
