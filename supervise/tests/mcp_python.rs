//! supervise driven by an independent MCP client: the official Python SDK over Streamable HTTP.

mod common;

use std::time::Duration;

use common::{PyClient, answer, call_now, entries, queue_cli, server, wait_for_pending};
use serde_json::{Value, json};
use supervise::queue::{Status, Tool};

const WAIT: Duration = Duration::from_secs(30);

fn text(result: &Value) -> &str {
    result["text"].as_str().unwrap_or_default()
}

#[test]
fn tools_are_listed_with_their_contracted_schemas() {
    let sv = server("5", &[]);
    for mode in ["legacy", "auto"] {
        let (tools, _) = PyClient::start(&sv.url, mode, &["list-tools"], "").result(WAIT);
        let tools = tools.as_array().unwrap();
        let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "egress-block",
                "pipelock-block",
                "capability-block",
                "list-egress-routes",
                "proposal-status"
            ],
            "mode {mode}"
        );
        let required = |i: usize| -> Vec<&str> {
            let mut r: Vec<&str> = tools[i]["input_schema"]["required"]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
                .unwrap_or_default();
            r.sort();
            r
        };
        assert_eq!(required(0), ["justification", "routes"]);
        assert_eq!(required(1), ["allowlist", "justification"]);
        assert_eq!(required(2), ["dockerfile", "justification"]);
        assert!(required(3).is_empty());
        assert_eq!(required(4), ["id"]);
        assert_eq!(
            tools[1]["input_schema"]["properties"]["allowlist"]["type"],
            "array"
        );
        assert_eq!(
            tools[1]["input_schema"]["properties"]["allowlist"]["items"]["type"],
            "string"
        );
        for (i, field) in [
            (0, "routes"),
            (0, "justification"),
            (1, "justification"),
            (2, "dockerfile"),
            (2, "justification"),
            (4, "id"),
        ] {
            let schema = &tools[i]["input_schema"];
            assert_eq!(schema["properties"][field]["type"], "string", "{schema}");
            assert!(
                schema["properties"][field]["description"].is_string(),
                "{schema}"
            );
        }
        for tool in tools {
            let schema = &tool["input_schema"];
            assert_eq!(schema["type"], "object", "{schema}");
            assert_eq!(schema["additionalProperties"], false, "{schema}");
        }
        for i in [0, 1, 2, 4] {
            let out = &tools[i]["output_schema"];
            assert_eq!(out["type"], "object", "{out}");
            assert!(out["properties"]["status"].is_object(), "{out}");
            let published = out.to_string();
            for status in ["pending", "approved", "rejected", "failed", "expired"] {
                assert!(
                    published.contains(&format!("\"{status}\"")),
                    "{status} missing from {out}"
                );
            }
        }
        assert!(
            tools[0]["description"]
                .as_str()
                .unwrap()
                .contains("routes.yaml")
        );
    }
}

#[test]
fn invalid_proposals_are_tool_errors_and_nothing_is_queued() {
    let sv = server("5", &[]);
    let huge = "x".repeat(300 * 1024);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "egress-block",
            json!({"routes": "routes:\n  - host: a..com\n", "justification": "j"}),
            "routes:2:11: host: invalid host",
        ),
        (
            "egress-block",
            json!({"routes": "routes:\n  - hots: a.com\n", "justification": "j"}),
            "did you mean `host`?",
        ),
        (
            "egress-block",
            json!({"routes": format!("routes: []\n#{huge}\n"), "justification": "j"}),
            "byte limit",
        ),
        (
            "egress-block",
            json!({"routes": "routes: []\n"}),
            "missing field `justification`",
        ),
        (
            "egress-block",
            json!({"routes": "routes: []\n", "justification": "  "}),
            "justification: empty",
        ),
        (
            "egress-block",
            json!({"routes": "routes: []\n", "justification": "j", "extra": 1}),
            "unknown field `extra`",
        ),
        (
            "egress-block",
            json!({"routes": "routes: []\u{1b}[2J\n", "justification": "j"}),
            "U+001B",
        ),
        (
            "pipelock-block",
            json!({"allowlist": [], "justification": "j"}),
            "empty",
        ),
        (
            "pipelock-block",
            json!({"allowlist": ["ok.com", "https://x.com/path"], "justification": "j"}),
            "allowlist[1]",
        ),
        (
            "pipelock-block",
            json!({"allowlist": "pypi.org", "justification": "j"}),
            "invalid type",
        ),
        (
            "capability-block",
            json!({"dockerfile": "RUN curl x | sh\nFROM debian\n", "justification": "j"}),
            "line 1: the first instruction is `RUN`",
        ),
        (
            "capability-block",
            json!({"dockerfile": "# just a comment\n", "justification": "j"}),
            "no FROM instruction",
        ),
        (
            "capability-block",
            json!({"dockerfile": "FROM x\n\u{0}", "justification": "j"}),
            "U+0000",
        ),
        (
            "proposal-status",
            json!({"id": "../x"}),
            "invalid proposal id",
        ),
        (
            "proposal-status",
            json!({"id": "/etc/passwd"}),
            "invalid proposal id",
        ),
        (
            "proposal-status",
            json!({"id": "a\u{0}b"}),
            "invalid proposal id",
        ),
        (
            "proposal-status",
            json!({"id": "a".repeat(5000)}),
            "longer than 64",
        ),
        (
            "proposal-status",
            json!({"id": "20260101-000000-nosuch"}),
            "there is no proposal",
        ),
        ("proposal-status", json!({}), "missing field `id`"),
        (
            "list-egress-routes",
            json!({"verbose": true}),
            "unknown field `verbose`",
        ),
        (
            "pipelock-block",
            json!({"allowlist": (0..1001).map(|i| format!("h{i}.example.com")).collect::<Vec<_>>(), "justification": "j"}),
            "1001 entries, over the limit of 1000",
        ),
        (
            "pipelock-block",
            json!({"allowlist": ["169.254.169.254"], "justification": "metadata"}),
            "is an IP address; pipelock allowlists host names",
        ),
        (
            "pipelock-block",
            json!({"allowlist": ["[::1]"], "justification": "loopback"}),
            "is an IP address",
        ),
        (
            "pipelock-block",
            json!({"allowlist": ["*.com"], "justification": "everything"}),
            "at least two labels after `*.`",
        ),
        (
            "capability-block",
            json!({"dockerfile": "FROM x\n", "justification": "y".repeat(200 * 1024)}),
            "justification: 204800 bytes, over the 8192 byte limit",
        ),
        (
            "egress-block",
            json!({"routes": "routes: []\n", "justification": "hidden\u{e0041}\u{e0042}"}),
            "U+E0041",
        ),
    ];
    let batch: Vec<Value> = cases
        .iter()
        .map(|(tool, args, _)| json!({"tool": tool, "arguments": args}))
        .collect();
    let (results, _) = PyClient::start(
        &sv.url,
        "legacy",
        &["batch"],
        &Value::from(batch).to_string(),
    )
    .result(WAIT);
    for ((tool, args, want), result) in cases.iter().zip(results.as_array().unwrap()) {
        assert_eq!(result["is_error"], true, "{tool} {args}: {result}");
        assert!(
            text(result).contains(want),
            "{tool}: want {want:?} in {}",
            text(result)
        );
        if !["proposal-status", "list-egress-routes"].contains(tool) {
            assert!(
                text(result).contains("Nothing was queued"),
                "{}",
                text(result)
            );
        }
    }
    assert!(entries(&sv.queue).is_empty(), "something was queued");
    sv.wait_for_audit_count(&["\"event\":\"invalid\""], cases.len(), WAIT);
    std::thread::sleep(Duration::from_millis(300));
    let invalid = sv
        .audit_lines()
        .iter()
        .filter(|l| l.contains("\"event\":\"invalid\""))
        .count();
    assert_eq!(invalid, cases.len(), "one audit record per refusal");
}

#[test]
fn oversized_requests_and_unknown_tools_are_refused_clearly() {
    let sv = server("5", &[]);
    let body = "x".repeat(1024 * 1024 + 1);
    let failure = PyClient::call(
        &sv.url,
        "legacy",
        "egress-block",
        &json!({"routes": body, "justification": "j"}),
    )
    .outcome(WAIT)
    .expect_err("a request over 1 MiB must fail");
    assert!(
        failure.contains("the request is over 1048576 bytes"),
        "{failure}"
    );
    let failure = PyClient::call(&sv.url, "legacy", "no-such-tool\u{1b}[2J", &json!({}))
        .outcome(WAIT)
        .expect_err("an unknown tool is a protocol error");
    assert!(failure.contains("unknown tool"), "{failure}");
    sv.wait_for_audit(
        &["\"event\":\"invalid\"", "no-such-tool", "unknown tool"],
        WAIT,
    );
    assert!(
        sv.audit_lines().iter().all(|l| !l.contains('\u{1b}')),
        "the tool name is escaped in the audit log"
    );
    assert!(entries(&sv.queue).is_empty());
    let listed = call_now(&sv.url, "list-egress-routes", json!({}));
    assert_eq!(listed["is_error"], false, "the server keeps serving");
}

#[test]
fn approve_round_trip_while_the_call_waits() {
    let sv = server("30", &[]);
    std::fs::write(sv.current.join("routes.yaml"), "routes:\n  - host: a.com\n").unwrap();
    let routes = "routes:\n  - host: a.com\n  - host: api.github.com\n    paths: [/repos/acme/]\n";
    for mode in ["legacy", "auto"] {
        let call = PyClient::call(
            &sv.url,
            mode,
            "egress-block",
            &json!({"routes": routes, "justification": "clone acme's repos"}),
        );
        let pending = wait_for_pending(&sv.queue, 1);
        let id = pending[0].proposal.id.to_string();
        assert_eq!(pending[0].proposal.content, routes);

        let show = queue_cli(&[
            "show",
            &id,
            "--queue",
            sv.queue.to_str().unwrap(),
            "--current-config",
            sv.current.to_str().unwrap(),
        ]);
        let shown = String::from_utf8_lossy(&show.stdout);
        assert!(shown.contains("+  - host: api.github.com"), "{shown}");
        assert!(shown.contains("clone acme's repos"), "{shown}");
        let recorded = queue_cli(&["show", &id, "--queue", sv.queue.to_str().unwrap()]);
        let recorded = String::from_utf8_lossy(&recorded.stdout);
        assert!(
            recorded.contains("--- base/routes.yaml\n+++ proposed/routes.yaml\n"),
            "{recorded}"
        );
        assert!(
            recorded.contains("   - host: a.com\n+  - host: api.github.com\n"),
            "diff against the routes the agent proposed against: {recorded}"
        );

        answer(&sv.queue, "approve", &id, Some("go ahead"));

        let (result, _) = call.result(WAIT);
        assert_eq!(result["is_error"], false, "{result}");
        assert_eq!(
            result["structured"],
            json!({"id": id, "status": "approved", "comment": "go ahead"})
        );
        assert!(text(&result).contains("approved"), "{}", text(&result));
        assert!(
            !text(&result).contains("in effect;"),
            "the server cannot know: {}",
            text(&result)
        );
        sv.wait_for_audit(
            &[
                "\"event\":\"decision\"",
                &id,
                "\"via\":\"wait\"",
                "test-operator",
            ],
            WAIT,
        );
    }
    sv.wait_for_audit(
        &[
            "\"event\":\"proposal\"",
            "egress-block",
            "clone acme's repos",
        ],
        WAIT,
    );
}

#[test]
fn reject_round_trip_returns_the_comment_as_an_error() {
    let sv = server("30", &[]);
    let call = PyClient::call(
        &sv.url,
        "legacy",
        "capability-block",
        &json!({"dockerfile": "FROM debian\nRUN apt-get install -y jq\n", "justification": "need jq"}),
    );
    let id = wait_for_pending(&sv.queue, 1)[0].proposal.id.to_string();
    let no_comment = queue_cli(&["reject", &id, "--queue", sv.queue.to_str().unwrap()]);
    assert_eq!(no_comment.status.code(), Some(2), "{no_comment:?}");
    answer(&sv.queue, "reject", &id, Some("use the jq binary in /opt"));
    let (result, _) = call.result(WAIT);
    assert_eq!(result["is_error"], true, "{result}");
    assert_eq!(result["structured"]["status"], "rejected");
    assert!(
        text(&result).contains("use the jq binary in /opt"),
        "{}",
        text(&result)
    );

    let again = queue_cli(&["approve", &id, "--queue", sv.queue.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(4), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already answered: rejected"));
}

#[test]
fn timeout_reports_pending_and_status_follows_the_decision() {
    let sv = server("1", &[]);
    let (result, _) = PyClient::call(
        &sv.url,
        "legacy",
        "pipelock-block",
        &json!({"allowlist": ["pypi.org", "files.pythonhosted.org"], "justification": "pip install"}),
    )
    .result(WAIT);
    assert_eq!(
        result["is_error"], false,
        "pending is not an error: {result}"
    );
    assert_eq!(result["structured"]["status"], "pending");
    assert!(result["structured"]["comment"].is_null());
    assert!(
        text(&result).contains("proposal-status"),
        "{}",
        text(&result)
    );
    let id = result["structured"]["id"].as_str().unwrap().to_string();
    sv.wait_for_audit(
        &["\"event\":\"wait_ended\"", &id, "\"outcome\":\"timeout\""],
        WAIT,
    );

    let status = call_now(&sv.url, "proposal-status", json!({"id": id}));
    assert_eq!(
        status["structured"],
        json!({"id": id, "status": "pending", "comment": null})
    );
    assert_eq!(status["is_error"], false);

    answer(&sv.queue, "approve", &id, None);
    let status = call_now(&sv.url, "proposal-status", json!({"id": id}));
    assert_eq!(
        status["structured"],
        json!({"id": id, "status": "approved", "comment": ""})
    );
    sv.wait_for_audit(&["\"event\":\"decision\"", &id], WAIT);
    std::thread::sleep(Duration::from_secs(3));
    let records = sv.wait_for_audit_count(&["\"event\":\"decision\"", &id], 1, WAIT);
    assert_eq!(records.len(), 1, "audited once: {records:?}");
}

#[test]
fn progress_notifications_arrive_with_increasing_progress() {
    let sv = server("2", &[]);
    let (result, progress) = PyClient::call(
        &sv.url,
        "legacy",
        "egress-block",
        &json!({"routes": "routes: []\n", "justification": "j"}),
    )
    .result(WAIT);
    assert_eq!(result["structured"]["status"], "pending");
    let values: Vec<f64> = progress
        .iter()
        .map(|p| p["progress"].as_f64().unwrap())
        .collect();
    assert!(
        values.len() >= 4,
        "only {} progress notifications: {progress:?}",
        values.len()
    );
    assert!(
        values.windows(2).all(|w| w[1] > w[0]),
        "not increasing: {values:?}"
    );
    assert!(progress.iter().all(|p| p["total"] == 2.0), "{progress:?}");
    let mut times: Vec<f64> = vec![0.0];
    times.extend(progress.iter().map(|p| p["elapsed"].as_f64().unwrap()));
    times.push(result["elapsed"].as_f64().unwrap());
    assert!(
        times.windows(2).all(|w| w[1] - w[0] <= 15.0),
        "the call went silent for more than 15 s: {times:?}"
    );
    assert!(
        progress[0]["message"]
            .as_str()
            .unwrap()
            .contains("waiting for the operator")
    );
}

#[test]
fn disconnecting_mid_wait_leaves_the_proposal_queued() {
    let sv = server("60", &[]);
    for mode in ["legacy", "auto"] {
        disconnect_then_answer(&sv, mode);
    }
}

fn disconnect_then_answer(sv: &bottle_tests::supervise::SuperviseServer, mode: &str) {
    let mut call = PyClient::call(
        &sv.url,
        mode,
        "egress-block",
        &json!({"routes": "routes: []\n", "justification": mode}),
    );
    let pending = wait_for_pending(&sv.queue, 1);
    assert_eq!(pending.len(), 1, "{mode}");
    let id = pending[0].proposal.id.to_string();
    call.kill();
    sv.wait_for_audit(
        &["\"event\":\"wait_ended\"", &id, "\"outcome\":\"cancelled\""],
        WAIT,
    );
    assert_eq!(wait_for_pending(&sv.queue, 1)[0].proposal.id.as_str(), id);

    let status = call_now(&sv.url, "proposal-status", json!({"id": id}));
    assert_eq!(status["structured"]["status"], "pending");
    answer(&sv.queue, "reject", &id, Some("not now"));
    let status = call_now(&sv.url, "proposal-status", json!({"id": id}));
    assert_eq!(
        status["structured"],
        json!({"id": id, "status": "rejected", "comment": "not now"})
    );
    assert_eq!(status["is_error"], true);
}

#[test]
fn concurrent_proposals_are_answered_independently() {
    let sv = server("30", &[]);
    let first = PyClient::call(
        &sv.url,
        "legacy",
        "pipelock-block",
        &json!({"allowlist": ["one.example.com"], "justification": "first"}),
    );
    let second = PyClient::call(
        &sv.url,
        "auto",
        "pipelock-block",
        &json!({"allowlist": ["two.example.com"], "justification": "second"}),
    );
    let pending = wait_for_pending(&sv.queue, 2);
    let id_of = |content: &str| {
        pending
            .iter()
            .find(|e| e.proposal.content == content)
            .map(|e| e.proposal.id.to_string())
            .unwrap()
    };
    let (one, two) = (id_of("one.example.com\n"), id_of("two.example.com\n"));
    assert!(
        pending
            .iter()
            .all(|e| e.proposal.tool == Tool::PipelockBlock)
    );
    answer(&sv.queue, "reject", &two, Some("no"));
    let (r2, _) = second.result(WAIT);
    assert_eq!(
        r2["structured"],
        json!({"id": two, "status": "rejected", "comment": "no"})
    );
    assert_eq!(
        entries(&sv.queue)
            .iter()
            .find(|e| e.proposal.id.as_str() == one)
            .unwrap()
            .status(),
        Status::Pending
    );
    answer(&sv.queue, "approve", &one, None);
    let (r1, _) = first.result(WAIT);
    assert_eq!(r1["structured"]["status"], "approved");
    assert_eq!(r1["structured"]["id"], one.as_str());
}

#[test]
fn unanswered_proposals_expire_after_the_ttl() {
    let sv = server("20", &["--proposal-ttl", "1"]);
    std::fs::write(
        sv.queue.join("20260101-000000-broken.proposal.json"),
        "{\"version\":",
    )
    .unwrap();
    let (result, _) = PyClient::call(
        &sv.url,
        "legacy",
        "egress-block",
        &json!({"routes": "routes: []\n", "justification": "j"}),
    )
    .result(WAIT);
    assert_eq!(result["is_error"], true, "{result}");
    assert_eq!(result["structured"]["status"], "expired");
    assert!(text(&result).contains("expired"), "{}", text(&result));
    let id = result["structured"]["id"].as_str().unwrap().to_string();
    sv.wait_for_audit(&["\"event\":\"expired\"", &id], WAIT);
    let log = sv.stderr();
    assert!(
        log.contains("20260101-000000-broken.proposal.json"),
        "malformed file not named in the log:\n{log}"
    );
    let broken = call_now(
        &sv.url,
        "proposal-status",
        json!({"id": "20260101-000000-broken"}),
    );
    assert_eq!(broken["is_error"], true, "{broken}");
    let late = queue_cli(&["approve", &id, "--queue", sv.queue.to_str().unwrap()]);
    assert_eq!(late.status.code(), Some(4), "{late:?}");
}

#[test]
fn current_routes_are_listed_without_secrets() {
    let sv = server("5", &[]);
    let empty = call_now(&sv.url, "list-egress-routes", json!({}));
    assert_eq!(empty["is_error"], false);
    assert!(text(&empty).contains("routes: []"), "{}", text(&empty));
    std::fs::write(
        sv.current.join("routes.yaml"),
        "# old token: ghp_0123456789abcdefghijklmnopqrstuvwxyz\nroutes:\n  - host: api.github.com\n    auth: {scheme: bearer, token_env: GITHUB_TOKEN}\n",
    )
    .unwrap();
    let listed = call_now(&sv.url, "list-egress-routes", json!({}));
    let listing = text(&listed);
    assert!(listing.contains("api.github.com"), "{listing}");
    assert!(listing.contains("token_env: GITHUB_TOKEN"), "{listing}");
    assert!(!listing.contains("ghp_"), "{listing}");
}
