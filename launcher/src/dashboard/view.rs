//! Drawing the dashboard from its state. Every text that came from an agent
//! (justifications, proposals, comments) goes through `printable`, so it
//! cannot move the cursor or repaint the screen.

use std::time::{SystemTime, UNIX_EPOCH};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Clear, List, ListItem, ListState, Paragraph, Wrap};
use supervise::diff::LineKind;
use supervise::operator::printable;

use super::app::{App, Focus, KEYS, Mode};
use crate::commands::list::Status;
use crate::operator::pending::Item;

/// Most diff lines drawn; the CLI shows the rest.
const MAX_DIFF_LINES: usize = 2000;

/// Draw the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let bottles = app.snapshot.as_ref().map_or(0, |s| s.bottles.len());
    let proposals = app.snapshot.as_ref().map_or(0, |s| s.proposals.len());
    let [header, bottle_area, proposal_area, detail, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length((bottles.max(1) as u16 + 2).min(8)),
        Constraint::Length((proposals.max(1) as u16 + 2).min(10)),
        Constraint::Min(5),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(header_line(app)), header);
    draw_bottles(frame, app, bottle_area);
    draw_proposals(frame, app, proposal_area);
    draw_detail(frame, app, detail);
    frame.render_widget(Paragraph::new(status_line(app)), status);
    frame.render_widget(Paragraph::new(keys_line()), keys);
    match &app.mode {
        Mode::Normal => {}
        Mode::Help => draw_help(frame),
        Mode::Comment { approve, input } => draw_comment(frame, *approve, input),
        Mode::ConfirmCredentials { .. } => draw_confirm_credentials(frame, app),
        Mode::ConfirmStop { bottle } => popup(
            frame,
            "stop",
            Text::from(vec![
                Line::from(format!(
                    "Stop bottle {bottle}? Its state is kept (bottle resume {bottle})."
                )),
                Line::from(""),
                Line::from("y: stop    any other key: cancel"),
            ]),
            Color::Yellow,
        ),
    }
}

fn header_line(app: &App) -> Line<'static> {
    let mut spans = vec![Span::styled(
        "bottle dashboard",
        Style::new().add_modifier(Modifier::BOLD),
    )];
    match &app.snapshot {
        None => spans.push(Span::raw("  loading…")),
        Some(s) => {
            let running = s
                .bottles
                .iter()
                .filter(|b| !matches!(b.status, Status::Stopped | Status::Leftover))
                .count();
            spans.push(Span::raw(format!(
                "  {running} running bottle{}, {} pending proposal{}, refreshed {} ago",
                plural(running),
                s.proposals.len(),
                plural(s.proposals.len()),
                age(s.taken_at)
            )));
            if let Some(p) = s.problems.first() {
                spans.push(Span::styled(
                    format!("  ! {}", printable(p)),
                    Style::new().fg(Color::Red),
                ));
            }
        }
    }
    Line::from(spans)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn age(t: SystemTime) -> String {
    let secs = SystemTime::now()
        .duration_since(t)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    human(secs)
}

fn human(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86_399 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

fn block(title: &str, focused: bool) -> Block<'static> {
    let style = if focused {
        Style::new().fg(Color::Cyan)
    } else {
        Style::new()
    };
    Block::bordered()
        .title(title.to_string())
        .border_style(style)
}

fn draw_bottles(frame: &mut Frame, app: &App, area: Rect) {
    let rows: Vec<ListItem> = app
        .snapshot
        .iter()
        .flat_map(|s| &s.bottles)
        .map(|b| {
            let (text, colour) = match &b.status {
                Status::Running => ("running".to_string(), Color::Green),
                Status::Degraded(dead) => {
                    (format!("DEGRADED ({} down)", dead.join(", ")), Color::Red)
                }
                Status::Stopped => ("stopped".to_string(), Color::Yellow),
                Status::Leftover => ("stopped, containers left".to_string(), Color::Yellow),
            };
            let mut spans = vec![
                Span::raw(format!("{:<24} {:<12} ", b.id, b.agent)),
                Span::styled(format!("{text:<10}"), Style::new().fg(colour)),
            ];
            for (service, up, docker_status) in &b.services {
                if *up {
                    spans.push(Span::styled(
                        format!(" {service}:up"),
                        Style::new().fg(Color::Green),
                    ));
                } else {
                    spans.push(Span::styled(
                        format!(" {service}:{}", printable(&docker_status.to_lowercase())),
                        Style::new().fg(Color::Red),
                    ));
                }
            }
            ListItem::new(Line::from(spans))
        })
        .collect();
    let empty = rows.is_empty();
    let list = List::new(rows)
        .block(block(" bottles ", app.focus == Focus::Bottles))
        .highlight_symbol("▶ ")
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = ListState::default().with_selected((!empty).then_some(app.bottle));
    frame.render_stateful_widget(list, area, &mut state);
    if empty {
        let inner = area.inner(ratatui::layout::Margin::new(2, 1));
        frame.render_widget(Paragraph::new("no running bottles"), inner);
    }
}

fn draw_proposals(frame: &mut Frame, app: &App, area: Rect) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let rows: Vec<ListItem> = app
        .snapshot
        .iter()
        .flat_map(|s| &s.proposals)
        .map(|i| {
            let p = &i.entry.proposal;
            let created = p.created().unix_timestamp();
            let mut spans = vec![Span::raw(format!(
                "{:<24} {}  {:<16} {:>4} ago ",
                i.bottle(),
                p.id,
                p.tool.name(),
                human(now.saturating_sub(created).max(0) as u64)
            ))];
            if i.review.needs_confirmation() {
                spans.push(Span::styled(
                    " CREDENTIAL ",
                    Style::new()
                        .fg(Color::White)
                        .bg(Color::Red)
                        .add_modifier(Modifier::BOLD),
                ));
                spans.push(Span::raw(" "));
            }
            if i.review.refusal.is_some() {
                spans.push(Span::styled(
                    " WOULD-FAIL ",
                    Style::new().fg(Color::Black).bg(Color::Yellow),
                ));
                spans.push(Span::raw(" "));
            }
            spans.push(Span::raw(printable(
                p.justification.lines().next().unwrap_or_default(),
            )));
            ListItem::new(Line::from(spans))
        })
        .collect();
    let empty = rows.is_empty();
    let list = List::new(rows)
        .block(block(
            " pending proposals (newest first) ",
            app.focus == Focus::Proposals,
        ))
        .highlight_symbol("▶ ")
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = ListState::default().with_selected((!empty).then_some(app.proposal));
    frame.render_stateful_widget(list, area, &mut state);
    if empty {
        let inner = area.inner(ratatui::layout::Margin::new(2, 1));
        frame.render_widget(Paragraph::new("no pending proposals"), inner);
    }
}

fn draw_detail(frame: &mut Frame, app: &App, area: Rect) {
    let Some(item) = app.selected_proposal() else {
        frame.render_widget(
            Paragraph::new("").block(Block::bordered().title(" proposal ")),
            area,
        );
        return;
    };
    let p = &item.entry.proposal;
    let title = format!(
        " {} · {} replaces {} · bottle {} ",
        p.id,
        p.tool.name(),
        p.target.file_name(),
        item.bottle()
    );
    let paragraph = Paragraph::new(detail_text(item))
        .block(Block::bordered().title(title))
        .wrap(Wrap { trim: false })
        .scroll((app.scroll, 0));
    frame.render_widget(paragraph, area);
}

/// The selected proposal: warnings first, then justification, effects and the coloured diff.
pub fn detail_text(item: &Item) -> Text<'static> {
    let p = &item.entry.proposal;
    let r = &item.review;
    let mut lines: Vec<Line> = Vec::new();
    if r.needs_confirmation() {
        let alarm = Style::new().fg(Color::Red).add_modifier(Modifier::BOLD);
        lines.push(Line::styled(
            "!! THIS SENDS EXISTING CREDENTIALS SOMEWHERE NEW (approving asks to confirm)",
            alarm,
        ));
        for w in &r.credential_warnings {
            lines.push(Line::styled(format!("!!   {}", printable(w)), alarm));
        }
        lines.push(Line::from(""));
    }
    if let Some(why) = &r.refusal {
        lines.push(Line::styled(
            format!("approving will be answered `failed`: {}", printable(why)),
            Style::new().fg(Color::Yellow),
        ));
        lines.push(Line::from(""));
    }
    lines.push(Line::styled(
        "justification:",
        Style::new().add_modifier(Modifier::BOLD),
    ));
    for l in p.justification.lines() {
        lines.push(Line::from(format!("  {}", printable(l))));
    }
    for n in &r.notes {
        lines.push(Line::styled(
            format!("note: {n}"),
            Style::new().fg(Color::DarkGray),
        ));
    }
    lines.push(Line::from(""));
    if r.diff.is_empty() {
        lines.push(Line::from(format!(
            "(identical to the current {})",
            p.target.file_name()
        )));
    }
    for d in r.diff.iter().take(MAX_DIFF_LINES) {
        let style = match d.kind {
            LineKind::FileHeader => Style::new().add_modifier(Modifier::BOLD),
            LineKind::HunkHeader => Style::new().fg(Color::Cyan),
            LineKind::Added => Style::new().fg(Color::Green),
            LineKind::Removed => Style::new().fg(Color::Red),
            LineKind::NoNewline => Style::new().fg(Color::DarkGray),
            LineKind::Context => Style::new(),
        };
        lines.push(Line::styled(printable(&d.text), style));
    }
    if r.diff.len() > MAX_DIFF_LINES {
        lines.push(Line::from(format!(
            "… {} more lines: bottle proposals {} {}",
            r.diff.len() - MAX_DIFF_LINES,
            item.bottle(),
            p.id
        )));
    }
    Text::from(lines)
}

fn status_line(app: &App) -> Line<'static> {
    if let Some((_, what)) = app.busy.last() {
        return Line::styled(
            format!("… {}", printable(what)),
            Style::new().fg(Color::Cyan),
        );
    }
    match &app.status {
        Some((true, m)) => Line::styled(printable(m), Style::new().fg(Color::Green)),
        Some((false, m)) => Line::styled(printable(m), Style::new().fg(Color::Red)),
        None => Line::from(""),
    }
}

fn keys_line() -> Line<'static> {
    let short = [
        "a approve",
        "A approve+comment",
        "r reject",
        "t attach",
        "s stop",
        "Tab switch",
        "? help",
        "q quit",
    ];
    Line::styled(short.join("  "), Style::new().fg(Color::DarkGray))
}

fn popup(frame: &mut Frame, title: &str, text: Text<'static>, colour: Color) {
    let area = frame.area().centered(
        Constraint::Percentage(80),
        Constraint::Length(text.lines.len() as u16 + 2),
    );
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .title(format!(" {title} "))
                .border_style(Style::new().fg(colour)),
        ),
        area,
    );
}

fn draw_help(frame: &mut Frame) {
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| Line::from(format!("{k:<12} {what}")))
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from("any key: back"));
    popup(frame, "keys", Text::from(lines), Color::Cyan);
}

fn draw_comment(frame: &mut Frame, approve: bool, input: &str) {
    let (title, hint) = if approve {
        ("approve with a comment", "Enter: approve    Esc: cancel")
    } else {
        (
            "reject: why? (the agent reads this)",
            "Enter: reject    Esc: cancel",
        )
    };
    popup(
        frame,
        title,
        Text::from(vec![
            Line::from(format!("> {}█", printable(input))),
            Line::from(""),
            Line::from(hint),
        ]),
        Color::Cyan,
    );
}

fn draw_confirm_credentials(frame: &mut Frame, app: &App) {
    let mut lines = vec![Line::styled(
        "This proposal sends existing credentials somewhere new:",
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
    )];
    if let Some(item) = app.selected_proposal() {
        for w in &item.review.credential_warnings {
            lines.push(Line::from(format!("  ! {}", printable(w))));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from("y: approve anyway    any other key: cancel"));
    popup(
        frame,
        "confirm credential change",
        Text::from(lines),
        Color::Red,
    );
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;

    use super::*;
    use crate::dashboard::app::tests::{item, snapshot};
    use crate::dashboard::feed::Update;

    fn screen(app: &App) -> Buffer {
        let mut t = Terminal::new(TestBackend::new(140, 40)).unwrap();
        t.draw(|f| draw(f, app)).unwrap();
        t.backend().buffer().clone()
    }

    fn text(buffer: &Buffer) -> String {
        let mut out = String::new();
        for y in 0..buffer.area.height {
            for x in 0..buffer.area.width {
                out.push_str(buffer[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    /// The style of the first cell of the first row containing `needle`.
    fn fg_of(buffer: &Buffer, needle: &str) -> Color {
        let shown = text(buffer);
        let (y, line) = shown
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not on screen:\n{shown}"));
        let x = line[..line.find(needle).unwrap()].chars().count();
        buffer[(x as u16, y as u16)].fg
    }

    #[test]
    fn lists_bottles_and_proposals_and_shows_the_coloured_diff_with_warnings_first() {
        let mut app = App::new("alice".into());
        let mut flagged = item(
            "coder-bbbbbb",
            "20260101-000001-aaaaaa",
            &["sends GH_TOKEN to evil.example"],
        );
        flagged.entry.proposal.justification = "needs \u{1b}[2J this".into();
        app.on_update(Update::Snapshot(Box::new(snapshot(vec![flagged]))));
        let b = screen(&app);
        let shown = text(&b);
        for needle in [
            "2 running bottles, 1 pending proposal",
            "coder-aaaaaa",
            "DEGRADED (supervise down)",
            "20260101-000001-aaaaaa",
            "egress-block",
            "CREDENTIAL",
            "!! THIS SENDS EXISTING CREDENTIALS SOMEWHERE NEW",
            "+++ proposed/routes.yaml",
            "a approve",
        ] {
            assert!(shown.contains(needle), "{needle} missing:\n{shown}");
        }
        assert!(shown.contains("needs \\u{1b}[2J this"), "escaped:\n{shown}");
        assert_eq!(fg_of(&b, "+  - host: evil.example"), Color::Green);
        assert_eq!(fg_of(&b, "-routes: []"), Color::Red);
        assert_eq!(fg_of(&b, "@@ "), Color::Cyan);
        assert_eq!(fg_of(&b, "!! THIS SENDS"), Color::Red);
        assert_eq!(fg_of(&b, "DEGRADED"), Color::Red);
    }

    #[test]
    fn prompts_and_help_are_drawn_over_the_screen() {
        let mut app = App::new("alice".into());
        app.on_update(Update::Snapshot(Box::new(snapshot(vec![item(
            "coder-aaaaaa",
            "20260101-000001-aaaaaa",
            &["sends GH_TOKEN to evil.example"],
        )]))));
        app.mode = Mode::Comment {
            approve: false,
            input: "too broad".into(),
        };
        assert!(text(&screen(&app)).contains("> too broad"));
        app.mode = Mode::ConfirmCredentials {
            comment: String::new(),
        };
        let shown = text(&screen(&app));
        assert!(shown.contains("y: approve anyway"), "{shown}");
        assert!(
            shown.contains("! sends GH_TOKEN to evil.example"),
            "{shown}"
        );
        app.mode = Mode::Help;
        assert!(text(&screen(&app)).contains("quit (bottles keep running)"));
        let empty = App::new("alice".into());
        assert!(text(&screen(&empty)).contains("loading"));
    }
}
