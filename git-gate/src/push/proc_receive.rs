//! `git-gate hook proc-receive`: forward the (already scanned) push upstream and report per ref.
//!
//! `receive-pack` runs this instead of updating refs itself (the gate sets
//! `receive.procReceiveRefs=refs/`). It speaks the proc-receive pkt-line
//! protocol: version negotiation, the commands, then one `ok <ref>` or
//! `ng <ref> <reason>` per command, which the client shows as the push result.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use super::forward::forward;
use super::pre_receive::is_oid;
use super::report::{
    FORWARD_FILE, ForwardReport, HookContext, RefUpdate, UpstreamResult, write_report,
};
use crate::pktline::{FLUSH, Pkt, chomp, read_pkt, write_pkt};

/// Largest proc-receive pkt-line accepted (git's own limit).
const MAX_LINE: usize = crate::pktline::MAX_PKT_LEN;

/// Run the hook over `input`/`output` (receive-pack's pipes). Returns the exit code.
pub fn run(
    session: &Path,
    ctx: &HookContext,
    input: &mut impl Read,
    output: &mut impl Write,
    stderr: &mut impl Write,
) -> i32 {
    let started = Instant::now();
    let (atomic, updates) = match negotiate(input, output) {
        Ok(v) => v,
        Err(e) => {
            let _ = writeln!(stderr, "git-gate: push refused: {e}");
            return 1;
        }
    };
    let forwarded = forward(
        &ctx.mirror,
        &updates,
        atomic,
        Duration::from_secs(ctx.push_timeout_secs),
    );
    for m in &forwarded.messages {
        let _ = writeln!(stderr, "git-gate: upstream: {m}");
    }
    let results = forwarded.results;
    update_mirror(&ctx.mirror, &updates, &results, stderr);
    let mut wire = Vec::new();
    for r in &results {
        let line = if r.ok {
            format!("ok {}", r.name)
        } else {
            format!(
                "ng {} {}",
                r.name,
                one_line(r.reason.as_deref().unwrap_or("upstream rejected"))
            )
        };
        let _ = write_pkt(&mut wire, line.as_bytes());
    }
    wire.extend_from_slice(FLUSH);
    let sent = output.write_all(&wire).and_then(|_| output.flush());
    let report = ForwardReport {
        results,
        atomic,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    let _ = write_report(session, FORWARD_FILE, &report);
    tell(stderr, &report);
    if sent.is_ok() { 0 } else { 1 }
}

/// Version negotiation and commands; returns whether the push is atomic, and the updates.
fn negotiate(
    input: &mut impl Read,
    output: &mut impl Write,
) -> Result<(bool, Vec<RefUpdate>), String> {
    let first = match read_pkt(input, MAX_LINE).map_err(|e| e.to_string())? {
        Pkt::Data(d) => d,
        other => {
            return Err(format!(
                "proc-receive: expected a version line, got {other:?}"
            ));
        }
    };
    let (version, features) = match first.iter().position(|&b| b == 0) {
        Some(i) => (&first[..i], chomp(&first[i + 1..])),
        None => (chomp(&first), &b""[..]),
    };
    if version != b"version=1" {
        return Err(format!(
            "proc-receive: unsupported protocol {:?}",
            String::from_utf8_lossy(version)
        ));
    }
    let atomic = features.split(|&b| b == b' ').any(|f| f == b"atomic");
    expect_flush(input)?;
    let mut hello = Vec::new();
    write_pkt(&mut hello, b"version=1\0").map_err(|e| e.to_string())?;
    hello.extend_from_slice(FLUSH);
    output
        .write_all(&hello)
        .and_then(|_| output.flush())
        .map_err(|e| format!("proc-receive: {e}"))?;
    let mut updates = Vec::new();
    loop {
        match read_pkt(input, MAX_LINE).map_err(|e| e.to_string())? {
            Pkt::Flush => break,
            Pkt::Data(d) => {
                let line = String::from_utf8_lossy(chomp(&d)).into_owned();
                let mut f = line.splitn(3, ' ');
                match (f.next(), f.next(), f.next()) {
                    (Some(old), Some(new), Some(name)) if is_oid(old) && is_oid(new) => updates
                        .push(RefUpdate {
                            name: name.to_string(),
                            old: old.to_string(),
                            new: new.to_string(),
                        }),
                    _ => return Err(format!("proc-receive: malformed command {line:?}")),
                }
            }
            other => return Err(format!("proc-receive: unexpected {other:?}")),
        }
    }
    Ok((atomic, updates))
}

fn expect_flush(input: &mut impl Read) -> Result<(), String> {
    match read_pkt(input, MAX_LINE).map_err(|e| e.to_string())? {
        Pkt::Flush => Ok(()),
        other => Err(format!("proc-receive: expected flush, got {other:?}")),
    }
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(400)
        .collect()
}

/// Make the mirror show what the upstream now has for the branches and tags that moved.
fn update_mirror(
    mirror: &Path,
    updates: &[RefUpdate],
    results: &[UpstreamResult],
    stderr: &mut impl Write,
) {
    let Ok(repo) = git2::Repository::open_bare(mirror) else {
        return;
    };
    for (u, r) in updates.iter().zip(results) {
        if !r.ok || !(u.name.starts_with("refs/heads/") || u.name.starts_with("refs/tags/")) {
            continue;
        }
        let outcome = if u.new.bytes().all(|b| b == b'0') {
            repo.find_reference(&u.name).and_then(|mut r| r.delete())
        } else {
            git2::Oid::from_str(&u.new)
                .and_then(|oid| repo.reference(&u.name, oid, true, "git-gate: forwarded push"))
                .map(|_| ())
        };
        if let Err(e) = outcome {
            let _ = writeln!(
                stderr,
                "git-gate: note: the mirror will pick up {} on the next fetch ({})",
                u.name,
                e.message()
            );
        }
    }
}

fn tell(w: &mut impl Write, r: &ForwardReport) {
    let ok = r.results.iter().filter(|x| x.ok).count();
    let failed = r.results.len() - ok;
    let _ = if failed == 0 {
        writeln!(w, "git-gate: the upstream accepted {ok} ref update(s)")
    } else {
        writeln!(
            w,
            "git-gate: the upstream refused {failed} of {} ref update(s); see the per-ref reasons below",
            r.results.len()
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pktline::encode;

    #[test]
    fn negotiation_reads_features_and_commands() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        let mut input = encode(b"version=1\0push-options atomic");
        input.extend_from_slice(FLUSH);
        input.extend(encode(format!("{z} {a} refs/heads/main").as_bytes()));
        input.extend(encode(format!("{a} {z} refs/heads/old\n").as_bytes()));
        input.extend_from_slice(FLUSH);
        let mut out = Vec::new();
        let (atomic, updates) = negotiate(&mut &input[..], &mut out).unwrap();
        assert!(atomic);
        assert_eq!(updates.len(), 2);
        assert_eq!(updates[1].name, "refs/heads/old");
        assert_eq!(out, b"000eversion=1\x000000".to_vec());
    }

    #[test]
    fn malformed_input_is_an_error() {
        let mut input = encode(b"version=2\0");
        input.extend_from_slice(FLUSH);
        assert!(negotiate(&mut &input[..], &mut Vec::new()).is_err());
        let mut input = encode(b"version=1\0");
        input.extend_from_slice(FLUSH);
        input.extend(encode(b"nonsense"));
        assert!(negotiate(&mut &input[..], &mut Vec::new()).is_err());
        assert!(negotiate(&mut &b"00"[..], &mut Vec::new()).is_err());
    }
}
