//! `git-gate hook pre-receive`: scan the quarantined push; any finding, error or timeout refuses it.

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::inspect::{Inspection, inspect_push};
use super::report::{HookContext, RefUpdate, SCAN_FILE, ScanReport, Verdict, write_report};
use crate::scan::Scanner;

/// Findings listed to the person pushing (all are in the audit log).
const SHOWN_FINDINGS: usize = 25;

/// Run the hook: `stdin` carries `<old> <new> <ref>` lines. Returns the exit code.
pub fn run(session: &Path, ctx: &HookContext, stdin: impl BufRead, stderr: &mut impl Write) -> i32 {
    let started = Instant::now();
    let refs = match read_updates(stdin) {
        Ok(r) => r,
        Err(e) => return refuse_with_error(session, Vec::new(), started, &e, stderr),
    };
    let (tx, rx) = mpsc::channel();
    {
        let ctx = ctx.clone();
        let refs = refs.clone();
        std::thread::spawn(move || {
            let _ = tx.send(scan(&ctx, &refs));
        });
    }
    let limit = Duration::from_secs(ctx.scan_timeout_secs);
    let result = match rx.recv_timeout(limit) {
        Ok(r) => r,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
            "the secret scan did not finish within {}s (timeouts.scan)",
            limit.as_secs()
        )),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("the secret scanner crashed".to_string()),
    };
    let ins = match result {
        Ok(ins) => ins,
        Err(e) => return refuse_with_error(session, refs, started, &e, stderr),
    };
    let verdict = if ins.findings.is_empty() && ins.oversized.is_empty() {
        Verdict::Clean
    } else {
        Verdict::Rejected
    };
    let refs = refs
        .into_iter()
        .map(|u| RefUpdate {
            name: ins.redactions.apply(&u.name),
            ..u
        })
        .collect();
    let report = ScanReport {
        refs,
        commits: ins.commits,
        bytes: ins.bytes,
        findings: ins.findings,
        oversized: ins.oversized,
        verdict,
        error: None,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    let _ = write_report(session, SCAN_FILE, &report);
    tell(stderr, &report);
    if verdict == Verdict::Clean { 0 } else { 1 }
}

fn scan(ctx: &HookContext, refs: &[RefUpdate]) -> Result<Inspection, String> {
    let scanner = Scanner::load(ctx.rules.as_deref(), ctx.extend_default)
        .map_err(|e| format!("cannot load the scanner rules: {e}"))?;
    let repo = git2::Repository::open_from_env()
        .map_err(|e| format!("cannot open the pushed objects: {}", e.message()))?;
    inspect_push(&repo, refs, &scanner, ctx.max_blob_bytes)
        .map_err(|e| format!("cannot read the pushed objects: {}", e.message()))
}

fn read_updates(stdin: impl BufRead) -> Result<Vec<RefUpdate>, String> {
    let mut out = Vec::new();
    for line in stdin.lines() {
        let line = line.map_err(|e| format!("cannot read the ref updates: {e}"))?;
        let mut f = line.split(' ');
        match (f.next(), f.next(), f.next(), f.next()) {
            (Some(old), Some(new), Some(name), None)
                if is_oid(old) && is_oid(new) && !name.is_empty() =>
            {
                out.push(RefUpdate {
                    name: name.to_string(),
                    old: old.to_string(),
                    new: new.to_string(),
                })
            }
            _ => return Err(format!("malformed ref update line {line:?}")),
        }
    }
    Ok(out)
}

/// A full hex object id (SHA-1 or SHA-256).
pub fn is_oid(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Ref names the scan could not check are not recorded: one of them may be a secret.
pub const UNSCANNED_REF: &str = "[not recorded: the scan did not complete]";

fn refuse_with_error(
    session: &Path,
    refs: Vec<RefUpdate>,
    started: Instant,
    error: &str,
    stderr: &mut impl Write,
) -> i32 {
    let refs = refs
        .into_iter()
        .map(|u| RefUpdate {
            name: UNSCANNED_REF.to_string(),
            ..u
        })
        .collect();
    let report = ScanReport {
        refs,
        commits: 0,
        bytes: 0,
        findings: Vec::new(),
        oversized: Vec::new(),
        verdict: Verdict::Error,
        error: Some(error.to_string()),
        duration_ms: started.elapsed().as_millis() as u64,
    };
    let _ = write_report(session, SCAN_FILE, &report);
    tell(stderr, &report);
    1
}

/// Explain the verdict to the person pushing (receive-pack shows it as `remote: ...`).
fn tell(w: &mut impl Write, r: &ScanReport) {
    let kib = r.bytes.div_ceil(1024);
    let _ = match r.verdict {
        Verdict::Clean => writeln!(
            w,
            "git-gate: scanned {} commit(s), {kib} KiB: no secrets found; forwarding to the upstream",
            r.commits
        ),
        Verdict::Error => writeln!(
            w,
            "git-gate: push refused: {}\ngit-gate: nothing was sent upstream; the gate refuses pushes it cannot scan.",
            r.error.as_deref().unwrap_or("the scan failed")
        ),
        Verdict::Rejected => {
            let mut text = String::new();
            if !r.findings.is_empty() {
                text.push_str(&format!(
                    "git-gate: push refused: {} secret(s) found\n",
                    r.findings.len()
                ));
                for f in r.findings.iter().take(SHOWN_FINDINGS) {
                    text.push_str(&format!("git-gate:   {}\n", f.describe()));
                }
                if r.findings.len() > SHOWN_FINDINGS {
                    text.push_str(&format!(
                        "git-gate:   ... and {} more\n",
                        r.findings.len() - SHOWN_FINDINGS
                    ));
                }
            }
            if !r.oversized.is_empty() {
                text.push_str("git-gate: push refused: blobs over the scanner's size limit (scanner.max_blob_bytes) cannot be checked:\n");
                for o in &r.oversized {
                    text.push_str(&format!("git-gate:   {o}\n"));
                }
            }
            text.push_str(
                "git-gate: nothing was sent upstream. Remove the secrets from every commit listed\n\
                 git-gate: (rewrite history, e.g. `git rebase -i`, or `git commit --amend` for the\n\
                 git-gate: last commit) and push again. Allow markers and ignore files in the pushed\n\
                 git-gate: content (gitleaks:allow, .gitleaksignore) are not honoured.\n",
            );
            write!(w, "{text}")
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_lines_are_strict() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        let ok = format!("{z} {a} refs/heads/main\n{a} {z} refs/tags/v1\n");
        let u = read_updates(ok.as_bytes()).unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u[1].name, "refs/tags/v1");
        for bad in [
            format!("{z} {a}"),
            format!("{z} xyz refs/heads/x"),
            format!("{z} {a} refs/heads/x extra"),
        ] {
            assert!(read_updates(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
