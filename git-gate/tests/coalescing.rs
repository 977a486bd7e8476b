//! Concurrent requests share upstream round trips, and none is answered by a sync that began before it.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::{Options, World};

#[test]
fn concurrent_fetches_share_one_upstream_sync() {
    let w = World::start(Options::default());
    w.git_ok(w.dir.path(), &["ls-remote", &w.url("app")]);
    let before = w.sshd.commands().len();
    w.sshd.set_delay(0.4);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| w.git_ok(w.dir.path(), &["ls-remote", &w.url("app")])))
            .collect();
        for h in handles {
            assert!(h.join().unwrap().contains("refs/heads/main"));
        }
    });
    let upstream_calls = w.sshd.commands().len() - before;
    assert!(
        upstream_calls <= 2,
        "8 concurrent fetches cost {upstream_calls} upstream round trips: {:?}",
        w.sshd.commands()
    );
    let recs = w.wait_audit("fetch", 9);
    let rounds: BTreeSet<u64> = recs[1..]
        .iter()
        .map(|r| r["sync"]["id"].as_u64().unwrap())
        .collect();
    assert!(rounds.len() <= 2, "sync rounds used: {rounds:?}");
}

#[test]
fn a_request_arriving_mid_sync_waits_for_a_fresh_one() {
    let w = World::start(Options::default());
    w.git_ok(w.dir.path(), &["ls-remote", &w.url("app")]);
    w.sshd.set_linger(1.0);
    std::thread::scope(|s| {
        let early = s.spawn(|| w.git_ok(w.dir.path(), &["ls-remote", &w.url("app")]));
        std::thread::sleep(Duration::from_millis(300));
        w.sshd.set_linger(0.0);
        let fresh = w.upstream_commit("app", "main", "late.txt");
        let late = s.spawn(|| w.git_ok(w.dir.path(), &["ls-remote", &w.url("app")]));
        assert!(early.join().unwrap().contains("refs/heads/main"));
        let late = late.join().unwrap();
        assert!(
            late.contains(&fresh),
            "the late request must see the commit made before it arrived:\n{late}"
        );
    });
}

#[test]
fn all_waiters_of_a_failed_sync_get_its_error() {
    let w = World::start(Options::default());
    w.git_ok(w.dir.path(), &["ls-remote", &w.url("app")]);
    w.sshd.set_delay(0.5);
    let upstream = w.upstream("app");
    let hidden = w.dir.path().join("upstream/hidden.git");
    std::thread::scope(|s| {
        let first = s.spawn(|| w.git(w.dir.path(), &["ls-remote", &w.url("app")]));
        std::thread::sleep(Duration::from_millis(100));
        std::fs::rename(&upstream, &hidden).unwrap();
        let rest: Vec<_> = (0..4)
            .map(|_| s.spawn(|| w.git(w.dir.path(), &["ls-remote", &w.url("app")])))
            .collect();
        let _ = first.join().unwrap();
        for h in rest {
            let out = h.join().unwrap();
            assert!(!out.status.success());
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("upstream sync failed"), "{stderr}");
        }
    });
    let recs = w.wait_audit("fetch", 6);
    let failed: BTreeSet<u64> = recs
        .iter()
        .filter(|r| r["sync"]["result"] == "error")
        .map(|r| r["sync"]["id"].as_u64().unwrap())
        .collect();
    assert!(
        failed.len() <= 2,
        "the failing waiters shared rounds: {failed:?}"
    );
}
