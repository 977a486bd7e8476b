//! git-gate: a git:// mirror that scans every push for secrets and holds the upstream push key.
//!
//! The agent speaks the git daemon protocol to the gate; only the gate talks
//! SSH to the real upstreams, with its own key and a pinned host key.

pub mod config;
pub mod scan;
