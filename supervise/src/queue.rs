//! The proposal queue: plain JSON files in one directory, the one format every reader shares.
//!
//! The server writes `<id>.proposal.json` once (created atomically, never
//! rewritten), recording the target file it was proposed against. Whoever answers (the `supervise queue` CLI, the launcher's
//! dashboard, the server's expiry sweep) creates `<id>.decision.json` with
//! [`create_atomic`], so of two racing answers exactly one wins and the other
//! gets [`QueueError::AlreadyAnswered`]. Readers never see a half-written
//! file, and a file that does not parse is skipped with a warning naming it.
//! The server marks each decision it has audited with `<id>.audited`.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use bottle_common::atomic::create_atomic;
use bottle_common::time::{format_rfc3339, now_rfc3339, parse_rfc3339};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::id::{IdError, ProposalId};

/// Version written into every queue file; readers refuse other versions.
pub const FORMAT_VERSION: u32 = 1;
/// Suffix of proposal files: `<id>.proposal.json`.
pub const PROPOSAL_SUFFIX: &str = ".proposal.json";
/// Suffix of decision files: `<id>.decision.json`.
pub const DECISION_SUFFIX: &str = ".decision.json";
/// Suffix of the server's markers for audited decisions: `<id>.audited`.
pub const AUDITED_SUFFIX: &str = ".audited";
/// Largest queue file read; anything bigger is not one of ours.
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;
/// Longest operator comment stored in a decision.
pub const MAX_COMMENT_BYTES: usize = 16 * 1024;

const FILE_MODE: u32 = 0o644;

/// Which MCP tool made a proposal; each replaces one file of the current config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    /// A new egress-proxy `routes.yaml`.
    EgressBlock,
    /// A new pipelock hostname allowlist.
    PipelockBlock,
    /// A new agent Dockerfile.
    CapabilityBlock,
}

impl Tool {
    /// The MCP tool name, as written in queue files.
    pub fn name(self) -> &'static str {
        match self {
            Tool::EgressBlock => "egress-block",
            Tool::PipelockBlock => "pipelock-block",
            Tool::CapabilityBlock => "capability-block",
        }
    }

    /// The current-config file a proposal of this tool replaces.
    pub fn target(self) -> Target {
        match self {
            Tool::EgressBlock => Target::Routes,
            Tool::PipelockBlock => Target::Allowlist,
            Tool::CapabilityBlock => Target::Dockerfile,
        }
    }
}

/// A file of the current config that a proposal replaces as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Target {
    /// `routes.yaml`, egress-proxy's routes file.
    #[serde(rename = "routes.yaml")]
    Routes,
    /// `allowlist`, one pipelock hostname per line.
    #[serde(rename = "allowlist")]
    Allowlist,
    /// `Dockerfile`, the agent image.
    #[serde(rename = "Dockerfile")]
    Dockerfile,
}

impl Target {
    /// The file's name inside the current-config directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Target::Routes => "routes.yaml",
            Target::Allowlist => "allowlist",
            Target::Dockerfile => "Dockerfile",
        }
    }
}

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nobody has answered yet.
    Pending,
    /// The operator approved it (and, for the dashboard, applied it).
    Approved,
    /// The operator rejected it; the comment says why.
    Rejected,
    /// The operator approved it but applying it failed; the comment is the error.
    Failed,
    /// Nobody answered within the server's proposal TTL.
    Expired,
}

impl Status {
    /// The status as written in queue files and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Failed => "failed",
            Status::Expired => "expired",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated proposal, ready to be queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProposal {
    /// The tool that made it.
    pub tool: Tool,
    /// Why the agent needs it.
    pub justification: String,
    /// The full proposed file (routes YAML, allowlist lines, or Dockerfile).
    pub content: String,
    /// The target file as it was when proposed (`""` if absent); `None` if it could not be read.
    pub base: Option<String>,
}

/// `<id>.proposal.json`: what the agent asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Always [`FORMAT_VERSION`].
    pub version: u32,
    /// Matches the file name.
    pub id: ProposalId,
    /// The tool that made it.
    pub tool: Tool,
    /// The current-config file it replaces (always `tool.target()`).
    pub target: Target,
    /// RFC 3339 UTC creation time.
    pub created_at: String,
    /// Why the agent needs it.
    pub justification: String,
    /// The full proposed file that would replace `target`.
    pub content: String,
    /// `target` as it was when proposed (`""` if it did not exist), so the proposal can be
    /// reviewed as a diff without the current config; `None` if it was not recorded.
    #[serde(default)]
    pub base: Option<String>,
}

impl Proposal {
    /// Creation time (validated when the file was read).
    pub fn created(&self) -> OffsetDateTime {
        parse_rfc3339(&self.created_at).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// `<id>.decision.json`: the one answer a proposal gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Always [`FORMAT_VERSION`].
    pub version: u32,
    /// The proposal it answers.
    pub id: ProposalId,
    /// `approved`, `rejected`, `failed` or `expired` (never `pending`).
    pub status: Status,
    /// The operator's comment (or the apply error, or the expiry note); may be empty for approvals.
    pub comment: String,
    /// Who answered: a user name, or `supervise` for expiry.
    pub decided_by: String,
    /// RFC 3339 UTC time of the answer.
    pub decided_at: String,
}

/// An answer to write: checked before it can reach the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    status: Status,
    comment: String,
    decided_by: String,
}

impl Answer {
    /// An answer with `status`; rejections and failures need a comment the agent can act on.
    pub fn new(
        status: Status,
        comment: impl Into<String>,
        decided_by: impl Into<String>,
    ) -> Result<Answer, QueueError> {
        let comment = comment.into();
        let decided_by = decided_by.into();
        if status == Status::Pending {
            return Err(QueueError::BadAnswer(
                "`pending` is not an answer; answer approved, rejected, failed or expired".into(),
            ));
        }
        if matches!(status, Status::Rejected | Status::Failed) && comment.trim().is_empty() {
            return Err(QueueError::BadAnswer(format!(
                "a {status} answer needs a comment telling the agent why (--comment TEXT)"
            )));
        }
        if comment.len() > MAX_COMMENT_BYTES {
            return Err(QueueError::BadAnswer(format!(
                "the comment is {} bytes, over the {MAX_COMMENT_BYTES} byte limit",
                comment.len()
            )));
        }
        if decided_by.trim().is_empty() || decided_by.len() > 256 {
            return Err(QueueError::BadAnswer(
                "decided_by must name who answered (1-256 bytes)".into(),
            ));
        }
        Ok(Answer {
            status,
            comment,
            decided_by,
        })
    }

    /// The status this answer sets.
    pub fn status(&self) -> Status {
        self.status
    }
}

/// A proposal and its decision, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What was proposed.
    pub proposal: Proposal,
    /// How it was answered; `None` while pending.
    pub decision: Option<Decision>,
}

impl Entry {
    /// `pending` until answered, then the decision's status.
    pub fn status(&self) -> Status {
        self.decision
            .as_ref()
            .map(|d| d.status)
            .unwrap_or(Status::Pending)
    }
}

/// What can go wrong with the queue; every message names the file or id involved.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue directory is missing.
    #[error("queue directory {dir} does not exist or is not a directory; create it or fix --queue")]
    Missing {
        /// The directory given.
        dir: PathBuf,
    },
    /// An id from outside is not a valid id.
    #[error(transparent)]
    InvalidId(#[from] IdError),
    /// No proposal with this id.
    #[error("no proposal {id} in {dir}; `supervise queue list --queue {dir}` shows what is queued")]
    NotFound {
        /// The id asked for.
        id: ProposalId,
        /// The queue directory.
        dir: String,
    },
    /// Someone answered first.
    #[error(
        "proposal {id} was already answered: {} by {} at {}; a proposal is answered exactly once",
        decision.status, decision.decided_by, decision.decided_at
    )]
    AlreadyAnswered {
        /// The proposal.
        id: ProposalId,
        /// The answer that won.
        decision: Box<Decision>,
    },
    /// A queue file exists but is not valid.
    #[error("{path} is not a valid queue file: {reason}; move it out of the queue directory")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An answer that cannot be written.
    #[error("{0}")]
    BadAnswer(String),
    /// The file system refused.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// A queue directory.
#[derive(Debug, Clone)]
pub struct Queue {
    dir: PathBuf,
}

impl Queue {
    /// Use the existing queue directory `dir`.
    pub fn open(dir: &Path) -> Result<Queue, QueueError> {
        if !dir.is_dir() {
            return Err(QueueError::Missing {
                dir: dir.to_path_buf(),
            });
        }
        Ok(Queue {
            dir: dir.to_path_buf(),
        })
    }

    /// The queue directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of a proposal's file.
    pub fn proposal_path(&self, id: &ProposalId) -> PathBuf {
        self.dir.join(format!("{id}{PROPOSAL_SUFFIX}"))
    }

    /// Path of a proposal's decision file.
    pub fn decision_path(&self, id: &ProposalId) -> PathBuf {
        self.dir.join(format!("{id}{DECISION_SUFFIX}"))
    }

    /// Path of the server's marker that `id`'s decision was audited.
    pub fn audited_path(&self, id: &ProposalId) -> PathBuf {
        self.dir.join(format!("{id}{AUDITED_SUFFIX}"))
    }

    /// Queue a validated proposal under a fresh id, atomically.
    ///
    /// The base is left out (and a warning logged) if keeping it would make the
    /// file larger than readers accept.
    pub fn submit(&self, new: NewProposal) -> Result<Proposal, QueueError> {
        for _ in 0..16 {
            let now = OffsetDateTime::now_utc();
            let mut proposal = Proposal {
                version: FORMAT_VERSION,
                id: ProposalId::generate(now),
                tool: new.tool,
                target: new.tool.target(),
                created_at: format_rfc3339(now),
                justification: new.justification.clone(),
                content: new.content.clone(),
                base: new.base.clone(),
            };
            let mut json = to_json(&proposal);
            if json.len() as u64 > MAX_FILE_BYTES && proposal.base.is_some() {
                tracing::warn!(
                    id = %proposal.id,
                    "the current {} is too large to record with the proposal; \
                     review it with --current-config",
                    proposal.target.file_name()
                );
                proposal.base = None;
                json = to_json(&proposal);
            }
            let path = self.proposal_path(&proposal.id);
            if create_atomic(&path, &json, FILE_MODE).map_err(|source| QueueError::Io {
                action: "write proposal",
                path: path.clone(),
                source,
            })? {
                return Ok(proposal);
            }
        }
        Err(QueueError::Io {
            action: "find a free proposal id in",
            path: self.dir.clone(),
            source: io::Error::from(io::ErrorKind::AlreadyExists),
        })
    }

    /// The ids named by the queue's files, from the directory listing alone (no file is read).
    ///
    /// With `warn`, names that are not UTF-8 or not a proposal id are logged.
    /// Only [`Queue::list`] asks for that: the server's counts and sweeps scan
    /// every few seconds and would repeat the warning for the same file forever.
    fn scan(&self, warn: bool) -> Result<Names, QueueError> {
        let list_error = |source| QueueError::Io {
            action: "list queue directory",
            path: self.dir.clone(),
            source,
        };
        let mut names = Names::default();
        for dirent in std::fs::read_dir(&self.dir).map_err(list_error)? {
            let dirent = dirent.map_err(list_error)?;
            let name = dirent.file_name();
            let Some(name) = name.to_str() else {
                if warn {
                    tracing::warn!(
                        file = %dirent.path().display(),
                        "ignoring a file in the queue directory whose name is not UTF-8"
                    );
                }
                continue;
            };
            let (stem, set) = if let Some(stem) = name.strip_suffix(PROPOSAL_SUFFIX) {
                (stem, &mut names.proposals)
            } else if let Some(stem) = name.strip_suffix(DECISION_SUFFIX) {
                (stem, &mut names.decisions)
            } else if let Some(stem) = name.strip_suffix(AUDITED_SUFFIX) {
                (stem, &mut names.audited)
            } else {
                continue;
            };
            match ProposalId::parse(stem) {
                Ok(id) => {
                    set.insert(id);
                }
                Err(e) if warn => tracing::warn!(
                    file = %dirent.path().display(),
                    "ignoring queue file whose name is not a proposal id: {e}"
                ),
                Err(_) => {}
            }
        }
        Ok(names)
    }

    /// How many proposals have no decision file yet (from file names; nothing is read).
    pub fn pending_count(&self) -> Result<usize, QueueError> {
        let names = self.scan(false)?;
        Ok(names.proposals.difference(&names.decisions).count())
    }

    /// Proposals with a decision file but no audit marker, oldest id first.
    pub fn unaudited_decisions(&self) -> Result<Vec<ProposalId>, QueueError> {
        let names = self.scan(false)?;
        Ok(names
            .decisions
            .intersection(&names.proposals)
            .filter(|id| !names.audited.contains(*id))
            .cloned()
            .collect())
    }

    /// Whether the server marked `id`'s decision as audited.
    pub fn is_audited(&self, id: &ProposalId) -> Result<bool, QueueError> {
        match std::fs::symlink_metadata(self.audited_path(id)) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(QueueError::Io {
                action: "read",
                path: self.audited_path(id),
                source,
            }),
        }
    }

    /// Mark `id`'s decision as audited (idempotent).
    pub fn mark_audited(&self, id: &ProposalId) -> Result<(), QueueError> {
        let path = self.audited_path(id);
        let marker = AuditedMarker {
            version: FORMAT_VERSION,
            id: id.clone(),
            audited_at: now_rfc3339(),
        };
        create_atomic(&path, &to_json(&marker), FILE_MODE)
            .map(|_| ())
            .map_err(|source| QueueError::Io {
                action: "write audit marker",
                path,
                source,
            })
    }

    /// Every readable proposal, oldest first; unreadable files are skipped with a warning.
    pub fn list(&self) -> Result<Vec<Entry>, QueueError> {
        let Names {
            proposals,
            decisions,
            ..
        } = self.scan(true)?;
        for orphan in decisions.difference(&proposals) {
            tracing::warn!(
                file = %self.decision_path(orphan).display(),
                "ignoring decision for a proposal that is not in the queue"
            );
        }
        let mut entries = Vec::with_capacity(proposals.len());
        for id in proposals {
            match self.get(&id) {
                Ok(entry) => entries.push(entry),
                Err(QueueError::NotFound { .. }) => {}
                Err(e) => tracing::warn!("skipping proposal {id}: {e}"),
            }
        }
        entries.sort_by(|a, b| {
            (a.proposal.created(), &a.proposal.id).cmp(&(b.proposal.created(), &b.proposal.id))
        });
        Ok(entries)
    }

    /// One proposal and its decision.
    pub fn get(&self, id: &ProposalId) -> Result<Entry, QueueError> {
        let path = self.proposal_path(id);
        let Some(bytes) = read_queue_file(&path)? else {
            return Err(QueueError::NotFound {
                id: id.clone(),
                dir: self.dir.display().to_string(),
            });
        };
        let proposal: Proposal = parse(&path, &bytes)?;
        check_proposal(&path, id, &proposal)?;
        let decision = self.decision(id)?;
        Ok(Entry { proposal, decision })
    }

    /// The decision on `id`, if one was written (cheap: no proposal read).
    pub fn decision(&self, id: &ProposalId) -> Result<Option<Decision>, QueueError> {
        let path = self.decision_path(id);
        let Some(bytes) = read_queue_file(&path)? else {
            return Ok(None);
        };
        let decision: Decision = parse(&path, &bytes)?;
        check_decision(&path, id, &decision)?;
        Ok(Some(decision))
    }

    /// Where `id` stands; [`QueueError::NotFound`] if it was never queued.
    pub fn status(&self, id: &ProposalId) -> Result<Status, QueueError> {
        if let Some(decision) = self.decision(id)? {
            return Ok(decision.status);
        }
        match std::fs::symlink_metadata(self.proposal_path(id)) {
            Ok(meta) if meta.is_file() => Ok(Status::Pending),
            Ok(_) => Err(QueueError::Malformed {
                path: self.proposal_path(id),
                reason: "it is not a regular file".into(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(QueueError::NotFound {
                id: id.clone(),
                dir: self.dir.display().to_string(),
            }),
            Err(source) => Err(QueueError::Io {
                action: "read",
                path: self.proposal_path(id),
                source,
            }),
        }
    }

    /// Answer `id` once; a second answer fails with [`QueueError::AlreadyAnswered`].
    pub fn answer(&self, id: &ProposalId, answer: Answer) -> Result<Decision, QueueError> {
        let entry = self.get(id)?;
        if let Some(decision) = entry.decision {
            return Err(QueueError::AlreadyAnswered {
                id: id.clone(),
                decision: Box::new(decision),
            });
        }
        let decision = Decision {
            version: FORMAT_VERSION,
            id: id.clone(),
            status: answer.status,
            comment: answer.comment,
            decided_by: answer.decided_by,
            decided_at: now_rfc3339(),
        };
        let path = self.decision_path(id);
        let won = create_atomic(&path, &to_json(&decision), FILE_MODE).map_err(|source| {
            QueueError::Io {
                action: "write decision",
                path: path.clone(),
                source,
            }
        })?;
        if won {
            return Ok(decision);
        }
        match self.decision(id)? {
            Some(winner) => Err(QueueError::AlreadyAnswered {
                id: id.clone(),
                decision: Box::new(winner),
            }),
            None => Err(QueueError::Malformed {
                path,
                reason: "the decision file exists but vanished while being read".into(),
            }),
        }
    }
}

/// Ids found in the queue directory's file names, by kind.
#[derive(Debug, Default)]
struct Names {
    proposals: BTreeSet<ProposalId>,
    decisions: BTreeSet<ProposalId>,
    audited: BTreeSet<ProposalId>,
}

/// `<id>.audited`: the server audited this proposal's decision.
#[derive(Debug, Serialize)]
struct AuditedMarker {
    version: u32,
    id: ProposalId,
    audited_at: String,
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("queue records always serialize");
    bytes.push(b'\n');
    bytes
}

/// Read a regular file of the queue (never through a symlink); `None` if it does not exist.
fn read_queue_file(path: &Path) -> Result<Option<Vec<u8>>, QueueError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io_error = |source| QueueError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let file: File = match file {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(QueueError::Malformed {
                path: path.to_path_buf(),
                reason: "it is a symbolic link".into(),
            });
        }
        Err(e) => return Err(io_error(e)),
    };
    let meta = file.metadata().map_err(io_error)?;
    if !meta.is_file() {
        return Err(QueueError::Malformed {
            path: path.to_path_buf(),
            reason: "it is not a regular file".into(),
        });
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(QueueError::Malformed {
            path: path.to_path_buf(),
            reason: format!(
                "it is {} bytes, over the {MAX_FILE_BYTES} byte limit",
                meta.len()
            ),
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    Ok(Some(bytes))
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, QueueError> {
    serde_json::from_slice(bytes).map_err(|e| QueueError::Malformed {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn check_proposal(path: &Path, id: &ProposalId, p: &Proposal) -> Result<(), QueueError> {
    let reason = if p.version != FORMAT_VERSION {
        format!(
            "format version {} (this program reads {FORMAT_VERSION})",
            p.version
        )
    } else if &p.id != id {
        format!("its id `{}` does not match its file name", p.id)
    } else if p.target != p.tool.target() {
        format!(
            "target {} does not belong to tool {}",
            p.target.file_name(),
            p.tool.name()
        )
    } else if parse_rfc3339(&p.created_at).is_none() {
        "created_at is not an RFC 3339 time".to_string()
    } else {
        return Ok(());
    };
    Err(QueueError::Malformed {
        path: path.to_path_buf(),
        reason,
    })
}

fn check_decision(path: &Path, id: &ProposalId, d: &Decision) -> Result<(), QueueError> {
    let reason = if d.version != FORMAT_VERSION {
        format!(
            "format version {} (this program reads {FORMAT_VERSION})",
            d.version
        )
    } else if &d.id != id {
        format!("its id `{}` does not match its file name", d.id)
    } else if d.status == Status::Pending {
        "status `pending` is not an answer".to_string()
    } else if parse_rfc3339(&d.decided_at).is_none() {
        "decided_at is not an RFC 3339 time".to_string()
    } else {
        return Ok(());
    };
    Err(QueueError::Malformed {
        path: path.to_path_buf(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> (tempfile::TempDir, Queue) {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path()).unwrap();
        (dir, queue)
    }

    fn new(tool: Tool, content: &str) -> NewProposal {
        NewProposal {
            tool,
            justification: "need it".into(),
            content: content.into(),
            base: Some(String::new()),
        }
    }

    #[test]
    fn submit_list_get_answer() {
        let (_dir, q) = queue();
        let a = q.submit(new(Tool::EgressBlock, "routes: []\n")).unwrap();
        let b = q.submit(new(Tool::CapabilityBlock, "FROM x\n")).unwrap();
        let entries = q.list().unwrap();
        assert_eq!(entries.len(), 2);
        let got = |id: &ProposalId| entries.iter().find(|e| &e.proposal.id == id).unwrap();
        assert_eq!(got(&a.id).proposal, a);
        assert_eq!(got(&b.id).proposal.target, Target::Dockerfile);
        assert!(entries.iter().all(|e| e.status() == Status::Pending));

        assert_eq!(q.status(&a.id).unwrap(), Status::Pending);
        let d = q
            .answer(&a.id, Answer::new(Status::Approved, "", "alice").unwrap())
            .unwrap();
        assert_eq!(q.status(&a.id).unwrap(), Status::Approved);
        assert_eq!(d.status, Status::Approved);
        assert_eq!(q.get(&a.id).unwrap().status(), Status::Approved);
        assert_eq!(q.decision(&b.id).unwrap(), None);
    }

    #[test]
    fn files_are_plain_json_in_the_documented_shape() {
        let (dir, q) = queue();
        let p = q.submit(new(Tool::PipelockBlock, "a.com\n")).unwrap();
        let raw: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join(format!("{}.proposal.json", p.id))).unwrap(),
        )
        .unwrap();
        assert_eq!(raw["version"], 1);
        assert_eq!(raw["tool"], "pipelock-block");
        assert_eq!(raw["target"], "allowlist");
        assert_eq!(raw["content"], "a.com\n");
        assert!(raw["created_at"].as_str().unwrap().ends_with('Z'));
        q.answer(&p.id, Answer::new(Status::Rejected, "no", "bob").unwrap())
            .unwrap();
        let raw: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join(format!("{}.decision.json", p.id))).unwrap(),
        )
        .unwrap();
        assert_eq!(raw["status"], "rejected");
        assert_eq!(raw["comment"], "no");
        assert_eq!(raw["decided_by"], "bob");
    }

    #[test]
    fn the_base_is_recorded_and_older_files_without_it_still_read() {
        let (dir, q) = queue();
        let p = q
            .submit(NewProposal {
                base: Some("routes: []\n".into()),
                ..new(Tool::EgressBlock, "routes:\n  - host: a.com\n")
            })
            .unwrap();
        assert_eq!(
            q.get(&p.id).unwrap().proposal.base.as_deref(),
            Some("routes: []\n")
        );
        let path = dir.path().join(format!("{}.proposal.json", p.id));
        let mut raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(raw["base"], "routes: []\n");
        raw.as_object_mut().unwrap().remove("base");
        std::fs::write(&path, serde_json::to_vec(&raw).unwrap()).unwrap();
        assert_eq!(q.get(&p.id).unwrap().proposal.base, None);

        let huge = "\u{1}".repeat(MAX_FILE_BYTES as usize / 4);
        let p = q
            .submit(NewProposal {
                base: Some(huge),
                ..new(Tool::CapabilityBlock, "FROM x\n")
            })
            .unwrap();
        assert_eq!(
            p.base, None,
            "a base that would overflow the file is left out"
        );
        assert_eq!(q.get(&p.id).unwrap().proposal.content, "FROM x\n");
    }

    #[test]
    fn pending_counts_and_audit_markers_come_from_file_names() {
        let (dir, q) = queue();
        let a = q.submit(new(Tool::EgressBlock, "routes: []\n")).unwrap();
        let b = q.submit(new(Tool::EgressBlock, "routes: []\n")).unwrap();
        assert_eq!(q.pending_count().unwrap(), 2);
        assert!(q.unaudited_decisions().unwrap().is_empty());
        q.answer(&a.id, Answer::new(Status::Approved, "", "op").unwrap())
            .unwrap();
        assert_eq!(q.pending_count().unwrap(), 1);
        assert_eq!(
            q.unaudited_decisions().unwrap(),
            std::slice::from_ref(&a.id)
        );
        assert!(!q.is_audited(&a.id).unwrap());
        q.mark_audited(&a.id).unwrap();
        q.mark_audited(&a.id).unwrap();
        assert!(q.is_audited(&a.id).unwrap());
        assert!(q.unaudited_decisions().unwrap().is_empty());
        assert_eq!(q.list().unwrap().len(), 2, "markers are not proposals");
        let marker: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join(format!("{}.audited", a.id))).unwrap(),
        )
        .unwrap();
        assert_eq!(marker["id"], a.id.as_str());
        std::fs::write(
            dir.path().join("20260101-000000-orphan.decision.json"),
            b"{}",
        )
        .unwrap();
        assert!(
            q.unaudited_decisions().unwrap().is_empty(),
            "orphans are not audited"
        );
        assert!(!q.is_audited(&b.id).unwrap());
    }

    #[test]
    fn second_answer_is_refused_and_racing_answers_have_one_winner() {
        let (_dir, q) = queue();
        let p = q.submit(new(Tool::EgressBlock, "routes: []\n")).unwrap();
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let q = &q;
                    let id = &p.id;
                    s.spawn(move || {
                        let status = if i % 2 == 0 {
                            Status::Approved
                        } else {
                            Status::Rejected
                        };
                        q.answer(id, Answer::new(status, "c", format!("op{i}")).unwrap())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1);
        let stored = q.decision(&p.id).unwrap().unwrap();
        assert_eq!(&stored, winners[0]);
        for r in &results {
            if let Err(e) = r {
                assert!(matches!(e, QueueError::AlreadyAnswered { .. }), "{e}");
                assert!(e.to_string().contains("already answered"), "{e}");
            }
        }
    }

    #[test]
    fn answers_are_checked() {
        for (status, comment) in [
            (Status::Pending, "x"),
            (Status::Rejected, ""),
            (Status::Rejected, "  "),
            (Status::Failed, ""),
        ] {
            assert!(
                Answer::new(status, comment, "op").is_err(),
                "{status} {comment:?}"
            );
        }
        assert!(Answer::new(Status::Approved, "", "").is_err());
        assert!(Answer::new(Status::Approved, "x".repeat(MAX_COMMENT_BYTES + 1), "op").is_err());
    }

    #[test]
    fn unknown_ids_and_missing_dirs_are_clear_errors() {
        let (_dir, q) = queue();
        let id = ProposalId::parse("20260101-000000-aaaaaa").unwrap();
        let e = q.get(&id).unwrap_err();
        assert!(
            e.to_string().contains("no proposal 20260101-000000-aaaaaa"),
            "{e}"
        );
        let e = q
            .answer(&id, Answer::new(Status::Approved, "", "op").unwrap())
            .unwrap_err();
        assert!(matches!(e, QueueError::NotFound { .. }));
        let e = Queue::open(Path::new("/nonexistent/queue")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/queue"), "{e}");
    }

    #[test]
    fn malformed_and_foreign_files_are_skipped() {
        let (dir, q) = queue();
        let good = q.submit(new(Tool::EgressBlock, "routes: []\n")).unwrap();
        let d = dir.path();
        std::fs::write(d.join("20260101-000000-garbag.proposal.json"), b"{not json").unwrap();
        std::fs::write(
            d.join("20260101-000000-nonutf.proposal.json"),
            b"\xff\xfe\x00",
        )
        .unwrap();
        std::fs::write(
            d.join("20260101-000000-wrongi.proposal.json"),
            serde_json::to_vec(&Proposal {
                id: ProposalId::parse("20260101-000000-other0").unwrap(),
                ..good.clone()
            })
            .unwrap(),
        )
        .unwrap();
        std::fs::write(d.join("..proposal.json"), b"{}").unwrap();
        std::fs::write(d.join("README"), b"hello").unwrap();
        std::fs::write(d.join("20260101-000000-orphan.decision.json"), b"{}").unwrap();
        std::fs::create_dir(d.join("20260101-000000-dirdir.proposal.json")).unwrap();
        std::os::unix::fs::symlink(
            "/etc/passwd",
            d.join("20260101-000000-linkyy.proposal.json"),
        )
        .unwrap();
        let entries = q.list().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].proposal.id, good.id);

        let id = ProposalId::parse("20260101-000000-linkyy").unwrap();
        let e = q.get(&id).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }

    #[test]
    fn malformed_decision_hides_entry_but_blocks_a_second_answer() {
        let (dir, q) = queue();
        let p = q.submit(new(Tool::EgressBlock, "routes: []\n")).unwrap();
        std::fs::write(dir.path().join(format!("{}.decision.json", p.id)), b"[]").unwrap();
        assert!(q.list().unwrap().is_empty());
        let e = q
            .answer(&p.id, Answer::new(Status::Approved, "", "op").unwrap())
            .unwrap_err();
        assert!(matches!(e, QueueError::Malformed { .. }), "{e}");
    }
}
