//! A bottle's state directory: everything about one bottle on the host, so it
//! can be inspected, stopped, resumed and cleaned up without the process that
//! started it.
//!
//! ```text
//! state/<id>/
//!   metadata.json          what was started, from which manifests, when
//!   docker-compose.yml     the compose project (no secrets in it)
//!   compose.log            every compose command's output
//!   live-config/           mounted as directories, so rename-replacements are seen
//!     egress-proxy/routes.yaml
//!     pipelock/pipelock.yaml
//!   current-config/        read-only for the agent and supervise: routes.yaml, allowlist, Dockerfile
//!   agent/prompt.md        the agent's system prompt
//!   ca/<sidecar>/          per-start CAs (keys 0600), each mounted only into its sidecar
//!   trust/                 CA certificates (never keys) handed to clients
//!   secrets/               0700; tokens and keys, each subdirectory mounted only into its sidecar
//!   git-gate/git-gate.yaml
//!   queue/                 supervise's proposal queue
//!   logs/<sidecar>/        audit logs
//!   transcript/            the agent's ~/.claude, kept across stop and resume
//!   staged/Dockerfile      an approved agent Dockerfile, built on resume
//! ```

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Paths inside one bottle's state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
    id: String,
}

impl StateDir {
    /// The state directory of bottle `id` under `state_root` (`$BOTTLE_HOME/state`).
    pub fn new(state_root: &Path, id: &str) -> StateDir {
        StateDir {
            root: state_root.join(id),
            id: id.to_string(),
        }
    }

    /// A state layout rooted at an arbitrary directory (`bottle render --out`).
    pub fn at(root: &Path, id: &str) -> StateDir {
        StateDir {
            root: root.to_path_buf(),
            id: id.to_string(),
        }
    }

    /// The bottle's identity (compose project name).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `metadata.json`.
    pub fn metadata(&self) -> PathBuf {
        self.root.join("metadata.json")
    }

    /// `docker-compose.yml`.
    pub fn compose_file(&self) -> PathBuf {
        self.root.join("docker-compose.yml")
    }

    /// `compose.log`.
    pub fn compose_log(&self) -> PathBuf {
        self.root.join("compose.log")
    }

    /// Directory mounted into egress-proxy holding its routes.
    pub fn live_egress_dir(&self) -> PathBuf {
        self.root.join("live-config/egress-proxy")
    }

    /// The routes file egress-proxy loads (and reloads on SIGHUP).
    pub fn live_routes(&self) -> PathBuf {
        self.live_egress_dir().join("routes.yaml")
    }

    /// Directory mounted into pipelock holding its config.
    pub fn live_pipelock_dir(&self) -> PathBuf {
        self.root.join("live-config/pipelock")
    }

    /// pipelock's config file.
    pub fn live_pipelock_config(&self) -> PathBuf {
        self.live_pipelock_dir().join("pipelock.yaml")
    }

    /// What the agent and supervise read as the current configuration.
    pub fn current_config(&self) -> PathBuf {
        self.root.join("current-config")
    }

    /// Directory with the agent's prompt.
    pub fn agent_dir(&self) -> PathBuf {
        self.root.join("agent")
    }

    /// Per-sidecar CA directory (certificate and key).
    pub fn ca_dir(&self, sidecar: &str) -> PathBuf {
        self.root.join("ca").join(sidecar)
    }

    /// CA certificates a client trusts (`agent`, `egress-proxy`).
    pub fn trust_dir(&self, client: &str) -> PathBuf {
        self.root.join("trust").join(client)
    }

    /// The secrets directory (0700).
    pub fn secrets(&self) -> PathBuf {
        self.root.join("secrets")
    }

    /// Secrets of one sidecar (mounted only into it).
    pub fn secrets_of(&self, sidecar: &str) -> PathBuf {
        self.secrets().join(sidecar)
    }

    /// git-gate's config directory.
    pub fn git_gate_dir(&self) -> PathBuf {
        self.root.join("git-gate")
    }

    /// supervise's proposal queue.
    pub fn queue(&self) -> PathBuf {
        self.root.join("queue")
    }

    /// A sidecar's log directory.
    pub fn logs_of(&self, sidecar: &str) -> PathBuf {
        self.root.join("logs").join(sidecar)
    }

    /// The agent's `~/.claude`, kept across stop and resume.
    pub fn transcript(&self) -> PathBuf {
        self.root.join("transcript")
    }

    /// An approved agent Dockerfile waiting for `bottle resume`.
    pub fn staged_dockerfile(&self) -> PathBuf {
        self.root.join("staged/Dockerfile")
    }

    /// Container name of `service` in this bottle.
    pub fn container(&self, service: &str) -> String {
        format!("{}-{service}", self.id)
    }
}

/// What `metadata.json` records about a bottle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Metadata {
    /// The bottle's identity (compose project name).
    pub id: String,
    /// Agent name.
    pub agent: String,
    /// Agent manifest file.
    pub agent_file: PathBuf,
    /// Bottle name.
    pub bottle: String,
    /// Bottle manifest file.
    pub bottle_file: PathBuf,
    /// The project directory agents were looked up in.
    pub project_dir: PathBuf,
    /// When the bottle was first created (RFC 3339).
    pub created_at: String,
    /// When it was last started or resumed.
    pub started_at: Option<String>,
    /// When it was last torn down.
    pub stopped_at: Option<String>,
    /// Agent image.
    pub image: String,
    /// Runtime the agent ran under (`runc`, `runsc`, or `default`).
    pub runtime: String,
    /// Compose services.
    pub services: Vec<String>,
    /// Names (never values) of the host variables whose tokens egress-proxy holds.
    pub token_refs: Vec<String>,
    /// Version of the launcher that wrote this.
    pub launcher_version: String,
}

impl Metadata {
    /// Read a bottle's metadata.
    pub fn read(state: &StateDir) -> io::Result<Metadata> {
        let text = std::fs::read_to_string(state.metadata())?;
        serde_json::from_str(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", state.metadata().display()),
            )
        })
    }

    /// Write it atomically.
    pub fn write(&self, state: &StateDir) -> io::Result<()> {
        let mut json = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        json.push('\n');
        bottle_common::atomic::write_atomic(&state.metadata(), json.as_bytes(), 0o644)
    }
}

/// Create `dir` (and parents) and set its mode.
pub fn mkdir(dir: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
}

/// Length of the random part of a bottle id.
pub const ID_SUFFIX_LEN: usize = 6;

/// A new bottle identity: the agent name and a random suffix.
pub fn new_id(agent: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; ID_SUFFIX_LEN];
    getrandom::fill(&mut bytes).expect("the OS random number generator is unavailable");
    let suffix: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("{agent}-{suffix}")
}

/// Whether `id` is a bottle id as [`new_id`] makes them: an agent name, `-`, and
/// the random suffix. The one check for ids from the command line, state
/// directory names and container labels, so none of them can name a path
/// outside the state directory.
pub fn valid_id(id: &str) -> bool {
    id.rsplit_once('-').is_some_and(|(agent, suffix)| {
        crate::manifest::valid_name(agent)
            && suffix.len() == ID_SUFFIX_LEN
            && suffix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// What a bottle id looks like, for error messages.
const ID_RULE: &str = "a bottle id is an agent name, `-`, and six lowercase letters or digits (see `bottle list --all`)";

/// [`valid_id`] for an id the user gave: an error saying what an id looks like.
pub fn check_id(id: &str) -> anyhow::Result<()> {
    if !valid_id(id) {
        anyhow::bail!("`{}` is not a bottle id: {ID_RULE}", id.escape_default());
    }
    Ok(())
}

/// Every bottle with a state directory under `state_root`, sorted by id.
pub fn all(state_root: &Path) -> Vec<StateDir> {
    let mut out: Vec<StateDir> = std::fs::read_dir(state_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("metadata.json").is_file())
        .filter_map(|e| {
            let id = e.file_name().to_str()?.to_string();
            valid_id(&id).then(|| StateDir::new(state_root, &id))
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_agent_plus_a_random_suffix() {
        let a = new_id("coder");
        let b = new_id("coder");
        assert_ne!(a, b);
        assert!(
            a.starts_with("coder-") && a.len() == "coder-".len() + 6,
            "{a}"
        );
        assert!(valid_id(&a));
        let longest = new_id(&"x".repeat(48));
        assert!(valid_id(&longest), "{longest}");
    }

    #[test]
    fn ids_that_could_name_other_paths_are_refused() {
        for bad in [
            "",
            "coder",
            "coder-",
            "coder-abc12",
            "coder-abc1234",
            "coder-ABC123",
            "../x-abc123",
            "-abc123",
            "a/b-abc123",
            "..-abc123",
            "coder-abc12/",
            "coder-ab.123",
            &format!("{}-abc123", "x".repeat(49)),
        ] {
            assert!(!valid_id(bad), "{bad:?}");
        }
        assert!(valid_id("coder-abc123") && valid_id("my_agent-2-000000"));
    }

    #[test]
    fn metadata_round_trips_and_bottles_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir::new(dir.path(), "coder-abc123");
        mkdir(s.root(), 0o700).unwrap();
        let m = Metadata {
            id: "coder-abc123".into(),
            agent: "coder".into(),
            agent_file: "/a.md".into(),
            bottle: "dev".into(),
            bottle_file: "/b.md".into(),
            project_dir: "/p".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            started_at: None,
            stopped_at: None,
            image: "bottle-agent:latest".into(),
            runtime: "runc".into(),
            services: vec!["agent".into()],
            token_refs: vec!["GH_TOKEN".into()],
            launcher_version: "0".into(),
        };
        m.write(&s).unwrap();
        assert_eq!(Metadata::read(&s).unwrap(), m);
        std::fs::create_dir_all(dir.path().join("not-a-bottle")).unwrap();
        let hostile = dir.path().join("..-abc123");
        std::fs::create_dir_all(&hostile).unwrap();
        std::fs::write(hostile.join("metadata.json"), "{}").unwrap();
        let found = all(dir.path());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id(), "coder-abc123");
        assert_eq!(s.container("egress-proxy"), "coder-abc123-egress-proxy");
    }
}
