//! Path names a push adds: the full path of every new tree entry is scanned as text.
//!
//! An empty file named like a token carries the token as surely as its
//! content would. Entries are compared with the parent's tree by name and
//! object id, so only changed subtrees are walked.

use std::path::Path;

use git2::{ObjectType, Tree};

use super::Inspector;

impl Inspector<'_> {
    /// Scan the full path of every entry `tree` has and `before` lacks, at any depth, unless one of
    /// `others` (the further parents of a merge) has it too. `label` prefixes the paths shown;
    /// `prefix` is the path of `tree` itself (empty at the root).
    pub(super) fn scan_new_names(
        &mut self,
        commit: Option<&str>,
        tree: &Tree<'_>,
        before: Option<&Tree<'_>>,
        others: &[Tree<'_>],
        label: &str,
        prefix: &str,
    ) -> Result<(), git2::Error> {
        for entry in tree.iter() {
            let old = before.and_then(|t| t.get_name_bytes(entry.name_bytes()));
            if old.as_ref().is_some_and(|o| o.id() == entry.id()) {
                continue;
            }
            let name = String::from_utf8_lossy(entry.name_bytes());
            let path = if prefix.is_empty() {
                name.into_owned()
            } else {
                format!("{prefix}/{name}")
            };
            if old.is_none() {
                let elsewhere: Vec<_> = others
                    .iter()
                    .filter_map(|t| t.get_path(Path::new(&path)).ok())
                    .collect();
                if elsewhere.iter().any(|o| o.id() == entry.id()) {
                    continue;
                }
                if elsewhere.is_empty() && self.scanned_names.insert(path.clone()) {
                    let shown = if label.is_empty() {
                        format!("{path} (path name)")
                    } else {
                        format!("{label}/{path} (path name)")
                    };
                    let skip = if prefix.is_empty() {
                        0
                    } else {
                        prefix.len() + 1
                    };
                    self.scan_name(commit, Some(&path), &shown, &path, skip);
                }
            }
            if entry.kind() == Some(ObjectType::Tree) {
                let sub = self.repo.find_tree(entry.id())?;
                let old_sub = match old.filter(|o| o.kind() == Some(ObjectType::Tree)) {
                    Some(o) => Some(self.repo.find_tree(o.id())?),
                    None => None,
                };
                self.scan_new_names(commit, &sub, old_sub.as_ref(), others, label, &path)?;
            }
        }
        Ok(())
    }
}
