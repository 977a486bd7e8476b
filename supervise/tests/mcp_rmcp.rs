//! supervise driven by rmcp's own Streamable HTTP client.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{queue_cli, server, wait_for_pending};
use rmcp::model::{
    CallToolRequestParams, ClientRequest, JsonObject, ProgressNotificationParam, Request,
    ServerResult,
};
use rmcp::service::{NotificationContext, PeerRequestOptions};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::json;

/// A client that records the progress notifications it receives.
#[derive(Clone, Default)]
struct Recorder {
    progress: Arc<Mutex<Vec<f64>>>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params.progress);
    }
}

fn args(value: serde_json::Value) -> JsonObject {
    value.as_object().unwrap().clone()
}

#[tokio::test]
async fn rmcp_client_lists_tools_and_gets_an_approval_with_progress() {
    let sv = server("30", &[]);
    let recorder = Recorder::default();
    let client = recorder
        .clone()
        .serve(StreamableHttpClientTransport::from_uri(sv.url.clone()))
        .await
        .expect("connect with rmcp");

    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(
        names,
        [
            "egress-block",
            "pipelock-block",
            "capability-block",
            "list-egress-routes",
            "proposal-status"
        ]
    );

    let call = CallToolRequestParams::new("capability-block").with_arguments(args(json!({
        "dockerfile": "FROM debian:bookworm\nRUN apt-get update && apt-get install -y ripgrep\n",
        "justification": "searching a large tree"
    })));
    let handle = client
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(call)),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();

    let queue = sv.queue.clone();
    let id =
        tokio::task::spawn_blocking(move || wait_for_pending(&queue, 1)[0].proposal.id.to_string())
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let q = sv.queue.to_str().unwrap().to_string();
    let approve_id = id.clone();
    let out = tokio::task::spawn_blocking(move || {
        queue_cli(&[
            "approve",
            &approve_id,
            "--queue",
            &q,
            "--comment",
            "rebuild on resume",
        ])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");

    let response = handle.await_response().await.unwrap();
    let ServerResult::CallToolResult(result) = response else {
        panic!("unexpected response {response:?}");
    };
    assert_eq!(result.is_error, Some(false));
    assert_eq!(
        result.structured_content,
        Some(json!({"id": id, "status": "approved", "comment": "rebuild on resume"}))
    );
    let progress = recorder.progress.lock().unwrap().clone();
    assert!(progress.len() >= 2, "progress: {progress:?}");
    assert!(progress.windows(2).all(|w| w[1] > w[0]), "{progress:?}");

    let status = client
        .call_tool(
            CallToolRequestParams::new("proposal-status").with_arguments(args(json!({"id": id}))),
        )
        .await
        .unwrap();
    assert_eq!(status.structured_content.unwrap()["status"], "approved");
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_closes_the_call_and_the_proposal_stays_queued() {
    let sv = server("60", &[]);
    let client = Recorder::default()
        .serve(StreamableHttpClientTransport::from_uri(sv.url.clone()))
        .await
        .expect("connect with rmcp");
    let call = CallToolRequestParams::new("pipelock-block").with_arguments(args(json!({
        "allowlist": ["pypi.org"],
        "justification": "pip install"
    })));
    let handle = client
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(call)),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    let queue = sv.queue.clone();
    let id =
        tokio::task::spawn_blocking(move || wait_for_pending(&queue, 1)[0].proposal.id.to_string())
            .await
            .unwrap();
    handle
        .cancel(Some("the agent moved on".into()))
        .await
        .unwrap();
    tokio::task::block_in_place(|| {
        sv.wait_for_audit(
            &["\"event\":\"wait_ended\"", &id, "\"outcome\":\"cancelled\""],
            Duration::from_secs(30),
        )
    });
    let status = client
        .call_tool(
            CallToolRequestParams::new("proposal-status").with_arguments(args(json!({"id": id}))),
        )
        .await
        .unwrap();
    assert_eq!(status.structured_content.unwrap()["status"], "pending");
    client.cancel().await.unwrap();
}
