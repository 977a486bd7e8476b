//! Proposals across bottles, newest first, each with its review.
//!
//! Reads every bottle's queue directory with supervise's queue library
//! (malformed files are skipped with a warning naming them). File reads
//! only: callers on the async runtime run it with `spawn_blocking`.

use std::path::Path;

use supervise::queue::{Entry, Queue, Status};

use super::review::{Review, review};
use crate::state::{self, StateDir};

/// One proposal of one bottle.
#[derive(Debug, Clone)]
pub struct Item {
    /// The bottle's state directory.
    pub state: StateDir,
    /// The proposal and its decision, if any.
    pub entry: Entry,
    /// What approving it would do.
    pub review: Review,
}

impl Item {
    /// The bottle's id.
    pub fn bottle(&self) -> &str {
        self.state.id()
    }
}

/// Proposals under `state_root`, newest first, and the queues that could not be read.
///
/// Pending proposals only, or all with `answered_too`; only bottle `only` if given.
pub fn gather(
    state_root: &Path,
    only: Option<&str>,
    answered_too: bool,
) -> (Vec<Item>, Vec<String>) {
    let mut items = Vec::new();
    let mut problems = Vec::new();
    for state in state::all(state_root) {
        if only.is_some_and(|id| id != state.id()) {
            continue;
        }
        let Ok(queue) = Queue::open(&state.queue()) else {
            continue;
        };
        let entries = match queue.list() {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!(
                    "cannot read the queue of bottle {}: {e}",
                    state.id()
                ));
                continue;
            }
        };
        for entry in entries {
            if !answered_too && entry.status() != Status::Pending {
                continue;
            }
            let review = if entry.status() == Status::Pending {
                review(&state, &entry.proposal)
            } else {
                Review::default()
            };
            items.push(Item {
                state: state.clone(),
                entry,
                review,
            });
        }
    }
    items.sort_by(|a, b| {
        let key = |i: &Item| (i.entry.proposal.created(), i.entry.proposal.id.clone());
        key(b).cmp(&key(a))
    });
    (items, problems)
}
