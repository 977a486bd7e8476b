//! The bare mirrors: one per configured repo, kept in line with its upstream on demand.

mod coalesce;
mod ssh;
mod sync;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use coalesce::{Coalescer, Job};
pub use ssh::{HOST_KEY_ALIAS, SshSetup, create_private_dir, shell_quote, write_ssh_setup};
pub use sync::{
    RefMove, RefView, SyncError, SyncKind, explain_failure, last_line, parse_ls_remote,
    read_local_view,
};

use crate::config::{RepoSettings, TimeoutSettings};
use crate::gitenv::ChildEnv;
use crate::layout::Layout;

/// The refspecs a mirror fetches: every branch and tag, force-updated, pruned.
pub const MIRROR_REFSPECS: &[&str] = &["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

/// The result of one sync round, shared by every request it served.
#[derive(Debug, Clone)]
pub struct SyncOutcome {
    /// Round number for this repo (1, 2, …), so the audit log shows which requests shared one.
    pub id: u64,
    /// Skipped or fetched (and which refs moved), or why it failed.
    pub result: Result<(SyncKind, Vec<RefMove>), SyncError>,
    /// How long the round took.
    pub duration: Duration,
}

/// One repo's mirror.
#[derive(Debug, Clone)]
pub struct Mirror {
    /// The repo's settings.
    pub settings: RepoSettings,
    /// Path of the bare mirror.
    pub path: PathBuf,
    /// Environment for git commands that talk to the upstream.
    pub env: ChildEnv,
    /// The ssh setup behind `env`.
    pub ssh: SshSetup,
    coalescer: Arc<Coalescer<SyncOutcome>>,
}

/// Why a mirror could not be prepared at start.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// Creating or configuring the bare repository failed.
    #[error("cannot prepare mirror {path}: {message}")]
    Repo {
        /// Mirror path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Writing the ssh files failed.
    #[error("cannot write ssh setup in {path}: {source}")]
    Ssh {
        /// Directory being written.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
}

impl Mirror {
    /// Create (or re-use) the bare mirror and ssh files for `settings`; idempotent.
    pub fn prepare(
        settings: &RepoSettings,
        index: usize,
        layout: &Layout,
        timeouts: &TimeoutSettings,
    ) -> Result<Mirror, PrepareError> {
        let path = layout.mirror(&settings.name);
        init_bare(&path, &settings.upstream.url).map_err(|e| PrepareError::Repo {
            path: path.clone(),
            message: e.message().to_string(),
        })?;
        let ssh_dir = layout.ssh(&settings.name);
        create_private_dir(&layout.control()).map_err(|source| PrepareError::Ssh {
            path: layout.control(),
            source,
        })?;
        let ssh = write_ssh_setup(
            settings,
            &ssh_dir,
            &layout.control().join(index.to_string()),
            timeouts.connect,
        )
        .map_err(|source| PrepareError::Ssh {
            path: ssh_dir.clone(),
            source,
        })?;
        let env = ChildEnv::for_upstream(layout, &ssh);
        let rounds = Arc::new(AtomicU64::new(0));
        let job: Job<SyncOutcome> = {
            let path = path.clone();
            let env = env.clone();
            let limit = timeouts.sync;
            Arc::new(move || {
                let path = path.clone();
                let env = env.clone();
                let id = rounds.fetch_add(1, Ordering::SeqCst) + 1;
                Box::pin(async move {
                    let started = Instant::now();
                    let result = sync::sync_mirror(&path, &env, limit).await;
                    SyncOutcome {
                        id,
                        result,
                        duration: started.elapsed(),
                    }
                })
            })
        };
        Ok(Mirror {
            settings: settings.clone(),
            path,
            env,
            ssh,
            coalescer: Coalescer::new(job),
        })
    }

    /// Bring the mirror up to date with a sync that starts after this call.
    pub async fn sync(&self) -> SyncOutcome {
        self.coalescer.request().await.unwrap_or(SyncOutcome {
            id: 0,
            result: Err(SyncError(
                "the sync task failed unexpectedly; see the gate's log".into(),
            )),
            duration: Duration::ZERO,
        })
    }

    /// Close the shared ssh connection, if any (at shutdown).
    pub async fn close_shared_connection(&self) {
        if !self.ssh.multiplexed {
            return;
        }
        let mut cmd = tokio::process::Command::new("ssh");
        self.env.apply(&mut cmd);
        let _ = cmd
            .args(["-F"])
            .arg(&self.ssh.config)
            .args(["-O", "exit", HOST_KEY_ALIAS])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .status()
            .await;
    }
}

/// Create the bare repo if missing and (re)write the config the gate relies on.
fn init_bare(path: &Path, upstream: &str) -> Result<(), git2::Error> {
    let repo = match git2::Repository::open_bare(path) {
        Ok(r) => r,
        Err(_) => git2::Repository::init_bare(path)?,
    };
    let mut cfg = repo.config()?;
    cfg.set_str("remote.origin.url", upstream)?;
    let _ = cfg.remove_multivar("remote.origin.fetch", ".*");
    for spec in MIRROR_REFSPECS {
        cfg.set_multivar("remote.origin.fetch", "^$", spec)?;
    }
    cfg.set_str("remote.origin.tagOpt", "--no-tags")?;
    cfg.set_bool("core.logAllRefUpdates", false)?;
    cfg.set_bool("uploadpack.allowFilter", true)?;
    cfg.set_bool("receive.fsckObjects", true)?;
    Ok(())
}
