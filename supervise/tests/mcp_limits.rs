//! An agent cannot make the server hold unbounded work: a cap on unanswered proposals and on
//! calls waiting at once. Driven by the Python MCP SDK.

mod common;

use std::time::Duration;

use common::{PyClient, answer, entries, server, wait_for_pending};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

fn propose(url: &str, host: &str) -> PyClient {
    PyClient::call(
        url,
        "legacy",
        "pipelock-block",
        &json!({"allowlist": [host], "justification": "need it"}),
    )
}

#[test]
fn pending_proposals_and_waiting_calls_are_bounded() {
    let sv = server("60", &["--max-pending", "2", "--max-waiting", "1"]);
    let first = propose(&sv.url, "one.example.com");
    let first_id = wait_for_pending(&sv.queue, 1)[0].proposal.id.to_string();

    let (second, _) = propose(&sv.url, "two.example.com").result(WAIT);
    assert_eq!(second["is_error"], false, "{second}");
    assert_eq!(second["structured"]["status"], "pending");
    let text = second["text"].as_str().unwrap();
    assert!(text.contains("does not wait"), "{text}");
    assert!(text.contains("proposal-status"), "{text}");
    let second_id = second["structured"]["id"].as_str().unwrap().to_string();
    sv.wait_for_audit(
        &[
            "\"event\":\"wait_ended\"",
            &second_id,
            "\"outcome\":\"busy\"",
        ],
        WAIT,
    );

    let (third, _) = propose(&sv.url, "three.example.com").result(WAIT);
    assert_eq!(third["is_error"], true, "{third}");
    assert!(third["structured"].is_null(), "{third}");
    let text = third["text"].as_str().unwrap();
    assert!(text.contains("already holds 2 proposals"), "{text}");
    assert!(text.contains("Nothing was queued"), "{text}");
    assert_eq!(
        entries(&sv.queue).len(),
        2,
        "the third proposal was not queued"
    );
    sv.wait_for_audit(
        &["\"event\":\"invalid\"", "already holds 2 proposals"],
        WAIT,
    );

    answer(&sv.queue, "reject", &second_id, Some("no"));
    answer(&sv.queue, "approve", &first_id, None);
    let (first, _) = first.result(WAIT);
    assert_eq!(first["structured"]["status"], "approved", "{first}");

    let again = propose(&sv.url, "four.example.com");
    let pending = wait_for_pending(&sv.queue, 1);
    assert_eq!(pending[0].proposal.content, "four.example.com\n");
    answer(&sv.queue, "approve", pending[0].proposal.id.as_str(), None);
    let (again, _) = again.result(WAIT);
    assert_eq!(
        again["structured"]["status"], "approved",
        "the waiting slot is free again: {again}"
    );
}
