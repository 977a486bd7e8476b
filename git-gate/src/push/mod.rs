//! The write path: scan a push inside git's quarantine, then forward it upstream.
//!
//! `receive-pack` runs with `core.hooksPath` pointing at scripts that only
//! `exec git-gate hook <name>`; all logic is here, in the binary.

pub mod forward;
pub mod inspect;
pub mod pre_receive;
pub mod proc_receive;
pub mod redact;
pub mod report;

use std::io;
use std::path::{Path, PathBuf};

use crate::mirror::shell_quote;

/// The hooks the gate installs.
pub const HOOKS: &[&str] = &["pre-receive", "proc-receive"];

/// Write the hook scripts into `dir`, each a single `exec` of `binary`.
pub fn install_hooks(dir: &Path, binary: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for name in HOOKS {
        let script = format!(
            "#!/bin/sh\nexec {} hook {name}\n",
            shell_quote(&binary.to_string_lossy())
        );
        bottle_common::atomic::write_atomic(&dir.join(name), script.as_bytes(), 0o755)?;
    }
    Ok(())
}

/// Why a hook could not start.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// Not run by the gate's receive-pack.
    #[error(
        "{} is not set; hooks run only inside a push served by `git-gate run`",
        report::SESSION_ENV
    )]
    NoSession,
    /// The context file is missing or unreadable.
    #[error("cannot read the push context in {0}")]
    NoContext(PathBuf),
}

/// Run hook `name` with the process's stdio; returns the exit code.
pub fn run_hook(name: &str) -> Result<i32, HookError> {
    let session = std::env::var_os(report::SESSION_ENV)
        .map(PathBuf::from)
        .ok_or(HookError::NoSession)?;
    let ctx: report::HookContext = report::read_report(&session, report::CONTEXT_FILE)
        .ok_or_else(|| HookError::NoContext(session.clone()))?;
    let mut stderr = io::stderr().lock();
    Ok(match name {
        "pre-receive" => pre_receive::run(&session, &ctx, io::stdin().lock(), &mut stderr),
        "proc-receive" => proc_receive::run(
            &session,
            &ctx,
            &mut io::stdin().lock(),
            &mut io::stdout().lock(),
            &mut stderr,
        ),
        _ => 1,
    })
}
