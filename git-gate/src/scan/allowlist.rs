//! Allowlists: what an operator's rules file declares is not a secret.
//!
//! Semantics follow gitleaks: with `condition = "OR"` (the default) any one
//! criterion allows a finding; with `"AND"` every criterion the allowlist
//! names must hold. Allowlists come only from the operator's rules file and
//! the built-in pack, never from the content being scanned.

use regex::Regex;
use regex::bytes::Regex as BytesRegex;

use super::text::reads_as_words;

/// A stopword allows a secret only if, with every stopword removed, no run this long of
/// letters and digits is left other than plain words: a real token next to the word
/// "example" is still reported.
pub const STOPWORD_MAX_REST_RUN: usize = 10;

/// Which text an allowlist's `regexes` are matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegexTarget {
    /// The extracted secret (default).
    Secret,
    /// The whole regex match.
    Match,
    /// The line(s) the match is on.
    Line,
}

/// How an allowlist's criteria combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Any criterion suffices.
    Or,
    /// Every named criterion must hold.
    And,
}

/// A compiled allowlist.
#[derive(Debug, Clone)]
pub struct Allowlist {
    /// Operator's note.
    pub description: Option<String>,
    /// How criteria combine.
    pub condition: Condition,
    /// Commit ids (full hex, case-insensitive) whose findings are allowed.
    pub commits: Vec<String>,
    /// File path patterns.
    pub paths: Vec<Regex>,
    /// Patterns matched against [`Allowlist::regex_target`].
    pub regexes: Vec<BytesRegex>,
    /// What `regexes` look at.
    pub regex_target: RegexTarget,
    /// Lowercase words; a secret that is mostly made of them is allowed.
    pub stopwords: Vec<String>,
    /// Allow a secret with no digit that reads as words or an identifier (git-gate's extension).
    pub digit_free_words: bool,
}

/// What a candidate finding looks like to an allowlist.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// File path, if the content came from a file.
    pub path: Option<&'a str>,
    /// Commit id, if the content came from a commit.
    pub commit: Option<&'a str>,
    /// The extracted secret.
    pub secret: &'a [u8],
    /// The whole regex match.
    pub matched: &'a [u8],
    /// The line(s) of the match.
    pub line: &'a [u8],
}

impl Allowlist {
    /// Whether this allowlist lets the whole target (a file in a commit) through unscanned.
    ///
    /// Only OR allowlists can decide before a match exists, and only on paths and commits.
    pub fn allows_target(&self, path: Option<&str>, commit: Option<&str>) -> bool {
        self.condition == Condition::Or && (self.commit_hit(commit) || self.path_hit(path))
    }

    /// Whether this allowlist allows a candidate finding.
    pub fn allows(&self, c: &Candidate<'_>) -> bool {
        let target = match self.regex_target {
            RegexTarget::Secret => c.secret,
            RegexTarget::Match => c.matched,
            RegexTarget::Line => c.line,
        };
        let regex_hit = self.regexes.iter().any(|r| r.is_match(target));
        let stop_hit = self.stopword_hit(c.secret);
        let words_hit = self.digit_free_words && reads_as_words(c.secret);
        match self.condition {
            Condition::Or => {
                regex_hit
                    || stop_hit
                    || words_hit
                    || self.commit_hit(c.commit)
                    || self.path_hit(c.path)
            }
            Condition::And => {
                let mut checks = Vec::with_capacity(4);
                if !self.commits.is_empty() {
                    checks.push(self.commit_hit(c.commit));
                }
                if !self.paths.is_empty() {
                    checks.push(self.path_hit(c.path));
                }
                if !self.regexes.is_empty() {
                    checks.push(regex_hit);
                }
                if !self.stopwords.is_empty() {
                    checks.push(stop_hit);
                }
                if self.digit_free_words {
                    checks.push(words_hit);
                }
                !checks.is_empty() && checks.iter().all(|&b| b)
            }
        }
    }

    fn commit_hit(&self, commit: Option<&str>) -> bool {
        commit.is_some_and(|c| self.commits.iter().any(|a| a.eq_ignore_ascii_case(c)))
    }

    fn path_hit(&self, path: Option<&str>) -> bool {
        path.is_some_and(|p| self.paths.iter().any(|r| r.is_match(p)))
    }

    /// Whether the secret is mostly stopwords: with each occurrence removed, no run of
    /// [`STOPWORD_MAX_REST_RUN`] letters or digits remains that does not read as words.
    fn stopword_hit(&self, secret: &[u8]) -> bool {
        if self.stopwords.is_empty() {
            return false;
        }
        let lowered = secret.to_ascii_lowercase();
        let mut covered = vec![false; lowered.len()];
        let mut any = false;
        for w in self.stopwords.iter().filter(|w| !w.is_empty()) {
            let w = w.as_bytes();
            let mut at = 0;
            while at + w.len() <= lowered.len() {
                if &lowered[at..at + w.len()] == w {
                    covered[at..at + w.len()].iter_mut().for_each(|c| *c = true);
                    any = true;
                    at += w.len();
                } else {
                    at += 1;
                }
            }
        }
        if !any {
            return false;
        }
        let rest: Vec<u8> = lowered
            .iter()
            .zip(&covered)
            .filter(|(_, covered)| !**covered)
            .map(|(&b, _)| b)
            .collect();
        rest.split(|b| !b.is_ascii_alphanumeric())
            .all(|run| run.len() < STOPWORD_MAX_REST_RUN || reads_as_words(run))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(condition: Condition) -> Allowlist {
        Allowlist {
            description: None,
            condition,
            commits: vec!["ABC123".into()],
            paths: vec![Regex::new(r"^fixtures/").unwrap()],
            regexes: vec![BytesRegex::new("^EXAMPLE").unwrap()],
            regex_target: RegexTarget::Secret,
            stopwords: vec!["dummy".into()],
            digit_free_words: false,
        }
    }

    fn cand<'a>(path: &'a str, commit: &'a str, secret: &'a [u8]) -> Candidate<'a> {
        Candidate {
            path: Some(path),
            commit: Some(commit),
            secret,
            matched: secret,
            line: secret,
        }
    }

    #[test]
    fn or_needs_any_criterion() {
        let a = list(Condition::Or);
        assert!(a.allows(&cand("src/x", "f00", b"EXAMPLEKEY")));
        assert!(a.allows(&cand("src/x", "f00", b"xxDUMMYxx")));
        assert!(a.allows(&cand("src/x", "f00", b"dummy-value-for-tests-2")));
        assert!(a.allows(&cand("fixtures/x", "f00", b"real")));
        assert!(a.allows(&cand("src/x", "abc123", b"real")));
        assert!(!a.allows(&cand("src/x", "f00", b"real")));
        assert!(a.allows_target(Some("fixtures/a"), None));
        assert!(!a.allows_target(Some("src/a"), Some("f00")));
    }

    #[test]
    fn and_needs_every_named_criterion() {
        let a = list(Condition::And);
        assert!(a.allows(&cand("fixtures/x", "abc123", b"EXAMPLE-dummy")));
        assert!(!a.allows(&cand("fixtures/x", "abc123", b"EXAMPLE")));
        assert!(!a.allows(&cand("src/x", "abc123", b"EXAMPLE-dummy")));
        assert!(!a.allows_target(Some("fixtures/a"), Some("abc123")));
    }

    #[test]
    fn a_stopword_does_not_allow_a_real_token_beside_it() {
        let a = list(Condition::Or);
        assert!(!a.allows(&cand("src/x", "f00", b"dummy_q8Vz3LmT0pRw9XbK")));
        assert!(!a.allows(&cand("src/x", "f00", b"q8Vz3LmT0pRDUMMYw9XbK2nYc")));
        assert!(a.allows(&cand("src/x", "f00", b"q8Vz3LmT0-DUMMY-w9XbK2nYc")));
        assert!(!a.allows(&cand("src/x", "f00", b"q8Vz3LmT0DUMMYw9XbK2nYc")));
    }

    #[test]
    fn digit_free_words_allow_identifiers_not_random_letters() {
        let mut a = list(Condition::Or);
        a.digit_free_words = true;
        for ok in [&b"getTokenFromEnvironment"[..], b"SECRET_KEY_BASE_VALUE"] {
            assert!(a.allows(&cand("src/x", "f00", ok)));
        }
        for no in [&b"qZxKvbTrwLmnPsdfGhjK"[..], b"getTokenFromEnvironment2"] {
            assert!(!a.allows(&cand("src/x", "f00", no)));
        }
    }
}
