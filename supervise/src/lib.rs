//! supervise: the MCP server a sandboxed agent calls when it is blocked, and the operator's queue.
//!
//! The agent proposes a new routes file, hostname allowlist or Dockerfile
//! through MCP tools ([`server`]); each proposal is validated ([`proposal`]),
//! written to a queue directory of plain JSON files ([`queue`]) and waited on
//! ([`wait`]) until an operator answers it with `supervise queue` or the
//! launcher's dashboard. [`queue`] and [`diff`] are the library the dashboard
//! uses, so every tool reads and answers the queue the same way.

pub mod audit;
pub mod cli;
pub mod current;
pub mod decisions;
pub mod diff;
pub mod dockerfile;
pub mod expiry;
pub mod http;
pub mod id;
pub mod operator;
pub mod proposal;
pub mod queue;
pub mod server;
pub mod sweeper;
pub mod terminal;
pub mod wait;
