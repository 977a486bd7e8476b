//! Rendering a plan into a compose project on disk.

pub mod compose;
pub mod pipelock;
