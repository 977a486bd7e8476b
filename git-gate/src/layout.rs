//! Where the gate keeps things under `data_dir`.
//!
//! ```text
//! data_dir/
//!   <name>.git/            bare mirror of one upstream (served to clients)
//!   .gate/                 private state (repo names cannot start with `.`)
//!     home/                HOME for every git and ssh the gate runs (empty)
//!     hooks/               pre-receive and proc-receive, each `exec git-gate hook <name>`
//!     ssh/<name>/          ssh config and known_hosts for one upstream
//!     cm/                  ssh connection-sharing sockets
//!     sessions/<id>/       one push's context and hook reports
//! ```

use std::path::{Path, PathBuf};

/// Paths under one data directory.
#[derive(Debug, Clone)]
pub struct Layout {
    data_dir: PathBuf,
}

impl Layout {
    /// The layout rooted at `data_dir`.
    pub fn new(data_dir: &Path) -> Layout {
        Layout {
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// The bare mirror served as `/<name>.git`.
    pub fn mirror(&self, name: &str) -> PathBuf {
        self.data_dir.join(format!("{name}.git"))
    }

    /// The gate's private state directory.
    pub fn state(&self) -> PathBuf {
        self.data_dir.join(".gate")
    }

    /// HOME for child processes: empty, so no user config leaks in.
    pub fn home(&self) -> PathBuf {
        self.state().join("home")
    }

    /// The hooks directory given to `receive-pack` as `core.hooksPath`.
    pub fn hooks(&self) -> PathBuf {
        self.state().join("hooks")
    }

    /// ssh files for one repo's upstream.
    pub fn ssh(&self, name: &str) -> PathBuf {
        self.state().join("ssh").join(name)
    }

    /// ssh connection-sharing sockets (kept short: socket paths are limited to ~100 bytes).
    pub fn control(&self) -> PathBuf {
        self.state().join("cm")
    }

    /// Per-push working directories.
    pub fn sessions(&self) -> PathBuf {
        self.state().join("sessions")
    }
}
