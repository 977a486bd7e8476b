//! Coalescing of mirror syncs: many waiters, one upstream round trip, never a stale answer.
//!
//! A caller is only answered by a sync that *started after it arrived*. If a
//! sync is already running when a request comes in, that request waits for
//! the next one, which starts as soon as the running one ends and serves every
//! request that queued meanwhile. All waiters of one sync get its result,
//! success or error alike.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// A boxed job future.
pub type JobFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
/// The job a coalescer runs for each round.
pub type Job<T> = Arc<dyn Fn() -> JobFuture<T> + Send + Sync>;

/// Runs `job` on demand, sharing each run among the callers that queued for it.
pub struct Coalescer<T> {
    job: Job<T>,
    state: Mutex<State<T>>,
}

impl<T> std::fmt::Debug for Coalescer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer").finish_non_exhaustive()
    }
}

struct State<T> {
    running: bool,
    next: Option<watch::Sender<Option<T>>>,
}

impl<T: Clone + Send + Sync + 'static> Coalescer<T> {
    /// A coalescer around `job`.
    pub fn new(job: Job<T>) -> Arc<Coalescer<T>> {
        Arc::new(Coalescer {
            job,
            state: Mutex::new(State {
                running: false,
                next: None,
            }),
        })
    }

    /// The result of a run that starts after this call; `None` if that run panicked.
    pub async fn request(self: &Arc<Self>) -> Option<T> {
        let mut rx = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.running {
                match &st.next {
                    Some(tx) => tx.subscribe(),
                    None => {
                        let (tx, rx) = watch::channel(None);
                        st.next = Some(tx);
                        rx
                    }
                }
            } else {
                st.running = true;
                let (tx, rx) = watch::channel(None);
                let me = Arc::clone(self);
                tokio::spawn(async move { me.drive(tx).await });
                rx
            }
        };
        loop {
            if let Some(v) = rx.borrow_and_update().clone() {
                return Some(v);
            }
            if rx.changed().await.is_err() {
                return rx.borrow().clone();
            }
        }
    }

    /// Run rounds until nobody is queued for another.
    async fn drive(self: Arc<Self>, mut tx: watch::Sender<Option<T>>) {
        let mut guard = Reset {
            coalescer: &self,
            armed: true,
        };
        loop {
            let result = (self.job)().await;
            tx.send_replace(Some(result));
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            match st.next.take() {
                Some(next) => tx = next,
                None => {
                    st.running = false;
                    guard.armed = false;
                    return;
                }
            }
        }
    }
}

/// Clears the running state if a round panics, so later requests start a fresh run.
struct Reset<'a, T> {
    coalescer: &'a Coalescer<T>,
    armed: bool,
}

impl<T> Drop for Reset<'_, T> {
    fn drop(&mut self) {
        if self.armed {
            let mut st = self
                .coalescer
                .state
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            st.running = false;
            st.next = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    fn counting(delay: Duration) -> (Arc<Coalescer<u64>>, Arc<AtomicU64>) {
        let runs = Arc::new(AtomicU64::new(0));
        let r = Arc::clone(&runs);
        let job: Job<u64> = Arc::new(move || {
            let r = Arc::clone(&r);
            Box::pin(async move {
                let n = r.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(delay).await;
                n
            })
        });
        (Coalescer::new(job), runs)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_requests_share_runs() {
        let (c, runs) = counting(Duration::from_millis(100));
        let handles: Vec<_> = (0..32)
            .map(|_| {
                let c = Arc::clone(&c);
                tokio::spawn(async move { c.request().await.unwrap() })
            })
            .collect();
        for h in handles {
            let n = h.await.unwrap();
            assert!(n == 1 || n == 2, "got run {n}");
        }
        assert!(runs.load(Ordering::SeqCst) <= 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_late_arrival_waits_for_a_fresh_run() {
        let (c, runs) = counting(Duration::from_millis(200));
        let first = {
            let c = Arc::clone(&c);
            tokio::spawn(async move { c.request().await.unwrap() })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let late: Vec<_> = (0..5)
            .map(|_| {
                let c = Arc::clone(&c);
                tokio::spawn(async move { c.request().await.unwrap() })
            })
            .collect();
        assert_eq!(first.await.unwrap(), 1);
        for h in late {
            assert_eq!(
                h.await.unwrap(),
                2,
                "a request made during run 1 must get run 2"
            );
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(
            c.request().await,
            Some(3),
            "idle again: the next request starts run 3"
        );
    }

    #[tokio::test]
    async fn a_panicking_run_answers_none_and_recovers() {
        let calls = Arc::new(AtomicU64::new(0));
        let k = Arc::clone(&calls);
        let job: Job<u64> = Arc::new(move || {
            let n = k.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                assert!(n != 0, "first run fails");
                n
            })
        });
        let c = Coalescer::new(job);
        assert_eq!(c.request().await, None);
        assert_eq!(c.request().await, Some(1));
    }
}
