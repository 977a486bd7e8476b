//! The current config the agent proposes edits of, read-only.
//!
//! The directory holds `routes.yaml` (egress-proxy format), `allowlist` (one
//! pipelock hostname per line) and `Dockerfile`; any of them may be missing.

use std::path::{Path, PathBuf};

use bottle_common::located::{Source, read_text};
use egress_proxy::routes::load_routes_file;

use crate::queue::Target;

/// A current-config directory.
#[derive(Debug, Clone)]
pub struct CurrentConfig {
    dir: PathBuf,
}

impl CurrentConfig {
    /// The config in `dir`.
    pub fn new(dir: &Path) -> CurrentConfig {
        CurrentConfig {
            dir: dir.to_path_buf(),
        }
    }

    /// Where `target` lives.
    pub fn path(&self, target: Target) -> PathBuf {
        self.dir.join(target.file_name())
    }

    /// The text of `target`; `None` if the file does not exist.
    pub fn read(&self, target: Target) -> Result<Option<String>, String> {
        let path = self.path(target);
        if !path.exists() {
            return Ok(None);
        }
        read_text(&path, &Source::file(&path))
            .map(Some)
            .map_err(|e| e.to_string())
    }

    /// `target` as a proposal's recorded base: its text, `""` if it does not exist, `None`
    /// (with a warning) if it cannot be read.
    pub fn base(&self, target: Target) -> Option<String> {
        match self.read(target) {
            Ok(text) => Some(text.unwrap_or_default()),
            Err(e) => {
                tracing::warn!(
                    "cannot record the current {} with the proposal: {e}",
                    target.file_name()
                );
                None
            }
        }
    }

    /// The current routes re-rendered by the routes parser, so only token *sources* can appear.
    pub fn routes_listing(&self) -> Result<String, String> {
        let path = self.path(Target::Routes);
        if !path.exists() {
            return Ok(
                "# There is no routes.yaml in the current config: egress-proxy refuses every request.\n\
                 routes: []\n"
                    .into(),
            );
        }
        let routes = load_routes_file(&path).map_err(|e| e.to_string())?;
        Ok(format!(
            "# The current egress-proxy routes ({} in total), re-rendered without comments.\n\
             # Credentials are shown by where they come from (token_env/token_file), never by value.\n{}",
            routes.routes.len(),
            routes.to_yaml()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_renders_routes_without_comments() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("routes.yaml"),
            "# token was ghp_secret123 once\nroutes:\n  - host: api.github.com\n    auth: {scheme: bearer, token_env: GH_TOKEN}\n",
        )
        .unwrap();
        let listing = CurrentConfig::new(dir.path()).routes_listing().unwrap();
        assert!(listing.contains("api.github.com"), "{listing}");
        assert!(listing.contains("token_env: GH_TOKEN"), "{listing}");
        assert!(!listing.contains("ghp_secret123"), "{listing}");
    }

    #[test]
    fn missing_and_invalid_routes() {
        let dir = tempfile::tempdir().unwrap();
        let config = CurrentConfig::new(dir.path());
        assert!(config.routes_listing().unwrap().contains("routes: []"));
        assert_eq!(config.read(Target::Dockerfile).unwrap(), None);
        std::fs::write(dir.path().join("routes.yaml"), "routes: [ {hots: x} ]\n").unwrap();
        assert!(
            config
                .routes_listing()
                .unwrap_err()
                .contains("did you mean")
        );
        assert_eq!(config.base(Target::Dockerfile).as_deref(), Some(""));
        std::fs::write(dir.path().join("Dockerfile"), b"FROM \xff\n").unwrap();
        assert!(config.read(Target::Dockerfile).is_err());
        assert_eq!(config.base(Target::Dockerfile), None);
        std::fs::write(dir.path().join("allowlist"), "a.com\n").unwrap();
        assert_eq!(config.base(Target::Allowlist).as_deref(), Some("a.com\n"));
    }
}
