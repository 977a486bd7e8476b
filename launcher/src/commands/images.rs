//! `bottle images build`: build the sidecar images and the example agent.

use std::path::PathBuf;

use anyhow::Context;

use crate::images::{self, BuildOptions, DEFAULT_BASE_IMAGE};

/// `bottle images build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Images to build (egress-proxy, git-gate, supervise, agent); default all.
    pub images: Vec<String>,
    /// Base image for every Dockerfile (a glibc-based Debian-family image).
    #[arg(long, env = "BOTTLE_BASE_IMAGE", default_value = DEFAULT_BASE_IMAGE)]
    pub base_image: String,
    /// Directory holding the egress-proxy, git-gate and supervise binaries (default: next to `bottle`).
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
}

/// Build the selected images.
pub async fn build(args: BuildArgs) -> anyhow::Result<u8> {
    let specs = images::select(&args.images)?;
    crate::docker::check_engine().await?;
    let bin_dir = match args.bin_dir {
        Some(d) => d,
        None => std::env::current_exe()
            .context("cannot find the bottle executable")?
            .parent()
            .context("the bottle executable has no directory")?
            .to_path_buf(),
    };
    let agent_ids = super::agent_ids(super::host_ids()?);
    images::build(
        &specs,
        &BuildOptions {
            base_image: args.base_image,
            bin_dir,
            agent_ids,
        },
    )
    .await?;
    Ok(0)
}
