//! Fetch side: clones and fetches through the gate always reflect the upstream.

mod support;

use support::{Options, World};

#[test]
fn clone_fetch_and_ls_remote_follow_the_upstream() {
    let w = World::start(Options::default());
    let work = w.clone("app", "work");
    assert!(work.join("README.md").exists());

    let c1 = w.upstream_commit("app", "main", "one.txt");
    let listed = w.git_ok(w.dir.path(), &["ls-remote", &w.url("app")]);
    assert!(
        listed.contains(&format!("{c1}\trefs/heads/main")),
        "{listed}"
    );
    w.git_ok(&work, &["pull", "-q", "--ff-only"]);
    assert!(
        work.join("one.txt").exists(),
        "pull through the gate brings the out-of-band commit"
    );

    let feature = w.upstream_commit("app", "feature", "f.txt");
    w.git_ok(&work, &["fetch", "-q", "--prune"]);
    let tip = w.git_ok(&work, &["rev-parse", "origin/feature"]);
    assert_eq!(tip.trim(), feature);

    w.git_ok(
        w.dir.path(),
        &[
            "--git-dir",
            w.upstream("app").to_str().unwrap(),
            "branch",
            "-D",
            "feature",
        ],
    );
    w.git_ok(&work, &["fetch", "-q", "--prune"]);
    assert!(
        !w.git(&work, &["rev-parse", "--verify", "-q", "origin/feature"])
            .status
            .success(),
        "a branch deleted upstream is pruned through the gate"
    );

    let recs = w.wait_audit("fetch", 5);
    assert!(
        recs.iter()
            .all(|r| r["repo"] == "app" && r["outcome"] == "served"),
        "{recs:#?}"
    );
    assert!(recs.iter().any(|r| r["sync"]["result"] == "fetched"));
    assert!(recs.iter().all(|r| r["sync"]["duration_ms"].is_u64()));
    let moved = &recs[1]["sync"];
    assert_eq!(moved["refs_changed"], 1, "{moved:#}");
    assert_eq!(moved["refs"][0]["ref"], "refs/heads/main");
    assert_eq!(moved["refs"][0]["new"], c1.as_str());
    assert_eq!(
        moved["refs"][0]["old"].as_str().map(str::len),
        Some(40),
        "{moved:#}"
    );
    assert!(
        recs[2]["sync"].get("refs").is_none(),
        "a skipped sync lists nothing"
    );
    assert_eq!(recs[3]["sync"]["refs"][0]["ref"], "refs/heads/feature");
    assert_eq!(recs[3]["sync"]["refs"][0]["old"], "0".repeat(40));
    let pruned = &recs[4]["sync"]["refs"][0];
    assert_eq!(pruned["ref"], "refs/heads/feature");
    assert_eq!(pruned["old"], feature.as_str());
    assert_eq!(pruned["new"], "0".repeat(40));
}

#[test]
fn unchanged_upstream_takes_the_fast_path() {
    let w = World::start(Options::default());
    w.git_ok(w.dir.path(), &["ls-remote", &w.url("app")]);
    w.git_ok(w.dir.path(), &["ls-remote", &w.url("app")]);
    let recs = w.wait_audit("fetch", 2);
    assert_eq!(
        recs[0]["sync"]["result"], "fetched",
        "first sync fills the empty mirror"
    );
    assert_eq!(
        recs[1]["sync"]["result"], "skipped",
        "second sync finds nothing to fetch"
    );
    let fetches = w
        .sshd
        .commands()
        .iter()
        .filter(|c| c.starts_with("git-upload-pack"))
        .count();
    assert_eq!(
        fetches,
        3,
        "two ls-remote round trips and one fetch: {:?}",
        w.sshd.commands()
    );
}

#[test]
fn head_follows_the_upstream_default_branch() {
    let w = World::start(Options::default());
    let dev = w.upstream_commit("app", "dev", "dev.txt");
    w.git_ok(
        w.dir.path(),
        &[
            "--git-dir",
            w.upstream("app").to_str().unwrap(),
            "symbolic-ref",
            "HEAD",
            "refs/heads/dev",
        ],
    );
    let listed = w.git_ok(
        w.dir.path(),
        &["ls-remote", "--symref", &w.url("app"), "HEAD"],
    );
    assert!(listed.starts_with("ref: refs/heads/dev\tHEAD"), "{listed}");
    let work = w.clone("app", "work");
    assert_eq!(
        w.git_ok(&work, &["rev-parse", "--abbrev-ref", "HEAD"])
            .trim(),
        "dev"
    );
    assert_eq!(w.git_ok(&work, &["rev-parse", "HEAD"]).trim(), dev);
}

#[test]
fn protocol_v0_and_v2_both_work() {
    let w = World::start(Options::default());
    for (v, dir) in [("0", "v0"), ("1", "v1"), ("2", "v2")] {
        let dest = w.dir.path().join(dir);
        w.git_ok(
            w.dir.path(),
            &[
                "-c",
                &format!("protocol.version={v}"),
                "clone",
                "-q",
                &w.url("app"),
                dest.to_str().unwrap(),
            ],
        );
        assert!(dest.join("README.md").exists(), "protocol v{v}");
    }
    let recs = w.wait_audit("fetch", 3);
    assert_eq!(recs[2]["protocol"], 2);
    assert!(recs[0].get("protocol").is_none(), "v0 sends no version");
    let shallow = w.dir.path().join("shallow");
    w.git_ok(
        w.dir.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &w.url("app"),
            shallow.to_str().unwrap(),
        ],
    );
    let url = format!("git://{}/app", w.gate_addr);
    w.git_ok(w.dir.path(), &["ls-remote", &url]);
}

#[test]
fn repos_are_isolated_from_each_other() {
    let w = World::start(Options {
        repos: vec!["app", "lib"],
        ..Options::default()
    });
    let lib_commit = w.upstream_commit("lib", "main", "lib.txt");
    let app = w.git_ok(w.dir.path(), &["ls-remote", &w.url("app")]);
    let lib = w.git_ok(w.dir.path(), &["ls-remote", &w.url("lib")]);
    assert!(!app.contains(&lib_commit));
    assert!(lib.contains(&lib_commit));
}

#[test]
fn upstream_round_trips_share_one_ssh_connection() {
    let w = World::start(Options::default());
    for _ in 0..3 {
        w.git_ok(w.dir.path(), &["ls-remote", &w.url("app")]);
    }
    assert_eq!(w.sshd.commands().len(), 4, "three ls-remote and one fetch");
    assert_eq!(
        w.sshd.logins(),
        1,
        "all of them over one shared ssh connection:\n{}",
        w.sshd.log()
    );
}
