//! `bottle dashboard`: a terminal UI over every bottle's proposals.
//!
//! Two sides talk over channels: the UI thread ([`app`] for state and keys,
//! [`view`] for drawing) never calls Docker or scans files, and the
//! background side ([`feed`]) on the async runtime refreshes a snapshot and
//! carries out approvals, rejections and stops. Quitting leaves every bottle
//! as it is (operations already started are allowed to finish).

pub mod app;
pub mod feed;
pub mod view;

use std::io::IsTerminal;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};
use crossterm::event::{self, Event, KeyEventKind};
use ratatui::DefaultTerminal;
use tokio::sync::mpsc::UnboundedSender;

use self::app::{Action, App};
use self::feed::{Request, Update};
use crate::commands::Home;

/// Run the dashboard until the operator quits.
pub async fn run(home: &Home) -> anyhow::Result<u8> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        bail!(
            "the dashboard needs a terminal; use `bottle proposals`, `bottle approve` and `bottle reject` in scripts"
        );
    }
    let (request_tx, request_rx) = tokio::sync::mpsc::unbounded_channel();
    let (update_tx, update_rx) = mpsc::channel();
    let feed = tokio::spawn(feed::run(home.clone(), request_rx, update_tx));
    let by = crate::operator::operator_name();
    let ui = tokio::task::spawn_blocking(move || {
        let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
        let result = ui_loop(&mut terminal, App::new(by), &update_rx, request_tx);
        ratatui::try_restore().context("cannot restore the terminal")?;
        result
    });
    let busy = ui.await.context("the dashboard's UI thread failed")??;
    if busy > 0 {
        eprintln!("bottle: waiting for {busy} operation(s) to finish…");
    }
    feed.await
        .context("the dashboard's background task failed")?;
    Ok(0)
}

/// Draw, read keys, act; returns how many operations were still running at quit.
fn ui_loop(
    terminal: &mut DefaultTerminal,
    mut app: App,
    updates: &mpsc::Receiver<Update>,
    requests: UnboundedSender<Request>,
) -> anyhow::Result<usize> {
    loop {
        while let Ok(update) = updates.try_recv() {
            app.on_update(update);
        }
        terminal.draw(|frame| view::draw(frame, &app))?;
        if !event::poll(Duration::from_millis(100))? {
            continue;
        }
        let Event::Key(key) = event::read()? else {
            continue;
        };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        match app.on_key(key) {
            Action::None => {}
            Action::Quit => return Ok(app.busy.len()),
            Action::Send(request) => {
                if requests.send(request).is_err() {
                    bail!("the dashboard's background task stopped");
                }
            }
            Action::Attach(container) => {
                attach(terminal, &container, &mut app)?;
            }
        }
    }
}

/// Hand the terminal to a shell in `container` until it exits, then take it back.
fn attach(terminal: &mut DefaultTerminal, container: &str, app: &mut App) -> anyhow::Result<()> {
    ratatui::try_restore()?;
    println!("attaching to {container}; exit the shell to return to the dashboard");
    let status = std::process::Command::new("docker")
        .args([
            "exec",
            "-it",
            container,
            "sh",
            "-c",
            "if command -v bash >/dev/null; then exec bash -l; else exec sh -l; fi",
        ])
        .status();
    *terminal = ratatui::try_init()?;
    terminal.clear()?;
    app.status = Some(match status {
        Ok(s) if s.success() => (true, format!("detached from {container}")),
        Ok(s) => (false, format!("the shell in {container} ended with {s}")),
        Err(e) => (false, format!("cannot run docker exec: {e}")),
    });
    Ok(())
}
