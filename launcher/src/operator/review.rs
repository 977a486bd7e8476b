//! What approving a proposal would do, worked out before anyone approves, so
//! the CLI and the dashboard show the operator the same facts: the diff
//! against the current config, credentials the change would send somewhere
//! new, whether the apply would be refused, and its other effects.

use supervise::current::CurrentConfig;
use supervise::diff::{self, DiffLine};
use supervise::queue::{Proposal, Tool};

use super::apply::{pipelock, routes};
use super::credentials::widenings;
use crate::state::StateDir;

/// The facts about one proposal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Review {
    /// Unified diff of the current-config file against the proposal.
    pub diff: Vec<DiffLine>,
    /// Existing credentials the change would send somewhere new (approving needs confirmation).
    pub credential_warnings: Vec<String>,
    /// Why an approval would be answered `failed` instead of applied.
    pub refusal: Option<String>,
    /// What else approving does.
    pub notes: Vec<String>,
}

impl Review {
    /// Whether approving needs the operator to confirm a credential change.
    pub fn needs_confirmation(&self) -> bool {
        !self.credential_warnings.is_empty()
    }
}

/// Review `proposal` against the bottle in `state`.
pub fn review(state: &StateDir, proposal: &Proposal) -> Review {
    let target = proposal.target.file_name();
    let current = CurrentConfig::new(&state.current_config())
        .read(proposal.target)
        .ok()
        .flatten()
        .unwrap_or_default();
    let mut review = Review {
        diff: diff::unified(
            &current,
            &proposal.content,
            &format!("current/{target}"),
            &format!("proposed/{target}"),
        ),
        ..Review::default()
    };
    match proposal.tool {
        Tool::EgressBlock => egress(state, proposal, &mut review),
        Tool::PipelockBlock => allowlist(state, proposal, &mut review),
        Tool::CapabilityBlock => review.notes.push(format!(
            "approving stages this Dockerfile; the image is built from it by `bottle resume {}`. \
             Its RUN steps run on this host's Docker engine with network access, outside the \
             bottle's egress rules: read them",
            state.id()
        )),
    }
    review
}

fn egress(state: &StateDir, proposal: &Proposal, review: &mut Review) {
    let proposed = match routes::proposed_routes(proposal) {
        Ok(p) => p,
        Err(e) => {
            review.refusal = Some(format!("the proposed routes are not valid: {e}"));
            return;
        }
    };
    let current = routes::current_routes(state);
    review.refusal = routes::refusal(&current, &proposed);
    review.credential_warnings = widenings(&current, &proposed)
        .iter()
        .map(ToString::to_string)
        .collect();
    review.notes.push(
        "approving reloads egress-proxy's routes live (no restart of the agent or the proxy)"
            .into(),
    );
    match pipelock::for_routes(state, &proposed) {
        Ok(Some(change)) if !change.added.is_empty() => review.notes.push(format!(
            "approving also adds {} to pipelock's allowlist and restarts pipelock",
            change.added.join(", ")
        )),
        Ok(Some(_)) => review
            .notes
            .push("approving also updates pipelock's TLS passthrough and restarts pipelock".into()),
        Ok(None) => {}
        Err(e) => review.refusal = Some(format!("pipelock's config cannot be updated: {e}")),
    }
}

fn allowlist(state: &StateDir, proposal: &Proposal, review: &mut Review) {
    match pipelock::for_allowlist(state, proposal) {
        Ok(change) => {
            let mut note = format!(
                "approving restarts pipelock with {} allowed hosts",
                change.next.allowlist().len()
            );
            if !change.added.is_empty() {
                note.push_str(&format!(" (new: {})", change.added.join(", ")));
            }
            review.notes.push(note);
        }
        Err(e) => review.refusal = Some(e),
    }
}
