//! What a push introduces, and scanning all of it.
//!
//! Runs inside git's quarantine: the repository opened from the environment
//! sees the pushed objects plus the mirror's, while the mirror's refs still
//! show what the upstream had. So "new" is exactly: everything reachable
//! from the pushed tips and not from any existing ref.
//!
//! * every new commit: the lines it adds relative to its first parent (all of
//!   a root commit) with the rules that match within a line; every file it
//!   adds or changes, whole, with the rules that span lines (so a private key
//!   assembled over several commits is seen), reporting only secrets its
//!   parents did not already hold; every path name it adds; its message and
//!   header;
//! * merges: additionally, content that differs from *every* parent (an "evil
//!   merge" hides new lines in the merge itself);
//! * annotated tags: their messages, taggers and names (and the tags they point through);
//! * a ref that points straight at a tree or blob: all of it;
//! * every pushed ref name.
//!
//! A blob over the size limit is not scanned; it refuses the push instead.
//! Secrets found in path or ref names are redacted wherever those names are
//! shown ([`Inspection::redactions`]).

mod names;

use std::collections::{HashMap, HashSet};

use git2::{Commit, Delta, DiffOptions, ObjectType, Oid, Patch, Repository, Tree};

use super::redact::Redactions;
use super::report::{PushFinding, RefUpdate};
use crate::scan::{Finding, Pass, Scanner, Target};

/// Findings kept per push; beyond this the push is refused anyway.
pub const MAX_FINDINGS: usize = 500;

/// What scanning a push found.
#[derive(Debug, Default)]
pub struct Inspection {
    /// Commits scanned.
    pub commits: usize,
    /// Bytes of content scanned.
    pub bytes: u64,
    /// Findings.
    pub findings: Vec<PushFinding>,
    /// Blobs refused for size, `path (N bytes)`.
    pub oversized: Vec<String>,
    /// Secrets found in path and ref names; applied to every location above already.
    pub redactions: Redactions,
}

/// Scan everything `updates` introduce into `repo`.
pub fn inspect_push(
    repo: &Repository,
    updates: &[RefUpdate],
    scanner: &Scanner,
    max_blob_bytes: u64,
) -> Result<Inspection, git2::Error> {
    let mut ins = Inspector {
        repo,
        scanner,
        max_blob_bytes,
        out: Inspection::default(),
        scanned_objects: HashSet::new(),
        scanned_names: HashSet::new(),
    };
    let mut walk = repo.revwalk()?;
    let mut any_commit = false;
    for u in updates {
        ins.scan_name(None, None, "ref name", &u.name, 0);
        let new = Oid::from_str(&u.new)?;
        if new.is_zero() {
            continue;
        }
        let mut obj = repo.find_object(new, None)?;
        loop {
            match obj.kind() {
                Some(ObjectType::Tag) => {
                    let tag = obj
                        .as_tag()
                        .ok_or_else(|| git2::Error::from_str("tag object expected"))?;
                    let id = tag.id().to_string();
                    if ins.scanned_objects.insert(tag.id()) {
                        ins.scan_text(
                            Some(&id),
                            "tag message",
                            tag.message_bytes().unwrap_or_default(),
                        );
                        if let Some(tagger) = tag.tagger() {
                            ins.scan_text(Some(&id), "tag header", tagger.to_string().as_bytes());
                        }
                        ins.scan_name(
                            Some(&id),
                            None,
                            "tag name",
                            &String::from_utf8_lossy(tag.name_bytes()),
                            0,
                        );
                    }
                    obj = tag.target()?;
                }
                Some(ObjectType::Commit) => {
                    walk.push(obj.id())?;
                    any_commit = true;
                    break;
                }
                Some(ObjectType::Tree) => {
                    let tree = obj.peel_to_tree()?;
                    if ins.scanned_objects.insert(tree.id()) {
                        ins.scan_tree(&tree, &format!("{} (tree)", u.name))?;
                    }
                    break;
                }
                Some(ObjectType::Blob) => {
                    if ins.scanned_objects.insert(obj.id()) {
                        ins.scan_blob_oid(obj.id(), None, &format!("{} (blob)", u.name))?;
                    }
                    break;
                }
                _ => break,
            }
        }
    }
    if any_commit {
        for r in repo.references()? {
            if let Ok(c) = r?.peel_to_commit() {
                walk.hide(c.id())?;
            }
        }
        for oid in walk {
            let commit = repo.find_commit(oid?)?;
            ins.scan_commit(&commit)?;
            if ins.out.findings.len() >= MAX_FINDINGS {
                break;
            }
        }
    }
    Ok(ins.finish())
}

/// For a merge: per path, the new-side lines added relative to one parent.
enum Added {
    Lines(HashSet<u32>),
    Binary,
}

struct Inspector<'r> {
    repo: &'r Repository,
    scanner: &'r Scanner,
    max_blob_bytes: u64,
    out: Inspection,
    scanned_objects: HashSet<Oid>,
    /// Path names already scanned in this push (a path re-added later is not new again).
    scanned_names: HashSet<String>,
}

impl Inspector<'_> {
    /// Redact every shown location now that all names have been scanned.
    fn finish(mut self) -> Inspection {
        let r = &self.out.redactions;
        if !r.is_empty() {
            for f in &mut self.out.findings {
                f.location = r.apply(&f.location);
            }
            for o in &mut self.out.oversized {
                *o = r.apply(o);
            }
        }
        self.out
    }

    /// Scan a name (path, ref or tag name); its findings are also redacted wherever it is shown.
    ///
    /// Findings lying entirely within the first `skip` bytes (a parent
    /// directory already scanned on its own) are not reported again.
    fn scan_name(
        &mut self,
        commit: Option<&str>,
        path: Option<&str>,
        location: &str,
        name: &str,
        skip: usize,
    ) {
        self.out.bytes += name.len() as u64;
        let found = self.scanner.scan_with(
            &Target {
                path,
                commit,
                content: name.as_bytes(),
            },
            Pass::CONTENT,
        );
        let mut kept = Vec::new();
        for f in found {
            if let Some((start, end)) = f.span {
                if let Some(secret) = name.get(start..end) {
                    self.out.redactions.add(secret);
                }
                if end <= skip {
                    continue;
                }
            }
            kept.push(f);
        }
        self.record(kept, commit, location, None);
    }

    fn record(
        &mut self,
        found: Vec<Finding>,
        commit: Option<&str>,
        location: &str,
        lines: Option<&[u32]>,
    ) {
        for f in found {
            if self.out.findings.len() >= MAX_FINDINGS {
                return;
            }
            let line = match (f.line, lines) {
                (Some(l), Some(map)) => map.get(l as usize - 1).map(|&n| n as u64),
                (l, None) => l,
                (None, Some(_)) => None,
            };
            self.out.findings.push(PushFinding {
                rule: f.rule,
                description: f.description,
                commit: commit.map(str::to_string),
                location: location.to_string(),
                line,
                secret_len: f.secret_len,
            });
        }
    }

    fn scan_text(&mut self, commit: Option<&str>, location: &str, text: &[u8]) {
        self.out.bytes += text.len() as u64;
        let found = self.scanner.scan(&Target {
            path: None,
            commit,
            content: text,
        });
        self.record(found, commit, location, None);
    }

    /// Scan a whole blob (binary-aware), refusing it when over the size limit.
    fn scan_blob_oid(
        &mut self,
        oid: Oid,
        commit: Option<&str>,
        path: &str,
    ) -> Result<(), git2::Error> {
        let (size, _) = self.repo.odb()?.read_header(oid)?;
        if size as u64 > self.max_blob_bytes {
            self.out.oversized.push(format!("{path} ({size} bytes)"));
            return Ok(());
        }
        self.scan_blob_within_limit(oid, commit, path)
    }

    /// [`Self::scan_blob_oid`] for a blob whose size the caller has checked already.
    fn scan_blob_within_limit(
        &mut self,
        oid: Oid,
        commit: Option<&str>,
        path: &str,
    ) -> Result<(), git2::Error> {
        let blob = self.repo.find_blob(oid)?;
        self.out.bytes += blob.size() as u64;
        let found = self.scanner.scan_blob(Some(path), commit, blob.content());
        self.record(found, commit, path, None);
        Ok(())
    }

    fn scan_tree(&mut self, tree: &Tree<'_>, label: &str) -> Result<(), git2::Error> {
        self.scan_new_names(None, tree, None, &[], label, "")?;
        let mut blobs = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(ObjectType::Blob) {
                let name = String::from_utf8_lossy(entry.name_bytes());
                blobs.push((entry.id(), format!("{dir}{name}")));
            }
            git2::TreeWalkResult::Ok
        })?;
        for (oid, path) in blobs {
            self.scan_blob_oid(oid, None, &format!("{label}/{path}"))?;
        }
        Ok(())
    }

    fn scan_commit(&mut self, commit: &Commit<'_>) -> Result<(), git2::Error> {
        self.out.commits += 1;
        let id = commit.id().to_string();
        self.scan_text(Some(&id), "commit message", commit.message_raw_bytes());
        self.scan_text(Some(&id), "commit header", commit.raw_header_bytes());
        let tree = commit.tree()?;
        let parents = commit
            .parents()
            .map(|p| p.tree())
            .collect::<Result<Vec<Tree<'_>>, _>>()?;
        let (first, others) = match parents.split_first() {
            Some((first, others)) => (Some(first), others),
            None => (None, &[][..]),
        };
        self.scan_new_names(Some(&id), &tree, first, others, "", "")?;
        let mut added = Vec::new();
        for p in others {
            added.push(self.added_against(p, &tree)?);
        }
        let merge = (!others.is_empty()).then_some(MergeParents {
            trees: others,
            added: &added,
        });
        self.scan_diff(first, &tree, &id, merge.as_ref())
    }

    fn diff_options(&self) -> DiffOptions {
        let mut opts = DiffOptions::new();
        opts.context_lines(0)
            .ignore_submodules(true)
            .max_size(i64::try_from(self.max_blob_bytes.saturating_add(1)).unwrap_or(i64::MAX));
        opts
    }

    /// Per path, what `tree` adds relative to `parent` (for evil-merge detection).
    fn added_against(
        &self,
        parent: &Tree<'_>,
        tree: &Tree<'_>,
    ) -> Result<HashMap<String, Added>, git2::Error> {
        let diff = self.repo.diff_tree_to_tree(
            Some(parent),
            Some(tree),
            Some(&mut self.diff_options()),
        )?;
        let mut map = HashMap::new();
        for idx in 0..diff.deltas().len() {
            let Some(delta) = diff.get_delta(idx) else {
                continue;
            };
            if !introduces_content(delta.status()) {
                continue;
            }
            let path = delta_path(&delta);
            let Some(patch) = Patch::from_diff(&diff, idx)? else {
                map.insert(path, Added::Binary);
                continue;
            };
            if patch.delta().flags().is_binary() {
                map.insert(path, Added::Binary);
                continue;
            }
            let mut lines = HashSet::new();
            for h in 0..patch.num_hunks() {
                for l in 0..patch.num_lines_in_hunk(h)? {
                    let line = patch.line_in_hunk(h, l)?;
                    if line.origin() == '+'
                        && let Some(n) = line.new_lineno()
                    {
                        lines.insert(n);
                    }
                }
            }
            map.insert(path, Added::Lines(lines));
        }
        Ok(map)
    }

    /// Scan what `tree` adds relative to `parent`; for a merge, only what is new against every parent.
    fn scan_diff(
        &mut self,
        parent: Option<&Tree<'_>>,
        tree: &Tree<'_>,
        commit: &str,
        merge: Option<&MergeParents<'_, '_>>,
    ) -> Result<(), git2::Error> {
        let diff =
            self.repo
                .diff_tree_to_tree(parent, Some(tree), Some(&mut self.diff_options()))?;
        for idx in 0..diff.deltas().len() {
            let Some(delta) = diff.get_delta(idx) else {
                continue;
            };
            if !introduces_content(delta.status())
                || delta.new_file().mode() == git2::FileMode::Commit
            {
                continue;
            }
            let path = delta_path(&delta);
            let new_id = delta.new_file().id();
            let in_all_others = |pred: &dyn Fn(&Added) -> bool| {
                merge.is_none_or(|m| m.added.iter().all(|a| a.get(&path).is_some_and(pred)))
            };
            let (size, _) = self.repo.odb()?.read_header(new_id)?;
            if size as u64 > self.max_blob_bytes {
                if in_all_others(&|_| true) {
                    self.out
                        .oversized
                        .push(format!("{path} ({size} bytes) in commit {commit}"));
                }
                continue;
            }
            if merge.is_none() && delta.status() == Delta::Added {
                // All of a new file is added: scan it whole, every rule, no diff needed.
                self.scan_blob_within_limit(new_id, Some(commit), &path)?;
                continue;
            }
            let patch = Patch::from_diff(&diff, idx)?;
            let binary = patch.as_ref().is_none_or(|p| p.delta().flags().is_binary());
            if binary {
                if in_all_others(&|a| matches!(a, Added::Binary | Added::Lines(_))) {
                    self.scan_blob_within_limit(new_id, Some(commit), &path)?;
                }
                continue;
            }
            let Some(patch) = patch else { continue };
            let mut content = Vec::new();
            let mut map = Vec::new();
            for h in 0..patch.num_hunks() {
                for l in 0..patch.num_lines_in_hunk(h)? {
                    let line = patch.line_in_hunk(h, l)?;
                    let Some(n) = line.new_lineno().filter(|_| line.origin() == '+') else {
                        continue;
                    };
                    let evil = |a: &Added| match a {
                        Added::Lines(set) => set.contains(&n),
                        Added::Binary => true,
                    };
                    if !in_all_others(&evil) {
                        continue;
                    }
                    content.extend_from_slice(line.content());
                    if !line.content().ends_with(b"\n") {
                        content.push(b'\n');
                    }
                    map.push(n);
                }
            }
            self.out.bytes += content.len() as u64;
            let found = self.scanner.scan_with(
                &Target {
                    path: Some(&path),
                    commit: Some(commit),
                    content: &content,
                },
                Pass::SINGLE_LINE,
            );
            self.record(found, Some(commit), &path, Some(&map));
            let mut before = Vec::new();
            if !delta.old_file().id().is_zero() {
                before.push(delta.old_file().id());
            }
            // A further parent may hold a directory or a submodule at this path: no earlier version.
            for t in merge.map_or(&[][..], |m| m.trees) {
                if let Ok(e) = t.get_path(std::path::Path::new(&path))
                    && e.kind() == Some(ObjectType::Blob)
                {
                    before.push(e.id());
                }
            }
            self.scan_multi_line(new_id, &before, commit, &path)?;
        }
        Ok(())
    }

    /// Run the rules that span lines over the whole new version of a changed text file, and report
    /// the secrets that none of the `before` versions (one per parent) already held.
    ///
    /// Added lines alone miss a key whose armour lines and body arrive in
    /// different commits; the whole file does not.
    fn scan_multi_line(
        &mut self,
        new_id: Oid,
        before: &[Oid],
        commit: &str,
        path: &str,
    ) -> Result<(), git2::Error> {
        let blob = self.repo.find_blob(new_id)?;
        // Counted only when a multi-line rule's keyword occurs (or one has none): a file the
        // keyword search alone passes over is not counted as read again.
        let Some(found) = self.scanner.scan_blob_if_reached(
            Some(path),
            Some(commit),
            blob.content(),
            Pass::MULTI_LINE,
        ) else {
            return Ok(());
        };
        self.out.bytes += blob.size() as u64;
        if found.is_empty() {
            return Ok(());
        }
        let mut held = HashSet::new();
        for &old in before {
            let (size, _) = self.repo.odb()?.read_header(old)?;
            if size as u64 > self.max_blob_bytes {
                continue;
            }
            let old = self.repo.find_blob(old)?;
            self.out.bytes += old.size() as u64;
            for f in self.scanner.scan_blob_with(
                Some(path),
                Some(commit),
                old.content(),
                Pass::MULTI_LINE,
            ) {
                held.insert(f.fingerprint);
            }
        }
        let fresh = found
            .into_iter()
            .filter(|f| !held.contains(&f.fingerprint))
            .collect();
        self.record(fresh, Some(commit), path, None);
        Ok(())
    }
}

/// The further parents of a merge: their trees, and per path what the merge adds against each.
struct MergeParents<'a, 'r> {
    trees: &'a [Tree<'r>],
    added: &'a [HashMap<String, Added>],
}

fn introduces_content(status: Delta) -> bool {
    matches!(
        status,
        Delta::Added
            | Delta::Modified
            | Delta::Renamed
            | Delta::Copied
            | Delta::Typechange
            | Delta::Untracked
    )
}

fn delta_path(delta: &git2::DiffDelta<'_>) -> String {
    delta
        .new_file()
        .path()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "?".into())
}

#[cfg(test)]
mod tests;
