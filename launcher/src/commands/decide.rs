//! `bottle approve` and `bottle reject`: the dashboard's keys without the dashboard.

use super::Home;
use crate::operator::audit::{OperatorAudit, Via};
use crate::operator::decide::{Request, Verdict, decide};
use crate::operator::operator_name;
use crate::operator::sidecars::DockerSidecars;

/// `bottle approve`.
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// The bottle's id (see `bottle list` or `bottle proposals`).
    pub id: String,
    /// The proposal's id (see `bottle proposals ID`).
    pub proposal: String,
    /// A note for the agent, returned with the approval.
    #[arg(long, default_value = "")]
    pub comment: String,
    /// Approve even though the proposal sends existing credentials to a host or path they were not sent to before.
    #[arg(long)]
    pub allow_credential_change: bool,
}

/// `bottle reject`.
#[derive(Debug, clap::Args)]
pub struct RejectArgs {
    /// The bottle's id (see `bottle list` or `bottle proposals`).
    pub id: String,
    /// The proposal's id (see `bottle proposals ID`).
    pub proposal: String,
    /// Why, for the agent (required).
    #[arg(long)]
    pub comment: String,
}

/// Apply and approve a proposal.
pub async fn approve(home: &Home, args: ApproveArgs) -> anyhow::Result<u8> {
    run(
        home,
        &args.id,
        Request {
            proposal: args.proposal,
            verdict: Verdict::Approve {
                confirm_credentials: args.allow_credential_change,
            },
            comment: args.comment,
            by: operator_name(),
            via: Via::Cli,
        },
    )
    .await
}

/// Reject a proposal.
pub async fn reject(home: &Home, args: RejectArgs) -> anyhow::Result<u8> {
    run(
        home,
        &args.id,
        Request {
            proposal: args.proposal,
            verdict: Verdict::Reject,
            comment: args.comment,
            by: operator_name(),
            via: Via::Cli,
        },
    )
    .await
}

async fn run(home: &Home, id: &str, request: Request) -> anyhow::Result<u8> {
    let state = home.existing(id)?;
    let audit = OperatorAudit::open(&state)?;
    let sidecars = DockerSidecars::new(&state);
    match decide(&state, &sidecars, &audit, request).await {
        Ok(outcome) => {
            let d = &outcome.decision;
            match &outcome.applied {
                Some(applied) => println!("{} {} ({id}): {}", d.status, d.id, applied.summary),
                None => println!("{} {} ({id})", d.status, d.id),
            }
            Ok(0)
        }
        Err(e) => {
            eprintln!("bottle: {e}");
            Ok(e.exit_code())
        }
    }
}
