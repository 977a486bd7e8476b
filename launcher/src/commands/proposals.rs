//! `bottle proposals`: what agents have asked for, across bottles or for one,
//! with credential warnings up front; one proposal in full with its diff.

use std::fmt::Write as _;
use std::io::IsTerminal;

use anyhow::Context;
use serde::Serialize;
use supervise::diff::{DiffLine, LineKind};
use supervise::id::ProposalId;
use supervise::operator::printable;

use super::Home;
use crate::operator::audit::{OperatorAudit, Via};
use crate::operator::operator_name;
use crate::operator::pending::{Item, gather};

/// `bottle proposals`.
#[derive(Debug, clap::Args)]
pub struct ProposalsArgs {
    /// Only this bottle's proposals (see `bottle list`).
    pub id: Option<String>,
    /// Show this proposal in full: justification, warnings, effects and the diff against the current config.
    pub proposal: Option<String>,
    /// Include answered proposals (approved, rejected, failed, expired).
    #[arg(long)]
    pub all: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One proposal in `--json` output.
#[derive(Debug, Serialize)]
struct Row<'a> {
    bottle: &'a str,
    id: &'a str,
    tool: &'a str,
    target: &'a str,
    status: &'a str,
    created_at: &'a str,
    justification: &'a str,
    credential_warnings: &'a [String],
    refusal: Option<&'a str>,
    notes: &'a [String],
    comment: Option<&'a str>,
    decided_by: Option<&'a str>,
    decided_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<String>,
}

/// List or show proposals.
pub async fn proposals(home: &Home, args: ProposalsArgs) -> anyhow::Result<u8> {
    if let Some(id) = &args.id {
        home.existing(id)?;
    }
    let wanted = match &args.proposal {
        Some(raw) => Some(ProposalId::parse(raw)?),
        None => None,
    };
    let root = home.state_root();
    let only = args.id.clone();
    let all = args.all || wanted.is_some();
    let (mut items, problems) =
        tokio::task::spawn_blocking(move || gather(&root, only.as_deref(), all))
            .await
            .context("reading the proposal queues failed")?;
    for p in &problems {
        eprintln!("bottle: warning: {p}");
    }
    if let Some(want) = &wanted {
        items.retain(|i| &i.entry.proposal.id == want);
        if items.is_empty() {
            anyhow::bail!(
                "no proposal {want}{}; `bottle proposals --all` lists them",
                args.id
                    .as_deref()
                    .map(|b| format!(" in bottle {b}"))
                    .unwrap_or_default()
            );
        }
    }
    record_seen(&items);
    let text = match (args.json, &wanted) {
        (true, _) => json(&items, wanted.is_some()),
        (false, Some(_)) => show(&items[0], std::io::stdout().is_terminal()),
        (false, None) => table(&items, args.all),
    };
    print!("{text}");
    Ok(0)
}

/// Note in each bottle's audit log that the operator was shown its pending proposals.
fn record_seen(items: &[Item]) {
    let by = operator_name();
    let mut opened: Vec<(String, OperatorAudit)> = Vec::new();
    for item in items.iter().filter(|i| i.entry.decision.is_none()) {
        let position = opened.iter().position(|(b, _)| b == item.bottle());
        let audit = match position {
            Some(i) => &opened[i].1,
            None => match OperatorAudit::open(&item.state) {
                Ok(a) => {
                    opened.push((item.bottle().to_string(), a));
                    &opened.last().expect("just pushed").1
                }
                Err(e) => {
                    eprintln!("bottle: warning: {e:#}");
                    continue;
                }
            },
        };
        audit.seen(
            item.bottle(),
            &item.entry.proposal,
            &item.review,
            &by,
            Via::Cli,
        );
    }
    for (_, audit) in &opened {
        audit.flush();
    }
}

fn json(items: &[Item], with_diff: bool) -> String {
    let rows: Vec<Row> = items
        .iter()
        .map(|i| {
            let p = &i.entry.proposal;
            let d = i.entry.decision.as_ref();
            Row {
                bottle: i.bottle(),
                id: p.id.as_str(),
                tool: p.tool.name(),
                target: p.target.file_name(),
                status: i.entry.status().as_str(),
                created_at: &p.created_at,
                justification: &p.justification,
                credential_warnings: &i.review.credential_warnings,
                refusal: i.review.refusal.as_deref(),
                notes: &i.review.notes,
                comment: d.map(|d| d.comment.as_str()),
                decided_by: d.map(|d| d.decided_by.as_str()),
                decided_at: d.map(|d| d.decided_at.as_str()),
                diff: with_diff.then(|| supervise::diff::render(&i.review.diff)),
            }
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&rows).expect("rows serialize");
    text.push('\n');
    text
}

fn table(items: &[Item], all: bool) -> String {
    if items.is_empty() {
        return format!("no {}proposals\n", if all { "" } else { "pending " });
    }
    let rows: Vec<[String; 7]> = items
        .iter()
        .map(|i| {
            let p = &i.entry.proposal;
            let mut flags = Vec::new();
            if i.review.needs_confirmation() {
                flags.push("CREDENTIAL");
            }
            if i.review.refusal.is_some() {
                flags.push("WOULD-FAIL");
            }
            [
                i.bottle().to_string(),
                p.id.to_string(),
                p.tool.name().to_string(),
                p.created_at
                    .get(..19)
                    .unwrap_or(&p.created_at)
                    .replace('T', " "),
                i.entry.status().to_string(),
                flags.join(","),
                shorten(
                    &printable(p.justification.lines().next().unwrap_or_default()),
                    60,
                ),
            ]
        })
        .collect();
    let header = [
        "BOTTLE",
        "PROPOSAL",
        "TOOL",
        "CREATED",
        "STATUS",
        "FLAGS",
        "JUSTIFICATION",
    ];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(&header.map(String::from));
    for r in &rows {
        line(r);
    }
    for i in items {
        if i.review.needs_confirmation() {
            let _ = writeln!(
                out,
                "\n!! {} ({}) SENDS EXISTING CREDENTIALS SOMEWHERE NEW:",
                i.entry.proposal.id,
                i.bottle()
            );
            for w in &i.review.credential_warnings {
                let _ = writeln!(out, "!!   {}", printable(w));
            }
        }
        if let Some(why) = &i.review.refusal {
            let _ = writeln!(
                out,
                "\nxx {} ({}) would be answered `failed` if approved: {}",
                i.entry.proposal.id,
                i.bottle(),
                printable(why)
            );
        }
    }
    if items.iter().any(|i| i.entry.decision.is_none()) {
        let _ = writeln!(
            out,
            "\nshow one with `bottle proposals BOTTLE PROPOSAL`; answer with `bottle approve|reject BOTTLE PROPOSAL`"
        );
    }
    out
}

/// One proposal in full; the diff is coloured when `colour`.
pub fn show(item: &Item, colour: bool) -> String {
    let p = &item.entry.proposal;
    let mut out = String::new();
    let _ = writeln!(out, "bottle:        {}", item.bottle());
    let _ = writeln!(out, "proposal:      {}", p.id);
    let _ = writeln!(out, "tool:          {}", p.tool.name());
    let _ = writeln!(out, "replaces:      {}", p.target.file_name());
    let _ = writeln!(out, "created:       {}", printable(&p.created_at));
    let _ = writeln!(out, "status:        {}", item.entry.status());
    if let Some(d) = &item.entry.decision {
        let _ = writeln!(
            out,
            "decided:       by {} at {}",
            printable(&d.decided_by),
            printable(&d.decided_at)
        );
        for (i, l) in d.comment.lines().enumerate() {
            let label = if i == 0 { "comment:" } else { "" };
            let _ = writeln!(out, "{label:<15}{}", printable(l));
        }
    }
    let _ = writeln!(out, "justification:");
    for l in p.justification.lines() {
        let _ = writeln!(out, "  {}", printable(l));
    }
    let r = &item.review;
    if r.needs_confirmation() {
        let _ = writeln!(
            out,
            "\n!! WARNING: THIS SENDS EXISTING CREDENTIALS SOMEWHERE NEW"
        );
        for w in &r.credential_warnings {
            let _ = writeln!(out, "!!   {}", printable(w));
        }
        let _ = writeln!(
            out,
            "!! approving needs --allow-credential-change (the dashboard asks to confirm)"
        );
    }
    if let Some(why) = &r.refusal {
        let _ = writeln!(
            out,
            "\nxx approving would be answered `failed`: {}",
            printable(why)
        );
    }
    for n in &r.notes {
        let _ = writeln!(out, "\nnote: {n}");
    }
    out.push('\n');
    if r.diff.is_empty() && item.entry.decision.is_none() {
        let _ = writeln!(
            out,
            "(the proposal is identical to the current {})",
            p.target.file_name()
        );
    }
    for l in &r.diff {
        let _ = writeln!(out, "{}", diff_line(l, colour));
    }
    out
}

fn diff_line(line: &DiffLine, colour: bool) -> String {
    let text = printable(&line.text);
    if !colour {
        return text;
    }
    let code = match line.kind {
        LineKind::FileHeader => "1",
        LineKind::HunkHeader => "36",
        LineKind::Added => "32",
        LineKind::Removed => "31",
        LineKind::NoNewline => "2",
        LineKind::Context => return text,
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}
