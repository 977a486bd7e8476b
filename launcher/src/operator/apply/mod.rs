//! Applying an approved proposal to a bottle, one module per tool.
//!
//! Each apply either takes effect completely or leaves the bottle as it was
//! (files and sidecars agree with each other either way), and says which:
//! [`ApplyError::NotNow`] when it could not start (the proposal stays
//! pending), [`ApplyError::Failed`] when it was tried and refused (the
//! proposal is answered `failed` with the reason).

pub mod dockerfile;
pub mod pipelock;
pub mod routes;

use std::path::Path;

use serde::Serialize;
use supervise::queue::{Proposal, Tool};

use super::sidecars::Sidecars;
use crate::state::StateDir;

/// What an applied approval changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// One sentence for the agent and the operator.
    #[serde(skip)]
    pub summary: String,
    /// Files written, relative to the state directory.
    pub files: Vec<String>,
    /// egress-proxy's route table generation now in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routes_generation: Option<u64>,
    /// Hosts added to pipelock's allowlist.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pipelock_hosts_added: Vec<String>,
    /// Whether pipelock was restarted with a new config.
    pub pipelock_restarted: bool,
}

/// Why an approval was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// It could not start (the bottle is not running, Docker is unreachable); nothing changed, the proposal stays pending.
    #[error("{0}")]
    NotNow(String),
    /// It was tried and refused; nothing changed (or it was rolled back), and the proposal is answered `failed`.
    #[error("{0}")]
    Failed(String),
}

/// Apply `proposal` to the bottle in `state`.
pub async fn apply<S: Sidecars>(
    state: &StateDir,
    sidecars: &S,
    proposal: &Proposal,
) -> Result<Applied, ApplyError> {
    match proposal.tool {
        Tool::EgressBlock => routes::apply(state, sidecars, proposal).await,
        Tool::PipelockBlock => pipelock::apply(state, sidecars, proposal).await,
        Tool::CapabilityBlock => dockerfile::apply(state, proposal),
    }
}

/// Write `text` atomically to `path` (mode 0644), naming the file in the error.
fn write(path: &Path, text: &str) -> Result<(), String> {
    bottle_common::atomic::write_atomic(path, text.as_bytes(), 0o644)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `path` relative to the state directory, for the audit log.
fn relative(state: &StateDir, path: &Path) -> String {
    path.strip_prefix(state.root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Replace one file of the current config the agent and supervise read.
fn update_current(state: &StateDir, name: &str, text: &str) -> Result<String, String> {
    let path = state.current_config().join(name);
    write(&path, text)?;
    Ok(relative(state, &path))
}
