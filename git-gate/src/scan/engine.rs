//! The scan engine: keyword prefilter, bounded windows, rule regexes, allowlists.
//!
//! One Aho-Corasick pass (ASCII case-insensitive, overlapping) over the
//! content finds every keyword. Each hit opens a window around it for the
//! rules owning that keyword: the hit's line for rules that cannot match a
//! newline, a bounded span of lines for those that can (private keys).
//! Windows of one rule are merged, so a rule reads each byte at most once,
//! and only windows ever reach a regex.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex_syntax::hir::{Class, Hir, HirKind};
use serde::Serialize;

use super::allowlist::{Allowlist, Candidate};
use super::ruleset::{RuleSet, RuleSpec};
use super::text::{LineCursor, line_end, line_start, shannon_entropy};

/// Bytes of one line looked at on each side of a keyword, so huge lines stay cheap.
const LINE_REACH: usize = 4096;
/// For rules that span lines: how far before and after a keyword the window reaches.
const MULTILINE_BEFORE: usize = 4096;
const MULTILINE_AFTER: usize = 32 * 1024;
/// Longest match span whose capture groups are resolved; a longer match is cut to this.
///
/// Finding match bounds is linear (DFA); resolving groups is not, so a
/// hostile megabyte-long "match" must not reach the capture engine whole.
const MAX_CAPTURE_SPAN: usize = 64 * 1024;
/// Findings kept per scanned item; more are counted, not stored.
pub const MAX_FINDINGS_PER_TARGET: usize = 100;

/// Something to scan, and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// File path inside the repository (or on disk).
    pub path: Option<&'a str>,
    /// Commit the content belongs to.
    pub commit: Option<&'a str>,
    /// The text to scan (already reduced to printable runs if it was binary).
    pub content: &'a [u8],
}

/// A detected secret; it records where and what kind, never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Rule that fired.
    pub rule: String,
    /// What the rule finds.
    pub description: String,
    /// 1-based line within the scanned content, when it has lines.
    pub line: Option<u64>,
    /// Length of the secret in bytes (the only thing said about its value).
    pub secret_len: usize,
    /// Byte range of the secret in the scanned content (for de-duplication; not reported).
    #[serde(skip)]
    pub span: Option<(usize, usize)>,
    /// A hash of the secret, to tell whether two scans found the same value (not reported).
    #[serde(skip)]
    pub fingerprint: u64,
}

/// Which rules one scan runs.
///
/// The push scan reads added lines with the rules that match within a line,
/// and whole files with the rules that can span lines, so a secret assembled
/// across commits is still seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Rules whose regex cannot match a newline.
    pub single_line: bool,
    /// Rules whose regex can match a newline (private keys).
    pub multi_line: bool,
    /// Rules with a `path` and no `regex`, whose finding is the path itself.
    pub path_only: bool,
}

impl Pass {
    /// Every rule.
    pub const ALL: Pass = Pass {
        single_line: true,
        multi_line: true,
        path_only: true,
    };
    /// Rules that match within one line, and path-only rules.
    pub const SINGLE_LINE: Pass = Pass {
        single_line: true,
        multi_line: false,
        path_only: true,
    };
    /// Rules that can span lines.
    pub const MULTI_LINE: Pass = Pass {
        single_line: false,
        multi_line: true,
        path_only: false,
    };
    /// Content rules, for text that is not a file (a path name, a ref name).
    pub const CONTENT: Pass = Pass {
        single_line: true,
        multi_line: true,
        path_only: false,
    };
}

/// Rules whose id starts with this are catch-alls; a specific rule on the same bytes wins.
pub const GENERIC_PREFIX: &str = "generic";

/// The compiled scanner: rules plus a keyword automaton.
#[derive(Debug)]
pub struct Scanner {
    rules: Vec<CompiledRule>,
    global: Vec<Allowlist>,
    keywords: Option<AhoCorasick>,
    keyword_rules: Vec<Vec<usize>>,
    /// Whether some keyworded rule matches within a line, and whether some spans lines.
    keyed_single_line: bool,
    keyed_multi_line: bool,
    unkeyed: Vec<usize>,
}

#[derive(Debug)]
struct CompiledRule {
    spec: RuleSpec,
    multiline: bool,
}

/// Failure to build the keyword automaton (only for absurd keyword sets).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the keyword prefilter: {0}")]
pub struct BuildError(String);

impl Scanner {
    /// Compile `set` into a scanner.
    pub fn new(set: RuleSet) -> Result<Scanner, BuildError> {
        let mut patterns: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let mut unkeyed = Vec::new();
        let mut rules = Vec::new();
        for (i, spec) in set.rules.into_iter().enumerate() {
            if spec.regex.is_some() {
                if spec.keywords.is_empty() {
                    unkeyed.push(i);
                }
                for k in &spec.keywords {
                    match patterns.iter().position(|p| p == k) {
                        Some(j) => keyword_rules[j].push(i),
                        None => {
                            patterns.push(k.clone());
                            keyword_rules.push(vec![i]);
                        }
                    }
                }
            }
            let multiline = spec
                .regex
                .as_ref()
                .is_some_and(|re| can_match_newline(re.as_str()));
            rules.push(CompiledRule { spec, multiline });
        }
        let keywords = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(&patterns)
                    .or_else(|_| {
                        AhoCorasickBuilder::new()
                            .ascii_case_insensitive(true)
                            .match_kind(MatchKind::Standard)
                            .build(&patterns)
                    })
                    .map_err(|e| BuildError(e.to_string()))?,
            )
        };
        let keyed = |multi: bool| {
            keyword_rules
                .iter()
                .flatten()
                .any(|&r| rules[r].multiline == multi)
        };
        let (keyed_single_line, keyed_multi_line) = (keyed(false), keyed(true));
        Ok(Scanner {
            rules,
            global: set.allowlists,
            keywords,
            keyword_rules,
            keyed_single_line,
            keyed_multi_line,
            unkeyed,
        })
    }

    /// Rule ids, in order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.spec.id.as_str())
    }

    /// Scan one target with every rule; at most [`MAX_FINDINGS_PER_TARGET`] findings are returned.
    pub fn scan(&self, target: &Target<'_>) -> Vec<Finding> {
        self.scan_with(target, Pass::ALL)
    }

    /// Scan one target with the rules `pass` selects.
    pub fn scan_with(&self, target: &Target<'_>, pass: Pass) -> Vec<Finding> {
        self.scan_reaching(target, pass).0
    }

    /// [`Scanner::scan_with`], and whether the content reached a rule `pass` selects: one of
    /// their keywords occurs in it, or one has no keywords. A target a global allowlist
    /// allows reaches none.
    pub(super) fn scan_reaching(&self, target: &Target<'_>, pass: Pass) -> (Vec<Finding>, bool) {
        if self
            .global
            .iter()
            .any(|a| a.allows_target(target.path, target.commit))
        {
            return (Vec::new(), false);
        }
        let mut reached = false;
        let mut findings = Vec::new();
        if pass.path_only {
            self.path_only_rules(target, &mut findings);
        }
        let selected = |r: usize| {
            let multi = self.rules[r].multiline;
            (multi && pass.multi_line) || (!multi && pass.single_line)
        };
        let content = target.content;
        let lines = LineCursor::new(content);
        let mut open: Vec<Option<(usize, usize)>> = vec![None; self.rules.len()];
        let keyed = (pass.single_line && self.keyed_single_line)
            || (pass.multi_line && self.keyed_multi_line);
        if let Some(ac) = self.keywords.as_ref().filter(|_| keyed) {
            for hit in ac.find_overlapping_iter(content) {
                for &r in &self.keyword_rules[hit.pattern().as_usize()] {
                    if !selected(r) {
                        continue;
                    }
                    reached = true;
                    if let Some((s, e)) =
                        self.widen(r, content, hit.start(), hit.end(), &mut open[r])
                    {
                        self.run_rule(r, target, s, e, &lines, &mut findings);
                    }
                }
                if findings.len() >= MAX_FINDINGS_PER_TARGET {
                    break;
                }
            }
        }
        for (r, window) in open.iter().enumerate() {
            if let Some((s, e)) = window {
                self.run_rule(r, target, *s, *e, &lines, &mut findings);
            }
        }
        for &r in self.unkeyed.iter().filter(|&&r| selected(r)) {
            reached = true;
            self.run_rule(r, target, 0, content.len(), &lines, &mut findings);
        }
        findings.truncate(MAX_FINDINGS_PER_TARGET);
        drop_shadowed_generics(&mut findings);
        findings.sort_by(|a, b| a.line.cmp(&b.line).then_with(|| a.rule.cmp(&b.rule)));
        (findings, reached)
    }

    fn path_only_rules(&self, target: &Target<'_>, findings: &mut Vec<Finding>) {
        let Some(path) = target.path else { return };
        for rule in &self.rules {
            let spec = &rule.spec;
            if spec.regex.is_some() || !spec.path.as_ref().is_some_and(|p| p.is_match(path)) {
                continue;
            }
            let cand = Candidate {
                path: Some(path),
                commit: target.commit,
                secret: path.as_bytes(),
                matched: path.as_bytes(),
                line: path.as_bytes(),
            };
            if !self.allowed(spec, &cand) {
                findings.push(Finding {
                    rule: spec.id.clone(),
                    description: spec.description.clone(),
                    line: None,
                    secret_len: 0,
                    span: None,
                    fingerprint: 0,
                });
            }
        }
    }

    /// Grow rule `r`'s open window over a keyword hit, or open a new one and
    /// return the window it closes.
    ///
    /// Extending reuses what earlier hits already scanned, so dense hits on a
    /// long line cost linear time rather than a line search each.
    fn widen(
        &self,
        r: usize,
        content: &[u8],
        start: usize,
        end: usize,
        open: &mut Option<(usize, usize)>,
    ) -> Option<(usize, usize)> {
        let (from, to) = if self.rules[r].multiline {
            (
                start.saturating_sub(MULTILINE_BEFORE),
                end.saturating_add(MULTILINE_AFTER),
            )
        } else {
            (start, end)
        };
        if let Some((ws, we)) = open
            && from <= *we
        {
            if from < *ws {
                *ws = (*ws).min(line_start(content, from, LINE_REACH));
            }
            let at_line_end = *we < content.len() && content[*we] == b'\n';
            if to > *we {
                *we = line_end(content, to, LINE_REACH);
            } else if !at_line_end && *we < content.len() {
                // `we` was a reach limit: the bytes before it hold no newline, so continue from it.
                *we = line_end(content, *we, (to + LINE_REACH).saturating_sub(*we));
            }
            return None;
        }
        open.replace((
            line_start(content, from, LINE_REACH),
            line_end(content, to, LINE_REACH),
        ))
    }

    fn run_rule(
        &self,
        rule: usize,
        target: &Target<'_>,
        start: usize,
        end: usize,
        lines: &LineCursor<'_>,
        findings: &mut Vec<Finding>,
    ) {
        let spec = &self.rules[rule].spec;
        let Some(re) = &spec.regex else { return };
        if let (Some(p), Some(path)) = (&spec.path, target.path)
            && !p.is_match(path)
        {
            return;
        }
        if spec.path.is_some() && target.path.is_none() {
            return;
        }
        let content = target.content;
        let window = &content[start..end];
        for found in re.find_iter(window) {
            let limit = found.end().min(found.start() + MAX_CAPTURE_SPAN);
            let Some(caps) = re.captures_at(&window[..limit], found.start()) else {
                continue;
            };
            let Some(m) = caps.get(0) else { continue };
            let secret = match spec.secret_group {
                Some(g) => caps.get(g),
                None => caps
                    .iter()
                    .skip(1)
                    .flatten()
                    .find(|g| !g.is_empty())
                    .or(Some(m)),
            };
            let Some(secret) = secret.filter(|s| !s.is_empty()) else {
                continue;
            };
            let secret_bytes = secret.as_bytes();
            if spec
                .entropy
                .is_some_and(|min| shannon_entropy(secret_bytes) <= min)
            {
                continue;
            }
            let abs_start = start + m.start();
            let abs_end = start + m.end();
            let line_text = &content[line_start(content, abs_start, LINE_REACH)
                ..line_end(content, abs_end, LINE_REACH)];
            let cand = Candidate {
                path: target.path,
                commit: target.commit,
                secret: secret_bytes,
                matched: m.as_bytes(),
                line: line_text,
            };
            if self.allowed(spec, &cand) {
                continue;
            }
            let line = lines.line_of(abs_start);
            findings.push(Finding {
                rule: spec.id.clone(),
                description: spec.description.clone(),
                line: Some(line),
                secret_len: secret_bytes.len(),
                span: Some((start + secret.start(), start + secret.end())),
                fingerprint: fingerprint(secret_bytes),
            });
            if findings.len() >= MAX_FINDINGS_PER_TARGET {
                return;
            }
        }
    }

    fn allowed(&self, spec: &RuleSpec, cand: &Candidate<'_>) -> bool {
        self.global.iter().any(|a| a.allows(cand)) || spec.allowlists.iter().any(|a| a.allows(cand))
    }
}

fn fingerprint(secret: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    secret.hash(&mut h);
    h.finish()
}

/// Remove catch-all findings on bytes a specific rule already reported.
fn drop_shadowed_generics(findings: &mut Vec<Finding>) {
    let specific: Vec<(usize, usize)> = findings
        .iter()
        .filter(|f| !f.rule.starts_with(GENERIC_PREFIX))
        .filter_map(|f| f.span)
        .collect();
    findings.retain(|f| {
        !f.rule.starts_with(GENERIC_PREFIX)
            || f.span
                .is_none_or(|(s, e)| !specific.iter().any(|&(a, b)| s < b && a < e))
    });
}

/// Whether a regex can match a newline, i.e. needs a window of several lines.
fn can_match_newline(pattern: &str) -> bool {
    let parse = |unicode: bool| {
        regex_syntax::ParserBuilder::new()
            .unicode(unicode)
            .utf8(false)
            .build()
            .parse(pattern)
            .ok()
    };
    parse(false)
        .or_else(|| parse(true))
        .is_none_or(|hir| hir_matches_newline(&hir))
}

fn hir_matches_newline(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(lit) => lit.0.contains(&b'\n'),
        HirKind::Class(Class::Bytes(c)) => c
            .ranges()
            .iter()
            .any(|r| r.start() <= b'\n' && b'\n' <= r.end()),
        HirKind::Class(Class::Unicode(c)) => c
            .ranges()
            .iter()
            .any(|r| r.start() <= '\n' && '\n' <= r.end()),
        HirKind::Repetition(r) => hir_matches_newline(&r.sub),
        HirKind::Capture(c) => hir_matches_newline(&c.sub),
        HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().any(hir_matches_newline),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newline_detection() {
        assert!(!can_match_newline(r"\bghp_[A-Za-z0-9]{36}\b"));
        assert!(!can_match_newline(r"(?i)a[ \t]*=[^\s]+"));
        assert!(!can_match_newline(r"x(?:[^0-9\n]|$)"));
        assert!(can_match_newline(r"BEGIN[\s\S]{0,10}END"));
        assert!(can_match_newline(r"a\sb"));
        assert!(can_match_newline(r"(?s)a.b"));
        assert!(can_match_newline(r"a[^x]b"));
        assert!(!can_match_newline(r"a.b"));
    }
}
