//! Command-line interface: `run`, `ca init` and `check`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// A credential-injecting, default-deny MITM egress proxy.
///
/// Agents point HTTPS_PROXY/HTTP_PROXY at it; it lets through only what the
/// routes file allows, injects the routes' credentials so the agent never
/// holds them, and explains every refusal.
#[derive(Debug, Parser)]
#[command(name = "egress-proxy", version, about, long_about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy.
    Run(Box<RunArgs>),
    /// Manage the certificate authority the proxy signs leaf certificates with.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Validate a routes file: prints a summary and exits 0, or prints file:line:col errors and exits 1.
    Check {
        /// The routes file.
        file: PathBuf,
    },
}

/// CA subcommands.
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Write a new ECDSA P-256 CA as DIR/ca.pem (0644) and DIR/ca-key.pem (0600); never overwrites.
    Init {
        /// Directory to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// Options of `egress-proxy run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Address to listen on, e.g. 0.0.0.0:8080 or 127.0.0.1:3128.
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// The routes file (re-read on SIGHUP).
    #[arg(long, value_name = "FILE")]
    pub routes: PathBuf,
    /// CA certificate (PEM) that signs leaf certificates; clients must trust it.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: PathBuf,
    /// CA private key (PEM, PKCS#8).
    #[arg(long, value_name = "FILE")]
    pub ca_key: PathBuf,
    /// Extra CA certificate(s) to trust for outbound TLS, on top of the system roots (repeatable); put the upstream proxy's MITM CA here.
    #[arg(long, value_name = "FILE")]
    pub trust_ca: Vec<PathBuf>,
    /// Send every outbound connection through this HTTP proxy (http://host:port); without it HTTPS_PROXY/HTTP_PROXY/NO_PROXY apply.
    #[arg(long, value_name = "URL")]
    pub upstream_proxy: Option<String>,
    /// Append one JSON line per request decision to FILE (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Most hosts whose leaf certificate is kept (least recently used are evicted).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub leaf_cache_size: usize,
    /// Time to read a request head; also the idle wait between keep-alive requests and before a tunnel's first byte.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub client_header_timeout: Duration,
    /// Time for a client's TLS handshake with the proxy.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,
    /// Time to connect to an origin or the upstream proxy (including its CONNECT answer and DNS).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Time to wait for an origin's response headers (bodies stream without a limit).
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = parse_duration)]
    pub response_header_timeout: Duration,
    /// Close a client connection or tunnel when no byte has moved either way for this long.
    #[arg(long, value_name = "DURATION", default_value = "300s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// On SIGTERM/SIGINT, how long to let in-flight requests and tunnels finish.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// Largest request head (HTTP/1.1) or header list (HTTP/2), in bytes; larger gets 431.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,
    /// Most header lines in an HTTP/1.1 request; more gets 431.
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub max_headers: usize,
    /// Concurrent streams allowed per client HTTP/2 connection.
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub h2_max_streams: u32,
    /// Concurrent client connections; further connections wait to be accepted.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_connections: usize,
}

/// Parse `250ms`, `30s`, `5m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (write e.g. 500ms, 30s or 5m)"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("`{s}`: unknown unit `{unit}` (use ms, s or m)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        for bad in ["", "s", "1h", "-1s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
