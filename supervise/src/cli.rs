//! Command-line interface: `supervise run` and the `supervise queue` operator commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::http::parse_allowed_host;

/// MCP approval server: an agent proposes capability changes, an operator answers them.
#[derive(Debug, Parser)]
#[command(name = "supervise", version, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the MCP tools at http://ADDR/mcp and queue the agent's proposals.
    Run(RunArgs),
    /// Inspect and answer queued proposals.
    #[command(subcommand)]
    Queue(QueueCommand),
}

/// Options of `supervise run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Address to listen on, e.g. 0.0.0.0:9100 (the MCP endpoint is /mcp).
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Queue directory shared with the operator (created if missing).
    #[arg(long, value_name = "DIR")]
    pub queue: PathBuf,
    /// Directory with the current routes.yaml, allowlist and Dockerfile (read-only).
    #[arg(long, value_name = "DIR")]
    pub current_config: PathBuf,
    /// Append audit records (JSON lines) to FILE; `-` is standard output.
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// How long a proposing call waits for the operator before answering "still pending".
    #[arg(long, value_name = "SECS", default_value = "600", value_parser = parse_decision_timeout)]
    pub decision_timeout: Duration,
    /// Also accept this Host (any port) and Origin; repeatable. Loopback and `supervise` are always accepted.
    #[arg(long = "allowed-host", value_name = "HOST", value_parser = parse_allowed_host)]
    pub allowed_hosts: Vec<String>,
    /// Send a progress notification this often while waiting (at most 15).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_progress_interval)]
    pub progress_interval: Duration,
    /// Expire proposals nobody answered after this long; 0 never expires them.
    #[arg(long, value_name = "SECS", default_value = "86400", value_parser = parse_seconds)]
    pub proposal_ttl: Duration,
    /// Refuse new proposals while this many are unanswered in the queue.
    #[arg(long, value_name = "N", default_value = "64", value_parser = parse_limit)]
    pub max_pending: usize,
    /// Most proposing calls that wait at once; more are queued and answered "pending" at once.
    #[arg(long, value_name = "N", default_value = "32", value_parser = parse_limit)]
    pub max_waiting: usize,
}

/// `supervise queue` subcommands.
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// List every proposal, oldest first.
    List {
        /// The queue directory.
        #[arg(long, value_name = "DIR")]
        queue: PathBuf,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a proposal and its unified diff against the current config.
    Show {
        /// The proposal id.
        id: String,
        /// The queue directory.
        #[arg(long, value_name = "DIR")]
        queue: PathBuf,
        /// Current-config directory to diff against; without it the diff is against an empty file.
        #[arg(long, value_name = "DIR")]
        current_config: Option<PathBuf>,
    },
    /// Approve a pending proposal.
    Approve {
        /// The proposal id.
        id: String,
        /// The queue directory.
        #[arg(long, value_name = "DIR")]
        queue: PathBuf,
        /// A note for the agent.
        #[arg(long, value_name = "TEXT", default_value = "")]
        comment: String,
        /// Who is answering (default: $USER).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },
    /// Reject a pending proposal, telling the agent why.
    Reject {
        /// The proposal id.
        id: String,
        /// The queue directory.
        #[arg(long, value_name = "DIR")]
        queue: PathBuf,
        /// Why, in words the agent can act on (required).
        #[arg(long, value_name = "TEXT")]
        comment: String,
        /// Who is answering (default: $USER).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },
}

/// Seconds as a non-negative number, fractions allowed (e.g. `0.5`).
pub fn parse_seconds(raw: &str) -> Result<Duration, String> {
    let secs: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("`{raw}` is not a number of seconds"))?;
    if !secs.is_finite() || !(0.0..=365.0 * 86_400.0).contains(&secs) {
        return Err(format!("`{raw}` must be between 0 and one year of seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_decision_timeout(raw: &str) -> Result<Duration, String> {
    let d = parse_seconds(raw)?;
    if d > Duration::from_secs(86_400) {
        return Err("the decision timeout is at most 86400 seconds (one day)".into());
    }
    Ok(d)
}

fn parse_progress_interval(raw: &str) -> Result<Duration, String> {
    let d = parse_seconds(raw)?;
    if d.is_zero() || d > Duration::from_secs(15) {
        return Err("the progress interval must be more than 0 and at most 15 seconds".into());
    }
    Ok(d)
}

fn parse_limit(raw: &str) -> Result<usize, String> {
    match raw.trim().parse::<usize>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(n),
        _ => Err(format!("`{raw}` must be a whole number from 1 to 10000")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse_with_limits() {
        assert_eq!(parse_seconds("0.25").unwrap(), Duration::from_millis(250));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("NaN").is_err());
        assert!(parse_seconds("1e30").is_err());
        assert!(parse_progress_interval("0").is_err());
        assert!(parse_progress_interval("16").is_err());
        assert!(parse_decision_timeout("90000").is_err());
        assert_eq!(parse_limit("64").unwrap(), 64);
        for bad in ["0", "-1", "x", "10001", "1.5"] {
            assert!(parse_limit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn run_defaults_follow_the_contract() {
        let cli = Cli::try_parse_from([
            "supervise",
            "run",
            "--listen",
            "127.0.0.1:9100",
            "--queue",
            "q",
            "--current-config",
            "c",
        ])
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!()
        };
        assert_eq!(run.decision_timeout, Duration::from_secs(600));
        assert_eq!(run.progress_interval, Duration::from_secs(10));
        assert!(run.allowed_hosts.is_empty());
        assert_eq!((run.max_pending, run.max_waiting), (64, 32));
    }
}
