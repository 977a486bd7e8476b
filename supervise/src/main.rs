//! The `supervise` binary: wires the MCP server, the queue and the operator commands together.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use bottle_common::audit::AuditLog;
use clap::Parser;
use supervise::cli::{Cli, Command, RunArgs};
use supervise::current::CurrentConfig;
use supervise::decisions::{self, DecisionAudit};
use supervise::queue::Queue;
use supervise::server::{Limits, Supervise};
use supervise::wait::WaitSettings;
use supervise::{expiry, http, operator};
use tokio_util::sync::CancellationToken;

/// How often a waiting call looks for the operator's decision.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Queue(command) => {
            bottle_common::logging::init("warn");
            if let Err(failure) = operator::run(command, &mut std::io::stdout().lock()) {
                eprintln!("supervise: error: {}", failure.message);
                std::process::exit(failure.code);
            }
        }
        Command::Run(args) => {
            bottle_common::logging::init("info,rmcp=warn");
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("start the async runtime");
            if let Err(e) = runtime.block_on(run(args)) {
                eprintln!("supervise: error: {e:#}");
                std::process::exit(1);
            }
        }
    }
}

async fn run(args: RunArgs) -> Result<()> {
    std::fs::create_dir_all(&args.queue)
        .with_context(|| format!("cannot create queue directory {}", args.queue.display()))?;
    let queue = Queue::open(&args.queue)?;
    anyhow::ensure!(
        args.current_config.is_dir(),
        "current-config directory {} does not exist; create it (it may be empty) or fix --current-config",
        args.current_config.display()
    );
    let audit = match &args.audit_log {
        Some(path) => AuditLog::open(path)?,
        None => AuditLog::disabled(),
    };
    let shutdown = CancellationToken::new();
    let decisions = Arc::new(DecisionAudit::new(queue.clone(), audit.clone()));
    let handler = Supervise::new(
        queue.clone(),
        CurrentConfig::new(&args.current_config),
        audit.clone(),
        decisions.clone(),
        WaitSettings {
            decision_timeout: args.decision_timeout,
            progress_interval: args.progress_interval,
            poll_interval: POLL_INTERVAL,
        },
        Limits {
            max_pending: args.max_pending,
            max_waiting: args.max_waiting,
        },
        shutdown.clone(),
    );
    let hosts = http::allowed_hosts(&args.allowed_hosts);
    let mcp = http::mcp_service(handler, &hosts, &shutdown);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        "supervise listening on http://{addr}{} (queue {}, current config {}, allowed hosts {})",
        http::MCP_PATH,
        args.queue.display(),
        args.current_config.display(),
        hosts.join(", ")
    );
    if !args.proposal_ttl.is_zero() {
        tokio::spawn(expiry::run_sweeper(
            queue,
            args.proposal_ttl,
            audit.clone(),
            shutdown.clone(),
        ));
    }
    if audit.is_enabled() {
        tokio::spawn(decisions::run_sweeper(decisions, shutdown.clone()));
    }
    tokio::spawn(stop_on_signal(shutdown.clone()));
    http::serve(listener, mcp, &hosts, shutdown).await;
    audit.flush();
    tracing::info!("supervise stopped; queued proposals stay in the queue");
    Ok(())
}

async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop supervise with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("stopping");
    shutdown.cancel();
}
