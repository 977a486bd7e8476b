//! git-gate: a git:// mirror that scans every push for secrets and holds the upstream push key.
//!
//! The agent speaks the git daemon protocol to the gate; only the gate talks
//! SSH to the real upstreams, with its own key and a pinned host key.

pub mod audit;
pub mod config;
pub mod daemon;
pub mod gitenv;
pub mod layout;
pub mod mirror;
pub mod pktline;
pub mod push;
pub mod scan;
