//! `bottle stop ID`: tear a bottle down, keeping its state directory.

use super::{Home, host_ids};
use crate::compose::Compose;

/// Stop bottle `id`.
pub async fn stop(home: &Home, id: &str) -> anyhow::Result<u8> {
    let state = home.existing(id)?;
    crate::docker::check_engine().await?;
    let compose = Compose::detect().await?;
    super::start::teardown(&compose, &state, host_ids()?).await;
    println!("stopped {id}; state kept in {}", super::show(state.root()));
    Ok(0)
}
