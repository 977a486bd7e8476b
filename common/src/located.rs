//! Config parsing whose every error names `file:line:col`.
//!
//! All of bottle's YAML inputs (routes files, git-gate configs, manifests) go
//! through [`from_yaml`] so they share one parser, one set of resource limits
//! for hostile input, and one error format.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_saphyr::{Location, Spanned};

/// Largest YAML document bottle will parse; configs are small, anything bigger is hostile.
pub const MAX_YAML_BYTES: usize = 4 * 1024 * 1024;

/// A position in a source file, 1-based, as editors count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    /// 1-based line number.
    pub line: u64,
    /// 1-based column number.
    pub column: u64,
}

impl Pos {
    /// Position of a span from the YAML parser.
    pub fn of(location: &Location) -> Pos {
        Pos {
            line: location.line(),
            column: location.column(),
        }
    }

    /// Position of a spanned value, where it is written (not where an anchor defined it).
    pub fn of_spanned<T>(value: &Spanned<T>) -> Pos {
        Pos::of(&value.referenced)
    }
}

/// What a config error points at: a file, and where in it when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Name shown to the user (a path, or `<stdin>`, or `proposal`).
    pub name: String,
    /// Lines that precede the YAML in its file (Markdown front matter starts after `---`).
    pub line_offset: u64,
}

impl Source {
    /// A YAML file read from `path`.
    pub fn file(path: &Path) -> Source {
        Source {
            name: path.display().to_string(),
            line_offset: 0,
        }
    }

    /// YAML that does not come from a file (a tool argument, stdin).
    pub fn named(name: impl Into<String>) -> Source {
        Source {
            name: name.into(),
            line_offset: 0,
        }
    }

    /// YAML embedded after `line_offset` lines of another file.
    pub fn embedded(path: &Path, line_offset: u64) -> Source {
        Source {
            name: path.display().to_string(),
            line_offset,
        }
    }

    /// An error at `pos` (relative to the YAML text) in this source.
    pub fn error_at(&self, pos: Pos, message: impl Into<String>) -> ConfigError {
        ConfigError {
            source_name: self.name.clone(),
            pos: Some(Pos {
                line: pos.line + self.line_offset,
                column: pos.column,
            }),
            message: message.into(),
        }
    }

    /// An error about the source as a whole (unreadable, too large, empty).
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            source_name: self.name.clone(),
            pos: None,
            message: message.into(),
        }
    }
}

/// A config error rendered as `file:line:col: message`, the form editors and CI understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file (or named input) the error is in.
    pub source_name: String,
    /// Where in the file, when known.
    pub pos: Option<Pos>,
    /// What is wrong and, where possible, what to write instead.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(pos) => write!(
                f,
                "{}:{}:{}: {}",
                self.source_name, pos.line, pos.column, self.message
            ),
            None => write!(f, "{}: {}", self.source_name, self.message),
        }
    }
}

/// Several config errors at once, so a user fixes a file in one pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

/// Parse YAML text into `T`; every failure names the source, line and column.
///
/// Unknown keys get a "did you mean" hint, duplicate keys are errors, and
/// resource limits stop alias bombs and deep nesting.
pub fn from_yaml<T: DeserializeOwned>(text: &str, source: &Source) -> Result<T, ConfigError> {
    if text.len() > MAX_YAML_BYTES {
        return Err(source.error(format!(
            "file is {} bytes, over the {} byte limit for config files",
            text.len(),
            MAX_YAML_BYTES
        )));
    }
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 64,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_events: 1_000_000,
        },
    };
    serde_saphyr::from_str_with_options::<T>(text, options).map_err(|e| {
        let raw = e.render_with_options(serde_saphyr::render_options! {
            snippets: serde_saphyr::SnippetMode::Off,
        });
        match e.location() {
            Some(loc) => {
                let pos = Pos::of(&loc);
                let suffix = format!(" at line {}, column {}", pos.line, pos.column);
                let message = raw.strip_suffix(&suffix).unwrap_or(&raw);
                source.error_at(pos, explain(message))
            }
            None => source.error(explain(&raw)),
        }
    })
}

/// Read a UTF-8 YAML file and parse it with [`from_yaml`].
pub fn from_yaml_file<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let source = Source::file(path);
    let text = read_text(path, &source)?;
    from_yaml(&text, &source)
}

/// Read a config file as UTF-8 text, refusing huge or binary files with a located error.
pub fn read_text(path: &Path, source: &Source) -> Result<String, ConfigError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| source.error(format!("cannot read: {e}; check the path and permissions")))?;
    if meta.len() > MAX_YAML_BYTES as u64 {
        return Err(source.error(format!(
            "file is {} bytes, over the {} byte limit for config files",
            meta.len(),
            MAX_YAML_BYTES
        )));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| source.error(format!("cannot read: {e}; check the path and permissions")))?;
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..offset];
        let line = before.iter().filter(|b| **b == b'\n').count() as u64 + 1;
        let column = (offset
            - before
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |p| p + 1)) as u64
            + 1;
        source.error_at(
            Pos { line, column },
            "file is not valid UTF-8; config files must be UTF-8 text",
        )
    })
}

/// Rewrite serde's messages into ones that say what to do.
fn explain(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((field, expected)) = rest.split_once('`')
    {
        let candidates = expected_names(expected);
        return unknown_key_message(field, &candidates);
    }
    if let Some(rest) = message.strip_prefix("unknown variant `")
        && let Some((value, expected)) = rest.split_once('`')
    {
        let candidates = expected_names(expected);
        let mut text = format!("unknown value `{value}`");
        if let Some(best) = did_you_mean(value, &candidates) {
            text.push_str(&format!(" (did you mean `{best}`?)"));
        }
        if !candidates.is_empty() {
            text.push_str(&format!("; expected one of: {}", candidates.join(", ")));
        }
        return text;
    }
    message.to_string()
}

/// "unknown key" text with a did-you-mean hint, shared by serde errors and hand-written checks.
pub fn unknown_key_message(key: &str, known: &[&str]) -> String {
    let mut text = format!("unknown key `{key}`");
    if let Some(best) = did_you_mean(key, known) {
        text.push_str(&format!(" (did you mean `{best}`?)"));
    }
    if !known.is_empty() {
        text.push_str(&format!("; expected one of: {}", known.join(", ")));
    }
    text
}

/// The known name closest to `given`, when it is close enough to be a typo.
pub fn did_you_mean<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    let lowered = given.to_ascii_lowercase().replace('-', "_");
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(&lowered, k), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// Pull the names out of serde's ", expected one of `a`, `b`" tails.
fn expected_names(tail: &str) -> Vec<&str> {
    let list = tail
        .trim_start_matches(',')
        .trim()
        .trim_start_matches("expected one of")
        .trim_start_matches("expected")
        .trim();
    list.split(',')
        .map(|s| s.trim().trim_matches('`'))
        .filter(|s| !s.is_empty() && !s.contains(' '))
        .collect()
}

/// A path resolved against the directory of the config file that names it.
pub fn resolve_relative(config_path: &Path, value: &Path) -> PathBuf {
    if value.is_absolute() {
        value.to_path_buf()
    } else {
        config_path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Route {
        host: Spanned<String>,
        port: Option<u16>,
        #[serde(default)]
        tls: Mode,
    }

    #[derive(Debug, Deserialize, Default)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        #[default]
        Intercept,
        Passthrough,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        routes: Vec<Route>,
    }

    fn err(text: &str) -> String {
        from_yaml::<File>(text, &Source::named("routes.yaml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn unknown_key_names_position_and_suggests() {
        let e = err("routes:\n  - host: a.com\n    prot: 443\n");
        assert!(e.starts_with("routes.yaml:3:5: unknown key `prot`"), "{e}");
        assert!(e.contains("did you mean `port`?"), "{e}");
    }

    #[test]
    fn unknown_enum_value_suggests() {
        let e = err("routes:\n  - host: a.com\n    tls: pasthrough\n");
        assert!(
            e.starts_with("routes.yaml:3:10: unknown value `pasthrough`"),
            "{e}"
        );
        assert!(e.contains("did you mean `passthrough`?"), "{e}");
    }

    #[test]
    fn out_of_range_and_wrong_type_are_located() {
        let e = err("routes:\n  - host: a.com\n    port: 99999\n");
        assert!(e.starts_with("routes.yaml:3:11:"), "{e}");
        let e = err("routes: 7\n");
        assert!(e.starts_with("routes.yaml:1:9:"), "{e}");
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let e = err("routes:\n  - host: a.com\n    host: b.com\n");
        assert!(e.starts_with("routes.yaml:3:5:"), "{e}");
        assert!(e.contains("duplicate"), "{e}");
    }

    #[test]
    fn syntax_errors_are_located() {
        let e = err("routes:\n  - host: [a\n");
        assert!(e.starts_with("routes.yaml:"), "{e}");
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        text.push_str("routes: *a11\n");
        let e = err(&text);
        assert!(e.starts_with("routes.yaml"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("routes: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
        let e = err(&text);
        assert!(e.starts_with("routes.yaml"), "{e}");
    }

    #[test]
    fn oversized_input_is_refused() {
        let text = format!("routes: []\n#{}\n", "x".repeat(MAX_YAML_BYTES));
        let e = err(&text);
        assert!(e.contains("byte limit"), "{e}");
    }

    #[test]
    fn embedded_yaml_reports_file_lines() {
        let source = Source::embedded(Path::new("agents/coder.md"), 1);
        let e = from_yaml::<File>("routes:\n  - hots: a\n", &source)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("agents/coder.md:3:5: unknown key `hots`"),
            "{e}"
        );
    }

    #[test]
    fn non_utf8_file_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.yaml");
        std::fs::write(&path, b"routes:\n  - host: \xff\n").unwrap();
        let e = from_yaml_file::<File>(&path).unwrap_err();
        assert_eq!(
            e.pos,
            Some(Pos {
                line: 2,
                column: 11
            })
        );
        assert!(e.message.contains("UTF-8"));
    }

    #[test]
    fn spanned_values_carry_positions() {
        let f: File = from_yaml(
            "routes:\n  - host: a.com\n  - host: b.com\n",
            &Source::named("r"),
        )
        .unwrap();
        assert_eq!(
            Pos::of_spanned(&f.routes[1].host),
            Pos {
                line: 3,
                column: 11
            }
        );
    }

    #[test]
    fn did_you_mean_ignores_distant_words() {
        assert_eq!(did_you_mean("zzz", &["routes", "port"]), None);
        assert_eq!(
            did_you_mean("token-env", &["token_env", "token_file"]),
            Some("token_env")
        );
    }
}
