//! supervise driven by rmcp's own Streamable HTTP client.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{answer, server, wait_for_pending};
use rmcp::model::{
    CallToolRequestParams, ClientRequest, JsonObject, ProgressNotificationParam, Request,
    ServerResult,
};
use rmcp::service::{NotificationContext, Peer, PeerRequestOptions, RequestHandle, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};

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

fn args(value: Value) -> JsonObject {
    value.as_object().unwrap().clone()
}

/// Connect `recorder` to the server at `url` over Streamable HTTP.
async fn connect(recorder: Recorder, url: &str) -> RunningService<RoleClient, Recorder> {
    recorder
        .serve(StreamableHttpClientTransport::from_uri(url.to_string()))
        .await
        .expect("connect with rmcp")
}

/// Call `tool` with `arguments` without waiting for the answer: the call, and the id of the
/// proposal it queued in `queue`.
async fn propose(
    client: &Peer<RoleClient>,
    queue: &Path,
    tool: &'static str,
    arguments: Value,
) -> (RequestHandle<RoleClient>, String) {
    let call = CallToolRequestParams::new(tool).with_arguments(args(arguments));
    let handle = client
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(call)),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    let queue = queue.to_path_buf();
    let id =
        tokio::task::spawn_blocking(move || wait_for_pending(&queue, 1)[0].proposal.id.to_string())
            .await
            .unwrap();
    (handle, id)
}

/// The status `proposal-status` reports for proposal `id`.
async fn status(client: &Peer<RoleClient>, id: &str) -> Value {
    let result = client
        .call_tool(
            CallToolRequestParams::new("proposal-status").with_arguments(args(json!({"id": id}))),
        )
        .await
        .unwrap();
    result.structured_content.unwrap()["status"].clone()
}

#[tokio::test]
async fn rmcp_client_lists_tools_and_gets_an_approval_with_progress() {
    let sv = server("30", &[]);
    let recorder = Recorder::default();
    let client = connect(recorder.clone(), &sv.url).await;

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

    let (handle, id) = propose(
        &client,
        &sv.queue,
        "capability-block",
        json!({
            "dockerfile": "FROM debian:bookworm\nRUN apt-get update && apt-get install -y ripgrep\n",
            "justification": "searching a large tree"
        }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (queue, approve_id) = (sv.queue.clone(), id.clone());
    tokio::task::spawn_blocking(move || {
        answer(&queue, "approve", &approve_id, Some("rebuild on resume"))
    })
    .await
    .unwrap();

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

    assert_eq!(status(&client, &id).await, "approved");
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_closes_the_call_and_the_proposal_stays_queued() {
    let sv = server("60", &[]);
    let client = connect(Recorder::default(), &sv.url).await;
    let (handle, id) = propose(
        &client,
        &sv.queue,
        "pipelock-block",
        json!({"allowlist": ["pypi.org"], "justification": "pip install"}),
    )
    .await;
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
    assert_eq!(status(&client, &id).await, "pending");
    client.cancel().await.unwrap();
}
