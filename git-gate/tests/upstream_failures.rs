//! An upstream the gate cannot trust or reach fails every request closed, visibly.

mod support;

use bottle_tests::net::free_port;
use git_gate::config::{RepoConfig, unlocated};
use support::{Options, World};

fn world() -> World {
    World::start(Options {
        repos: vec!["app", "down", "badhost", "badkey"],
        tweak: Box::new(|c, w| {
            let stranger_pub =
                std::fs::read_to_string(w.sshd.stranger_key.with_extension("pub")).unwrap();
            let stranger_host_key = stranger_pub
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            let repos = &mut c.repos.value;
            repos[1] = RepoConfig::new(
                "down",
                &format!(
                    "ssh://{}@127.0.0.1:{}/srv/down.git",
                    w.sshd.user,
                    free_port()
                ),
                w.sshd.client_key.clone(),
                &w.sshd.host_key,
            );
            repos[2].known_host_key = unlocated(stranger_host_key);
            repos[3].identity_file = unlocated(w.sshd.stranger_key.clone());
        }),
    })
}

#[test]
fn unreachable_untrusted_or_refusing_upstreams_fail_closed() {
    let w = world();
    for (repo, want) in [
        ("down", "connection refused"),
        ("badhost", "host key"),
        ("badkey", "authentication failed"),
    ] {
        let stderr = w.git_fails(w.dir.path(), &["ls-remote", &w.url(repo)]);
        assert!(stderr.contains("upstream sync failed"), "{repo}: {stderr}");
        assert!(stderr.contains(want), "{repo}: wanted {want}: {stderr}");
        assert!(!stderr.contains("BEGIN"), "no key material: {stderr}");
        let dest = w.dir.path().join(format!("clone-{repo}"));
        let stderr = w.git_fails(
            w.dir.path(),
            &["clone", &w.url(repo), dest.to_str().unwrap()],
        );
        assert!(stderr.contains("upstream sync failed"), "{repo}: {stderr}");
    }
    let fetches = w.wait_audit("fetch", 6);
    assert!(
        fetches
            .iter()
            .all(|f| f["outcome"] == "sync_failed" && f["sync"]["result"] == "error")
    );
    assert_eq!(
        w.git_ok(w.dir.path(), &["ls-remote", &w.url("app")])
            .lines()
            .count(),
        2,
        "a healthy repo is unaffected"
    );
}

#[test]
fn pushes_to_an_untrusted_upstream_fail_closed() {
    let w = world();
    let work = w.clone("app", "work");
    w.write(&work, "a.txt", "a\n");
    w.commit(&work, "a");
    for repo in ["down", "badhost", "badkey"] {
        let stderr = w.git_fails(&work, &["push", &w.url(repo), "main"]);
        assert!(stderr.contains("upstream sync failed"), "{repo}: {stderr}");
    }
    let pushes = w.wait_audit("push", 3);
    assert!(
        pushes.iter().all(|p| p["verdict"] == "sync_failed"),
        "{pushes:#?}"
    );
    let badhost = w.upstream("badhost");
    let refs = w.git_ok(
        w.dir.path(),
        &["--git-dir", badhost.to_str().unwrap(), "for-each-ref"],
    );
    assert!(!refs.contains(&w.git_ok(&work, &["rev-parse", "HEAD"]).trim().to_string()));
}

#[test]
fn an_upstream_refusal_is_relayed_and_nothing_moves() {
    let w = World::start(Options::default());
    let work = w.clone("app", "work");
    w.write(&work, "a.txt", "a\n");
    w.commit(&work, "a");
    let hook = w.upstream("app").join("hooks/pre-receive");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'branch main is protected: open a merge request' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = w.upstream_refs("app");
    let stderr = w.git_fails(&work, &["push", "origin", "main"]);
    assert!(
        stderr.contains("upstream rejected: pre-receive hook declined"),
        "{stderr}"
    );
    assert!(
        stderr.contains("git-gate: upstream: branch main is protected"),
        "{stderr}"
    );
    assert_eq!(w.upstream_refs("app"), before);
    let listed = w.git_ok(w.dir.path(), &["ls-remote", &w.url("app")]);
    assert!(
        before
            .lines()
            .all(|l| listed.contains(l.split(' ').next().unwrap())),
        "the mirror did not move either"
    );
    let pushes = w.wait_audit("push", 1);
    assert_eq!(pushes[0]["verdict"], "upstream_rejected");
}
