//! The `egress-proxy` binary: see `egress-proxy --help`.

use std::process::ExitCode;

use clap::Parser;
use egress_proxy::ca::init_ca_dir;
use egress_proxy::cli::{CaCommand, Cli, Command};
use egress_proxy::routes::{TlsMode, load_routes_file};

fn main() -> ExitCode {
    let cli = Cli::parse();
    bottle_common::logging::init("info");
    match cli.command {
        Command::Run(args) => match egress_proxy::run::run(*args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("egress-proxy: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Ca(CaCommand::Init { out }) => match init_ca_dir(&out, "bottle egress-proxy CA") {
            Ok((cert, key)) => {
                println!("wrote {} and {}", cert.display(), key.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("egress-proxy: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Check { file } => match load_routes_file(&file) {
            Ok(routes) => {
                let total = routes.routes.len();
                let passthrough = routes
                    .routes
                    .iter()
                    .filter(|r| r.tls == TlsMode::Passthrough)
                    .count();
                let credentials = routes.routes.iter().filter(|r| r.auth.is_some()).count();
                println!(
                    "{}: ok: {total} route{} ({} intercepted, {passthrough} passthrough, {credentials} with credentials)",
                    file.display(),
                    if total == 1 { "" } else { "s" },
                    total - passthrough
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::FAILURE
            }
        },
    }
}
