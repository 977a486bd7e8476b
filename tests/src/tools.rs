//! Locating the programs tests drive: our own binaries and installed tools.

use std::path::PathBuf;

/// Path of a workspace binary (`egress-proxy`, `git-gate`, `supervise`, `bottle`).
///
/// Tests run from `target/<profile>/deps/`; the binaries sit one level up.
/// `cargo nextest run --workspace` and `cargo test --workspace` build them first.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests with `cargo nextest run --workspace` (or scripts/test)",
        path.display()
    );
    path
}

/// A tool the test environment provides, from an env var set by `scripts/test-env` or PATH.
pub fn required_tool(env_var: &str, fallback_name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env_var) {
        return PathBuf::from(p);
    }
    for dir in std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin".into(), "/sbin".into()])
    {
        let candidate = dir.join(fallback_name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "{fallback_name} is not installed (and ${env_var} is unset); run `eval \"$(scripts/test-env)\"` \
         or use scripts/test, which installs it"
    );
}
