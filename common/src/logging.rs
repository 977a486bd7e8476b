//! Structured logs on stderr for every bottle binary, configured the same way.

use tracing_subscriber::EnvFilter;

/// Start logging to stderr at `default_level`, overridable with `RUST_LOG`;
/// `BOTTLE_LOG_FORMAT=json` switches to one JSON object per line.
pub fn init(default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let json = std::env::var("BOTTLE_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = if json {
        builder.json().try_init()
    } else {
        builder.with_ansi(atty_stderr()).try_init()
    };
    let _ = result;
}

fn atty_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}
