//! `pipelock-block`: a new hostname allowlist for pipelock, applied by
//! rewriting its config and restarting it (pipelock reads its config at
//! start). Also used by `egress-block` when new routes name hosts pipelock
//! does not yet allow.
//!
//! The config is rewritten with the launcher's own pipelock types
//! ([`crate::render::pipelock`]): only the allowlist and what the launcher
//! derives from it (TLS passthrough for credentialed and LLM hosts, SSRF
//! exemptions for private addresses) change. If pipelock does not come back
//! healthy, the previous config is restored and pipelock restarted again.

use std::time::{Duration, Instant};

use bottle_common::located::Source;
use egress_proxy::routes::RoutesFile;
use supervise::proposal::{PipelockBlockArgs, pipelock_block};
use supervise::queue::Proposal;

use super::routes::current_routes;
use super::{Applied, ApplyError, relative, update_current, write};
use crate::operator::sidecars::Sidecars;
use crate::render::pipelock::{PipelockConfig, with_allowlist};
use crate::state::StateDir;

/// How long pipelock gets to answer its health check after a restart.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);

/// A pipelock config to put in force.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The config file's text now.
    pub previous: String,
    /// The config to write.
    pub next: PipelockConfig,
    /// Hosts `next` allows that the previous config did not.
    pub added: Vec<String>,
}

impl Change {
    /// The current-config `allowlist` file for this change: one host per line.
    pub fn allowlist_file(&self) -> String {
        lines(self.next.allowlist())
    }
}

fn lines(hosts: &[String]) -> String {
    let mut text = hosts.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

/// The bottle's pipelock config, or `None` when it runs without pipelock.
fn current(state: &StateDir) -> Result<Option<(String, PipelockConfig)>, String> {
    let path = state.live_pipelock_config();
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let config = PipelockConfig::parse(&text, &Source::file(&path)).map_err(|e| e.to_string())?;
    Ok(Some((text, config)))
}

/// What pipelock needs for `routes` to work: their hosts allowed and
/// credentialed hosts spliced; `None` when it already has that or the bottle has no pipelock.
pub fn for_routes(state: &StateDir, routes: &RoutesFile) -> Result<Option<Change>, String> {
    let Some((previous, config)) = current(state)? else {
        return Ok(None);
    };
    let mut allowlist = config.allowlist().to_vec();
    let mut added = Vec::new();
    for route in &routes.routes {
        let host = route.host.to_string();
        if !allowlist.contains(&host) {
            allowlist.push(host.clone());
            added.push(host);
        }
    }
    let next = with_allowlist(&config, routes, &allowlist);
    Ok((next != config).then_some(Change {
        previous,
        next,
        added,
    }))
}

/// The change a `pipelock-block` proposal asks for, or why it cannot apply.
pub fn for_allowlist(state: &StateDir, proposal: &Proposal) -> Result<Change, String> {
    let hosts: Vec<String> = proposal
        .content
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let checked = pipelock_block(PipelockBlockArgs {
        allowlist: hosts,
        justification: proposal.justification.clone(),
    })
    .map_err(|e| format!("the proposed allowlist is not valid: {e}"))?;
    let hosts: Vec<String> = checked.content.lines().map(str::to_string).collect();
    let Some((previous, config)) = current(state)? else {
        return Err(format!(
            "bottle {} runs without pipelock (egress.pipelock: false), so there is no allowlist to change; \
             hosts are reached through egress-proxy's routes (propose them with egress-block)",
            state.id()
        ));
    };
    let added = hosts
        .iter()
        .filter(|h| !config.allowlist().contains(h))
        .cloned()
        .collect();
    let next = with_allowlist(&config, &current_routes(state), &hosts);
    Ok(Change {
        previous,
        next,
        added,
    })
}

/// Apply an approved `pipelock-block` proposal.
pub async fn apply<S: Sidecars>(
    state: &StateDir,
    sidecars: &S,
    proposal: &Proposal,
) -> Result<Applied, ApplyError> {
    let change = for_allowlist(state, proposal).map_err(ApplyError::Failed)?;
    let running = sidecars
        .running("pipelock")
        .await
        .map_err(|e| ApplyError::NotNow(format!("cannot check pipelock: {e:#}")))?;
    if !running {
        return Err(ApplyError::NotNow(format!(
            "pipelock of bottle {} is not running, so the allowlist cannot be applied now; \
             resume the bottle and approve again, or reject the proposal",
            state.id()
        )));
    }
    swap(state, sidecars, &change)
        .await
        .map_err(|e| ApplyError::Failed(format!("{e}; the previous allowlist stays in force")))?;
    let files = vec![
        relative(state, &state.live_pipelock_config()),
        update_current(state, "allowlist", &change.allowlist_file()).map_err(ApplyError::Failed)?,
    ];
    Ok(Applied {
        summary: "pipelock restarted with the new allowlist".into(),
        files,
        pipelock_hosts_added: change.added.clone(),
        pipelock_restarted: true,
        ..Applied::default()
    })
}

/// Write `change.next`, restart pipelock and wait for it to be healthy; on failure put the previous config back.
pub async fn swap<S: Sidecars>(
    state: &StateDir,
    sidecars: &S,
    change: &Change,
) -> Result<(), String> {
    let path = state.live_pipelock_config();
    let text = change
        .next
        .to_yaml()
        .map_err(|e| format!("cannot render pipelock's config: {e}"))?;
    write(&path, &text)?;
    let outcome = match sidecars.restart_pipelock().await {
        Ok(()) => wait_healthy(sidecars).await,
        Err(e) => Err(format!("cannot restart pipelock: {e:#}")),
    };
    let Err(why) = outcome else {
        return Ok(());
    };
    write(&path, &change.previous)?;
    let restored = match sidecars.restart_pipelock().await {
        Ok(()) => wait_healthy(sidecars).await,
        Err(e) => Err(format!("{e:#}")),
    };
    Err(match restored {
        Ok(()) => format!("{why}; pipelock was restarted with its previous config"),
        Err(e) => format!("{why}; restarting pipelock with its previous config failed too: {e}"),
    })
}

async fn wait_healthy<S: Sidecars>(sidecars: &S) -> Result<(), String> {
    let deadline = Instant::now() + HEALTH_TIMEOUT;
    loop {
        if sidecars.pipelock_healthy().await.unwrap_or(false) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "pipelock did not answer its health check within {}s of the restart",
                HEALTH_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
