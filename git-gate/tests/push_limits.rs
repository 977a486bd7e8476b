//! The push path with operator rules, and everything that must fail closed: a rules file broken
//! after start, a scan over its time limit, a pack over `max_push_bytes`.

mod support;

use git_gate::config::unlocated;
use git_gate::push::pre_receive::UNSCANNED_REF;
use support::{Options, World, fake_secret};

const ACME_RULES: &str = "[extend]\ndisabledRules = [\"jwt\"]\n\n[[rules]]\nid = \"acme-key\"\ndescription = \"Acme key\"\nregex = '''\\bacme_[a-z0-9]{12}\\b'''\nkeywords = [\"acme_\"]\n";

/// A world whose gate reads `rules` from `<dir>/rules.toml`, with `extend_default` as given.
fn with_rules(rules: &'static str, extend_default: Option<bool>) -> World {
    World::start(Options {
        tweak: Box::new(move |c, w| {
            let path = w.dir.path().join("rules.toml");
            std::fs::write(&path, rules).unwrap();
            c.scanner.rules = Some(unlocated(path));
            c.scanner.extend_default = extend_default.map(unlocated);
        }),
        ..Options::default()
    })
}

#[test]
fn operator_rules_extend_the_pack_in_the_push_path() {
    let w = with_rules(ACME_RULES, None);
    let work = w.clone("app", "work");
    w.write(&work, "a.txt", "key = acme_0123456789ab\n");
    w.commit(&work, "acme");
    let e = w.refused(&work, &["origin", "main"], "acme-key", "acme_0123456789ab");
    assert!(e.contains("a.txt:1"), "{e}");

    w.git_ok(&work, &["reset", "-q", "--hard", "origin/main"]);
    let gh = fake_secret("github", 40);
    w.write(&work, "b.txt", format!("{gh}\n"));
    w.commit(&work, "github");
    w.refused(&work, &["origin", "main"], "github-pat", &gh);

    // `disabledRules` without `useDefault` still removes the rule from the built-in pack.
    w.git_ok(&work, &["reset", "-q", "--hard", "origin/main"]);
    w.write(
        &work,
        "fixtures/session.txt",
        format!("{}\n", fake_secret("jwt", 41)),
    );
    let c = w.commit(&work, "a recorded session");
    w.git_ok(&work, &["push", "-q", "origin", "main"]);
    assert!(w.upstream_refs("app").contains(&c));
}

#[test]
fn operator_rules_can_replace_the_pack_in_the_push_path() {
    let w = with_rules(
        "[[rules]]\nid = \"acme-key\"\nregex = '''\\bacme_[a-z0-9]{12}\\b'''\nkeywords = [\"acme_\"]\n",
        Some(false),
    );
    let work = w.clone("app", "work");
    w.write(&work, "b.txt", format!("{}\n", fake_secret("github", 42)));
    let c = w.commit(&work, "not a secret to these rules");
    w.git_ok(&work, &["push", "-q", "origin", "main"]);
    assert!(w.upstream_refs("app").contains(&c));
    w.write(&work, "a.txt", "acme_0123456789ab\n");
    w.commit(&work, "acme");
    w.refused(&work, &["origin", "main"], "acme-key", "acme_0123456789ab");
}

#[test]
fn a_rules_file_broken_after_start_fails_closed() {
    let w = with_rules(ACME_RULES, None);
    let work = w.clone("app", "work");
    w.write(&work, "a.txt", "harmless\n");
    w.commit(&work, "harmless");
    let rules = w.dir.path().join("rules.toml");
    std::fs::write(&rules, "[[rules]]\nid = 'x'\nregex = '''(unclosed'''\n").unwrap();
    let e = w.refused(
        &work,
        &["origin", "main:refs/heads/topic"],
        "cannot load the scanner rules",
        "not-a-secret-at-all",
    );
    assert!(
        e.contains("rules.toml:3:9: rule `x` regex does not compile"),
        "{e}"
    );
    assert!(e.contains("nothing was sent upstream"), "{e}");

    std::fs::remove_file(&rules).unwrap();
    let e = w.refused(
        &work,
        &["origin", "main"],
        "cannot load the scanner rules",
        "not-a-secret-at-all",
    );
    assert!(e.contains("rules.toml"), "{e}");

    let pushes = w.wait_audit("push", 2);
    for p in &pushes {
        assert_eq!(p["verdict"], "rejected_scan_error", "{p:#}");
        assert_eq!(p["scan"]["verdict"], "error");
        assert!(p.get("forward").is_none());
        assert_eq!(
            p["refs"][0]["ref"], UNSCANNED_REF,
            "ref names the scan never checked are not recorded"
        );
    }
}

#[test]
fn a_scan_over_its_time_limit_fails_closed() {
    // Hundreds of keyword-less rules, each a full pass over the pushed file: far more than 1 s.
    let rules: String = (0..400)
        .map(|i| {
            format!(
                "[[rules]]\nid = 'slow{i}'\nregex = '''(?:\\w{{1,30}}[\\s,.;:]+){{8}}\\w{{1,30}}\\s*[:=]\\s*\\w{{40,}}{i}'''\n"
            )
        })
        .collect();
    let w = World::start(Options {
        tweak: Box::new(move |c, w| {
            let path = w.dir.path().join("rules.toml");
            std::fs::write(&path, &rules).unwrap();
            c.scanner.rules = Some(unlocated(path));
            c.scanner.extend_default = Some(unlocated(false));
            c.timeouts.scan = Some(unlocated(1));
        }),
        ..Options::default()
    });
    let work = w.clone("app", "work");
    let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"];
    let text: String = (0..200_000)
        .map(|i| {
            let line: Vec<&str> = (0..12).map(|j| words[(i * 7 + j * 3) % 7]).collect();
            format!("{}\n", line.join(" "))
        })
        .collect();
    w.write(&work, "corpus.txt", text);
    w.commit(&work, "a large text");
    let e = w.refused(
        &work,
        &["origin", "main"],
        "did not finish within 1s",
        "not-a-secret-at-all",
    );
    assert!(e.contains("timeouts.scan"), "{e}");
    let pushes = w.wait_audit("push", 1);
    assert_eq!(pushes[0]["verdict"], "rejected_scan_error");
}

#[test]
fn a_pack_over_max_push_bytes_is_refused_as_it_arrives() {
    let w = World::start(Options {
        tweak: Box::new(|c, _| c.max_push_bytes = Some(unlocated(256 * 1024))),
        ..Options::default()
    });
    let work = w.clone("app", "work");
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let noise: Vec<u8> = (0..2 * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    w.write(&work, "noise.bin", &noise);
    w.commit(&work, "two MiB that do not compress");
    let before = w.upstream_refs("app");
    let stderr = w.git_fails(&work, &["push", "origin", "main"]);
    assert!(
        stderr.contains("maximum allowed size"),
        "git names the limit: {stderr}"
    );
    assert_eq!(w.upstream_refs("app"), before);
    let mirror = w.dir.path().join("data/app.git/objects");
    let kept: u64 = walk_size(&mirror);
    assert!(
        kept < 1024 * 1024,
        "the refused pack was not kept ({kept} bytes of objects)"
    );

    // A push under the limit still lands.
    w.git_ok(&work, &["reset", "-q", "--hard", "origin/main"]);
    w.write(&work, "small.txt", "small\n");
    let c = w.commit(&work, "small");
    w.git_ok(&work, &["push", "-q", "origin", "main"]);
    assert!(w.upstream_refs("app").contains(&c));
}

fn walk_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => walk_size(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}
