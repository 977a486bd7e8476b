//! How answers reach the agent and the audit log: racing operators, answers with no call
//! waiting, and a server stopped and restarted mid-wait. Driven by the Python MCP SDK.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{PyClient, answer, binary, call_now, server, wait_for_pending};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

fn decision_records(sv: &bottle_tests::supervise::SuperviseServer, id: &str) -> Vec<String> {
    sv.audit_lines()
        .into_iter()
        .filter(|l| l.contains("\"event\":\"decision\"") && l.contains(id))
        .collect()
}

#[test]
fn two_operators_racing_have_one_winner_and_the_call_gets_it() {
    let sv = server("60", &[]);
    let q = sv.queue.to_str().unwrap().to_string();
    for round in 0..3 {
        let call = PyClient::call(
            &sv.url,
            "legacy",
            "pipelock-block",
            &json!({"allowlist": [format!("r{round}.example.com")], "justification": "race"}),
        );
        let id = wait_for_pending(&sv.queue, 1)[0].proposal.id.to_string();
        let answer = |verb: &str, by: &str| {
            let mut cmd = Command::new(binary());
            cmd.args(["queue", verb, &id, "--queue", &q, "--by", by]);
            if verb == "reject" {
                cmd.args(["--comment", "rejected by the second operator"]);
            }
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start supervise queue")
        };
        let (approve, reject) = (answer("approve", "alice"), answer("reject", "bob"));
        let approve = approve.wait_with_output().unwrap();
        let reject = reject.wait_with_output().unwrap();
        let codes = (approve.status.code(), reject.status.code());
        let winner = match codes {
            (Some(0), Some(4)) => "approved",
            (Some(4), Some(0)) => "rejected",
            other => panic!("exactly one answer must win: {other:?} {approve:?} {reject:?}"),
        };
        let loser = if winner == "approved" {
            &reject
        } else {
            &approve
        };
        let told = String::from_utf8_lossy(&loser.stderr);
        assert!(
            told.contains(&format!("already answered: {winner}")),
            "{told}"
        );
        let (result, _) = call.result(WAIT);
        assert_eq!(result["structured"]["status"], winner, "{result}");
        assert_eq!(result["structured"]["id"], id.as_str());
    }
}

#[test]
fn answers_with_no_call_waiting_are_audited_once_even_across_restarts() {
    let mut sv = server("0", &[]);
    let (result, _) = PyClient::call(
        &sv.url,
        "legacy",
        "capability-block",
        &json!({"dockerfile": "FROM debian\n", "justification": "j"}),
    )
    .result(WAIT);
    let id = result["structured"]["id"].as_str().unwrap().to_string();
    assert_eq!(result["structured"]["status"], "pending");
    answer(&sv.queue, "reject", &id, Some("use the base image's tools"));
    let line = sv.wait_for_audit(&["\"event\":\"decision\"", &id], WAIT);
    assert!(line.contains("\"via\":\"queue\""), "{line}");
    assert!(line.contains("use the base image's tools"), "{line}");
    // The marker follows the audit line (a crash in between audits twice, never
    // not at all), so it may land a moment after the line is seen.
    let marker = sv.queue.join(format!("{id}.audited"));
    let deadline = Instant::now() + WAIT;
    while !marker.is_file() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        marker.is_file(),
        "no audited marker at {}",
        marker.display()
    );

    let status = call_now(&sv.url, "proposal-status", json!({"id": id}));
    assert_eq!(status["structured"]["status"], "rejected");
    assert_eq!(sv.terminate(WAIT).map(|s| s.success()), Some(true));
    sv.restart();
    let status = call_now(&sv.url, "proposal-status", json!({"id": id}));
    assert_eq!(status["structured"]["status"], "rejected");
    std::thread::sleep(Duration::from_secs(5));
    let records = decision_records(&sv, &id);
    assert_eq!(records.len(), 1, "audited exactly once: {records:?}");
}

#[test]
fn stopping_the_server_mid_wait_keeps_the_proposal_for_the_next_one() {
    let mut sv = server("60", &[]);
    let call = PyClient::call(
        &sv.url,
        "auto",
        "egress-block",
        &json!({"routes": "routes: []\n", "justification": "restart me"}),
    );
    let id = wait_for_pending(&sv.queue, 1)[0].proposal.id.to_string();
    let stopped = sv.terminate(WAIT);
    assert_eq!(stopped.map(|s| s.success()), Some(true), "{}", sv.stderr());
    if let Ok((result, _)) = call.outcome(WAIT) {
        assert_eq!(
            result["structured"]["status"], "pending",
            "a call ended by shutdown reports pending: {result}"
        );
    }
    sv.wait_for_audit(
        &["\"event\":\"wait_ended\"", &id, "\"outcome\":\"cancelled\""],
        WAIT,
    );

    sv.restart();
    let status = call_now(&sv.url, "proposal-status", json!({"id": id}));
    assert_eq!(
        status["structured"],
        json!({"id": id, "status": "pending", "comment": null})
    );
    answer(&sv.queue, "approve", &id, None);
    let status = call_now(&sv.url, "proposal-status", json!({"id": id}));
    assert_eq!(status["structured"]["status"], "approved");
    sv.wait_for_audit(&["\"event\":\"decision\"", &id], WAIT);
}
