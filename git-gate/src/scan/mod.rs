//! The secret scanner: a built-in rule pack plus gitleaks-format rule files.
//!
//! Used by the pre-receive hook on every pushed object and by `git-gate scan`
//! on files; both go through [`Scanner::scan_blob`], so they agree.

mod allowlist;
mod engine;
mod ruleset;
mod text;

use std::path::Path;

use bottle_common::located::ConfigErrors;

pub use allowlist::{Allowlist, Condition, RegexTarget};
pub use engine::{Finding, MAX_FINDINGS_PER_TARGET, Scanner, Target};
pub use ruleset::{BUILTIN_NAME, BUILTIN_RULES, RuleSet, RuleSpec};
pub use text::{MIN_PRINTABLE_RUN, looks_binary, scannable, shannon_entropy};

/// Why a scanner could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The rules file (or the built-in pack) is invalid.
    #[error("{0}")]
    Rules(#[from] ConfigErrors),
    /// The keyword automaton could not be built.
    #[error(transparent)]
    Build(#[from] engine::BuildError),
}

impl Scanner {
    /// The scanner an operator configured: the built-in pack, a rules file, or both.
    pub fn load(rules: Option<&Path>, extend_default: bool) -> Result<Scanner, LoadError> {
        let set = match rules {
            None => RuleSet::builtin()?,
            Some(path) => RuleSet::load(path, extend_default)?,
        };
        Ok(Scanner::new(set)?)
    }

    /// Scan a file's bytes; binary content is reduced to its printable runs first,
    /// and then findings carry no line number (lines of a binary mean nothing).
    pub fn scan_blob(
        &self,
        path: Option<&str>,
        commit: Option<&str>,
        bytes: &[u8],
    ) -> Vec<Finding> {
        let (content, binary) = scannable(bytes);
        let mut findings = self.scan(&Target {
            path,
            commit,
            content: &content,
        });
        if binary {
            for f in &mut findings {
                f.line = None;
            }
        }
        findings
    }
}

#[cfg(test)]
mod tests;
