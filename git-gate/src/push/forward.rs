//! Forwarding a scanned push to the upstream: one `git push`, compare-and-swap per ref.
//!
//! Each ref is pushed with `--force-with-lease=<ref>:<old>` (empty for a new
//! ref), where `<old>` is what the client saw in the mirror. The upstream
//! therefore only moves if it still holds what the client based its push
//! on; the upstream's own rules (non-fast-forward, protected branches) apply
//! and its per-ref verdict comes back from `--porcelain`.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::report::{RefUpdate, UpstreamResult};

/// Lines of the upstream's own messages relayed to the client.
const MAX_RELAYED_LINES: usize = 20;

/// What forwarding produced: a result per ref and the upstream's `remote:` messages.
#[derive(Debug, Default)]
pub struct Forwarded {
    /// Per-ref outcome, in the order of the updates.
    pub results: Vec<UpstreamResult>,
    /// What the upstream printed for the pusher (e.g. why a protected branch refused).
    pub messages: Vec<String>,
}

/// Push `updates` from the mirror at `mirror` to `origin`; `atomic` asks the upstream for all-or-nothing.
pub fn forward(mirror: &Path, updates: &[RefUpdate], atomic: bool, limit: Duration) -> Forwarded {
    let mut cmd = Command::new("git");
    cmd.current_dir(mirror)
        .args(["push", "--porcelain", "--no-verify"]);
    if atomic {
        cmd.arg("--atomic");
    }
    for u in updates {
        let expect = if is_zero(&u.old) { "" } else { &u.old };
        cmd.arg(format!("--force-with-lease={}:{expect}", u.name));
    }
    cmd.arg("origin");
    for u in updates {
        if is_zero(&u.new) {
            cmd.arg(format!(":{}", u.name));
        } else {
            cmd.arg(format!("{}:{}", u.new, u.name));
        }
    }
    match run_with_timeout(cmd, limit) {
        Ok((stdout, stderr)) => Forwarded {
            results: results_from(updates, &stdout, &stderr),
            messages: upstream_messages(&stderr),
        },
        Err(e) => Forwarded {
            results: fail_all(updates, &e),
            messages: Vec::new(),
        },
    }
}

/// The `remote: ` lines of git's stderr: the upstream speaking to the pusher.
fn upstream_messages(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("remote: "))
        .map(|l| {
            l.chars()
                .filter(|c| !c.is_control())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .filter(|l| !l.is_empty())
        .take(MAX_RELAYED_LINES)
        .collect()
}

fn is_zero(oid: &str) -> bool {
    oid.bytes().all(|b| b == b'0')
}

fn fail_all(updates: &[RefUpdate], reason: &str) -> Vec<UpstreamResult> {
    updates
        .iter()
        .map(|u| UpstreamResult {
            name: u.name.clone(),
            ok: false,
            reason: Some(reason.to_string()),
        })
        .collect()
}

/// Map `git push --porcelain` output to a result per update; refs it does not mention failed.
pub fn results_from(updates: &[RefUpdate], stdout: &str, stderr: &str) -> Vec<UpstreamResult> {
    let lines: Vec<(char, &str, &str)> = stdout
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, '\t');
            let flag = parts.next()?.chars().next()?;
            let spec = parts.next()?;
            let summary = parts.next().unwrap_or("");
            let dst = spec.rsplit_once(':').map_or(spec, |(_, d)| d);
            Some((flag, dst, summary))
        })
        .collect();
    let fallback = crate::mirror::explain_failure(stderr);
    updates
        .iter()
        .map(|u| match lines.iter().find(|(_, dst, _)| *dst == u.name) {
            Some(('!', _, summary)) => UpstreamResult {
                name: u.name.clone(),
                ok: false,
                reason: Some(rejection_reason(summary)),
            },
            Some((_, _, summary)) => UpstreamResult {
                name: u.name.clone(),
                ok: true,
                reason: Some(summary.trim().to_string()).filter(|s| !s.is_empty()),
            },
            None => UpstreamResult {
                name: u.name.clone(),
                ok: false,
                reason: Some(format!("upstream push failed: {fallback}")),
            },
        })
        .collect()
}

/// `[remote rejected] (non-fast-forward)` → `upstream rejected: non-fast-forward`.
fn rejection_reason(summary: &str) -> String {
    let detail = summary
        .split_once('(')
        .map(|(_, r)| r.trim_end().trim_end_matches(')'))
        .unwrap_or(summary)
        .trim();
    match detail {
        "stale info" => {
            "the upstream changed since you fetched (stale info); fetch and retry".to_string()
        }
        "fetch first" => "the upstream has commits you do not have; fetch and retry".to_string(),
        d => format!("upstream rejected: {d}"),
    }
}

fn run_with_timeout(mut cmd: Command, limit: Duration) -> Result<(String, String), String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git push: {e}"))?;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let out_reader = std::thread::spawn(move || read_all(out.as_mut()));
    let err_reader = std::thread::spawn(move || read_all(err.as_mut()));
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "forwarding to the upstream did not finish within {}s (timeouts.push)",
                    limit.as_secs()
                ));
            }
        }
    }
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Ok((stdout, stderr))
}

fn read_all<R: Read>(r: Option<&mut R>) -> String {
    let mut buf = Vec::new();
    if let Some(r) = r {
        let _ = r.take(1 << 20).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upd(name: &str) -> RefUpdate {
        RefUpdate {
            name: name.into(),
            old: "0".repeat(40),
            new: "a".repeat(40),
        }
    }

    #[test]
    fn porcelain_is_mapped_per_ref() {
        let updates = [
            upd("refs/heads/main"),
            upd("refs/heads/y"),
            upd("refs/tags/v1"),
            upd("refs/heads/gone"),
        ];
        let stdout = "To ssh://x/y\n\
            !\taaaa:refs/heads/main\t[remote rejected] (non-fast-forward)\n\
            *\taaaa:refs/heads/y\t[new branch]\n\
            !\taaaa:refs/tags/v1\t[rejected] (stale info)\n\
            Done\n";
        let r = results_from(
            &updates,
            stdout,
            "ssh: connect to host x port 22: Connection refused",
        );
        assert_eq!(
            r[0].reason.as_deref(),
            Some("upstream rejected: non-fast-forward")
        );
        assert!(!r[0].ok);
        assert!(r[1].ok);
        assert!(r[2].reason.as_deref().unwrap().contains("stale info"));
        assert!(!r[3].ok);
        assert!(
            r[3].reason
                .as_deref()
                .unwrap()
                .contains("connection refused")
        );
    }
}
