//! `egress-block`: new routes for egress-proxy, applied live.
//!
//! 1. The proposal is validated again with supervise's checks (egress-proxy's
//!    own parser) and against the credential rules: a token source the
//!    current routes do not use is refused.
//! 2. The routes are written atomically into the bottle's live config, and
//!    egress-proxy gets SIGHUP. Its `GET /reload` says whether the reload
//!    happened and was accepted; its `GET /routes` must then show exactly
//!    the table written.
//! 3. If the proxy refuses the file, or does not reload in time, the previous
//!    file is written back: the proxy keeps the previous table in force, so
//!    the live file never holds a table the proxy refused.
//! 4. When the bottle runs pipelock, hosts of the new routes are added to its
//!    allowlist (as at start) and it is restarted; if that fails, the routes
//!    are rolled back too.
//! 5. The agent's current config gets the new routes.

use std::time::{Duration, Instant};

use bottle_common::located::Source;
use egress_proxy::routes::{RoutesFile, parse_routes};
use serde::Deserialize;
use supervise::proposal::{EgressBlockArgs, egress_block};
use supervise::queue::Proposal;

use super::{Applied, ApplyError, pipelock, relative, update_current, write};
use crate::operator::credentials::{describe_source, new_sources};
use crate::operator::sidecars::Sidecars;
use crate::state::StateDir;

/// How long egress-proxy gets to reload after SIGHUP.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET /reload`'s answer (egress-proxy's documented JSON).
#[derive(Debug, Clone, Deserialize)]
pub struct ReloadReport {
    /// Generation of the table in force.
    pub generation: u64,
    /// Reload attempts since the proxy started.
    pub attempts: u64,
    /// The latest attempt, if any.
    pub last_attempt: Option<LastAttempt>,
}

/// One reload attempt's outcome.
#[derive(Debug, Clone, Deserialize)]
pub struct LastAttempt {
    /// `ok` or `error`.
    pub result: String,
    /// `file:line:col: message` per problem when refused.
    #[serde(default)]
    pub errors: Vec<String>,
}

/// The current routes (egress-proxy's live file), parsed; an unreadable file counts as no routes.
pub fn current_routes(state: &StateDir) -> RoutesFile {
    let path = state.live_routes();
    std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| parse_routes(&text, &Source::file(&path)).ok())
        .unwrap_or_default()
}

/// Parse a proposal's routes as supervise validated them.
pub fn proposed_routes(proposal: &Proposal) -> Result<RoutesFile, String> {
    egress_block(EgressBlockArgs {
        routes: proposal.content.clone(),
        justification: proposal.justification.clone(),
    })
    .map_err(|e| e.to_string())?;
    parse_routes(&proposal.content, &Source::named("routes.yaml")).map_err(|e| e.to_string())
}

/// Why approving these routes would be refused under the credential rules, if it would.
pub fn refusal(current: &RoutesFile, proposed: &RoutesFile) -> Option<String> {
    let new = new_sources(current, proposed);
    if new.is_empty() {
        return None;
    }
    let names: Vec<String> = new.iter().map(describe_source).collect();
    Some(format!(
        "the proposal uses credentials the current routes do not ({}); a proposal may only \
         reuse credentials the bottle already has. Credentials are granted in the bottle's \
         manifest (egress.routes[].auth.token_ref), not through proposals",
        names.join(", ")
    ))
}

/// Apply an approved `egress-block` proposal.
pub async fn apply<S: Sidecars>(
    state: &StateDir,
    sidecars: &S,
    proposal: &Proposal,
) -> Result<Applied, ApplyError> {
    let running = sidecars
        .running("egress-proxy")
        .await
        .map_err(|e| ApplyError::NotNow(format!("cannot check egress-proxy: {e:#}")))?;
    if !running {
        return Err(ApplyError::NotNow(format!(
            "egress-proxy of bottle {} is not running, so the routes cannot be applied now; \
             resume the bottle (bottle resume {}) and approve again, or reject the proposal",
            state.id(),
            state.id()
        )));
    }
    let proposed = proposed_routes(proposal)
        .map_err(|e| ApplyError::Failed(format!("the proposed routes are not valid: {e}")))?;
    let current = current_routes(state);
    if let Some(why) = refusal(&current, &proposed) {
        return Err(ApplyError::Failed(format!("refused: {why}")));
    }
    let live = state.live_routes();
    let previous = std::fs::read_to_string(&live)
        .map_err(|e| ApplyError::NotNow(format!("cannot read {}: {e}", live.display())))?;
    let pipelock_change = pipelock::for_routes(state, &proposed).map_err(ApplyError::Failed)?;

    let generation = swap(state, sidecars, &proposal.content, &proposed, &previous)
        .await
        .map_err(|e| ApplyError::Failed(format!("{e}; the previous routes stay in force")))?;
    let mut applied = Applied {
        files: vec![relative(state, &live)],
        routes_generation: Some(generation),
        ..Applied::default()
    };
    if let Some(change) = &pipelock_change {
        if let Err(e) = pipelock::swap(state, sidecars, change).await {
            let rollback = swap(state, sidecars, &previous, &current, &proposal.content).await;
            let routes_note = match rollback {
                Ok(_) => "the previous routes were restored".to_string(),
                Err(r) => format!("restoring the previous routes also failed: {r}"),
            };
            return Err(ApplyError::Failed(format!(
                "the routes were loaded but pipelock could not take their hosts: {e}; {routes_note}"
            )));
        }
        applied
            .files
            .push(relative(state, &state.live_pipelock_config()));
        applied.pipelock_hosts_added = change.added.clone();
        applied.pipelock_restarted = true;
        let list = change.allowlist_file();
        applied
            .files
            .push(update_current(state, "allowlist", &list).map_err(ApplyError::Failed)?);
    }
    applied
        .files
        .push(update_current(state, "routes.yaml", &proposal.content).map_err(ApplyError::Failed)?);
    applied.summary = format!("egress-proxy now enforces the new routes (generation {generation})");
    if !applied.pipelock_hosts_added.is_empty() {
        applied.summary.push_str(&format!(
            "; pipelock now also allows {}",
            applied.pipelock_hosts_added.join(", ")
        ));
    }
    Ok(applied)
}

/// Make `text` (parsing to `expected`) the routes in force, or put `previous` back and say why.
async fn swap<S: Sidecars>(
    state: &StateDir,
    sidecars: &S,
    text: &str,
    expected: &RoutesFile,
    previous: &str,
) -> Result<u64, String> {
    let live = state.live_routes();
    let before = reload_report(sidecars).await?;
    write(&live, text)?;
    let restore = |why: String| -> String {
        match write(&live, previous) {
            Ok(()) => why,
            Err(e) => format!("{why}; and restoring the previous file failed: {e}"),
        }
    };
    let report = match reload(sidecars, before.attempts).await {
        Ok(r) => r,
        Err(e) => return Err(restore(e)),
    };
    let attempt = report.last_attempt.clone().unwrap_or(LastAttempt {
        result: "error".into(),
        errors: vec!["egress-proxy reported no reload attempt".into()],
    });
    if attempt.result != "ok" {
        return Err(restore(format!(
            "egress-proxy refused the new routes:\n{}",
            attempt.errors.join("\n")
        )));
    }
    match in_force(sidecars).await {
        Ok((generation, listing))
            if generation == report.generation && listing.to_yaml() == expected.to_yaml() =>
        {
            Ok(generation)
        }
        outcome => {
            let why = match outcome {
                Ok((generation, _)) => format!(
                    "egress-proxy reloaded (generation {generation}) but its routes listing is not the table that was written"
                ),
                Err(e) => {
                    format!("egress-proxy reloaded but its routes listing cannot be read: {e}")
                }
            };
            let why = restore(why);
            match reload(sidecars, report.attempts).await {
                Ok(_) => Err(format!("{why}; the previous file was reloaded")),
                Err(e) => Err(format!("{why}; reloading the previous file failed: {e}")),
            }
        }
    }
}

/// The proxy's reload report.
async fn reload_report<S: Sidecars>(sidecars: &S) -> Result<ReloadReport, String> {
    let body = sidecars
        .proxy_get("/reload")
        .await
        .map_err(|e| format!("cannot ask egress-proxy about reloads: {e:#}"))?;
    serde_json::from_str(&body)
        .map_err(|e| format!("egress-proxy's /reload answer is not the expected JSON ({e}); is the egress-proxy image older than this bottle? rebuild it with `bottle images build`"))
}

/// Send SIGHUP and wait until the proxy has made an attempt after `attempts`.
async fn reload<S: Sidecars>(sidecars: &S, attempts: u64) -> Result<ReloadReport, String> {
    sidecars
        .proxy_hangup()
        .await
        .map_err(|e| format!("cannot signal egress-proxy: {e:#}"))?;
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    loop {
        let report = reload_report(sidecars).await?;
        if report.attempts > attempts {
            return Ok(report);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "egress-proxy did not reload within {}s of SIGHUP",
                RELOAD_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The generation and table egress-proxy lists as in force.
async fn in_force<S: Sidecars>(sidecars: &S) -> Result<(u64, RoutesFile), String> {
    let body = sidecars
        .proxy_get("/routes")
        .await
        .map_err(|e| format!("{e:#}"))?;
    let generation = body
        .lines()
        .next()
        .and_then(|l| l.split("generation ").nth(1))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .ok_or("the listing has no generation header")?;
    let routes = parse_routes(&body, &Source::named("GET /routes")).map_err(|e| e.to_string())?;
    Ok((generation, routes))
}
