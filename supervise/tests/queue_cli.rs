//! The operator's `supervise queue` commands on a real queue directory.

mod common;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::queue_cli;
use serde_json::Value;
use supervise::queue::{NewProposal, Queue, Tool};

fn queue_with(proposals: &[(Tool, &str, &str)]) -> (tempfile::TempDir, Queue, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(dir.path()).unwrap();
    let ids = proposals
        .iter()
        .map(|(tool, justification, content)| {
            queue
                .submit(NewProposal {
                    tool: *tool,
                    justification: justification.to_string(),
                    content: content.to_string(),
                    base: None,
                })
                .unwrap()
                .id
                .to_string()
        })
        .collect();
    (dir, queue, ids)
}

fn stdout(args: &[&str]) -> String {
    let out = queue_cli(args);
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn list_show_approve_reject() {
    let (dir, _queue, ids) = queue_with(&[
        (
            Tool::EgressBlock,
            "need the GitHub API\nfor cloning",
            "routes:\n  - host: api.github.com\n",
        ),
        (Tool::PipelockBlock, "pip", "pypi.org\n"),
    ]);
    let q = path(dir.path());
    let table = stdout(&["list", "--queue", q]);
    assert!(table.starts_with("ID "), "{table}");
    assert!(
        table.contains(&ids[0])
            && table.contains("egress-block")
            && table.contains("need the GitHub API"),
        "{table}"
    );
    assert!(
        !table.contains("for cloning"),
        "only the first line of a justification: {table}"
    );

    let json: Value = serde_json::from_str(&stdout(&["list", "--queue", q, "--json"])).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for key in [
        "id",
        "tool",
        "status",
        "created_at",
        "justification",
        "target",
    ] {
        assert!(rows[0].get(key).is_some(), "missing {key}: {json}");
    }
    assert_eq!(rows[0]["status"], "pending");
    assert_eq!(rows[1]["tool"], "pipelock-block");

    let current = tempfile::tempdir().unwrap();
    std::fs::write(
        current.path().join("routes.yaml"),
        "routes:\n  - host: a.com\n",
    )
    .unwrap();
    let shown = stdout(&[
        "show",
        &ids[0],
        "--queue",
        q,
        "--current-config",
        path(current.path()),
    ]);
    assert!(
        shown.contains("--- current/routes.yaml\n+++ proposed/routes.yaml\n"),
        "{shown}"
    );
    assert!(
        shown.contains("-  - host: a.com\n+  - host: api.github.com\n"),
        "{shown}"
    );

    assert_eq!(
        stdout(&[
            "approve",
            &ids[0],
            "--queue",
            q,
            "--comment",
            "ok",
            "--by",
            "alice"
        ]),
        format!("approved {}\n", ids[0])
    );
    assert_eq!(
        stdout(&["reject", &ids[1], "--queue", q, "--comment", "too broad"]),
        format!("rejected {}\n", ids[1])
    );
    let json: Value = serde_json::from_str(&stdout(&["list", "--queue", q, "--json"])).unwrap();
    assert_eq!(json[0]["status"], "approved");
    assert_eq!(json[0]["decided_by"], "alice");
    assert_eq!(json[1]["status"], "rejected");
    assert_eq!(json[1]["comment"], "too broad");
    assert_eq!(json[1]["decided_by"], "test-operator");
    let shown = stdout(&["show", &ids[1], "--queue", q]);
    assert!(
        shown.contains("status:        rejected") && shown.contains("too broad"),
        "{shown}"
    );
}

#[test]
fn answering_twice_and_unknown_ids_fail_with_distinct_codes() {
    let (dir, _queue, ids) = queue_with(&[(Tool::CapabilityBlock, "j", "FROM x\n")]);
    let q = path(dir.path());
    assert!(
        queue_cli(&["approve", &ids[0], "--queue", q])
            .status
            .success()
    );
    let again = queue_cli(&["reject", &ids[0], "--queue", q, "--comment", "late"]);
    assert_eq!(again.status.code(), Some(4));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("already answered: approved by test-operator"),
        "{err}"
    );

    let missing = queue_cli(&["approve", "20260101-000000-nosuch", "--queue", q]);
    assert_eq!(missing.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no proposal 20260101-000000-nosuch")
    );

    let no_queue = queue_cli(&["list", "--queue", "/nonexistent/queue"]);
    assert_eq!(no_queue.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_queue.stderr).contains("/nonexistent/queue"));
}

#[test]
fn path_tricks_in_ids_touch_nothing() {
    let (dir, _queue, _ids) = queue_with(&[(Tool::EgressBlock, "j", "routes: []\n")]);
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("x.proposal.json");
    std::fs::write(&victim, "{}").unwrap();
    let q = path(dir.path());
    let long = "a".repeat(300);
    let traversal = format!(
        "../{}/x",
        outside.path().file_name().unwrap().to_str().unwrap()
    );
    for id in [
        "../x",
        "..",
        "/etc/passwd",
        path(&victim),
        &traversal,
        &long,
        "A",
        "x.json",
        "",
    ] {
        for args in [
            vec!["approve", id, "--queue", q],
            vec!["reject", id, "--queue", q, "--comment", "c"],
            vec!["show", id, "--queue", q],
        ] {
            let out = queue_cli(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("invalid proposal id"),
                "{out:?}"
            );
        }
    }
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "{}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no decision was written"
    );
}

#[test]
fn malformed_queue_files_are_skipped_with_a_warning() {
    let (dir, _queue, ids) = queue_with(&[(Tool::EgressBlock, "j", "routes: []\n")]);
    let d = dir.path();
    std::fs::write(
        d.join("20260101-000000-broken.proposal.json"),
        "{\"version\": 1, \"id\": ",
    )
    .unwrap();
    std::fs::write(
        d.join("20260101-000000-binary.proposal.json"),
        b"\x00\xff\xfe",
    )
    .unwrap();
    std::fs::write(d.join("Not-An-Id.proposal.json"), "{}").unwrap();
    std::fs::write(d.join("notes.txt"), "hello").unwrap();
    std::fs::write(
        d.join(std::ffi::OsStr::from_bytes(
            b"2026\xff-latin1.proposal.json",
        )),
        "{}",
    )
    .unwrap();
    let out = queue_cli(&["list", "--queue", path(d), "--json"]);
    assert!(out.status.success(), "{out:?}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["id"], ids[0].as_str());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("20260101-000000-broken.proposal.json"),
        "{err}"
    );
    assert!(err.contains("20260101-000000-binary"), "{err}");
    assert!(err.contains("Not-An-Id.proposal.json"), "{err}");
    assert!(err.contains("whose name is not UTF-8"), "{err}");
    assert!(err.contains("-latin1.proposal.json"), "{err}");
    assert!(!err.contains("notes.txt"), "{err}");

    let shown = queue_cli(&["show", "20260101-000000-broken", "--queue", path(d)]);
    assert_eq!(shown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&shown.stderr).contains("not a valid queue file"));
}

#[test]
fn terminal_escapes_in_queue_files_are_neutralized() {
    let (dir, _queue, ids) = queue_with(&[(
        Tool::EgressBlock,
        "innocent\u{1b}]0;pwned\u{7}",
        "routes: []\n# \u{1b}[2J\n",
    )]);
    let q = path(dir.path());
    for args in [
        vec!["list", "--queue", q],
        vec!["show", &ids[0], "--queue", q],
    ] {
        let out = stdout(&args);
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{7}'),
            "{args:?}: {out:?}"
        );
        assert!(out.contains("\\u{1b}"), "{out}");
    }
}
