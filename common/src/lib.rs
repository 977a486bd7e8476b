//! Shared plumbing for bottle's binaries.
//!
//! Kept deliberately small: only what every sidecar and the launcher need in
//! exactly the same form, so there is one way to do each of these things.

pub mod atomic;
pub mod audit;
pub mod located;
pub mod logging;
pub mod time;
