//! One mirror sync: compare the upstream's refs with the mirror's, fetch only if they differ.
//!
//! `git ls-remote --symref origin` costs one round trip and tells us every
//! branch, tag and where HEAD points. Equal to what the mirror has: nothing
//! to do (the fast path). Different: `git fetch --prune origin` (heads and
//! tags, force-updated) and point HEAD at the upstream's default branch.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::gitenv::ChildEnv;

/// What the mirror or the upstream has: branch and tag tips, and HEAD's target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefView {
    /// `refs/heads/*` and `refs/tags/*` → object id (hex).
    pub refs: BTreeMap<String, String>,
    /// The branch HEAD points at, e.g. `refs/heads/main`.
    pub head: Option<String>,
}

/// One ref a sync moved; an all-zero id means the ref did not exist on that side.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefMove {
    /// Full ref name.
    #[serde(rename = "ref")]
    pub name: String,
    /// What the mirror had (zeros: the ref is new).
    pub old: String,
    /// What the upstream has (zeros: the ref was deleted).
    pub new: String,
}

impl RefView {
    /// The refs that differ between two views (added, removed or moved), by name.
    pub fn changes_from(&self, old: &RefView) -> Vec<RefMove> {
        let zero = |like: &str| "0".repeat(like.len());
        let mut moves: Vec<RefMove> = self
            .refs
            .iter()
            .filter(|(k, v)| old.refs.get(*k) != Some(*v))
            .map(|(k, v)| RefMove {
                name: k.clone(),
                old: old.refs.get(k).cloned().unwrap_or_else(|| zero(v)),
                new: v.clone(),
            })
            .collect();
        moves.extend(
            old.refs
                .iter()
                .filter(|(k, _)| !self.refs.contains_key(*k))
                .map(|(k, v)| RefMove {
                    name: k.clone(),
                    old: v.clone(),
                    new: zero(v),
                }),
        );
        moves.sort_by(|a, b| a.name.cmp(&b.name));
        moves
    }
}

/// Why a sync failed; the message is safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SyncError(pub String);

/// Whether a sync found the mirror current or had to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    /// Refs already matched; nothing fetched.
    Skipped,
    /// Refs differed; the mirror fetched.
    Fetched,
}

/// Bring `mirror` in line with its upstream. `env` carries the repo's ssh setup.
pub async fn sync_mirror(
    mirror: &Path,
    env: &ChildEnv,
    timeout: Duration,
) -> Result<(SyncKind, Vec<RefMove>), SyncError> {
    tokio::time::timeout(timeout, sync_inner(mirror, env))
        .await
        .unwrap_or_else(|_| {
            Err(SyncError(format!(
                "timed out after {}s talking to the upstream",
                timeout.as_secs()
            )))
        })
}

async fn sync_inner(mirror: &Path, env: &ChildEnv) -> Result<(SyncKind, Vec<RefMove>), SyncError> {
    let remote = ls_remote(mirror, env).await?;
    let local = local_view(mirror).await?;
    if remote == local {
        return Ok((SyncKind::Skipped, Vec::new()));
    }
    let changed = remote.changes_from(&local);
    if remote.refs != local.refs {
        run_git(mirror, env, &["fetch", "--quiet", "--prune", "origin"]).await?;
    }
    if let Some(head) = &remote.head
        && remote.head != local.head
    {
        run_git(mirror, env, &["symbolic-ref", "HEAD", head]).await?;
    }
    Ok((SyncKind::Fetched, changed))
}

async fn ls_remote(mirror: &Path, env: &ChildEnv) -> Result<RefView, SyncError> {
    let out = run_git(
        mirror,
        env,
        &[
            "ls-remote",
            "--symref",
            "origin",
            "HEAD",
            "refs/heads/*",
            "refs/tags/*",
        ],
    )
    .await?;
    Ok(parse_ls_remote(&String::from_utf8_lossy(&out.stdout)))
}

/// Parse `git ls-remote --symref` output, keeping branches, tags and HEAD's target.
pub fn parse_ls_remote(text: &str) -> RefView {
    let mut view = RefView::default();
    for line in text.lines() {
        let Some((left, name)) = line.split_once('\t') else {
            continue;
        };
        if let Some(target) = left.strip_prefix("ref: ") {
            if name == "HEAD" && target.starts_with("refs/heads/") {
                view.head = Some(target.to_string());
            }
            continue;
        }
        if (name.starts_with("refs/heads/") || name.starts_with("refs/tags/"))
            && !name.ends_with("^{}")
        {
            view.refs.insert(name.to_string(), left.to_string());
        }
    }
    view
}

async fn local_view(mirror: &Path) -> Result<RefView, SyncError> {
    let mirror = mirror.to_path_buf();
    tokio::task::spawn_blocking(move || read_local_view(&mirror))
        .await
        .map_err(|e| SyncError(format!("reading the mirror's refs failed: {e}")))?
}

/// The mirror's branches, tags and HEAD target.
pub fn read_local_view(mirror: &Path) -> Result<RefView, SyncError> {
    let fail =
        |e: git2::Error| SyncError(format!("reading the mirror's refs failed: {}", e.message()));
    let repo = git2::Repository::open_bare(mirror).map_err(fail)?;
    let mut view = RefView::default();
    for r in repo.references().map_err(fail)? {
        let r = r.map_err(fail)?;
        let (Ok(name), Some(target)) = (r.name(), r.target()) else {
            continue;
        };
        if name.starts_with("refs/heads/") || name.starts_with("refs/tags/") {
            view.refs.insert(name.to_string(), target.to_string());
        }
    }
    view.head = repo
        .find_reference("HEAD")
        .ok()
        .and_then(|h| h.symbolic_target().ok().flatten().map(str::to_string));
    Ok(view)
}

async fn run_git(mirror: &Path, env: &ChildEnv, args: &[&str]) -> Result<Output, SyncError> {
    let out = env
        .git(mirror)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| SyncError(format!("cannot run git: {e}")))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(SyncError(explain_failure(&String::from_utf8_lossy(
            &out.stderr,
        ))))
    }
}

/// Turn git/ssh stderr into one line that says what failed, without echoing anything sensitive.
pub fn explain_failure(stderr: &str) -> String {
    let lower = stderr.to_ascii_lowercase();
    let known = [
        (
            "host key verification failed",
            "the upstream's host key does not match known_host_key (host key verification failed)",
        ),
        (
            "remote host identification has changed",
            "the upstream's host key does not match known_host_key (host key verification failed)",
        ),
        (
            "no matching host key type",
            "the upstream offers no host key of the pinned type",
        ),
        (
            "permission denied (publickey",
            "the upstream refused the gate's key (authentication failed)",
        ),
        (
            "too open",
            "the identity file's permissions are too open; ssh refuses to use it (chmod 600)",
        ),
        ("no such identity", "the identity file does not exist"),
        ("load key", "the identity file cannot be read"),
        (
            "connection refused",
            "cannot reach the upstream (connection refused)",
        ),
        (
            "connection timed out",
            "cannot reach the upstream (connection timed out)",
        ),
        (
            "operation timed out",
            "cannot reach the upstream (connection timed out)",
        ),
        (
            "no route to host",
            "cannot reach the upstream (no route to host)",
        ),
        (
            "could not resolve hostname",
            "cannot resolve the upstream host name",
        ),
        ("connection closed", "the upstream closed the connection"),
        (
            "does not appear to be a git repository",
            "the upstream path is not a git repository",
        ),
        (
            "repository not found",
            "the upstream repository was not found",
        ),
    ];
    if let Some((_, msg)) = known.iter().find(|(needle, _)| lower.contains(needle)) {
        return (*msg).to_string();
    }
    last_line(stderr, 200).unwrap_or_else(|| "git failed without a message".to_string())
}

/// The last non-blank line of a child's `stderr`, fit to show: control characters removed,
/// trimmed, at most `cap` characters.
pub fn last_line(stderr: &str, cap: usize) -> Option<String> {
    let line = stderr.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    let clean: String = line
        .chars()
        .filter(|c| !c.is_control())
        .skip_while(|c| c.is_whitespace())
        .take(cap)
        .collect();
    Some(clean.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_remote_output_is_parsed() {
        let text = "ref: refs/heads/main\tHEAD\n\
            1111111111111111111111111111111111111111\tHEAD\n\
            1111111111111111111111111111111111111111\trefs/heads/main\n\
            2222222222222222222222222222222222222222\trefs/tags/v1\n\
            3333333333333333333333333333333333333333\trefs/tags/v1^{}\n\
            4444444444444444444444444444444444444444\trefs/pull/1/head\n";
        let v = parse_ls_remote(text);
        assert_eq!(v.head.as_deref(), Some("refs/heads/main"));
        assert_eq!(v.refs.len(), 2);
        assert_eq!(
            v.refs["refs/tags/v1"],
            "2222222222222222222222222222222222222222"
        );
    }

    #[test]
    fn changes_are_counted() {
        let a = parse_ls_remote("1\trefs/heads/a\n2\trefs/heads/b\n");
        let b = parse_ls_remote("1\trefs/heads/a\n3\trefs/heads/b\n4\trefs/heads/c\n");
        let moves = b.changes_from(&a);
        assert_eq!(
            moves,
            [
                RefMove {
                    name: "refs/heads/b".into(),
                    old: "2".into(),
                    new: "3".into()
                },
                RefMove {
                    name: "refs/heads/c".into(),
                    old: "0".into(),
                    new: "4".into()
                },
            ]
        );
        assert_eq!(a.changes_from(&b)[1].new, "0");
        assert!(a.changes_from(&a).is_empty());
    }

    #[test]
    fn failures_are_explained() {
        assert!(
            explain_failure("Host key verification failed.\r\nfatal: Could not read")
                .contains("host key")
        );
        assert!(
            explain_failure("ssh: connect to host 127.0.0.1 port 1: Connection refused")
                .contains("refused")
        );
        assert_eq!(
            explain_failure("fatal: weird\x1b[31m thing\n"),
            "fatal: weird[31m thing"
        );
        assert_eq!(explain_failure(" \n\t\n"), "git failed without a message");
        assert_eq!(
            last_line("first\n  \x1b second\x07 \r\n \n", 5).as_deref(),
            Some("secon")
        );
        assert_eq!(last_line("\n \n", 5), None);
    }
}
