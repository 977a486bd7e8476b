//! The environment of every git (and ssh) the gate starts: explicit, minimal, the same everywhere.
//!
//! Children never inherit the gate's environment: no stray `GIT_*` variable,
//! credential helper, ssh agent or user config can change what they do.

use std::ffi::OsString;
use std::path::Path;

use crate::layout::Layout;
use crate::mirror::SshSetup;

/// PATH used when the gate itself has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Environment variables for a child process, applied after clearing everything else.
#[derive(Debug, Clone, Default)]
pub struct ChildEnv {
    vars: Vec<(String, OsString)>,
}

impl ChildEnv {
    /// The base environment for git: PATH, an empty HOME, C locale, no prompts, no system config.
    pub fn for_git(layout: &Layout) -> ChildEnv {
        let mut env = ChildEnv::default();
        env.set(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into()),
        );
        env.set("HOME", layout.home());
        env.set("LANG", "C");
        env.set("LC_ALL", "C");
        env.set("GIT_CONFIG_NOSYSTEM", "1");
        env.set("GIT_TERMINAL_PROMPT", "0");
        env.set("GIT_ASKPASS", "/bin/false");
        env.set("SSH_ASKPASS", "/bin/false");
        env
    }

    /// The base environment plus the ssh setup for one upstream.
    pub fn for_upstream(layout: &Layout, ssh: &SshSetup) -> ChildEnv {
        let mut env = ChildEnv::for_git(layout);
        env.set("GIT_SSH_COMMAND", &ssh.command);
        env.set("GIT_SSH_VARIANT", "ssh");
        env
    }

    /// Set (or replace) one variable.
    pub fn set(&mut self, key: &str, value: impl Into<OsString>) {
        let value = value.into();
        match self.vars.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((key.to_string(), value)),
        }
    }

    /// Apply to a command: clear its environment, then set exactly these variables.
    pub fn apply(&self, cmd: &mut tokio::process::Command) {
        cmd.env_clear();
        cmd.envs(self.vars.iter().map(|(k, v)| (k, v)));
    }

    /// A `git` command running in `dir` with this environment.
    pub fn git(&self, dir: &Path) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("git");
        self.apply(&mut cmd);
        cmd.current_dir(dir).kill_on_drop(true);
        cmd
    }
}
