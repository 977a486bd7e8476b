//! Push side: clean pushes land upstream; any secret, in any shape, refuses the whole push.

mod support;

use support::{Options, World, fake_secret};

#[test]
fn clean_pushes_land_upstream_and_are_audited() {
    let w = World::start(Options::default());
    let work = w.clone("app", "work");
    w.write(&work, "src/main.rs", "fn main() { println!(\"hi\"); }\n");
    let c = w.commit(&work, "add main");
    let out = w.git(&work, &["push", "origin", "main"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("no secrets found"), "{stderr}");
    assert!(
        w.upstream_refs("app")
            .contains(&format!("{c} refs/heads/main"))
    );

    w.git_ok(&work, &["checkout", "-q", "-b", "topic"]);
    let t = w.commit(&work, "topic work");
    w.git_ok(&work, &["tag", "-a", "v1.0", "-m", "release 1.0"]);
    w.git_ok(&work, &["push", "-q", "origin", "topic", "v1.0"]);
    let refs = w.upstream_refs("app");
    assert!(refs.contains(&format!("{t} refs/heads/topic")), "{refs}");
    assert!(refs.contains("refs/tags/v1.0"), "{refs}");

    w.git_ok(&work, &["push", "-q", "origin", "--delete", "topic"]);
    assert!(!w.upstream_refs("app").contains("refs/heads/topic"));

    let listed = w.git_ok(w.dir.path(), &["ls-remote", &w.url("app")]);
    assert!(
        !listed.contains("refs/heads/topic"),
        "the mirror follows the delete: {listed}"
    );

    let pushes = w.wait_audit("push", 3);
    let first = &pushes[0];
    assert_eq!(first["verdict"], "forwarded");
    assert_eq!(first["scan"]["verdict"], "clean");
    assert_eq!(first["scan"]["commits"], 1);
    assert_eq!(first["refs"][0]["ref"], "refs/heads/main");
    assert_eq!(first["refs"][0]["new"], c);
    assert_eq!(first["forward"]["results"][0]["ok"], true);
    assert_eq!(pushes[2]["refs"][0]["new"], "0".repeat(40));
}

#[test]
fn secrets_are_refused_in_every_shape() {
    let w = World::start(Options::default());
    let work = w.clone("app", "work");
    let base = w.git_ok(&work, &["rev-parse", "HEAD"]).trim().to_string();
    let reset = |w: &World| {
        w.git_ok(&work, &["checkout", "-q", "-f", "main"]);
        w.git_ok(&work, &["reset", "-q", "--hard", &base]);
        w.git_ok(&work, &["clean", "-qfdx"]);
    };
    let gh = fake_secret("github", 1);
    let aws = fake_secret("aws", 2);

    // A new branch carrying a secret in a file.
    w.git_ok(&work, &["checkout", "-q", "-b", "leak1"]);
    w.write(&work, "config/prod.env", format!("GITHUB_TOKEN={gh}\n"));
    w.commit(&work, "add config");
    let e = w.refused(&work, &["origin", "leak1"], "github-pat", &gh);
    assert!(e.contains("config/prod.env:1"), "{e}");
    reset(&w);

    // A lightweight tag on a new commit with a secret.
    w.write(&work, "keys.txt", format!("aws = {aws}\n"));
    w.commit(&work, "keys");
    w.git_ok(&work, &["tag", "t-light"]);
    w.refused(&work, &["origin", "t-light"], "aws-access-key-id", &aws);
    w.git_ok(&work, &["tag", "-d", "t-light"]);
    reset(&w);

    // An annotated tag whose message holds the secret (on a clean, existing commit).
    w.git_ok(
        &work,
        &[
            "tag",
            "-a",
            "t-annotated",
            "-m",
            &format!("deploy with {gh}"),
        ],
    );
    let e = w.refused(&work, &["origin", "t-annotated"], "github-pat", &gh);
    assert!(e.contains("tag message"), "{e}");

    // A lightweight tag pointing straight at a blob.
    w.write(&work, "loose.txt", format!("{gh}\n"));
    let blob = w.git_ok(&work, &["hash-object", "-w", "loose.txt"]);
    std::fs::remove_file(work.join("loose.txt")).unwrap();
    w.git_ok(&work, &["tag", "t-blob", blob.trim()]);
    w.refused(&work, &["origin", "t-blob"], "github-pat", &gh);

    // A tag pointing straight at a tree.
    w.write(&work, "dir/secret.txt", format!("{aws}\n"));
    w.git_ok(&work, &["add", "dir/secret.txt"]);
    let tree = w.git_ok(&work, &["write-tree"]);
    w.git_ok(&work, &["reset", "-q"]);
    w.git_ok(&work, &["tag", "t-tree", tree.trim()]);
    w.refused(&work, &["origin", "t-tree"], "aws-access-key-id", &aws);
    reset(&w);

    // A merge that brings in a side branch carrying the secret.
    w.git_ok(&work, &["checkout", "-q", "-b", "side"]);
    w.write(&work, "side.txt", format!("token: {gh}\n"));
    w.commit(&work, "side work");
    w.git_ok(&work, &["checkout", "-q", "main"]);
    w.write(&work, "main.txt", "main work\n");
    w.commit(&work, "main work");
    w.git_ok(&work, &["merge", "-q", "--no-edit", "side"]);
    w.refused(&work, &["origin", "main"], "github-pat", &gh);
    reset(&w);
    w.git_ok(&work, &["branch", "-q", "-D", "side"]);

    // An evil merge: both parents clean, the merge commit itself adds the secret.
    w.git_ok(&work, &["checkout", "-q", "-b", "left"]);
    w.write(&work, "left.txt", "left\n");
    w.commit(&work, "left");
    w.git_ok(&work, &["checkout", "-q", "main"]);
    w.write(&work, "right.txt", "right\n");
    w.commit(&work, "right");
    w.git_ok(&work, &["merge", "-q", "--no-commit", "--no-ff", "left"]);
    w.write(&work, "right.txt", format!("right\nsneaky = {aws}\n"));
    w.git_ok(&work, &["add", "right.txt"]);
    w.git_ok(&work, &["commit", "-q", "--no-edit"]);
    let merge = w.git_ok(&work, &["rev-parse", "HEAD"]);
    let e = w.refused(&work, &["origin", "main"], "aws-access-key-id", &aws);
    assert!(
        e.contains(&merge.trim()[..12]),
        "the finding names the merge commit: {e}"
    );
    assert!(e.contains("right.txt:2"), "{e}");
    reset(&w);
    w.git_ok(&work, &["branch", "-q", "-D", "left"]);

    // Added in one commit, removed in the next: the tip is clean, the history is not.
    w.write(&work, "oops.txt", format!("{gh}\n"));
    w.commit(&work, "oops");
    std::fs::remove_file(work.join("oops.txt")).unwrap();
    w.commit(&work, "remove oops");
    w.refused(&work, &["origin", "main"], "github-pat", &gh);
    reset(&w);

    // In the commit message.
    w.commit(&work, &format!("temporary: use {aws} for now"));
    let e = w.refused(&work, &["origin", "main"], "aws-access-key-id", &aws);
    assert!(e.contains("commit message"), "{e}");
    reset(&w);

    // In a binary file.
    let mut png = vec![0x89, b'P', b'N', b'G', 0, 0, 0, 13, 0, 1, 2, 3];
    png.extend_from_slice(gh.as_bytes());
    png.extend_from_slice(&[0, 0, 7, 9, 0xff]);
    w.write(&work, "logo.png", &png);
    w.commit(&work, "logo");
    let e = w.refused(&work, &["origin", "main"], "github-pat", &gh);
    assert!(e.contains("logo.png"), "{e}");
    reset(&w);

    // Deep in a history of several commits.
    w.write(&work, "deep.txt", format!("{aws}\n"));
    w.commit(&work, "deep 0");
    std::fs::remove_file(work.join("deep.txt")).unwrap();
    for i in 1..6 {
        w.write(&work, &format!("f{i}.txt"), format!("{i}\n"));
        w.commit(&work, &format!("deep {i}"));
    }
    w.refused(&work, &["origin", "main"], "aws-access-key-id", &aws);
    reset(&w);

    // Several refs, one dirty: nothing lands, not even the clean one.
    w.git_ok(&work, &["checkout", "-q", "-b", "clean-one"]);
    w.write(&work, "ok.txt", "fine\n");
    w.commit(&work, "fine");
    w.git_ok(&work, &["checkout", "-q", "-b", "dirty-one", "main"]);
    w.write(&work, "bad.txt", format!("{gh}\n"));
    w.commit(&work, "bad");
    w.refused(
        &work,
        &["origin", "clean-one", "dirty-one"],
        "github-pat",
        &gh,
    );
    assert!(!w.upstream_refs("app").contains("clean-one"));
    reset(&w);

    // The secret as a branch name.
    let e = w.refused_with(
        &work,
        &["origin", &format!("main:refs/heads/{gh}")],
        "github-pat",
        &gh,
        true,
    );
    assert!(e.contains("ref name"), "{e}");

    let pushes = w.wait_audit("push", 13);
    assert_eq!(pushes.len(), 13, "one record per push: {pushes:#?}");
    let rejected: Vec<_> = pushes
        .iter()
        .filter(|p| p["verdict"] == "rejected_secrets")
        .collect();
    assert_eq!(rejected.len(), 13, "{pushes:#?}");
    let named = &pushes[12];
    assert_eq!(
        named["refs"][0]["ref"], "refs/heads/[redacted]",
        "{named:#}"
    );
    assert_eq!(named["scan"]["findings"][0]["location"], "ref name");
    let log = std::fs::read_to_string(&w.audit).unwrap();
    assert!(
        !log.contains(&gh) && !log.contains(&aws),
        "the audit log must not hold secrets"
    );
    assert!(
        rejected.iter().all(|p| p.get("forward").is_none()),
        "nothing was forwarded"
    );
}

#[test]
fn allow_markers_in_pushed_content_are_not_honoured() {
    let w = World::start(Options::default());
    let work = w.clone("app", "work");
    let gh = fake_secret("github", 7);
    w.write(
        &work,
        "app.py",
        format!("TOKEN = \"{gh}\"  # gitleaks:allow\n"),
    );
    w.write(
        &work,
        ".gitleaksignore",
        "app.py:github-pat:1\n*:github-pat:1\n",
    );
    w.write(
        &work,
        ".gitleaks.toml",
        "[extend]\nuseDefault = true\ndisabledRules = [\"github-pat\"]\n[allowlist]\npaths = ['''.*''']\nregexes = ['''.*''']\n",
    );
    w.commit(&work, "allow it, please");
    w.refused(&work, &["origin", "main"], "github-pat", &gh);
}

#[test]
fn non_fast_forward_is_reported_from_the_upstream() {
    let w = World::start(Options::default());
    w.git_ok(
        w.dir.path(),
        &[
            "--git-dir",
            w.upstream("app").to_str().unwrap(),
            "config",
            "receive.denyNonFastForwards",
            "true",
        ],
    );
    let work = w.clone("app", "work");
    w.write(&work, "a.txt", "a\n");
    w.commit(&work, "a");
    w.git_ok(&work, &["push", "-q", "origin", "main"]);
    w.git_ok(&work, &["commit", "-q", "--amend", "-m", "a, reworded"]);
    let before = w.upstream_refs("app");
    let stderr = w.git_fails(&work, &["push", "--force", "origin", "main"]);
    assert!(stderr.contains("non-fast-forward"), "{stderr}");
    assert_eq!(w.upstream_refs("app"), before);
    let pushes = w.wait_audit("push", 2);
    assert_eq!(pushes[1]["verdict"], "upstream_rejected");
    assert_eq!(pushes[1]["scan"]["verdict"], "clean");
    assert_eq!(pushes[1]["forward"]["results"][0]["ok"], false);
}

#[test]
fn a_push_based_on_a_stale_view_cannot_clobber_the_upstream() {
    let w = World::start(Options::default());
    let work = w.clone("app", "work");
    w.write(&work, "mine.txt", "mine\n");
    w.commit(&work, "mine");
    let theirs = w.upstream_commit("app", "main", "theirs.txt");
    let stderr = w.git_fails(&work, &["push", "origin", "main"]);
    assert!(
        stderr.contains("fetch first") || stderr.contains("non-fast-forward"),
        "{stderr}"
    );
    assert!(
        w.upstream_refs("app").contains(&theirs),
        "the upstream keeps its commit"
    );
    let stderr = w.git_fails(
        &work,
        &["push", "--force-with-lease=main:HEAD~1", "origin", "main"],
    );
    assert!(stderr.contains("stale"), "{stderr}");
    assert!(w.upstream_refs("app").contains(&theirs));
}

#[test]
fn oversized_blobs_are_refused_with_their_path() {
    let w = World::start(Options {
        tweak: Box::new(|c, _| {
            c.scanner.max_blob_bytes = Some(git_gate::config::unlocated(64 * 1024))
        }),
        ..Options::default()
    });
    let work = w.clone("app", "work");
    w.write(&work, "assets/big.bin", vec![b'x'; 200 * 1024]);
    w.commit(&work, "big");
    let before = w.upstream_refs("app");
    let stderr = w.git_fails(&work, &["push", "origin", "main"]);
    assert!(stderr.contains("assets/big.bin (204800 bytes)"), "{stderr}");
    assert!(stderr.contains("max_blob_bytes"), "{stderr}");
    assert_eq!(w.upstream_refs("app"), before);
}

#[test]
fn atomic_pushes_are_forwarded_atomically() {
    let w = World::start(Options::default());
    w.git_ok(
        w.dir.path(),
        &[
            "--git-dir",
            w.upstream("app").to_str().unwrap(),
            "config",
            "receive.denyNonFastForwards",
            "true",
        ],
    );
    let work = w.clone("app", "work");
    w.git_ok(&work, &["commit", "-q", "--amend", "-m", "rewritten root"]);
    w.git_ok(&work, &["branch", "extra"]);
    let before = w.upstream_refs("app");
    let stderr = w.git_fails(
        &work,
        &["push", "--atomic", "--force", "origin", "main", "extra"],
    );
    assert!(stderr.contains("non-fast-forward"), "{stderr}");
    assert_eq!(
        w.upstream_refs("app"),
        before,
        "atomic: the good ref does not land either"
    );
    let stderr = w.git_fails(&work, &["push", "--force", "origin", "main", "extra"]);
    assert!(stderr.contains("non-fast-forward"), "{stderr}");
    assert!(
        w.upstream_refs("app").contains("refs/heads/extra"),
        "non-atomic: the good ref lands"
    );
    let pushes = w.wait_audit("push", 2);
    assert_eq!(pushes[0]["forward"]["atomic"], true);
    assert_eq!(pushes[1]["forward"]["atomic"], false);
    assert_eq!(pushes[1]["verdict"], "partially_forwarded");
}
