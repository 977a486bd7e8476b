//! `capability-block`: a new agent Dockerfile, staged for the next resume.
//!
//! Approving writes the Dockerfile to `staged/Dockerfile` (the build context
//! holds nothing else) and into the agent's current config. The running
//! bottle is not touched; `bottle resume ID` builds `bottle-agent-<id>:latest`
//! from it and starts the bottle again with its state and transcript.

use supervise::proposal::{CapabilityBlockArgs, capability_block};
use supervise::queue::Proposal;

use super::{Applied, ApplyError, relative, update_current, write};
use crate::state::StateDir;

/// Stage an approved `capability-block` proposal.
pub fn apply(state: &StateDir, proposal: &Proposal) -> Result<Applied, ApplyError> {
    capability_block(CapabilityBlockArgs {
        dockerfile: proposal.content.clone(),
        justification: proposal.justification.clone(),
    })
    .map_err(|e| ApplyError::Failed(format!("the proposed Dockerfile is not valid: {e}")))?;
    let staged = state.staged_dockerfile();
    let dir = staged.parent().expect("staged/Dockerfile has a directory");
    std::fs::create_dir_all(dir)
        .map_err(|e| ApplyError::NotNow(format!("cannot create {}: {e}", dir.display())))?;
    write(&staged, &proposal.content).map_err(ApplyError::Failed)?;
    let files = vec![
        relative(state, &staged),
        update_current(state, "Dockerfile", &proposal.content).map_err(ApplyError::Failed)?,
    ];
    Ok(Applied {
        summary: format!(
            "the Dockerfile is staged; the new image is built and used when the operator runs \
             `bottle resume {}` (this container keeps its current image until then)",
            state.id()
        ),
        files,
        ..Applied::default()
    })
}
