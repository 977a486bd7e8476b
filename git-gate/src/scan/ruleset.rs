//! gitleaks-format TOML rule files: parsing, `[extend]`, and validation.
//!
//! The built-in pack is written in the same format and read by the same
//! code, so an operator's file and the defaults mean exactly the same thing.
//! Every error names `file:line:col`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use bottle_common::located::{
    ConfigError, ConfigErrors, Pos, Source, read_text, unknown_key_message,
};
use regex::bytes::{Regex as BytesRegex, RegexBuilder as BytesRegexBuilder};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use toml::Spanned;

use super::allowlist::{Allowlist, Condition, RegexTarget};

/// The built-in rule pack (written for git-gate, in gitleaks format).
pub const BUILTIN_RULES: &str = include_str!("builtin.toml");
/// Name the built-in pack goes by in messages.
pub const BUILTIN_NAME: &str = "<built-in rules>";
/// How many `[extend] path` hops a rules file may chain.
const MAX_EXTEND_DEPTH: usize = 2;
/// Compiled-size ceiling per regex, so a hostile rule cannot eat the gate's memory.
const REGEX_SIZE_LIMIT: usize = 16 * 1024 * 1024;

/// A validated set of rules and global allowlists.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// Rules in a stable order.
    pub rules: Vec<RuleSpec>,
    /// Allowlists applying to every rule.
    pub allowlists: Vec<Allowlist>,
}

/// One detection rule.
#[derive(Debug, Clone)]
pub struct RuleSpec {
    /// Stable identifier reported with findings.
    pub id: String,
    /// What the rule finds.
    pub description: String,
    /// Content pattern; `None` for a path-only rule.
    pub regex: Option<BytesRegex>,
    /// Capture group holding the secret; `None` means the first non-empty group, or the match.
    pub secret_group: Option<usize>,
    /// Minimum Shannon entropy (bits per byte) the secret must exceed.
    pub entropy: Option<f64>,
    /// Lowercase words one of which must occur near a match.
    pub keywords: Vec<String>,
    /// File path pattern the rule is limited to (alone: the path itself is the finding).
    pub path: Option<Regex>,
    /// Allowlists for this rule only.
    pub allowlists: Vec<Allowlist>,
    /// Where the rule is defined.
    pub origin: Origin,
}

/// Where a rule is defined, for errors about it found after merging files.
#[derive(Debug, Clone)]
pub struct Origin {
    source: Source,
    pos: Pos,
}

impl Origin {
    fn error(&self, message: String) -> ConfigError {
        self.source.error_at(self.pos, message)
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.source.name,
            self.pos.line + self.source.line_offset,
            self.pos.column
        )
    }
}

impl RuleSet {
    /// The built-in pack.
    pub fn builtin() -> Result<RuleSet, ConfigErrors> {
        let pack = Chain::bottom(true)?;
        finish(pack.set, pack.targeted)
    }

    /// An operator's rules file, on top of the built-in pack when `extend_default` (or the
    /// file's own `[extend] useDefault`) says so.
    ///
    /// `[extend] disabledRules` removes rules from whatever the file is built on,
    /// including the built-in pack added by `extend_default`, also when it lies
    /// beneath a file reached by `[extend] path`; naming a rule that
    /// is not there is an error, so a typo cannot leave a rule silently active.
    pub fn load(path: &Path, extend_default: bool) -> Result<RuleSet, ConfigErrors> {
        let chain = load_chain(path, 0, extend_default)?;
        finish(chain.set, chain.targeted)
    }
}

/// A rules file with what it extends resolved.
struct Chain {
    set: RuleSet,
    targeted: Vec<Targeted>,
}

impl Chain {
    /// What a file that extends no other file starts from: the built-in pack, or nothing.
    fn bottom(builtin: bool) -> Result<Chain, ConfigErrors> {
        if !builtin {
            return Ok(Chain {
                set: RuleSet::default(),
                targeted: Vec::new(),
            });
        }
        let b = parse_file(BUILTIN_RULES, &Source::named(BUILTIN_NAME))?;
        Ok(Chain {
            set: merge(RuleSet::default(), b.rules)?,
            targeted: b.targeted,
        })
    }
}

/// Remove the `disabled` rules from `base`; each must exist there.
fn disable(base: &mut RuleSet, disabled: &[(String, ErrorSite)]) -> Result<(), ConfigErrors> {
    let mut errors = Vec::new();
    for (id, at) in disabled {
        if !base.rules.iter().any(|r| &r.id == id) {
            errors.push(at.clone_with(format!(
                "[extend] disabledRules names `{id}`, which is not a rule of the pack this file extends; check the id against the built-in rule list in the git-gate documentation"
            )));
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    base.rules
        .retain(|r| !disabled.iter().any(|(id, _)| id == &r.id));
    Ok(())
}

/// Load `path` and what it extends. The file at the bottom of the chain (one with no
/// `[extend] path`) starts from the built-in pack if it says `useDefault` or if
/// `extend_default`; every file's `disabledRules` then removes rules from all that lies
/// beneath it, the pack included.
fn load_chain(path: &Path, depth: usize, extend_default: bool) -> Result<Chain, ConfigErrors> {
    let source = Source::file(path);
    let text = read_text(path, &source)?;
    let file = parse_file(&text, &source)?;
    let mut chain = match file.extend {
        None => Chain::bottom(extend_default)?,
        Some(ext) => {
            let disabled: Vec<(String, ErrorSite)> = ext
                .disabled_rules
                .into_iter()
                .map(|(id, pos)| {
                    (
                        id,
                        ErrorSite {
                            source: source.clone(),
                            pos,
                        },
                    )
                })
                .collect();
            let mut base = match (ext.use_default, ext.path) {
                (true, Some((_, pos))) => {
                    return Err(source
                        .error_at(
                            pos,
                            "[extend] sets both `useDefault` and `path`; choose one",
                        )
                        .into());
                }
                (use_default, None) => Chain::bottom(use_default || extend_default)?,
                (false, Some((p, pos))) => {
                    if depth >= MAX_EXTEND_DEPTH {
                        return Err(source
                            .error_at(
                                pos,
                                format!("[extend] chains more than {MAX_EXTEND_DEPTH} files; flatten the rules"),
                            )
                            .into());
                    }
                    let next = path.parent().unwrap_or(Path::new(".")).join(&p);
                    load_chain(&next, depth + 1, extend_default)?
                }
            };
            disable(&mut base.set, &disabled)?;
            base
        }
    };
    chain.targeted.extend(file.targeted);
    chain.set = merge(chain.set, file.rules)?;
    Ok(chain)
}

/// Rules of `top` override same-id rules of `base` field by field (gitleaks' merge).
fn merge(mut base: RuleSet, top: RuleSet) -> Result<RuleSet, ConfigErrors> {
    for rule in top.rules {
        match base.rules.iter_mut().find(|r| r.id == rule.id) {
            None => base.rules.push(rule),
            Some(b) => {
                if !rule.description.is_empty() {
                    b.description = rule.description;
                }
                if rule.regex.is_some() {
                    b.regex = rule.regex;
                }
                if rule.secret_group.is_some() {
                    b.secret_group = rule.secret_group;
                }
                if rule.entropy.is_some() {
                    b.entropy = rule.entropy;
                }
                if rule.path.is_some() {
                    b.path = rule.path;
                }
                b.keywords.extend(rule.keywords);
                b.allowlists.extend(rule.allowlists);
                b.origin = rule.origin;
            }
        }
    }
    base.allowlists.extend(top.allowlists);
    Ok(base)
}

/// Attach rule-targeted allowlists and check each rule is complete.
fn finish(mut set: RuleSet, targeted: Vec<Targeted>) -> Result<RuleSet, ConfigErrors> {
    let mut errors = Vec::new();
    for t in targeted {
        for id in &t.rule_ids {
            match set.rules.iter_mut().find(|r| &r.id == id) {
                Some(rule) => rule.allowlists.push(t.allowlist.clone()),
                None => errors.push(t.at.clone_with(format!(
                    "[[allowlists]] targetRules names `{id}`, which is not a rule"
                ))),
            }
        }
    }
    for rule in &mut set.rules {
        rule.keywords.sort();
        rule.keywords.dedup();
        if rule.regex.is_none() && rule.path.is_none() {
            errors.push(rule.origin.error(format!(
                "rule `{}` has neither `regex` nor `path`; give it at least one",
                rule.id
            )));
        }
        if let (Some(g), Some(re)) = (rule.secret_group, &rule.regex)
            && g >= re.captures_len()
        {
            errors.push(rule.origin.error(format!(
                "rule `{}`: secretGroup {g} does not exist; its regex has {} capture group(s)",
                rule.id,
                re.captures_len() - 1
            )));
        }
    }
    if errors.is_empty() {
        Ok(set)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// An allowlist that applies to named rules only (`[[allowlists]] targetRules`).
#[derive(Debug, Clone)]
struct Targeted {
    rule_ids: Vec<String>,
    allowlist: Allowlist,
    at: ErrorSite,
}

#[derive(Debug, Clone)]
struct ErrorSite {
    source: Source,
    pos: Pos,
}

impl ErrorSite {
    fn clone_with(&self, message: String) -> ConfigError {
        self.source.error_at(self.pos, message)
    }
}

struct ParsedFile {
    rules: RuleSet,
    targeted: Vec<Targeted>,
    extend: Option<Extend>,
}

struct Extend {
    use_default: bool,
    path: Option<(PathBuf, Pos)>,
    disabled_rules: Vec<(String, Pos)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, rename = "minVersion", alias = "minversion")]
    min_version: Option<String>,
    #[serde(default)]
    extend: Option<Spanned<RawExtend>>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
    #[serde(default)]
    allowlist: Option<Spanned<RawAllowlist>>,
    #[serde(default)]
    allowlists: Vec<Spanned<RawAllowlist>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtend {
    #[serde(default, rename = "useDefault", alias = "usedefault")]
    use_default: bool,
    #[serde(default)]
    path: Option<Spanned<String>>,
    #[serde(default, rename = "disabledRules", alias = "disabledrules")]
    disabled_rules: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    regex: Option<Spanned<String>>,
    #[serde(default, rename = "secretGroup", alias = "secretgroup")]
    secret_group: Option<Spanned<i64>>,
    #[serde(default)]
    entropy: Option<Spanned<f64>>,
    #[serde(default)]
    keywords: Vec<Spanned<String>>,
    #[serde(default)]
    path: Option<Spanned<String>>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    allowlist: Option<Spanned<RawAllowlist>>,
    #[serde(default)]
    allowlists: Vec<Spanned<RawAllowlist>>,
    #[serde(default)]
    required: Option<Spanned<toml::Value>>,
    #[serde(default, rename = "skipReport", alias = "skipreport")]
    skip_report: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllowlist {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    condition: Option<Spanned<String>>,
    #[serde(default)]
    commits: Vec<String>,
    #[serde(default)]
    paths: Vec<Spanned<String>>,
    #[serde(default, rename = "regexTarget", alias = "regextarget")]
    regex_target: Option<Spanned<String>>,
    #[serde(default)]
    regexes: Vec<Spanned<String>>,
    #[serde(default, alias = "stopWords")]
    stopwords: Vec<String>,
    #[serde(default, rename = "targetRules", alias = "targetrules")]
    target_rules: Option<Spanned<Vec<String>>>,
    #[serde(default, rename = "digitFreeWords", alias = "digitfreewords")]
    digit_free_words: bool,
}

/// Parse one TOML text into rules; `extend` is returned for the caller to follow.
fn parse_file(text: &str, source: &Source) -> Result<ParsedFile, ConfigErrors> {
    let raw: RawFile = toml::from_str(text).map_err(|e| toml_error(text, source, &e))?;
    let _ = (&raw.title, &raw.description, &raw.min_version);
    let mut c = Compiler {
        text,
        source,
        errors: Vec::new(),
    };
    let mut seen = HashSet::new();
    let mut rules = Vec::new();
    for raw_rule in &raw.rules {
        let id_pos = c.pos(raw_rule.get_ref().id.span().start);
        if !seen.insert(raw_rule.get_ref().id.get_ref().clone()) {
            c.errors.push(source.error_at(
                id_pos,
                format!(
                    "rule id `{}` is defined twice in this file",
                    raw_rule.get_ref().id.get_ref()
                ),
            ));
            continue;
        }
        if let Some(rule) = c.rule(raw_rule.get_ref(), id_pos) {
            rules.push(rule);
        }
    }
    if raw.allowlist.is_some() && !raw.allowlists.is_empty() {
        let pos = c.pos(raw.allowlists[0].span().start);
        c.errors.push(source.error_at(
            pos,
            "use either the legacy [allowlist] table or [[allowlists]], not both",
        ));
    }
    let mut allowlists = Vec::new();
    let mut targeted = Vec::new();
    for raw_list in raw.allowlist.iter().chain(raw.allowlists.iter()) {
        let Some(list) = c.allowlist(raw_list) else {
            continue;
        };
        match &raw_list.get_ref().target_rules {
            Some(ids) if !ids.get_ref().is_empty() => targeted.push(Targeted {
                rule_ids: ids.get_ref().clone(),
                allowlist: list,
                at: ErrorSite {
                    source: source.clone(),
                    pos: c.pos(ids.span().start),
                },
            }),
            _ => allowlists.push(list),
        }
    }
    let extend = raw.extend.as_ref().map(|e| {
        let e = e.get_ref();
        Extend {
            use_default: e.use_default,
            path: e
                .path
                .as_ref()
                .map(|p| (PathBuf::from(p.get_ref()), c.pos(p.span().start))),
            disabled_rules: e
                .disabled_rules
                .iter()
                .map(|d| (d.get_ref().clone(), c.pos(d.span().start)))
                .collect(),
        }
    });
    if !c.errors.is_empty() {
        return Err(ConfigErrors(c.errors));
    }
    Ok(ParsedFile {
        rules: RuleSet { rules, allowlists },
        targeted,
        extend,
    })
}

struct Compiler<'a> {
    text: &'a str,
    source: &'a Source,
    errors: Vec<ConfigError>,
}

impl Compiler<'_> {
    fn pos(&self, offset: usize) -> Pos {
        offset_pos(self.text, offset)
    }

    fn err_at<T>(&mut self, at: &Spanned<T>, message: String) {
        let pos = self.pos(at.span().start);
        self.errors.push(self.source.error_at(pos, message));
    }

    fn rule(&mut self, raw: &RawRule, id_pos: Pos) -> Option<RuleSpec> {
        let id = raw.id.get_ref().clone();
        let before = self.errors.len();
        if id.trim().is_empty() {
            self.err_at(&raw.id, "rule id is empty".into());
        }
        if let Some(r) = &raw.required {
            self.err_at(
                r,
                format!("rule `{id}`: composite rules (`required`) are not supported by git-gate; split it into separate rules"),
            );
        }
        if let Some(s) = raw.skip_report.as_ref().filter(|s| *s.get_ref()) {
            self.err_at(
                s,
                format!("rule `{id}`: `skipReport = true` only makes sense with composite rules, which git-gate does not support"),
            );
        }
        let regex = raw
            .regex
            .as_ref()
            .and_then(|r| self.bytes_regex(r, &format!("rule `{id}` regex")));
        let path = raw
            .path
            .as_ref()
            .and_then(|p| self.path_regex(p, &format!("rule `{id}` path")));
        let secret_group = match &raw.secret_group {
            None => None,
            Some(g) if *g.get_ref() == 0 => None,
            Some(g) => match usize::try_from(*g.get_ref()) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.err_at(g, format!("rule `{id}`: secretGroup must be 0 or more"));
                    None
                }
            },
        };
        let entropy = match &raw.entropy {
            None => None,
            Some(e) if *e.get_ref() == 0.0 => None,
            Some(e) if (0.0..=8.0).contains(e.get_ref()) => Some(*e.get_ref()),
            Some(e) => {
                self.err_at(
                    e,
                    format!("rule `{id}`: entropy must be between 0 and 8 bits per byte"),
                );
                None
            }
        };
        let mut keywords = Vec::new();
        for k in &raw.keywords {
            if k.get_ref().is_empty() {
                self.err_at(k, format!("rule `{id}`: keywords may not be empty strings"));
            } else {
                keywords.push(k.get_ref().to_lowercase());
            }
        }
        if raw.allowlist.is_some() && !raw.allowlists.is_empty() {
            self.err_at(
                &raw.allowlists[0],
                format!(
                    "rule `{id}`: use either [rules.allowlist] or [[rules.allowlists]], not both"
                ),
            );
        }
        let mut allowlists = Vec::new();
        for a in raw.allowlist.iter().chain(raw.allowlists.iter()) {
            if let Some(t) = &a.get_ref().target_rules {
                self.err_at(
                    t,
                    "targetRules belongs in a top-level [[allowlists]], not in a rule's allowlist"
                        .into(),
                );
            }
            if let Some(list) = self.allowlist(a) {
                allowlists.push(list);
            }
        }
        let _ = &raw.tags;
        if self.errors.len() > before {
            return None;
        }
        Some(RuleSpec {
            id,
            description: raw.description.clone().unwrap_or_default(),
            regex,
            secret_group,
            entropy,
            keywords,
            path,
            allowlists,
            origin: Origin {
                source: self.source.clone(),
                pos: id_pos,
            },
        })
    }

    fn allowlist(&mut self, spanned: &Spanned<RawAllowlist>) -> Option<Allowlist> {
        let raw = spanned.get_ref();
        let before = self.errors.len();
        let condition = match raw.condition.as_ref() {
            None => Condition::Or,
            Some(c) => match c.get_ref().to_ascii_uppercase().as_str() {
                "" | "OR" | "||" => Condition::Or,
                "AND" | "&&" => Condition::And,
                other => {
                    self.err_at(
                        c,
                        format!("unknown allowlist condition `{other}`; expected `OR` or `AND`"),
                    );
                    Condition::Or
                }
            },
        };
        let regex_target = match raw.regex_target.as_ref() {
            None => RegexTarget::Secret,
            Some(t) => {
                match t.get_ref().as_str() {
                    "" | "secret" => RegexTarget::Secret,
                    "match" => RegexTarget::Match,
                    "line" => RegexTarget::Line,
                    other => {
                        self.err_at(
                        t,
                        format!("unknown regexTarget `{other}`; expected `secret`, `match` or `line`"),
                    );
                        RegexTarget::Secret
                    }
                }
            }
        };
        let regexes = raw
            .regexes
            .iter()
            .filter_map(|r| self.bytes_regex(r, "allowlist regex"))
            .collect();
        let paths = raw
            .paths
            .iter()
            .filter_map(|p| self.path_regex(p, "allowlist path"))
            .collect();
        let list = Allowlist {
            description: raw.description.clone(),
            condition,
            commits: raw.commits.clone(),
            paths,
            regexes,
            regex_target,
            stopwords: raw.stopwords.iter().map(|w| w.to_lowercase()).collect(),
            digit_free_words: raw.digit_free_words,
        };
        if list.commits.is_empty()
            && list.paths.is_empty()
            && list.regexes.is_empty()
            && list.stopwords.is_empty()
            && !list.digit_free_words
        {
            self.err_at(
                spanned,
                "an allowlist has none of commits, paths, regexes, stopwords or digitFreeWords; it would allow nothing".into(),
            );
        }
        (self.errors.len() == before).then_some(list)
    }

    fn bytes_regex(&mut self, r: &Spanned<String>, what: &str) -> Option<BytesRegex> {
        let build = |unicode: bool| {
            BytesRegexBuilder::new(r.get_ref())
                .unicode(unicode)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
        };
        match build(false).or_else(|_| build(true)) {
            Ok(re) => Some(re),
            Err(e) => {
                self.err_at(r, format!("{what} does not compile: {}", regex_error(&e)));
                None
            }
        }
    }

    fn path_regex(&mut self, r: &Spanned<String>, what: &str) -> Option<Regex> {
        match RegexBuilder::new(r.get_ref())
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(re) => Some(re),
            Err(e) => {
                self.err_at(r, format!("{what} does not compile: {}", regex_error(&e)));
                None
            }
        }
    }
}

/// The regex crate's multi-line diagnostic, reduced to its one-line cause.
fn regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or(text.lines().last().unwrap_or("invalid regex"))
        .to_string()
}

fn offset_pos(text: &str, offset: usize) -> Pos {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() as u64 + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() as u64 + 1;
    Pos { line, column }
}

fn toml_error(text: &str, source: &Source, e: &toml::de::Error) -> ConfigErrors {
    let message = explain_toml(e.message());
    match e.span() {
        Some(span) => source
            .error_at(offset_pos(text, span.start), message)
            .into(),
        None => source.error(message).into(),
    }
}

/// Turn serde's "unknown field" text into the same did-you-mean message YAML configs get.
fn explain_toml(message: &str) -> String {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((field, tail)) = rest.split_once('`')
    {
        let known: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        return unknown_key_message(field, &known);
    }
    message.to_string()
}

#[cfg(test)]
mod tests;
