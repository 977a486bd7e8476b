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
pub use engine::{Finding, MAX_FINDINGS_PER_TARGET, Pass, Scanner, Target};
pub use ruleset::{BUILTIN_NAME, BUILTIN_RULES, RuleSet, RuleSpec};
pub use text::{Encoding, MIN_PRINTABLE_RUN, Scannable, looks_binary, scannable, shannon_entropy};

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

    /// Scan a file's bytes with every rule; binary content is reduced to its printable runs
    /// and UTF-16 is decoded first. Findings in binary runs carry no line number.
    pub fn scan_blob(
        &self,
        path: Option<&str>,
        commit: Option<&str>,
        bytes: &[u8],
    ) -> Vec<Finding> {
        self.scan_blob_with(path, commit, bytes, Pass::ALL)
    }

    /// [`Scanner::scan_blob`] restricted to the rules `pass` selects.
    pub fn scan_blob_with(
        &self,
        path: Option<&str>,
        commit: Option<&str>,
        bytes: &[u8],
        pass: Pass,
    ) -> Vec<Finding> {
        self.scan_blob_reaching(path, commit, bytes, pass).0
    }

    /// [`Scanner::scan_blob_with`], or `None` when the content reached no rule `pass` selects
    /// (none of their keywords occurs in it and each has some), so only the keyword search read it.
    pub fn scan_blob_if_reached(
        &self,
        path: Option<&str>,
        commit: Option<&str>,
        bytes: &[u8],
        pass: Pass,
    ) -> Option<Vec<Finding>> {
        let (findings, reached) = self.scan_blob_reaching(path, commit, bytes, pass);
        reached.then_some(findings)
    }

    fn scan_blob_reaching(
        &self,
        path: Option<&str>,
        commit: Option<&str>,
        bytes: &[u8],
        pass: Pass,
    ) -> (Vec<Finding>, bool) {
        let s = scannable(bytes);
        let (mut findings, reached) = self.scan_reaching(
            &Target {
                path,
                commit,
                content: &s.text,
            },
            pass,
        );
        for f in &mut findings {
            if f.span.is_some_and(|(start, _)| start >= s.lines_until) {
                f.line = None;
            }
        }
        (findings, reached)
    }
}

#[cfg(test)]
mod tests;
