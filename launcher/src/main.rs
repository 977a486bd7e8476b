//! `bottle`: run an AI coding agent in a Docker sandbox whose only ways out
//! are bottle's sidecars (egress-proxy, git-gate, supervise, pipelock).

mod commands;
mod compose;
mod dashboard;
mod docker;
mod health;
mod images;
mod manifest;
mod operator;
mod plan;
mod preflight;
mod provision;
mod render;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run an AI coding agent in a Docker sandbox where it can do real work
/// without holding a credential or reaching anything nobody approved.
///
/// Manifests and state live in $BOTTLE_HOME (default ~/.claude-bottle).
#[derive(Debug, Parser)]
#[command(name = "bottle", version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a bottle for AGENT, attach to it, and tear it down on exit (state is kept).
    Start(commands::start::StartArgs),
    /// Write the compose project for AGENT into a directory, without touching Docker.
    Render {
        /// Agent name (its manifest is in .claude-bottle/agents/ or $BOTTLE_HOME/agents/).
        agent: String,
        /// Directory to write the project into (created; must be empty or absent).
        #[arg(long)]
        out: PathBuf,
        /// Project directory whose .claude-bottle/agents/ is searched first.
        #[arg(long)]
        cwd: Option<PathBuf>,
    },
    /// Start a stopped bottle again with its state, transcript and approved config.
    Resume(commands::start::ResumeArgs),
    /// List bottles that are running (and, with --all, stopped ones).
    List {
        /// Include stopped bottles.
        #[arg(long)]
        all: bool,
    },
    /// Tear down a running bottle, keeping its state directory.
    Stop {
        /// The bottle's id (see `bottle list`).
        id: String,
    },
    /// Remove what stopped bottles left behind: containers, networks and state directories.
    Cleanup(commands::cleanup::CleanupArgs),
    /// Pending proposals across bottles (or one bottle's), or one proposal in full with its diff.
    Proposals(commands::proposals::ProposalsArgs),
    /// Apply a proposal, then answer it `approved` (or `failed` when applying is refused).
    Approve(commands::decide::ApproveArgs),
    /// Answer a proposal `rejected`, with a comment for the agent.
    Reject(commands::decide::RejectArgs),
    /// Terminal UI: running bottles, pending proposals with their diffs, approve/reject/attach/stop.
    Dashboard,
    /// Build bottle's images.
    Images {
        #[command(subcommand)]
        command: ImagesCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ImagesCommand {
    /// Build the sidecar images and the example agent image.
    Build(commands::images::BuildArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Dashboard) {
        // The dashboard owns the terminal: log lines would be drawn over it.
        bottle_common::logging::init("warn");
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bottle: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let home = commands::Home::from_env()?;
        match cli.command {
            Command::Start(args) => commands::start::start(&home, args).await,
            Command::Render { agent, out, cwd } => {
                commands::render::render(&home, &agent, &out, cwd).await
            }
            Command::Resume(args) => commands::start::resume(&home, args).await,
            Command::List { all } => commands::list::list(&home, all).await,
            Command::Stop { id } => commands::stop::stop(&home, &id).await,
            Command::Cleanup(args) => commands::cleanup::cleanup(&home, args).await,
            Command::Proposals(args) => commands::proposals::proposals(&home, args).await,
            Command::Approve(args) => commands::decide::approve(&home, args).await,
            Command::Reject(args) => commands::decide::reject(&home, args).await,
            Command::Dashboard => commands::dashboard::dashboard(&home).await,
            Command::Images {
                command: ImagesCommand::Build(args),
            } => commands::images::build(args).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("bottle: {e:#}");
            ExitCode::from(1)
        }
    }
}
