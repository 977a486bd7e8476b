//! `git-gate`: a git:// mirror that scans every push for secrets and holds the upstream push key.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use bottle_common::audit::AuditLog;
use clap::{Parser, Subcommand};
use git_gate::config::load_settings;
use git_gate::daemon::Gate;
use git_gate::scan::{Finding, Scanner};

/// Default for `scan --max-bytes`: each input is read whole into memory, so it is bounded.
const DEFAULT_SCAN_MAX_BYTES: u64 = 1 << 30;

/// A git:// mirror in front of your real remotes: fetches are always fresh,
/// pushes are scanned for secrets and forwarded with the gate's own SSH key.
#[derive(Debug, Parser)]
#[command(name = "git-gate", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the repos in a config file over the git daemon protocol.
    Run {
        /// The git-gate.yaml to serve.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Scan files, directories or standard input for secrets with the gate's scanner.
    ///
    /// Prints `path:line rule (description; secret redacted, N chars)` per finding.
    /// Exit status: 0 clean, 1 findings, 2 error.
    Scan {
        /// A gitleaks-format TOML rules file (added to the built-in pack).
        #[arg(long, value_name = "FILE")]
        rules: Option<PathBuf>,
        /// With --rules: use only that file's rules, not the built-in pack.
        #[arg(long, requires = "rules")]
        no_default_rules: bool,
        /// Largest file (or standard input) scanned; a bigger one is an error (exit 2).
        #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_SCAN_MAX_BYTES)]
        max_bytes: u64,
        /// Files or directories to scan; `-` reads standard input.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Validate a config file (and the rules file it names); errors read file:line:col.
    Check {
        /// The git-gate.yaml to check.
        #[arg(value_name = "FILE")]
        config: PathBuf,
    },
    /// Entry point for the git hooks the gate installs (run by receive-pack, not by people).
    #[command(hide = true)]
    Hook {
        /// `pre-receive` or `proc-receive`.
        #[arg(value_parser = ["pre-receive", "proc-receive"])]
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config } => exit(run(&config), 1),
        Command::Check { config } => exit(check(&config), 1),
        Command::Scan {
            rules,
            no_default_rules,
            max_bytes,
            paths,
        } => match scan(rules.as_deref(), !no_default_rules, max_bytes, &paths) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("git-gate scan: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Hook { name } => match git_gate::push::run_hook(&name) {
            Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            Err(e) => {
                eprintln!("git-gate: push refused: {e}");
                ExitCode::from(1)
            }
        },
    }
}

fn exit(result: anyhow::Result<()>, code: u8) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("git-gate: {e:#}");
            ExitCode::from(code)
        }
    }
}

fn check(config: &Path) -> anyhow::Result<()> {
    let settings = load_settings(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    Scanner::load(
        settings.scanner.rules.as_deref(),
        settings.scanner.extend_default,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "{}: ok ({} repo(s): {})",
        config.display(),
        settings.repos.len(),
        settings
            .repos
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn run(config: &Path) -> anyhow::Result<()> {
    bottle_common::logging::init("info");
    let settings = load_settings(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    Scanner::load(
        settings.scanner.rules.as_deref(),
        settings.scanner.extend_default,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let audit = match &settings.audit_log {
        Some(p) => AuditLog::open(p)?,
        None => AuditLog::disabled(),
    };
    let binary =
        std::env::current_exe().context("cannot locate the git-gate executable for the hooks")?;
    let listen = settings.listen;
    let gate = Arc::new(Gate::prepare(settings, &binary, audit)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        tracing::info!(listen = %listener.local_addr()?, "git-gate serving");
        gate.serve(listener, shutdown_signal()).await;
        tracing::info!("git-gate stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Scan `paths`; `Ok(true)` when clean.
fn scan(
    rules: Option<&Path>,
    extend_default: bool,
    max_bytes: u64,
    paths: &[PathBuf],
) -> anyhow::Result<bool> {
    let scanner = Scanner::load(rules, extend_default).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut clean = true;
    let mut out = std::io::stdout().lock();
    for path in paths {
        if path == Path::new("-") {
            let buf = read_bounded(std::io::stdin().lock(), max_bytes, "standard input")?;
            clean &= report(&mut out, "<stdin>", &scanner.scan_blob(None, None, &buf))?;
        } else {
            clean &= scan_path(&scanner, path, max_bytes, &mut out)?;
        }
    }
    Ok(clean)
}

/// Read all of `input`, failing once it passes `max_bytes` rather than growing without bound.
fn read_bounded(input: impl Read, max_bytes: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    input
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut buf)
        .with_context(|| format!("cannot read {what}"))?;
    if buf.len() as u64 > max_bytes {
        anyhow::bail!(
            "{what} is larger than {max_bytes} bytes, the scan limit; raise --max-bytes or split the input"
        );
    }
    Ok(buf)
}

fn scan_path(
    scanner: &Scanner,
    path: &Path,
    max_bytes: u64,
    out: &mut impl std::io::Write,
) -> anyhow::Result<bool> {
    let meta = std::fs::symlink_metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("cannot list {}", path.display()))?
            .collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        let mut clean = true;
        for e in entries {
            if e.file_name() == ".git" {
                continue;
            }
            clean &= scan_path(scanner, &e.path(), max_bytes, out)?;
        }
        return Ok(clean);
    }
    if !meta.is_file() {
        return Ok(true);
    }
    let shown = path.to_string_lossy();
    if meta.len() > max_bytes {
        anyhow::bail!(
            "{shown} is {} bytes, larger than {max_bytes} bytes, the scan limit; raise --max-bytes or split the file",
            meta.len()
        );
    }
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bytes = read_bounded(file, max_bytes, &shown)?;
    report(out, &shown, &scanner.scan_blob(Some(&shown), None, &bytes))
}

fn report(out: &mut impl std::io::Write, name: &str, findings: &[Finding]) -> anyhow::Result<bool> {
    for f in findings {
        let at = match f.line {
            Some(l) => format!("{name}:{l}"),
            None => format!("{name} (binary)"),
        };
        writeln!(
            out,
            "{at} {} ({}; secret redacted, {} chars)",
            f.rule, f.description, f.secret_len
        )?;
    }
    Ok(findings.is_empty())
}
