//! `bottle`: run an AI coding agent in a Docker sandbox whose only ways out
//! are bottle's sidecars.

mod manifest;
mod plan;
mod render;
mod state;

fn main() {}
