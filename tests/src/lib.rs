//! Fixtures for bottle's tests: real processes and servers, never mocks.
//!
//! Each module starts one kind of real thing (a process, a PKI, a server)
//! and cleans it up on drop, so a failing test leaves nothing running.

pub mod bottle;
pub mod curl;
pub mod docker;
pub mod egress;
pub mod fake;
pub mod mitm;
pub mod net;
pub mod nginx;
pub mod pki;
pub mod process;
pub mod sshd;
pub mod supervise;
pub mod tools;
pub mod websocket;
