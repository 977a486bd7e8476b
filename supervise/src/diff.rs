//! Unified diffs of a proposal against the current config, as lines a UI can colour.
//!
//! The CLI prints [`render`]ed text; a terminal dashboard walks the
//! [`DiffLine`]s and colours them by [`LineKind`]. Both come from
//! [`unified`], so every reader shows the operator the same diff.

use std::time::Duration;

use similar::{ChangeTag, TextDiff};

/// Lines of context around each change, as `diff -u` uses.
pub const CONTEXT_LINES: usize = 3;

/// Past this, the diff stops searching for the smallest edit and shows a larger correct one.
const DIFF_TIME_BUDGET: Duration = Duration::from_millis(500);

/// What a diff line is, for colouring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// `--- old` or `+++ new`.
    FileHeader,
    /// `@@ -a,b +c,d @@`.
    HunkHeader,
    /// An unchanged line (` ` prefix).
    Context,
    /// A line only in the proposal (`+` prefix).
    Added,
    /// A line only in the current file (`-` prefix).
    Removed,
    /// `\ No newline at end of file`, about the line before it.
    NoNewline,
}

/// One line of a unified diff; `text` includes its prefix and no trailing newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    /// What the line is.
    pub kind: LineKind,
    /// The line as `diff -u` prints it.
    pub text: String,
}

/// The unified diff from `old` (named `old_name`) to `new`; empty when they are equal.
pub fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> Vec<DiffLine> {
    let diff = TextDiff::configure()
        .timeout(DIFF_TIME_BUDGET)
        .diff_lines(old, new);
    let mut lines = Vec::new();
    let mut udiff = diff.unified_diff();
    udiff.context_radius(CONTEXT_LINES);
    for hunk in udiff.iter_hunks() {
        if lines.is_empty() {
            lines.push(line(LineKind::FileHeader, format!("--- {old_name}")));
            lines.push(line(LineKind::FileHeader, format!("+++ {new_name}")));
        }
        lines.push(line(LineKind::HunkHeader, hunk.header().to_string()));
        for change in hunk.iter_changes() {
            let (kind, prefix) = match change.tag() {
                ChangeTag::Equal => (LineKind::Context, ' '),
                ChangeTag::Insert => (LineKind::Added, '+'),
                ChangeTag::Delete => (LineKind::Removed, '-'),
            };
            let value = change.value();
            let value = value.strip_suffix('\n').unwrap_or(value);
            let value = value.strip_suffix('\r').unwrap_or(value);
            lines.push(line(kind, format!("{prefix}{value}")));
            if change.missing_newline() {
                lines.push(line(
                    LineKind::NoNewline,
                    "\\ No newline at end of file".into(),
                ));
            }
        }
    }
    lines
}

/// The diff as plain text, one line per [`DiffLine`], each ending in `\n`.
pub fn render(lines: &[DiffLine]) -> String {
    let mut out = String::new();
    for l in lines {
        out.push_str(&l.text);
        out.push('\n');
    }
    out
}

fn line(kind: LineKind, text: String) -> DiffLine {
    DiffLine { kind, text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_changes_with_context_and_headers() {
        let old = "routes:\n  - host: a.com\n  - host: b.com\n";
        let new = "routes:\n  - host: a.com\n  - host: c.com\n";
        let d = unified(old, new, "current/routes.yaml", "proposed/routes.yaml");
        assert_eq!(
            render(&d),
            "--- current/routes.yaml\n+++ proposed/routes.yaml\n@@ -1,3 +1,3 @@\n \
             routes:\n   - host: a.com\n-  - host: b.com\n+  - host: c.com\n"
        );
        let kinds: Vec<_> = d.iter().map(|l| l.kind).collect();
        assert_eq!(
            kinds,
            [
                LineKind::FileHeader,
                LineKind::FileHeader,
                LineKind::HunkHeader,
                LineKind::Context,
                LineKind::Context,
                LineKind::Removed,
                LineKind::Added,
            ]
        );
    }

    #[test]
    fn equal_inputs_have_no_diff_and_new_files_are_all_added() {
        assert!(unified("a\n", "a\n", "x", "y").is_empty());
        let d = unified(
            "",
            "FROM debian\nRUN true\n",
            "current/Dockerfile",
            "proposed/Dockerfile",
        );
        assert_eq!(d[2].text, "@@ -0,0 +1,2 @@");
        assert!(d[3..].iter().all(|l| l.kind == LineKind::Added));
    }

    #[test]
    fn missing_final_newline_is_marked() {
        let d = unified("a\nb", "a\nc\n", "x", "y");
        let text = render(&d);
        assert!(
            text.contains("-b\n\\ No newline at end of file\n+c\n"),
            "{text}"
        );
    }

    #[test]
    fn distant_changes_make_separate_hunks() {
        let old: String = (0..40).map(|i| format!("line {i}\n")).collect();
        let new = old
            .replace("line 2\n", "line two\n")
            .replace("line 35\n", "line 35b\n");
        let hunks = unified(&old, &new, "x", "y")
            .iter()
            .filter(|l| l.kind == LineKind::HunkHeader)
            .count();
        assert_eq!(hunks, 2);
    }

    #[test]
    fn large_hostile_inputs_finish() {
        let old: String = (0..20_000).map(|i| format!("{}\n", i % 7)).collect();
        let new: String = (0..20_000).map(|i| format!("{}\n", i % 11)).collect();
        let start = std::time::Instant::now();
        let d = unified(&old, &new, "x", "y");
        assert!(!d.is_empty());
        assert!(start.elapsed() < Duration::from_secs(20));
    }
}
