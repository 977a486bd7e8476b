//! Bottle and agent manifests: Markdown files whose YAML front matter says
//! what a sandbox may do (bottles) and who runs in it (agents).
//!
//! Bottles are read only from `$BOTTLE_HOME/bottles/`: a repository cannot
//! grant itself capabilities. Agents are read from the project's
//! `.claude-bottle/agents/` first and `$BOTTLE_HOME/agents/` second, so a
//! project can ship its own prompt; an agent only names a bottle, it never
//! carries capabilities itself.

use std::path::{Path, PathBuf};

use bottle_common::located::{ConfigError, Pos, Source, from_yaml, read_text};
use egress_proxy::routes::{Scheme, TlsMode};
use serde::Deserialize;
use serde_saphyr::Spanned;

/// A bottle manifest: the sandbox's capabilities.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BottleManifest {
    /// Agent image to run (default `bottle-agent:latest`).
    #[serde(default)]
    pub image: Option<Spanned<String>>,
    /// Dockerfile to build the agent image from, relative to the manifest.
    #[serde(default)]
    pub dockerfile: Option<Spanned<String>>,
    /// What the agent may reach over HTTP(S), and how.
    #[serde(default)]
    pub egress: Egress,
    /// Git remotes fronted by git-gate.
    #[serde(default)]
    pub git: Vec<GitEntry>,
    /// Extra environment for the agent (never for secrets: it is visible to the agent).
    #[serde(default)]
    pub env: SpannedMap,
    /// Run the supervise MCP sidecar so the agent can ask for more.
    #[serde(default, deserialize_with = "strict_bool")]
    pub supervise: bool,
    /// Container runtime for the agent.
    #[serde(default)]
    pub runtime: Option<Spanned<Runtime>>,
    /// Resource limits for the agent container.
    #[serde(default)]
    pub limits: Option<Spanned<Limits>>,
}

/// Resource limits for the agent container.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Memory, e.g. `4g` or `512m` (Docker's units: b, k, m, g).
    #[serde(default)]
    pub memory: Option<Spanned<String>>,
    /// CPUs, e.g. `2` or `1.5`.
    #[serde(default)]
    pub cpus: Option<Spanned<f64>>,
    /// Maximum number of processes.
    #[serde(default)]
    pub pids: Option<Spanned<u32>>,
}

/// The `egress` section of a bottle.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Egress {
    /// egress-proxy routes; `auth.token_ref` names a host environment variable.
    #[serde(default)]
    pub routes: Vec<ManifestRoute>,
    /// Extra hostnames pipelock allows (besides the route hosts).
    #[serde(default)]
    pub allowlist: Vec<Spanned<String>>,
    /// What pipelock does when its DLP finds a secret in a request.
    #[serde(default)]
    pub dlp_action: DlpAction,
    /// Whether pipelock sits between egress-proxy and the outside.
    #[serde(default = "yes", deserialize_with = "strict_bool")]
    pub pipelock: bool,
    /// The pipelock image to run.
    #[serde(default)]
    pub pipelock_image: Option<Spanned<String>>,
    /// Extra CA certificates egress-proxy trusts for origins (paths relative to the manifest).
    #[serde(default)]
    pub trust_ca: Vec<Spanned<String>>,
    /// An existing Docker network to use as the egress side instead of a per-bottle one.
    #[serde(default)]
    pub network: Option<Spanned<String>>,
}

impl Default for Egress {
    fn default() -> Self {
        Egress {
            routes: Vec::new(),
            allowlist: Vec::new(),
            dlp_action: DlpAction::default(),
            pipelock: true,
            pipelock_image: None,
            trust_ca: Vec::new(),
            network: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// A YAML boolean only: a quoted `"yes"` or a number is a type error, not a guess.
fn strict_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct Flag;
    impl serde::de::Visitor<'_> for Flag {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("true or false")
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
    }
    d.deserialize_any(Flag)
}

/// One route as written in a bottle: the routes-file shape, with `token_ref` for the credential.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestRoute {
    /// Exact host or `*.suffix`.
    pub host: Spanned<String>,
    /// Port (default by scheme).
    #[serde(default)]
    pub port: Option<Spanned<u16>>,
    /// Path prefixes.
    #[serde(default)]
    pub paths: Option<Spanned<Vec<Spanned<String>>>>,
    /// Methods.
    #[serde(default)]
    pub methods: Option<Spanned<Vec<Spanned<String>>>>,
    /// Credential injected by egress-proxy.
    #[serde(default)]
    pub auth: Option<Spanned<ManifestAuth>>,
    /// intercept (default) or passthrough.
    #[serde(default)]
    pub tls: Option<Spanned<TlsMode>>,
}

/// A route's credential, named by the host environment variable that holds it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestAuth {
    /// How the credential is presented.
    pub scheme: Spanned<Scheme>,
    /// Header name, for `scheme: header`.
    #[serde(default)]
    pub header: Option<Spanned<String>>,
    /// The host environment variable read at `bottle start`.
    pub token_ref: Spanned<String>,
}

/// pipelock's answer to a secret found in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DlpAction {
    /// Refuse the request.
    #[default]
    Block,
    /// Log and let it through.
    Warn,
}

/// Which OCI runtime runs the agent container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// gVisor when the engine has it, else runc.
    #[default]
    Auto,
    /// The engine's default runtime.
    Runc,
    /// gVisor; an error if the engine does not have it.
    Runsc,
}

/// A git remote fronted by git-gate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitEntry {
    /// Served as `git://git-gate/<name>.git`.
    pub name: Spanned<String>,
    /// `ssh://user@host[:port]/path` of the real remote.
    pub upstream: Spanned<String>,
    /// Private key git-gate pushes and fetches with (host path, `~` allowed).
    pub identity_file: Spanned<String>,
    /// The only host key accepted from the upstream (`ssh-ed25519 AAAA...`).
    pub known_host_key: Spanned<String>,
    /// Host name to IP overrides for the gate.
    #[serde(default)]
    pub extra_hosts: SpannedMap,
}

/// A map of strings whose keys and values keep their positions, in file order,
/// so an error about one entry names that entry's line.
#[derive(Debug, Default, Clone)]
pub struct SpannedMap(pub Vec<(Spanned<String>, Spanned<String>)>);

impl<'de> Deserialize<'de> for SpannedMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = SpannedMap;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of names to strings")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<SpannedMap, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(SpannedMap(out))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// An agent manifest: who runs in the bottle.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentManifest {
    /// Name of the bottle in `$BOTTLE_HOME/bottles/`.
    pub bottle: Spanned<String>,
    /// One line shown by `bottle list` and the preflight summary.
    #[serde(default)]
    pub description: Option<String>,
    /// Program the agent runs (default `claude`).
    #[serde(default)]
    pub command: Option<Spanned<Vec<String>>>,
}

/// A manifest file split into its parsed front matter and its Markdown body.
#[derive(Debug)]
pub struct Loaded<T> {
    /// Where it was read from.
    pub path: PathBuf,
    /// The parsed front matter.
    pub manifest: T,
    /// The Markdown body (for agents: the system prompt).
    pub body: String,
    /// Source for errors at positions in the front matter.
    pub source: Source,
}

/// Split `---` front matter from a Markdown file: (yaml, lines before it, body).
pub fn split_front_matter<'a>(
    text: &'a str,
    source: &Source,
) -> Result<(&'a str, u64, &'a str), ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    if first.trim_end() != "---" {
        return Err(source.error_at(
            Pos { line: 1, column: 1 },
            "a manifest starts with a `---` line, then YAML front matter, then a closing `---` line",
        ));
    }
    let start = first.len();
    let mut offset = start;
    for line in lines {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed == "..." {
            let yaml = &text[start..offset];
            let body = &text[offset + line.len()..];
            return Ok((yaml, 1, body));
        }
        offset += line.len();
    }
    Err(source.error_at(
        Pos { line: 1, column: 1 },
        "front matter is not closed: add a `---` line after the YAML",
    ))
}

/// Read and parse a manifest file of type `T`.
pub fn load<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Loaded<T>, ConfigError> {
    let file_source = Source::file(path);
    let text = read_text(path, &file_source)?;
    let (yaml, offset, body) = split_front_matter(&text, &file_source)?;
    let source = Source::embedded(path, offset);
    let yaml = if yaml.trim().is_empty() { "{}" } else { yaml };
    let manifest = from_yaml::<T>(yaml, &source)?;
    Ok(Loaded {
        path: path.to_path_buf(),
        manifest,
        body: body.trim().to_string(),
        source,
    })
}

/// Whether `name` can name an agent or bottle (it becomes part of container names).
pub fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 48
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_')
}

/// What a name must look like, for error messages.
pub const NAME_RULE: &str = "names use lowercase letters, digits, `-` and `_`, start with a letter or digit, at most 48 characters";

/// Where manifests are looked up.
#[derive(Debug, Clone)]
pub struct Locations {
    /// `$BOTTLE_HOME`.
    pub home: PathBuf,
    /// The project directory (`--cwd`, default the current directory).
    pub project: PathBuf,
}

impl Locations {
    /// The agent file for `name`: the project's wins over the home directory's.
    pub fn agent_path(&self, name: &str) -> Result<PathBuf, LookupError> {
        if !valid_name(name) {
            return Err(LookupError::BadName(name.to_string()));
        }
        let candidates = [
            self.project
                .join(".claude-bottle/agents")
                .join(format!("{name}.md")),
            self.home.join("agents").join(format!("{name}.md")),
        ];
        let found = candidates
            .iter()
            .find(|p| p.is_file())
            .cloned()
            .ok_or_else(|| LookupError::NoAgent {
                name: name.to_string(),
                searched: candidates.to_vec(),
            })?;
        if found == candidates[0] {
            self.check_inside_project(&found)?;
        }
        Ok(found)
    }

    /// Whether `path` (an agent file) is the project's own rather than the home directory's.
    pub fn is_project_agent(&self, path: &Path) -> bool {
        path.starts_with(self.project.join(".claude-bottle/agents"))
    }

    /// A project's agent file must resolve inside the project: a repository
    /// cannot make bottle read (and quote in errors) a file elsewhere on the host.
    fn check_inside_project(&self, path: &Path) -> Result<(), LookupError> {
        let outside = |target: String| LookupError::OutsideProject {
            path: path.to_path_buf(),
            target,
        };
        let target = std::fs::canonicalize(path).map_err(|e| outside(e.to_string()))?;
        let project = std::fs::canonicalize(&self.project).map_err(|e| outside(e.to_string()))?;
        if target.starts_with(&project) {
            Ok(())
        } else {
            Err(outside(target.display().to_string()))
        }
    }

    /// The bottle file for `name`, from the home directory only.
    pub fn bottle_path(&self, name: &str) -> Result<PathBuf, LookupError> {
        if !valid_name(name) {
            return Err(LookupError::BadName(name.to_string()));
        }
        let path = self.home.join("bottles").join(format!("{name}.md"));
        if path.is_file() {
            Ok(path)
        } else {
            Err(LookupError::NoBottle {
                name: name.to_string(),
                path,
            })
        }
    }

    /// A project's own bottles directory, if it has one (it is ignored, with a warning).
    pub fn ignored_project_bottles(&self) -> Option<PathBuf> {
        let dir = self.project.join(".claude-bottle/bottles");
        dir.is_dir().then_some(dir)
    }
}

/// A manifest that could not be found.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The name cannot be a manifest name.
    #[error("`{0}` is not a valid name: {NAME_RULE}")]
    BadName(String),
    /// No agent file.
    #[error(
        "no agent `{name}`: looked for {}; create one (see docs/manifest.md)",
        list(searched)
    )]
    NoAgent {
        /// The agent asked for.
        name: String,
        /// Files looked at, in order.
        searched: Vec<PathBuf>,
    },
    /// A project's agent file is a link to something outside the project.
    #[error(
        "agent file {} resolves outside the project ({target}); a repository's agents must be files inside it",
        path.display()
    )]
    OutsideProject {
        /// The agent file in the project.
        path: PathBuf,
        /// Where it leads (or why it cannot be resolved).
        target: String,
    },
    /// No bottle file.
    #[error("no bottle `{name}`: {} does not exist; bottles live only in the home directory's bottles/ (see docs/manifest.md)", path.display())]
    NoBottle {
        /// The bottle asked for.
        name: String,
        /// Where it must be.
        path: PathBuf,
    },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" and ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn front_matter_is_split_with_its_line_offset() {
        let s = Source::named("a.md");
        let (yaml, offset, body) =
            split_front_matter("---\nbottle: dev\n---\nHello\n", &s).unwrap();
        assert_eq!(yaml, "bottle: dev\n");
        assert_eq!(offset, 1);
        assert_eq!(body, "Hello\n");
        let (yaml, _, body) = split_front_matter("---\r\nbottle: dev\r\n...\r\n", &s).unwrap();
        assert_eq!(yaml, "bottle: dev\r\n");
        assert_eq!(body, "");
    }

    #[test]
    fn missing_or_unclosed_front_matter_is_an_error() {
        let s = Source::named("a.md");
        let e = split_front_matter("bottle: dev\n", &s)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("a.md:1:1: a manifest starts with a `---` line"),
            "{e}"
        );
        let e = split_front_matter("---\nbottle: dev\n", &s)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not closed"), "{e}");
        assert!(split_front_matter("", &s).is_err());
    }

    #[test]
    fn unknown_keys_name_file_line_and_suggest() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "b.md",
            "---\nimage: x\negress:\n  routs: []\n---\n",
        );
        let e = load::<BottleManifest>(&p).unwrap_err().to_string();
        assert!(e.contains("b.md:4:3: unknown key `routs`"), "{e}");
        assert!(e.contains("did you mean `routes`?"), "{e}");
        let p = write(dir.path(), "a.md", "---\nbotle: dev\n---\n");
        let e = load::<AgentManifest>(&p).unwrap_err().to_string();
        assert!(e.contains("a.md:2:1: unknown key `botle`"), "{e}");
        assert!(e.contains("did you mean `bottle`?"), "{e}");
    }

    #[test]
    fn wrong_values_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "b.md", "---\nruntime: gvisor\n---\n");
        let e = load::<BottleManifest>(&p).unwrap_err().to_string();
        assert!(e.contains("b.md:2:10: unknown value `gvisor`"), "{e}");
        let p = write(
            dir.path(),
            "b2.md",
            "---\negress:\n  dlp_action: blok\n---\n",
        );
        let e = load::<BottleManifest>(&p).unwrap_err().to_string();
        assert!(e.contains("did you mean `block`?"), "{e}");
        let p = write(
            dir.path(),
            "b3.md",
            "---\negress:\n  routes:\n    - host: a.com\n      auth: {scheme: bearer, token_env: X}\n---\n",
        );
        let e = load::<BottleManifest>(&p).unwrap_err().to_string();
        assert!(e.contains("b3.md:5:"), "{e}");
        assert!(e.contains("token_env"), "{e}");
    }

    #[test]
    fn empty_front_matter_is_an_all_default_bottle() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "b.md", "---\n---\nJust prose.\n");
        let b = load::<BottleManifest>(&p).unwrap();
        assert!(b.manifest.egress.pipelock);
        assert!(b.manifest.git.is_empty());
        assert_eq!(b.body, "Just prose.");
        let e = load::<AgentManifest>(&p).unwrap_err().to_string();
        assert!(e.contains("bottle"), "{e}");
    }

    #[test]
    fn agents_from_the_project_win_and_bottles_come_only_from_home() {
        let home = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        let loc = Locations {
            home: home.path().to_path_buf(),
            project: project.path().to_path_buf(),
        };
        let h = write(home.path(), "agents/coder.md", "---\nbottle: dev\n---\n");
        assert_eq!(loc.agent_path("coder").unwrap(), h);
        let p = write(
            project.path(),
            ".claude-bottle/agents/coder.md",
            "---\nbottle: dev\n---\n",
        );
        assert_eq!(loc.agent_path("coder").unwrap(), p);
        write(
            project.path(),
            ".claude-bottle/bottles/dev.md",
            "---\n---\n",
        );
        let e = loc.bottle_path("dev").unwrap_err().to_string();
        assert!(e.contains("no bottle `dev`"), "{e}");
        assert!(loc.ignored_project_bottles().is_some());
        let b = write(home.path(), "bottles/dev.md", "---\n---\n");
        assert_eq!(loc.bottle_path("dev").unwrap(), b);
        let e = loc.agent_path("nobody").unwrap_err().to_string();
        assert!(e.contains("no agent `nobody`"), "{e}");
    }

    #[test]
    fn names_that_could_escape_paths_or_container_names_are_refused() {
        for bad in [
            "",
            "../x",
            "a/b",
            "Coder",
            "-x",
            "a b",
            "a.md",
            &"x".repeat(49),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        for good in ["coder", "dev-2", "a_b", "9lives"] {
            assert!(valid_name(good), "{good}");
        }
        let loc = Locations {
            home: PathBuf::from("/nonexistent"),
            project: PathBuf::from("/nonexistent"),
        };
        assert!(matches!(
            loc.agent_path("../etc"),
            Err(LookupError::BadName(_))
        ));
    }
}
