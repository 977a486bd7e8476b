//! The `bottle` subcommands, one module each, sharing the home directory and prompts.

pub mod cleanup;
pub mod dashboard;
pub mod decide;
pub mod images;
pub mod list;
pub mod proposals;
pub mod render;
pub mod start;
pub mod stop;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::manifest::Locations;
use crate::state::StateDir;

/// `$BOTTLE_HOME`: manifests and state.
#[derive(Debug, Clone)]
pub struct Home {
    /// The directory.
    pub root: PathBuf,
}

impl Home {
    /// `$BOTTLE_HOME`, or `~/.claude-bottle`.
    pub fn from_env() -> anyhow::Result<Home> {
        let root = match std::env::var_os("BOTTLE_HOME").filter(|v| !v.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => {
                let home = std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .context("neither BOTTLE_HOME nor HOME is set; set BOTTLE_HOME to where manifests and state should live")?;
                PathBuf::from(home).join(".claude-bottle")
            }
        };
        let root = if root.is_absolute() {
            root
        } else {
            std::env::current_dir()?.join(root)
        };
        Ok(Home { root })
    }

    /// `$BOTTLE_HOME/state`.
    pub fn state_root(&self) -> PathBuf {
        self.root.join("state")
    }

    /// Manifest lookup from `project` (default: the current directory).
    pub fn locations(&self, project: Option<PathBuf>) -> anyhow::Result<Locations> {
        let project = match project {
            Some(p) => std::fs::canonicalize(&p)
                .with_context(|| format!("--cwd {}: no such directory", p.display()))?,
            None => std::env::current_dir().context("cannot read the current directory")?,
        };
        Ok(Locations {
            home: self.root.clone(),
            project,
        })
    }

    /// The state directory of an existing bottle, or a clear error.
    pub fn existing(&self, id: &str) -> anyhow::Result<StateDir> {
        crate::state::check_id(id)?;
        let state = StateDir::new(&self.state_root(), id);
        if !state.metadata().is_file() {
            bail!(
                "no bottle `{id}`: {} does not exist (see `bottle list --all`)",
                state.metadata().display()
            );
        }
        Ok(state)
    }
}

/// Our effective uid and gid (owner of a file we create), for containers that write host files.
pub fn host_ids() -> anyhow::Result<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let probe = tempfile::tempfile().context("cannot create a temporary file")?;
    let meta = probe.metadata()?;
    Ok((meta.uid(), meta.gid()))
}

/// Uid and gid for the agent image's user, from ours ([`host_ids`]): the same, or 1000 when we are root.
pub fn agent_ids((uid, gid): (u32, u32)) -> (u32, u32) {
    if uid == 0 { (1000, 1000) } else { (uid, gid) }
}

/// Refuse (with advice) a question that cannot be asked: standard input is not a terminal.
///
/// Called before any work, so a script without `--yes` fails at once.
pub fn require_terminal(question: &str, yes_flag: &str) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "\"{question}\" needs a y/N answer, but standard input is not a terminal; pass {yes_flag} to proceed without asking"
        );
    }
    Ok(())
}

/// Ask a y/N question on the terminal; refuse (with advice) when there is no terminal.
pub fn confirm(question: &str, yes_flag: &str) -> anyhow::Result<bool> {
    require_terminal(question, yes_flag)?;
    let stdin = std::io::stdin();
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// Print a warning for a project's ignored bottles directory.
pub fn warn_ignored_bottles(locations: &Locations) {
    if let Some(dir) = locations.ignored_project_bottles() {
        eprintln!(
            "warning: ignoring {}: bottles are read only from {} (a repository cannot grant itself capabilities)",
            dir.display(),
            locations.home.join("bottles").display()
        );
    }
}

/// `path` shown relative to the home directory when it is inside it.
pub fn show(path: &Path) -> String {
    match std::env::var_os("HOME").map(PathBuf::from) {
        Some(home) if path.starts_with(&home) => {
            format!("~/{}", path.strip_prefix(&home).unwrap_or(path).display())
        }
        _ => path.display().to_string(),
    }
}
