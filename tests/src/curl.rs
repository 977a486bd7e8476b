//! curl as an independent HTTP client in tests.

use std::path::Path;
use std::process::Command;

use crate::tools::required_tool;

/// What a curl run produced.
#[derive(Debug, Clone)]
pub struct CurlOutput {
    /// HTTP status of the last response (0 when none).
    pub status: u16,
    /// Response body.
    pub body: String,
    /// curl's stderr (its error message on failure).
    pub stderr: String,
    /// curl's exit code (0 = transfer succeeded).
    pub exit: i32,
}

/// Run curl with `args` (the URL included) and collect status, body and errors.
pub fn curl(args: &[&str]) -> CurlOutput {
    let curl = required_tool("BOTTLE_TEST_CURL", "curl");
    let dir = tempfile::tempdir().expect("temp dir for curl");
    let body_path = dir.path().join("body");
    let out = Command::new(curl)
        .args(["-sS", "--max-time", "30", "-o"])
        .arg(&body_path)
        .args(["-w", "%{http_code}"])
        .args(args)
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .expect("run curl");
    CurlOutput {
        status: String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0),
        body: std::fs::read_to_string(&body_path).unwrap_or_default(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        exit: out.status.code().unwrap_or(-1),
    }
}

/// curl through `proxy` trusting `cacert`, plus `args`.
pub fn curl_via(proxy: &str, cacert: &Path, args: &[&str]) -> CurlOutput {
    let cacert = cacert.to_string_lossy().into_owned();
    let mut all = vec!["--proxy", proxy, "--cacert", cacert.as_str()];
    all.extend_from_slice(args);
    curl(&all)
}
