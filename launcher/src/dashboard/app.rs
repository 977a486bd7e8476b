//! The dashboard's state and its keys: pure, so every key's effect is tested
//! without a terminal or Docker. Keys produce [`Action`]s that the UI loop
//! carries out (send to the background side, attach, quit).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::feed::{BottleRow, Request, Snapshot, Update};
use crate::commands::list::Status;
use crate::operator::audit::Via;
use crate::operator::decide::{Request as DecideRequest, Verdict};
use crate::operator::pending::Item;

/// Longest comment the prompt accepts (the queue's limit, less room for the apply summary).
const MAX_COMMENT: usize = 8 * 1024;

/// The keys, for the help line and the help screen.
pub const KEYS: &[(&str, &str)] = &[
    ("↑/↓ j/k", "select"),
    ("Tab", "bottles ↔ proposals"),
    ("PgUp/PgDn", "scroll the proposal"),
    ("a", "approve"),
    ("A", "approve with a comment"),
    ("r", "reject (asks for a comment)"),
    ("t", "attach: a shell in the bottle's agent"),
    ("s", "stop the bottle (asks to confirm)"),
    ("g", "refresh now"),
    ("?", "help"),
    ("q", "quit (bottles keep running)"),
];

/// Which list the arrow keys move in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// Running bottles.
    Bottles,
    /// Pending proposals.
    Proposals,
}

/// What the keyboard is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Moving and acting.
    Normal,
    /// Typing a comment for an approval or a rejection.
    Comment {
        /// Approve (true) or reject.
        approve: bool,
        /// Typed so far.
        input: String,
    },
    /// The proposal sends credentials somewhere new: `y` approves anyway.
    ConfirmCredentials {
        /// The comment typed, if any.
        comment: String,
    },
    /// `y` stops this bottle.
    ConfirmStop {
        /// The bottle.
        bottle: String,
    },
    /// The key list.
    Help,
}

/// What a key asks the UI loop to do.
#[derive(Debug, Clone)]
pub enum Action {
    /// Nothing beyond redrawing.
    None,
    /// Hand a request to the background side.
    Send(Request),
    /// Suspend the UI and open a shell in this container.
    Attach(String),
    /// Leave (bottles keep running).
    Quit,
}

/// The dashboard's state.
#[derive(Debug)]
pub struct App {
    /// The latest snapshot, once one arrived.
    pub snapshot: Option<Snapshot>,
    /// Which list is active.
    pub focus: Focus,
    /// Index into the bottles.
    pub bottle: usize,
    /// Index into the proposals.
    pub proposal: usize,
    /// Lines scrolled in the proposal pane.
    pub scroll: u16,
    /// Keyboard mode.
    pub mode: Mode,
    /// The latest outcome: (ok, message).
    pub status: Option<(bool, String)>,
    /// Operations under way: (key, description).
    pub busy: Vec<(String, String)>,
    /// Who is deciding.
    pub by: String,
}

impl App {
    /// A dashboard for operator `by`, before the first snapshot.
    pub fn new(by: String) -> App {
        App {
            snapshot: None,
            focus: Focus::Proposals,
            bottle: 0,
            proposal: 0,
            scroll: 0,
            mode: Mode::Normal,
            status: None,
            busy: Vec::new(),
            by,
        }
    }

    /// The selected proposal.
    pub fn selected_proposal(&self) -> Option<&Item> {
        self.snapshot.as_ref()?.proposals.get(self.proposal)
    }

    /// The selected bottle.
    pub fn selected_bottle(&self) -> Option<&BottleRow> {
        self.snapshot.as_ref()?.bottles.get(self.bottle)
    }

    /// Take in what the background side reports, keeping the selection on the same proposal and bottle.
    pub fn on_update(&mut self, update: Update) {
        match update {
            Update::Snapshot(snapshot) => {
                let proposal_id = self
                    .selected_proposal()
                    .map(|i| i.entry.proposal.id.clone());
                let bottle_id = self.selected_bottle().map(|b| b.id.clone());
                let snapshot = *snapshot;
                let p = proposal_id.and_then(|id| {
                    snapshot
                        .proposals
                        .iter()
                        .position(|i| i.entry.proposal.id == id)
                });
                if p.is_none() {
                    self.scroll = 0;
                }
                self.proposal = p
                    .unwrap_or(self.proposal)
                    .min(snapshot.proposals.len().saturating_sub(1));
                self.bottle = bottle_id
                    .and_then(|id| snapshot.bottles.iter().position(|b| b.id == id))
                    .unwrap_or(self.bottle)
                    .min(snapshot.bottles.len().saturating_sub(1));
                self.snapshot = Some(snapshot);
            }
            Update::Started { key, what } => self.busy.push((key, what)),
            Update::Finished { key, ok, message } => {
                if let Some(i) = self.busy.iter().position(|(k, _)| *k == key) {
                    self.busy.remove(i);
                }
                self.status = Some((ok, message));
            }
        }
    }

    /// React to a key.
    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Normal => self.normal(key),
            Mode::Help => Action::None,
            Mode::Comment { approve, input } => self.comment(key, approve, input),
            Mode::ConfirmCredentials { comment } => match key.code {
                KeyCode::Char('y') => self.decide(true, comment, true),
                _ => {
                    self.status = Some((false, "approval cancelled".into()));
                    Action::None
                }
            },
            Mode::ConfirmStop { bottle } => match key.code {
                KeyCode::Char('y') => Action::Send(Request::Stop { bottle }),
                _ => Action::None,
            },
        }
    }

    fn normal(&mut self, key: KeyEvent) -> Action {
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char('?') => self.mode = Mode::Help,
            KeyCode::Tab | KeyCode::BackTab => {
                self.focus = match self.focus {
                    Focus::Bottles => Focus::Proposals,
                    Focus::Proposals => Focus::Bottles,
                }
            }
            KeyCode::Up | KeyCode::Char('k') => self.step(-1),
            KeyCode::Down | KeyCode::Char('j') => self.step(1),
            KeyCode::PageDown => self.scroll = self.scroll.saturating_add(10),
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(10),
            KeyCode::Home => self.scroll = 0,
            KeyCode::Char('g') | KeyCode::F(5) => return Action::Send(Request::Refresh),
            KeyCode::Char('a') => return self.approve(String::new()),
            KeyCode::Char('A') if self.pending_selected() => {
                self.mode = Mode::Comment {
                    approve: true,
                    input: String::new(),
                }
            }
            KeyCode::Char('r') if self.pending_selected() => {
                self.mode = Mode::Comment {
                    approve: false,
                    input: String::new(),
                }
            }
            KeyCode::Char('t') => match self.selected_bottle() {
                Some(b) if b.status != Status::Stopped && b.status != Status::Leftover => {
                    return Action::Attach(format!("{}-agent", b.id));
                }
                Some(b) => self.status = Some((false, format!("{} is not running", b.id))),
                None => self.status = Some((false, "no running bottle selected".into())),
            },
            KeyCode::Char('s') => match self.selected_bottle() {
                Some(b) => {
                    self.mode = Mode::ConfirmStop {
                        bottle: b.id.clone(),
                    }
                }
                None => self.status = Some((false, "no bottle selected".into())),
            },
            KeyCode::Char('A' | 'r') => self.no_proposal(),
            _ => {}
        }
        Action::None
    }

    fn comment(&mut self, key: KeyEvent, approve: bool, mut input: String) -> Action {
        match key.code {
            KeyCode::Esc => {
                self.status = Some((false, "cancelled".into()));
                Action::None
            }
            KeyCode::Enter => {
                if approve {
                    self.approve(input)
                } else if input.trim().is_empty() {
                    self.status = Some((
                        false,
                        "a rejection needs a comment telling the agent why".into(),
                    ));
                    self.mode = Mode::Comment { approve, input };
                    Action::None
                } else {
                    self.decide(false, input, false)
                }
            }
            KeyCode::Backspace => {
                input.pop();
                self.mode = Mode::Comment { approve, input };
                Action::None
            }
            KeyCode::Char(c) if !c.is_control() && input.len() + c.len_utf8() <= MAX_COMMENT => {
                input.push(c);
                self.mode = Mode::Comment { approve, input };
                Action::None
            }
            _ => {
                self.mode = Mode::Comment { approve, input };
                Action::None
            }
        }
    }

    fn pending_selected(&self) -> bool {
        self.selected_proposal().is_some()
    }

    fn no_proposal(&mut self) {
        self.status = Some((false, "no pending proposal selected".into()));
    }

    /// Approve the selected proposal, first asking to confirm a credential change.
    fn approve(&mut self, comment: String) -> Action {
        let Some(item) = self.selected_proposal() else {
            self.no_proposal();
            return Action::None;
        };
        if item.review.needs_confirmation() {
            self.mode = Mode::ConfirmCredentials { comment };
            return Action::None;
        }
        self.decide(true, comment, false)
    }

    fn decide(&mut self, approve: bool, comment: String, confirm_credentials: bool) -> Action {
        let Some(item) = self.selected_proposal() else {
            self.no_proposal();
            return Action::None;
        };
        let key = item.entry.proposal.id.to_string();
        if self.busy.iter().any(|(k, _)| *k == key) {
            self.status = Some((false, format!("{key} is already being answered")));
            return Action::None;
        }
        let verdict = if approve {
            Verdict::Approve {
                confirm_credentials,
            }
        } else {
            Verdict::Reject
        };
        Action::Send(Request::Decide {
            bottle: item.bottle().to_string(),
            request: DecideRequest {
                proposal: key,
                verdict,
                comment,
                by: self.by.clone(),
                via: Via::Dashboard,
            },
        })
    }

    fn step(&mut self, delta: i32) {
        let Some(s) = &self.snapshot else { return };
        match self.focus {
            Focus::Bottles => self.bottle = moved(self.bottle, delta, s.bottles.len()),
            Focus::Proposals => {
                let next = moved(self.proposal, delta, s.proposals.len());
                if next != self.proposal {
                    self.scroll = 0;
                }
                self.proposal = next;
                let bottle = s
                    .proposals
                    .get(self.proposal)
                    .and_then(|p| s.bottles.iter().position(|b| b.id == p.bottle()));
                if let Some(b) = bottle {
                    self.bottle = b;
                }
            }
        }
    }
}

fn moved(index: usize, delta: i32, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    (index as i64 + i64::from(delta)).clamp(0, len as i64 - 1) as usize
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::SystemTime;

    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use supervise::id::ProposalId;
    use supervise::queue::{Entry, Proposal, Tool};

    use super::*;
    use crate::operator::review::Review;
    use crate::state::StateDir;

    pub(crate) fn item(bottle: &str, id: &str, warnings: &[&str]) -> Item {
        Item {
            state: StateDir::at(std::path::Path::new("/nonexistent"), bottle),
            entry: Entry {
                proposal: Proposal {
                    version: 1,
                    id: ProposalId::parse(id).unwrap(),
                    tool: Tool::EgressBlock,
                    target: Tool::EgressBlock.target(),
                    created_at: "2026-01-01T00:00:00.000Z".into(),
                    justification: "curl needs /v2\nsecond line".into(),
                    content: "routes:\n  - host: evil.example\n".into(),
                    base: None,
                },
                decision: None,
            },
            review: Review {
                diff: supervise::diff::unified(
                    "routes: []\n",
                    "routes:\n  - host: evil.example\n",
                    "current/routes.yaml",
                    "proposed/routes.yaml",
                ),
                credential_warnings: warnings.iter().map(|w| w.to_string()).collect(),
                refusal: None,
                notes: vec!["approving reloads egress-proxy's routes live".into()],
            },
        }
    }

    pub(crate) fn snapshot(proposals: Vec<Item>) -> Snapshot {
        Snapshot {
            bottles: vec![
                BottleRow {
                    id: "coder-aaaaaa".into(),
                    agent: "coder".into(),
                    status: Status::Running,
                    services: vec![("agent".into(), true, "Up 1 minute".into())],
                },
                BottleRow {
                    id: "coder-bbbbbb".into(),
                    agent: "coder".into(),
                    status: Status::Degraded(vec!["supervise".into()]),
                    services: vec![("supervise".into(), false, "Exited (1)".into())],
                },
            ],
            proposals,
            problems: Vec::new(),
            taken_at: SystemTime::now(),
        }
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn app(proposals: Vec<Item>) -> App {
        let mut app = App::new("alice".into());
        app.on_update(Update::Snapshot(Box::new(snapshot(proposals))));
        app
    }

    fn decision(action: Action) -> (String, DecideRequest) {
        match action {
            Action::Send(Request::Decide { bottle, request }) => (bottle, request),
            other => panic!("expected a decision, got {other:?}"),
        }
    }

    #[test]
    fn approve_sends_the_selected_proposal_and_credential_changes_are_confirmed_first() {
        let mut a = app(vec![
            item("coder-aaaaaa", "20260101-000002-bbbbbb", &[]),
            item(
                "coder-bbbbbb",
                "20260101-000001-aaaaaa",
                &["sends GH_TOKEN to evil.example"],
            ),
        ]);
        let (bottle, r) = decision(a.on_key(key(KeyCode::Char('a'))));
        assert_eq!(bottle, "coder-aaaaaa");
        assert_eq!(r.proposal, "20260101-000002-bbbbbb");
        assert_eq!(
            r.verdict,
            Verdict::Approve {
                confirm_credentials: false
            }
        );
        assert_eq!((r.by.as_str(), r.via), ("alice", Via::Dashboard));

        a.on_key(key(KeyCode::Down));
        assert_eq!(a.bottle, 1, "the bottle selection follows the proposal");
        assert!(matches!(a.on_key(key(KeyCode::Char('a'))), Action::None));
        assert_eq!(
            a.mode,
            Mode::ConfirmCredentials {
                comment: String::new()
            }
        );
        assert!(matches!(a.on_key(key(KeyCode::Char('n'))), Action::None));
        assert_eq!(a.mode, Mode::Normal, "anything but y cancels");
        a.on_key(key(KeyCode::Char('a')));
        let (_, r) = decision(a.on_key(key(KeyCode::Char('y'))));
        assert_eq!(
            r.verdict,
            Verdict::Approve {
                confirm_credentials: true
            }
        );
    }

    #[test]
    fn reject_asks_for_a_comment_and_refuses_an_empty_one() {
        let mut a = app(vec![item("coder-aaaaaa", "20260101-000002-bbbbbb", &[])]);
        a.on_key(key(KeyCode::Char('r')));
        assert!(matches!(a.on_key(key(KeyCode::Enter)), Action::None));
        assert!(
            matches!(a.mode, Mode::Comment { approve: false, .. }),
            "{:?}",
            a.mode
        );
        assert!(a.status.as_ref().unwrap().1.contains("needs a comment"));
        for c in "not \u{1b}now".chars() {
            a.on_key(key(KeyCode::Char(c)));
        }
        a.on_key(key(KeyCode::Backspace));
        a.on_key(key(KeyCode::Char('w')));
        let (_, r) = decision(a.on_key(key(KeyCode::Enter)));
        assert_eq!(r.verdict, Verdict::Reject);
        assert_eq!(
            r.comment, "not now",
            "control characters are not typed into comments"
        );
        a.on_key(key(KeyCode::Char('r')));
        a.on_key(key(KeyCode::Esc));
        assert_eq!(a.mode, Mode::Normal);
    }

    #[test]
    fn busy_proposals_are_not_answered_twice() {
        let mut a = app(vec![item("coder-aaaaaa", "20260101-000002-bbbbbb", &[])]);
        a.on_update(Update::Started {
            key: "20260101-000002-bbbbbb".into(),
            what: "applying".into(),
        });
        assert!(matches!(a.on_key(key(KeyCode::Char('a'))), Action::None));
        assert!(
            a.status
                .as_ref()
                .unwrap()
                .1
                .contains("already being answered")
        );
        a.on_update(Update::Finished {
            key: "20260101-000002-bbbbbb".into(),
            ok: true,
            message: "approved".into(),
        });
        assert!(a.busy.is_empty());
        assert_eq!(a.status, Some((true, "approved".into())));
    }

    #[test]
    fn attach_stop_quit_and_selection_across_refreshes() {
        let mut a = app(vec![
            item("coder-aaaaaa", "20260101-000002-bbbbbb", &[]),
            item("coder-aaaaaa", "20260101-000001-aaaaaa", &[]),
        ]);
        match a.on_key(key(KeyCode::Char('t'))) {
            Action::Attach(c) => assert_eq!(c, "coder-aaaaaa-agent"),
            other => panic!("{other:?}"),
        }
        a.on_key(key(KeyCode::Char('s')));
        match a.on_key(key(KeyCode::Char('y'))) {
            Action::Send(Request::Stop { bottle }) => assert_eq!(bottle, "coder-aaaaaa"),
            other => panic!("{other:?}"),
        }
        a.on_key(key(KeyCode::Char('s')));
        assert!(matches!(a.on_key(key(KeyCode::Char('n'))), Action::None));

        a.on_key(key(KeyCode::Down));
        a.on_key(key(KeyCode::PageDown));
        assert_eq!(a.scroll, 10);
        // A newer proposal arrives: the selection stays on the same proposal.
        a.on_update(Update::Snapshot(Box::new(snapshot(vec![
            item("coder-aaaaaa", "20260101-000003-cccccc", &[]),
            item("coder-aaaaaa", "20260101-000002-bbbbbb", &[]),
            item("coder-aaaaaa", "20260101-000001-aaaaaa", &[]),
        ]))));
        assert_eq!(a.proposal, 2);
        assert_eq!(a.scroll, 10, "the same proposal keeps its scroll position");
        // It is answered elsewhere and disappears: the selection stays in range.
        a.on_update(Update::Snapshot(Box::new(snapshot(vec![item(
            "coder-aaaaaa",
            "20260101-000003-cccccc",
            &[],
        )]))));
        assert_eq!(a.proposal, 0);
        assert!(matches!(a.on_key(key(KeyCode::Char('q'))), Action::Quit));
        assert!(matches!(
            a.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Action::Quit
        ));
    }
}
