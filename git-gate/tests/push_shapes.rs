//! Secrets that hide outside the lines a commit adds: in path names, in a key assembled over
//! several commits, in UTF-16 files, in commit headers and behind chains of tags.

mod support;

use std::path::Path;

use support::{Options, World, fake_base64, fake_secret};

/// Put `work` back on the upstream's `main`, dropping local commits and files.
fn reset(w: &World, work: &Path) {
    w.git_ok(work, &["fetch", "-q", "origin"]);
    w.git_ok(work, &["checkout", "-q", "-f", "main"]);
    w.git_ok(work, &["reset", "-q", "--hard", "origin/main"]);
    w.git_ok(work, &["clean", "-qfdx"]);
}

fn audit_log(w: &World) -> String {
    std::fs::read_to_string(&w.audit).unwrap_or_default()
}

#[test]
fn secrets_in_path_names_are_found_and_redacted_everywhere() {
    let w = World::start(Options {
        tweak: Box::new(|c, _| {
            c.scanner.max_blob_bytes = Some(git_gate::config::unlocated(64 * 1024))
        }),
        ..Options::default()
    });
    let work = w.clone("app", "work");
    let gh = fake_secret("github", 21);
    let aws = fake_secret("aws", 22);

    // An empty file whose name is the token.
    w.write(&work, &format!("notes/{gh}"), "");
    w.commit(&work, "an empty file");
    let e = w.refused(&work, &["origin", "main"], "github-pat", &gh);
    assert!(e.contains("notes/[redacted] (path name)"), "{e}");
    reset(&w, &work);

    // A directory named by the token, holding a secret and a blob too large to scan.
    w.write(&work, &format!("{gh}/keys.txt"), format!("id = {aws}\n"));
    w.write(&work, &format!("{gh}/big.bin"), vec![b'x'; 100 * 1024]);
    w.write(&work, &format!("{gh}/more/readme.txt"), "hello\n");
    w.commit(&work, "a directory");
    let e = w.refused(&work, &["origin", "main"], "github-pat", &gh);
    assert!(e.contains("[redacted] (path name)"), "{e}");
    assert_eq!(
        e.matches("(path name)").count(),
        1,
        "the directory is reported once, not once per file under it: {e}"
    );
    assert!(
        e.contains("[redacted]/keys.txt:1: aws-access-key-id"),
        "{e}"
    );
    assert!(e.contains("[redacted]/big.bin (102400 bytes)"), "{e}");
    reset(&w, &work);

    // A token split over directory levels is still one path: the generic rule sees `token=…`.
    let value = fake_base64(23, 32).replace(['+', '/'], "x");
    w.write(&work, &format!("cfg/token={value}/a.txt"), "a\n");
    w.commit(&work, "a path that assigns");
    let e = w.refused(
        &work,
        &["origin", "main"],
        "generic-secret-assignment",
        &value,
    );
    assert!(e.contains("cfg/token=[redacted]"), "{e}");

    let pushes = w.wait_audit("push", 3);
    let log = audit_log(&w);
    for secret in [&gh, &aws, &value] {
        assert!(
            !log.contains(secret.as_str()),
            "audit holds a secret:\n{log}"
        );
    }
    assert_eq!(
        pushes[1]["scan"]["oversized"][0]
            .as_str()
            .map(|s| s.starts_with("[redacted]/big.bin (102400 bytes)")),
        Some(true),
        "{:#}",
        pushes[1]
    );
}

#[test]
fn a_private_key_assembled_over_several_commits_is_found() {
    let w = World::start(Options::default());
    let work = w.clone("app", "work");
    let begin = "-----BEGIN RSA PRIVATE KEY-----\n";
    let end = "-----END RSA PRIVATE KEY-----\n";
    let body: String = (0..6)
        .map(|i| format!("{}\n", fake_base64(30 + i, 64)))
        .collect();
    let first_line = &body[..64];

    // Commit A adds the armour lines, commit B inserts the body between them.
    w.write(
        &work,
        "deploy/key.pem",
        format!("# deploy key\n{begin}{end}"),
    );
    w.commit(&work, "armour");
    w.write(
        &work,
        "deploy/key.pem",
        format!("# deploy key\n{begin}{body}{end}"),
    );
    let b = w.commit(&work, "body");
    let e = w.refused(&work, &["origin", "main"], "private-key", first_line);
    assert!(e.contains(&format!("{} deploy/key.pem:2", &b[..12])), "{e}");

    // And a commit C that removes it again does not make the history clean.
    std::fs::remove_file(work.join("deploy/key.pem")).unwrap();
    w.commit(&work, "remove it");
    w.refused(&work, &["origin", "main"], "private-key", first_line);

    // The body first, the armour around it later.
    reset(&w, &work);
    w.write(&work, "deploy/key.pem", body.clone());
    w.commit(&work, "just base64");
    w.write(&work, "deploy/key.pem", format!("{begin}{body}{end}"));
    w.commit(&work, "armour around it");
    w.refused(&work, &["origin", "main"], "private-key", first_line);

    // Not a false alarm: a key already upstream stays where it is while another line changes.
    reset(&w, &work);
    w.write(&work, "legacy/key.pem", format!("{begin}{body}{end}"));
    w.commit(&work, "legacy key, pushed straight to the upstream");
    let upstream = w.upstream("app");
    w.git_ok(&work, &["push", "-q", upstream.to_str().unwrap(), "main"]);
    reset(&w, &work);
    w.write(
        &work,
        "legacy/key.pem",
        format!("# rotate me\n{begin}{body}{end}"),
    );
    let c = w.commit(&work, "a comment above the old key");
    w.git_ok(&work, &["push", "-q", "origin", "main"]);
    assert!(w.upstream_refs("app").contains(&c));
}

#[test]
fn utf16_files_are_scanned_decoded() {
    let w = World::start(Options::default());
    let work = w.clone("app", "work");
    let gh = fake_secret("github", 24);
    let mut blob = vec![0xFF, 0xFE];
    for unit in format!("[auth]\r\ntoken={gh}\r\n").encode_utf16() {
        blob.extend_from_slice(&unit.to_le_bytes());
    }
    w.write(&work, "win/settings.ini", &blob);
    w.commit(&work, "windows settings");
    let e = w.refused(&work, &["origin", "main"], "github-pat", &gh);
    assert!(e.contains("win/settings.ini:2"), "{e}");

    // Changing a line of an existing UTF-16 file is caught as well.
    reset(&w, &work);
    let plain: Vec<u8> = "[auth]\r\n"
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    w.write(&work, "win/other.ini", &plain);
    w.commit(&work, "an empty section");
    w.git_ok(&work, &["push", "-q", "origin", "main"]);
    let mut more = plain.clone();
    more.extend(
        format!("token={gh}\r\n")
            .encode_utf16()
            .flat_map(u16::to_be_bytes),
    );
    w.write(&work, "win/other.ini", &more);
    w.commit(&work, "fill it in");
    let e = w.refused(&work, &["origin", "main"], "github-pat", &gh);
    assert!(e.contains("win/other.ini:2"), "{e}");
}

#[test]
fn secrets_in_author_or_committer_are_found() {
    let w = World::start(Options::default());
    let work = w.clone("app", "work");
    let gh = fake_secret("github", 25);
    let aws = fake_secret("aws", 26);
    let tree = w.git_ok(&work, &["rev-parse", "HEAD^{tree}"]);
    let parent = w.git_ok(&work, &["rev-parse", "HEAD"]);
    for (branch, author, committer, rule, secret) in [
        (
            "by-author",
            format!("{gh} <a@example.invalid>"),
            "Agent <agent@example.invalid>".to_string(),
            "github-pat",
            &gh,
        ),
        (
            "by-committer",
            "Agent <agent@example.invalid>".to_string(),
            format!("Agent <{aws}@example.invalid>"),
            "aws-access-key-id",
            &aws,
        ),
    ] {
        let raw = format!(
            "tree {}\nparent {}\nauthor {author} 1700000000 +0000\ncommitter {committer} 1700000000 +0000\n\nheader test\n",
            tree.trim(),
            parent.trim()
        );
        let id = w.git_stdin(
            &work,
            &["hash-object", "-t", "commit", "-w", "--stdin"],
            raw.as_bytes(),
        );
        w.git_ok(
            &work,
            &["update-ref", &format!("refs/heads/{branch}"), id.trim()],
        );
        let e = w.refused(&work, &["origin", branch], rule, secret);
        assert!(e.contains("commit header"), "{e}");
    }
}

#[test]
fn chains_of_annotated_tags_are_followed() {
    let w = World::start(Options::default());
    let work = w.clone("app", "work");
    let aws = fake_secret("aws", 27);
    let gh = fake_secret("github", 28);

    // outer -> inner -> an existing clean commit; the secret is in the inner tag's message.
    w.git_ok(
        &work,
        &["tag", "-a", "inner", "-m", &format!("release with {aws}")],
    );
    w.git_ok(&work, &["tag", "-a", "outer", "inner", "-m", "wraps inner"]);
    w.git_ok(&work, &["tag", "-d", "inner"]);
    let e = w.refused(
        &work,
        &["origin", "refs/tags/outer"],
        "aws-access-key-id",
        &aws,
    );
    assert!(e.contains("tag message"), "{e}");
    w.git_ok(&work, &["tag", "-d", "outer"]);

    // outer2 -> inner2 -> a new commit whose file holds the secret.
    w.write(&work, "creds.txt", format!("{gh}\n"));
    w.commit(&work, "creds");
    w.git_ok(&work, &["tag", "-a", "inner2", "-m", "inner"]);
    w.git_ok(&work, &["tag", "-a", "outer2", "inner2", "-m", "outer"]);
    w.git_ok(&work, &["tag", "-d", "inner2"]);
    let e = w.refused(&work, &["origin", "refs/tags/outer2"], "github-pat", &gh);
    assert!(e.contains("creds.txt:1"), "{e}");
}

#[test]
fn a_refused_push_leaves_nothing_to_fetch() {
    let w = World::start(Options::default());
    let work = w.clone("app", "work");
    let gh = fake_secret("github", 29);
    w.write(&work, "leak.txt", format!("{gh}\n"));
    let c = w.commit(&work, "leak");
    let blob = w.git_ok(&work, &["rev-parse", "HEAD:leak.txt"]);
    w.refused(&work, &["origin", "main"], "github-pat", &gh);

    let mirror = w.dir.path().join("data/app.git");
    for id in [c.as_str(), blob.trim()] {
        let out = w.git(
            w.dir.path(),
            &["--git-dir", mirror.to_str().unwrap(), "cat-file", "-e", id],
        );
        assert!(!out.status.success(), "the mirror kept {id}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(mirror.join("objects"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("incoming-"))
        .collect();
    assert!(leftovers.is_empty(), "the quarantine was discarded");

    let other = w.clone("app", "other");
    let stderr = w.git_fails(&other, &["fetch", "origin", &c]);
    assert!(
        stderr.contains("not our ref") || stderr.contains("couldn't find remote ref"),
        "{stderr}"
    );
    assert!(!w.upstream_refs("app").contains(&c));
}
