//! `bottle dashboard`: see the dashboard module.

use super::Home;

/// Run the terminal UI.
pub async fn dashboard(home: &Home) -> anyhow::Result<u8> {
    crate::dashboard::run(home).await
}
