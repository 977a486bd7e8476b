//! The dashboard's background side: every Docker call and file scan runs
//! here, on the async runtime, never on the UI thread.
//!
//! It refreshes a [`Snapshot`] (bottles with their containers' states, and
//! pending proposals with their reviews) every [`REFRESH`] and after each
//! operation, carries out the UI's [`Request`]s concurrently, and reports
//! through [`Update`]s. When the UI goes away it lets operations already
//! started finish, so quitting never leaves a half-applied change.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinSet;

use crate::commands::list::{Status, status};
use crate::commands::{Home, host_ids};
use crate::compose::Compose;
use crate::docker::{self, BottleContainer};
use crate::operator::audit::{OperatorAudit, Via};
use crate::operator::decide::{self, Request as DecideRequest};
use crate::operator::pending::{Item, gather};
use crate::operator::sidecars::DockerSidecars;
use crate::state::{self, Metadata, StateDir};

/// How often the snapshot is refreshed.
pub const REFRESH: Duration = Duration::from_secs(2);
/// Longest a `docker ps` may take before the refresh reports Docker as unreachable.
const DOCKER_TIMEOUT: Duration = Duration::from_secs(10);

/// A bottle as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BottleRow {
    /// Its id.
    pub id: String,
    /// Agent name.
    pub agent: String,
    /// Running, degraded, stopped, leftover.
    pub status: Status,
    /// `(service, running, Docker's status text)`, sorted by service.
    pub services: Vec<(String, bool, String)>,
}

/// Everything the UI shows, as of one refresh.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Bottles with containers (running, degraded or leftover), by id.
    pub bottles: Vec<BottleRow>,
    /// Pending proposals across bottles, newest first.
    pub proposals: Vec<Item>,
    /// What could not be read (Docker, queues).
    pub problems: Vec<String>,
    /// When it was taken.
    pub taken_at: SystemTime,
}

/// Something the operator asked for.
#[derive(Debug, Clone)]
pub enum Request {
    /// Approve or reject a proposal of a bottle.
    Decide {
        /// The bottle.
        bottle: String,
        /// The decision.
        request: DecideRequest,
    },
    /// Stop a bottle (its state is kept).
    Stop {
        /// The bottle.
        bottle: String,
    },
    /// Refresh now.
    Refresh,
}

/// What the background side reports.
#[derive(Debug, Clone)]
pub enum Update {
    /// A new snapshot.
    Snapshot(Box<Snapshot>),
    /// An operation started.
    Started {
        /// Its key (bottle or proposal id), matched by [`Update::Finished`].
        key: String,
        /// What is happening.
        what: String,
    },
    /// An operation ended.
    Finished {
        /// The key it started with.
        key: String,
        /// Whether it did what was asked.
        ok: bool,
        /// What happened.
        message: String,
    },
}

/// Run until the UI drops its request sender, then let running operations finish.
pub async fn run(home: Home, mut requests: UnboundedReceiver<Request>, updates: Sender<Update>) {
    let audits = Audits::default();
    let mut tasks: JoinSet<(String, bool, String)> = JoinSet::new();
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => refresh(&home, &audits, &updates).await,
            request = requests.recv() => match request {
                None => break,
                Some(Request::Refresh) => refresh(&home, &audits, &updates).await,
                Some(request) => start(&home, &audits, &updates, &mut tasks, request),
            },
            Some(done) = tasks.join_next() => {
                report(&updates, done);
                refresh(&home, &audits, &updates).await;
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        report(&updates, done);
    }
}

fn report(updates: &Sender<Update>, done: Result<(String, bool, String), tokio::task::JoinError>) {
    let (key, ok, message) = done.unwrap_or_else(|e| {
        (
            String::new(),
            false,
            format!("an operation failed unexpectedly: {e}"),
        )
    });
    let _ = updates.send(Update::Finished { key, ok, message });
}

/// One audit log per bottle, shared by refreshes and decisions.
#[derive(Debug, Default, Clone)]
struct Audits(Arc<std::sync::Mutex<HashMap<PathBuf, Arc<OperatorAudit>>>>);

impl Audits {
    fn of(&self, state: &StateDir) -> anyhow::Result<Arc<OperatorAudit>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = map.get(state.root()) {
            return Ok(a.clone());
        }
        let audit = Arc::new(OperatorAudit::open(state)?);
        map.insert(state.root().to_path_buf(), audit.clone());
        Ok(audit)
    }
}

fn start(
    home: &Home,
    audits: &Audits,
    updates: &Sender<Update>,
    tasks: &mut JoinSet<(String, bool, String)>,
    request: Request,
) {
    match request {
        Request::Decide { bottle, request } => {
            let key = request.proposal.clone();
            let what = match request.verdict {
                decide::Verdict::Approve { .. } => format!("applying {key} to {bottle}"),
                decide::Verdict::Reject => format!("rejecting {key}"),
            };
            let _ = updates.send(Update::Started {
                key: key.clone(),
                what,
            });
            let home = home.clone();
            let audits = audits.clone();
            tasks.spawn(async move {
                let (ok, message) = decide_one(&home, &audits, &bottle, request).await;
                (key, ok, message)
            });
        }
        Request::Stop { bottle } => {
            let _ = updates.send(Update::Started {
                key: bottle.clone(),
                what: format!("stopping {bottle}"),
            });
            let home = home.clone();
            tasks.spawn(async move {
                let (ok, message) = stop_one(&home, &bottle).await;
                (bottle, ok, message)
            });
        }
        Request::Refresh => {}
    }
}

async fn decide_one(
    home: &Home,
    audits: &Audits,
    bottle: &str,
    request: DecideRequest,
) -> (bool, String) {
    let state = match home.existing(bottle) {
        Ok(s) => s,
        Err(e) => return (false, format!("{e:#}")),
    };
    let audit = match audits.of(&state) {
        Ok(a) => a,
        Err(e) => return (false, format!("{e:#}")),
    };
    let sidecars = DockerSidecars::new(&state);
    match decide::decide(&state, &sidecars, &audit, request).await {
        Ok(outcome) => {
            let d = &outcome.decision;
            let message = match &outcome.applied {
                Some(a) => format!("{} {} ({bottle}): {}", d.status, d.id, a.summary),
                None => format!("{} {} ({bottle})", d.status, d.id),
            };
            (true, message)
        }
        Err(e) => (false, e.to_string()),
    }
}

async fn stop_one(home: &Home, bottle: &str) -> (bool, String) {
    let state = match home.existing(bottle) {
        Ok(s) => s,
        Err(e) => return (false, format!("{e:#}")),
    };
    let (compose, ids) = match (Compose::detect().await, host_ids()) {
        (Ok(c), Ok(ids)) => (c, ids),
        (Err(e), _) | (_, Err(e)) => return (false, format!("cannot stop {bottle}: {e:#}")),
    };
    let problems = crate::commands::start::teardown_reporting(&compose, &state, ids).await;
    if problems.is_empty() {
        (
            true,
            format!("stopped {bottle}; resume it with `bottle resume {bottle}`"),
        )
    } else {
        (false, format!("stopping {bottle}: {}", problems.join("; ")))
    }
}

async fn refresh(home: &Home, audits: &Audits, updates: &Sender<Update>) {
    let mut problems = Vec::new();
    let containers = match tokio::time::timeout(DOCKER_TIMEOUT, docker::bottle_containers()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            problems.push(format!("Docker: {e:#}"));
            Vec::new()
        }
        Err(_) => {
            problems.push(format!(
                "Docker: `docker ps` did not answer within {}s",
                DOCKER_TIMEOUT.as_secs()
            ));
            Vec::new()
        }
    };
    let root = home.state_root();
    let audits = audits.clone();
    let by = crate::operator::operator_name();
    let scanned = tokio::task::spawn_blocking(move || {
        let (items, queue_problems) = gather(&root, None, false);
        for item in &items {
            if let Ok(audit) = audits.of(&item.state) {
                audit.seen(
                    item.bottle(),
                    &item.entry.proposal,
                    &item.review,
                    &by,
                    Via::Dashboard,
                );
            }
        }
        let bottles = bottles(&root, &containers);
        (items, queue_problems, bottles)
    })
    .await;
    let (proposals, queue_problems, bottles) = match scanned {
        Ok(s) => s,
        Err(e) => {
            problems.push(format!("reading the state directories failed: {e}"));
            (Vec::new(), Vec::new(), Vec::new())
        }
    };
    problems.extend(queue_problems);
    let _ = updates.send(Update::Snapshot(Box::new(Snapshot {
        bottles,
        proposals,
        problems,
        taken_at: SystemTime::now(),
    })));
}

/// Bottles that have containers, with their status as `bottle list` computes it.
fn bottles(root: &std::path::Path, containers: &[BottleContainer]) -> Vec<BottleRow> {
    let mut by_bottle: BTreeMap<&str, Vec<&BottleContainer>> = BTreeMap::new();
    for c in containers {
        by_bottle.entry(c.bottle.as_str()).or_default().push(c);
    }
    let mut rows = Vec::new();
    for s in state::all(root) {
        let Some(mine) = by_bottle.get(s.id()) else {
            continue;
        };
        let meta = Metadata::read(&s).ok();
        let services = meta
            .as_ref()
            .map(|m| m.services.clone())
            .unwrap_or_default();
        let mut states: Vec<(String, bool, String)> = mine
            .iter()
            .map(|c| (c.service.clone(), c.state == "running", c.status.clone()))
            .collect();
        states.sort();
        rows.push(BottleRow {
            id: s.id().to_string(),
            agent: meta.map(|m| m.agent).unwrap_or_default(),
            status: status(&services, mine),
            services: states,
        });
    }
    rows
}
