//! The operator's `supervise queue` commands: list, show, approve, reject.
//!
//! Output never passes raw control characters to the terminal, whoever wrote
//! the queue files. Failures carry an exit code: 1 general, 2 bad id or
//! usage, 3 no such proposal, 4 already answered.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::cli::QueueCommand;
use crate::current::CurrentConfig;
use crate::diff;
use crate::id::ProposalId;
use crate::queue::{Answer, Entry, Queue, QueueError, Status};
use crate::terminal::is_hidden_or_control;

/// Exit code for an invalid id or usage error.
pub const EXIT_USAGE: i32 = 2;
/// Exit code when the proposal does not exist.
pub const EXIT_NOT_FOUND: i32 = 3;
/// Exit code when the proposal was already answered.
pub const EXIT_ALREADY_ANSWERED: i32 = 4;

/// A failed command: what to print and how to exit.
#[derive(Debug)]
pub struct Failure {
    /// Process exit code.
    pub code: i32,
    /// The error message.
    pub message: String,
}

impl From<QueueError> for Failure {
    fn from(e: QueueError) -> Self {
        let code = match &e {
            QueueError::InvalidId(_) | QueueError::BadAnswer(_) => EXIT_USAGE,
            QueueError::NotFound { .. } => EXIT_NOT_FOUND,
            QueueError::AlreadyAnswered { .. } => EXIT_ALREADY_ANSWERED,
            _ => 1,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

/// Run one `supervise queue` command, writing its output to `out`.
pub fn run(command: QueueCommand, out: &mut dyn Write) -> Result<(), Failure> {
    let text = match command {
        QueueCommand::List { queue, json } => list(&Queue::open(&queue)?, json)?,
        QueueCommand::Show {
            id,
            queue,
            current_config,
        } => show(&Queue::open(&queue)?, &id, current_config.as_deref())?,
        QueueCommand::Approve {
            id,
            queue,
            comment,
            by,
        } => answer(&queue, &id, Status::Approved, comment, by)?,
        QueueCommand::Reject {
            id,
            queue,
            comment,
            by,
        } => answer(&queue, &id, Status::Rejected, comment, by)?,
    };
    out.write_all(text.as_bytes()).map_err(|e| Failure {
        code: 1,
        message: format!("cannot write output: {e}"),
    })
}

/// One row of `queue list --json`.
#[derive(Debug, Serialize)]
struct ListRow<'a> {
    id: &'a str,
    tool: &'a str,
    status: Status,
    target: &'a str,
    created_at: &'a str,
    justification: &'a str,
    comment: Option<&'a str>,
    decided_by: Option<&'a str>,
    decided_at: Option<&'a str>,
}

fn list(queue: &Queue, json: bool) -> Result<String, Failure> {
    let entries = queue.list()?;
    if json {
        let rows: Vec<ListRow> = entries.iter().map(row).collect();
        let mut text = serde_json::to_string_pretty(&rows).expect("rows serialize");
        text.push('\n');
        return Ok(text);
    }
    if entries.is_empty() {
        return Ok(format!("no proposals in {}\n", queue.dir().display()));
    }
    let mut text = format!(
        "{:<22}  {:<16}  {:<8}  {:<20}  {}\n",
        "ID", "TOOL", "STATUS", "CREATED", "JUSTIFICATION"
    );
    for e in &entries {
        let p = &e.proposal;
        let created = p
            .created_at
            .get(..19)
            .unwrap_or(&p.created_at)
            .replace('T', " ");
        let first_line = p.justification.lines().next().unwrap_or_default();
        let _ = writeln!(
            text,
            "{:<22}  {:<16}  {:<8}  {:<20}  {}",
            p.id,
            p.tool.name(),
            e.status(),
            created,
            shorten(&printable(first_line), 60)
        );
    }
    Ok(text)
}

fn row(e: &Entry) -> ListRow<'_> {
    ListRow {
        id: e.proposal.id.as_str(),
        tool: e.proposal.tool.name(),
        status: e.status(),
        target: e.proposal.target.file_name(),
        created_at: &e.proposal.created_at,
        justification: &e.proposal.justification,
        comment: e.decision.as_ref().map(|d| d.comment.as_str()),
        decided_by: e.decision.as_ref().map(|d| d.decided_by.as_str()),
        decided_at: e.decision.as_ref().map(|d| d.decided_at.as_str()),
    }
}

fn show(queue: &Queue, raw_id: &str, current: Option<&Path>) -> Result<String, Failure> {
    let id = ProposalId::parse(raw_id).map_err(QueueError::from)?;
    let entry = queue.get(&id)?;
    let p = &entry.proposal;
    let target = p.target.file_name();
    let mut text = String::new();
    let _ = writeln!(text, "id:            {}", p.id);
    let _ = writeln!(text, "tool:          {}", p.tool.name());
    let _ = writeln!(text, "replaces:      {target}");
    let _ = writeln!(text, "created:       {}", printable(&p.created_at));
    let _ = writeln!(text, "status:        {}", entry.status());
    if let Some(d) = &entry.decision {
        let _ = writeln!(
            text,
            "decided:       by {} at {}",
            printable(&d.decided_by),
            printable(&d.decided_at)
        );
        if !d.comment.is_empty() {
            let _ = writeln!(text, "comment:       {}", printable(&d.comment));
        }
    }
    let _ = writeln!(text, "justification:");
    for line in p.justification.lines() {
        let _ = writeln!(text, "  {}", printable(line));
    }
    text.push('\n');
    let (old, old_name, against) = match (current, &p.base) {
        (Some(dir), _) => {
            let config = CurrentConfig::new(dir);
            let old = config
                .read(p.target)
                .map_err(|message| Failure { code: 1, message })?;
            let against = format!("the current {target} in {}", dir.display());
            (
                old.unwrap_or_default(),
                format!("current/{target}"),
                against,
            )
        }
        (None, Some(base)) => (
            base.clone(),
            format!("base/{target}"),
            format!(
                "{target} as it was when the agent proposed this (recorded by the server; \
                 --current-config DIR diffs against the file as it is now)"
            ),
        ),
        (None, None) => (
            String::new(),
            "/dev/null".to_string(),
            "an empty file: no base was recorded with this proposal and no --current-config \
             was given"
                .to_string(),
        ),
    };
    let _ = writeln!(text, "diff against {}:", printable(&against));
    let lines = diff::unified(&old, &p.content, &old_name, &format!("proposed/{target}"));
    if lines.is_empty() {
        let _ = writeln!(text, "(the proposal is identical to it)");
    }
    for line in &lines {
        let _ = writeln!(text, "{}", printable(&line.text));
    }
    Ok(text)
}

fn answer(
    queue: &Path,
    raw_id: &str,
    status: Status,
    comment: String,
    by: Option<String>,
) -> Result<String, Failure> {
    let id = ProposalId::parse(raw_id).map_err(QueueError::from)?;
    let queue = Queue::open(queue)?;
    let by = by.unwrap_or_else(default_user);
    let decision = queue.answer(&id, Answer::new(status, comment, by)?)?;
    Ok(format!("{} {}\n", decision.status, decision.id))
}

fn default_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "operator".into())
}

/// `s` with control and invisible formatting characters (all but tab) shown as `\u{..}` escapes,
/// so queue text cannot drive or hide anything on the terminal.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\t' || !is_hidden_or_control(c) {
            out.push(c);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
    out
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{NewProposal, Tool};

    #[test]
    fn printable_escapes_terminal_controls() {
        assert_eq!(printable("a\u{1b}[31mb\tc"), "a\\u{1b}[31mb\tc");
        assert_eq!(printable("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(printable("tag\u{e0041}"), "tag\\u{e0041}");
        assert_eq!(shorten("abcdef", 4), "abc…");
    }

    #[test]
    fn printable_escapes_everything_proposals_may_not_contain() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let one = c.to_string();
            if crate::proposal::check_text("x", &one).is_err() {
                assert_ne!(
                    printable(&one),
                    one,
                    "U+{:04X} refused but printed raw",
                    u32::from(c)
                );
            }
        }
    }

    #[test]
    fn show_diffs_against_the_current_file() {
        let q = tempfile::tempdir().unwrap();
        let c = tempfile::tempdir().unwrap();
        std::fs::write(c.path().join("allowlist"), "a.com\n").unwrap();
        let queue = Queue::open(q.path()).unwrap();
        let p = queue
            .submit(NewProposal {
                tool: Tool::PipelockBlock,
                justification: "pip\ninstall".into(),
                content: "a.com\npypi.org\n".into(),
                base: Some("a.com\n".into()),
            })
            .unwrap();
        let text = show(&queue, p.id.as_str(), Some(c.path())).unwrap();
        assert!(
            text.contains("--- current/allowlist\n+++ proposed/allowlist\n"),
            "{text}"
        );
        assert!(text.contains(" a.com\n+pypi.org\n"), "{text}");
        assert!(text.contains("  pip\n  install\n"), "{text}");
        assert!(
            text.contains("diff against the current allowlist in"),
            "{text}"
        );
        let text = show(&queue, p.id.as_str(), None).unwrap();
        assert!(
            text.contains("--- base/allowlist\n+++ proposed/allowlist\n"),
            "{text}"
        );
        assert!(
            text.contains("as it was when the agent proposed this"),
            "{text}"
        );
        assert!(text.contains(" a.com\n+pypi.org\n"), "{text}");
        let old = queue
            .submit(NewProposal {
                tool: Tool::PipelockBlock,
                justification: "j".into(),
                content: "b.com\n".into(),
                base: None,
            })
            .unwrap();
        let text = show(&queue, old.id.as_str(), None).unwrap();
        assert!(text.contains("--- /dev/null"), "{text}");
        assert!(text.contains("no base was recorded"), "{text}");
        let e = show(&queue, "../x", None).unwrap_err();
        assert_eq!(e.code, EXIT_USAGE);
    }
}
