//! `git-gate scan` and `git-gate check` as a user runs them.

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use support::fake_secret;

fn gate(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_git-gate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn scan_reports_findings_redacted_with_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let secret = fake_secret("github", 3);
    let leaky = dir.path().join("leaky.env");
    std::fs::write(&leaky, format!("# config\nTOKEN={secret}\n")).unwrap();
    let clean = dir.path().join("clean.txt");
    std::fs::write(&clean, "nothing to see\n").unwrap();

    let out = gate(&["scan", clean.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());

    let out = gate(
        &["scan", leaky.to_str().unwrap(), clean.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.trim(),
        format!(
            "{}:2 github-pat (GitHub personal access token (classic); secret redacted, 40 chars)",
            leaky.display()
        )
    );
    assert!(!stdout.contains(&secret[4..]));

    let out = gate(
        &["scan", "-"],
        Some(format!("x\n\ny {secret}\n").as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).starts_with("<stdin>:3 github-pat"),
        "{}",
        text(&out.stdout)
    );

    std::fs::create_dir_all(dir.path().join("tree/.git")).unwrap();
    std::fs::write(dir.path().join("tree/.git/config"), format!("{secret}\n")).unwrap();
    std::fs::write(
        dir.path().join("tree/a.bin"),
        [&[0u8, 1, 2][..], secret.as_bytes(), &[0]].concat(),
    )
    .unwrap();
    let out = gate(&["scan", dir.path().join("tree").to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("a.bin (binary) github-pat"), "{stdout}");
    assert!(
        !stdout.contains(".git/config"),
        "directories named .git are skipped: {stdout}"
    );

    let out = gate(
        &["scan", dir.path().join("missing").to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read"));
}

#[test]
fn scan_refuses_inputs_over_its_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.txt");
    std::fs::write(&big, vec![b'a'; 4096]).unwrap();
    let out = gate(
        &["scan", "--max-bytes", "4095", big.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("is 4096 bytes, larger than 4095 bytes, the scan limit; raise --max-bytes"),
        "{stderr}"
    );
    let out = gate(
        &["scan", "--max-bytes", "4096", big.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = gate(&["scan", "--max-bytes", "100", "-"], Some(&[b'x'; 101]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("standard input is larger than 100 bytes"),
        "{}",
        text(&out.stderr)
    );
    let secret = fake_secret("github", 5);
    let out = gate(
        &["scan", "--max-bytes", "100", "-"],
        Some(format!("{secret}\n").as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

#[test]
fn scan_uses_operator_rules() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rules]]\nid = \"acme-key\"\ndescription = \"Acme key\"\nregex = '''acme_[a-z0-9]{12}'''\nkeywords = [\"acme_\"]\n",
    )
    .unwrap();
    let input = format!("k = acme_0123456789ab\nt = {}\n", fake_secret("github", 4));
    let out = gate(
        &["scan", "--rules", rules.to_str().unwrap(), "-"],
        Some(input.as_bytes()),
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("<stdin>:1 acme-key") && stdout.contains("<stdin>:2 github-pat"),
        "{stdout}"
    );
    let out = gate(
        &[
            "scan",
            "--rules",
            rules.to_str().unwrap(),
            "--no-default-rules",
            "-",
        ],
        Some(input.as_bytes()),
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("acme-key") && !stdout.contains("github-pat"),
        "{stdout}"
    );

    std::fs::write(&rules, "[[rules]]\nid = \"bad\"\nregex = '''(unclosed'''\n").unwrap();
    let out = gate(
        &["scan", "--rules", rules.to_str().unwrap(), "-"],
        Some(b""),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:3:9: rule `bad` regex does not compile",
            rules.display()
        )),
        "{stderr}"
    );
}

#[test]
fn check_validates_config_and_rules_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEu2h7EDm3qMK1urEpMmMkhx3Z5rCc8CSiYwZ2jeJx/x";
    let config = dir.path().join("git-gate.yaml");
    let good = format!(
        "listen: 127.0.0.1:9418\ndata_dir: data\nrepos:\n  - name: app\n    upstream: ssh://git@example.org/acme/app.git\n    identity_file: key\n    known_host_key: \"{key}\"\n"
    );
    std::fs::write(&config, &good).unwrap();
    let out = gate(&["check", config.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ok (1 repo(s): app)"));

    std::fs::write(&config, good.replace("name: app", "name: ../app")).unwrap();
    let out = gate(&["check", config.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!("{}:4:11: repo name", config.display())),
        "{}",
        text(&out.stderr)
    );

    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "[[rules]]\nid = 'x'\nregx = 'y'\n").unwrap();
    std::fs::write(&config, format!("{good}scanner:\n  rules: rules.toml\n")).unwrap();
    let out = gate(&["check", config.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:3:1: unknown key `regx`", rules.display())),
        "{stderr}"
    );
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["scan", "--help"],
        &["check", "--help"],
    ] {
        let out = gate(args, None);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(text(&out.stdout).contains("Usage"), "{args:?}");
    }
    let out = gate(&["--help"], None);
    assert!(
        !text(&out.stdout).contains("hook"),
        "the hook entry point is hidden"
    );
    let out = gate(&["hook", "pre-receive"], Some(b""));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("GIT_GATE_SESSION is not set"));
}
