//! The MCP tools an agent calls when the sandbox blocks it.
//!
//! Each proposing tool runs the same phases: parse the arguments, validate
//! the proposal, queue it, wait for the operator, and report the outcome.
//! Anything refused before queueing is an `isError` result the agent can
//! fix; anything about a queued proposal carries `{id, status, comment}` as
//! structured content.

use std::sync::{Arc, Mutex};

use bottle_common::audit::AuditLog;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    Tool as McpTool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::audit::AuditEvent;
use crate::current::CurrentConfig;
use crate::decisions::{DecisionAudit, Via, lock};
use crate::id::ProposalId;
use crate::proposal::{
    self, CapabilityBlockArgs, EgressBlockArgs, Invalid, ListEgressRoutesArgs, PipelockBlockArgs,
    ProposalStatusArgs,
};
use crate::queue::{Decision, NewProposal, Proposal, Queue, QueueError, Status, Tool};
use crate::wait::{ProgressSink, WaitEnd, WaitSettings, wait_for_decision};

/// Name of the tool listing the current routes.
pub const LIST_EGRESS_ROUTES: &str = "list-egress-routes";
/// Name of the tool reporting a proposal's status.
pub const PROPOSAL_STATUS: &str = "proposal-status";

/// The structured content of every result about a queued proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Outcome {
    /// The proposal id (pass it to proposal-status).
    pub id: String,
    /// pending, approved, rejected, failed or expired.
    pub status: Status,
    /// The operator's comment, the apply error, or the expiry note; null while pending.
    pub comment: Option<String>,
}

/// Bounds on what one agent can make the server hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most unanswered proposals in the queue; further proposals are refused.
    pub max_pending: usize,
    /// Most proposing calls waiting at once; further calls queue their proposal and return at once.
    pub max_waiting: usize,
}

/// Everything the tools need, shared by all requests.
#[derive(Debug)]
struct Inner {
    queue: Queue,
    current: CurrentConfig,
    audit: AuditLog,
    decisions: Arc<DecisionAudit>,
    wait: WaitSettings,
    limits: Limits,
    waiting: Arc<Semaphore>,
    submitting: Mutex<()>,
    tools: Vec<McpTool>,
    instructions: String,
    shutdown: CancellationToken,
}

/// Why a proposal was not queued.
enum NotQueued {
    /// The queue already holds `Limits::max_pending` unanswered proposals.
    Full(usize),
    /// The queue could not be read or written.
    Failed(String),
}

/// The supervise MCP server; cheap to clone (one per HTTP request).
#[derive(Debug, Clone)]
pub struct Supervise {
    inner: Arc<Inner>,
}

impl Supervise {
    /// A server over `queue` and `current`; decisions are audited through `decisions`, and
    /// `shutdown` ends every wait.
    pub fn new(
        queue: Queue,
        current: CurrentConfig,
        audit: AuditLog,
        decisions: Arc<DecisionAudit>,
        wait: WaitSettings,
        limits: Limits,
        shutdown: CancellationToken,
    ) -> Supervise {
        Supervise {
            inner: Arc::new(Inner {
                queue,
                current,
                audit,
                decisions,
                wait,
                limits,
                waiting: Arc::new(Semaphore::new(limits.max_waiting)),
                submitting: Mutex::new(()),
                tools: tool_definitions(),
                instructions: instructions(wait.decision_timeout),
                shutdown,
            }),
        }
    }

    /// Queue `new` with the current target file as its base, unless the queue is full.
    async fn submit(&self, mut new: NewProposal) -> Result<Proposal, NotQueued> {
        let inner = self.inner.clone();
        let submitted = tokio::task::spawn_blocking(move || {
            let _one_at_a_time = lock(&inner.submitting);
            let pending = inner
                .queue
                .pending_count()
                .map_err(|e| NotQueued::Failed(e.to_string()))?;
            if pending >= inner.limits.max_pending {
                return Err(NotQueued::Full(pending));
            }
            new.base = inner.current.base(new.tool.target());
            inner
                .queue
                .submit(new)
                .map_err(|e| NotQueued::Failed(e.to_string()))
        })
        .await;
        submitted.unwrap_or_else(|e| Err(NotQueued::Failed(e.to_string())))
    }

    async fn propose<A: DeserializeOwned>(
        &self,
        tool: Tool,
        args: JsonObject,
        validate: fn(A) -> Result<NewProposal, Invalid>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let new = match parse_args::<A>(args).and_then(validate) {
            Ok(new) => new,
            Err(invalid) => return self.refuse(tool.name(), &invalid.0),
        };
        let permit = self.inner.waiting.clone().try_acquire_owned().ok();
        let proposal = match self.submit(new).await {
            Ok(p) => p,
            Err(NotQueued::Full(pending)) => return self.queue_full(tool, pending),
            Err(NotQueued::Failed(e)) => {
                return server_fault(&format!("cannot queue the proposal: {e}"));
            }
        };
        self.inner.audit.record(&AuditEvent::Proposal {
            id: proposal.id.as_str(),
            tool: tool.name(),
            target: proposal.target.file_name(),
            bytes: proposal.content.len(),
            justification: &proposal.justification,
        });
        let Some(_permit) = permit else {
            return self.busy(tool, &proposal);
        };
        tracing::info!(id = %proposal.id, tool = tool.name(), "proposal queued; waiting for the operator");
        self.wait(tool, &proposal, context).await
    }

    /// Wait for the operator's answer on a just-queued proposal and report how the wait ended.
    async fn wait(
        &self,
        tool: Tool,
        proposal: &Proposal,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let progress = context.meta.get_progress_token().map(|token| ProgressSink {
            peer: context.peer.clone(),
            token,
        });
        let cancel = context.ct.clone();
        let shutdown = self.inner.shutdown.clone();
        let started = Instant::now();
        let _waiting = self.inner.decisions.waiting(&proposal.id);
        let waited = tokio::select! {
            r = wait_for_decision(&self.inner.queue, &proposal.id, self.inner.wait, progress, &cancel) => r,
            _ = shutdown.cancelled() => Ok(WaitEnd::Cancelled),
        };
        let waited_ms = started.elapsed().as_millis() as u64;
        match waited {
            Ok(WaitEnd::Decided(decision)) => self.report(tool, &decision, Via::Wait).await,
            Ok(WaitEnd::TimedOut) => {
                self.wait_ended(&proposal.id, "timeout", waited_ms);
                let secs = self.inner.wait.decision_timeout.as_secs_f64();
                let preface = format!("No answer from the operator within {secs:.0}s. ");
                outcome_result(tool, &proposal.id, Status::Pending, None, &preface)
            }
            Ok(WaitEnd::Cancelled) => {
                self.wait_ended(&proposal.id, "cancelled", waited_ms);
                outcome_result(tool, &proposal.id, Status::Pending, None, "")
            }
            Err(e) => server_fault(&format!(
                "proposal {} was queued, but its decision cannot be read: {e}",
                proposal.id
            )),
        }
    }

    async fn proposal_status(&self, args: JsonObject) -> CallToolResult {
        let args = match parse_args::<ProposalStatusArgs>(args) {
            Ok(a) => a,
            Err(invalid) => return self.refuse(PROPOSAL_STATUS, &invalid.0),
        };
        let id = match ProposalId::parse(&args.id) {
            Ok(id) => id,
            Err(e) => return self.refuse(PROPOSAL_STATUS, &format!("id: {e}")),
        };
        let queue = self.inner.queue.clone();
        let lookup = id.clone();
        let entry = match tokio::task::spawn_blocking(move || queue.get(&lookup)).await {
            Ok(Ok(entry)) => entry,
            Ok(Err(QueueError::NotFound { .. })) => {
                let message = format!(
                    "id: there is no proposal {id}; use the id returned by egress-block, pipelock-block or capability-block"
                );
                return self.refuse(PROPOSAL_STATUS, &message);
            }
            Ok(Err(e)) => return server_fault(&format!("cannot read proposal {id}: {e}")),
            Err(e) => return server_fault(&format!("cannot read proposal {id}: {e}")),
        };
        match &entry.decision {
            Some(decision) => {
                self.report(entry.proposal.tool, decision, Via::Status)
                    .await
            }
            None => outcome_result(entry.proposal.tool, &id, Status::Pending, None, ""),
        }
    }

    fn list_egress_routes(&self, args: JsonObject) -> CallToolResult {
        if let Err(invalid) = parse_args::<ListEgressRoutesArgs>(args) {
            return self.refuse(LIST_EGRESS_ROUTES, &invalid.0);
        }
        match self.inner.current.routes_listing() {
            Ok(listing) => CallToolResult::success(vec![ContentBlock::text(listing)]),
            Err(e) => server_fault(&format!("the current routes.yaml does not load: {e}")),
        }
    }

    /// Report a decision to the agent, auditing it unless it already was.
    async fn report(&self, tool: Tool, decision: &Decision, via: Via) -> CallToolResult {
        let (decisions, audited) = (self.inner.decisions.clone(), decision.clone());
        match tokio::task::spawn_blocking(move || decisions.record(tool, &audited, via)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(id = %decision.id, "cannot audit the decision: {e}"),
            Err(e) => tracing::warn!(id = %decision.id, "cannot audit the decision: {e}"),
        }
        outcome_result(
            tool,
            &decision.id,
            decision.status,
            Some(&decision.comment),
            "",
        )
    }

    fn refuse(&self, tool: &str, message: &str) -> CallToolResult {
        let fix = if tool == PROPOSAL_STATUS || tool == LIST_EGRESS_ROUTES {
            String::new()
        } else {
            format!("\n\nNothing was queued. Fix the proposal and call {tool} again.")
        };
        self.refuse_with(tool, &format!("{message}{fix}"))
    }

    /// Refuse a call with `text` as the agent's whole answer, and audit it.
    fn refuse_with(&self, tool: &str, text: &str) -> CallToolResult {
        self.audit_refusal(tool, text);
        CallToolResult::error(vec![ContentBlock::text(text)])
    }

    /// Audit and log that a call to `tool` was refused with `error`.
    fn audit_refusal(&self, tool: &str, error: &str) {
        self.inner
            .audit
            .record(&AuditEvent::Invalid { tool, error });
        tracing::info!(tool, "refused a call: {error}");
    }

    fn queue_full(&self, tool: Tool, pending: usize) -> CallToolResult {
        let text = format!(
            "The queue already holds {pending} proposals the operator has not answered, the most \
             this server accepts. Nothing was queued. Do not retry now: check your earlier \
             proposals with proposal-status and wait for answers, then send {} again (fold \
             related changes into one proposal).",
            tool.name()
        );
        self.refuse_with(tool.name(), &text)
    }

    /// The proposal is queued, but too many calls wait already: answer "pending" at once.
    fn busy(&self, tool: Tool, proposal: &Proposal) -> CallToolResult {
        self.wait_ended(&proposal.id, "busy", 0);
        let preface = format!(
            "The server is already holding {} calls open for the operator, so this call does not \
             wait. ",
            self.inner.limits.max_waiting
        );
        outcome_result(tool, &proposal.id, Status::Pending, None, &preface)
    }

    fn wait_ended(&self, id: &ProposalId, outcome: &str, waited_ms: u64) {
        self.inner.audit.record(&AuditEvent::WaitEnded {
            id: id.as_str(),
            outcome,
            waited_ms,
        });
        tracing::info!(%id, outcome, waited_ms, "stopped waiting; the proposal stays queued");
    }
}

impl ServerHandler for Supervise {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("supervise", env!("CARGO_PKG_VERSION")))
            .with_instructions(self.inner.instructions.clone())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.inner.tools.clone()))
    }

    fn get_tool(&self, name: &str) -> Option<McpTool> {
        self.inner.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let result = match request.name.as_ref() {
            "egress-block" => {
                self.propose::<EgressBlockArgs>(
                    Tool::EgressBlock,
                    args,
                    proposal::egress_block,
                    context,
                )
                .await
            }
            "pipelock-block" => {
                self.propose::<PipelockBlockArgs>(
                    Tool::PipelockBlock,
                    args,
                    proposal::pipelock_block,
                    context,
                )
                .await
            }
            "capability-block" => {
                self.propose::<CapabilityBlockArgs>(
                    Tool::CapabilityBlock,
                    args,
                    proposal::capability_block,
                    context,
                )
                .await
            }
            LIST_EGRESS_ROUTES => self.list_egress_routes(args),
            PROPOSAL_STATUS => self.proposal_status(args).await,
            other => {
                let name = other
                    .chars()
                    .take(64)
                    .collect::<String>()
                    .escape_default()
                    .to_string();
                let message = format!(
                    "unknown tool `{name}`; supervise has egress-block, pipelock-block, \
                     capability-block, list-egress-routes and proposal-status"
                );
                self.audit_refusal(&name, &message);
                return Err(ErrorData::invalid_params(message, None));
            }
        };
        Ok(result.into())
    }
}

fn parse_args<A: DeserializeOwned>(args: JsonObject) -> Result<A, Invalid> {
    serde_json::from_value(serde_json::Value::Object(args))
        .map_err(|e| Invalid(format!("invalid arguments: {e}")))
}

/// The result about a queued proposal: text for the model, `{id, status, comment}` for programs.
/// `preface` is put before the text (e.g. why the call stopped waiting).
pub fn outcome_result(
    tool: Tool,
    id: &ProposalId,
    status: Status,
    comment: Option<&str>,
    preface: &str,
) -> CallToolResult {
    let said = comment.map(str::trim).filter(|c| !c.is_empty());
    let remark = said
        .map(|c| format!(" The operator's comment: {c}"))
        .unwrap_or_default();
    let text = match status {
        Status::Pending => format!(
            "Proposal {id} is still pending: the operator has not answered yet. It stays queued; \
             call proposal-status with {{\"id\": \"{id}\"}} later to get the decision. Do not submit it again."
        ),
        Status::Approved => {
            let next = match tool {
                Tool::EgressBlock | Tool::PipelockBlock => {
                    "Retry the request that was refused. If it is still refused, the change is not \
                     in effect yet (list-egress-routes shows the routes in force); do not submit \
                     the proposal again."
                }
                Tool::CapabilityBlock => {
                    "A Dockerfile change reaches you only in a container built from it, normally \
                     when the bottle is resumed; until then, keep working without it and do not \
                     submit the proposal again."
                }
            };
            let applied = if said.is_some() {
                "supervise itself applies nothing; the comment says what was applied, if anything."
            } else {
                "supervise itself applies nothing, so it cannot tell whether the change is in \
                 effect yet."
            };
            format!("The operator approved proposal {id}.{remark} {applied} {next}")
        }
        Status::Rejected => format!(
            "The operator rejected proposal {id}.{remark} Do not submit the same proposal again; \
             change your approach or propose something that addresses the comment."
        ),
        Status::Failed => format!(
            "The operator approved proposal {id}, but applying it failed, so nothing changed. \
             The error: {}. Fix the proposal and submit it again.",
            said.unwrap_or("(no details)")
        ),
        Status::Expired => format!(
            "Proposal {id} expired without an answer.{remark} Submit it again if you still need it."
        ),
    };
    let outcome = Outcome {
        id: id.to_string(),
        status,
        comment: comment.map(str::to_string),
    };
    let mut result = CallToolResult::success(vec![ContentBlock::text(format!("{preface}{text}"))]);
    result.structured_content =
        Some(serde_json::to_value(&outcome).expect("an outcome always serializes"));
    result.is_error = Some(matches!(
        status,
        Status::Rejected | Status::Failed | Status::Expired
    ));
    result
}

fn server_fault(message: &str) -> CallToolResult {
    tracing::error!("{message}");
    CallToolResult::error(vec![ContentBlock::text(format!(
        "supervise could not handle this call: {message}. This is a problem on the operator's side, not with your proposal."
    ))])
}

fn instructions(timeout: std::time::Duration) -> String {
    let secs = timeout.as_secs();
    let wait = if secs >= 120 {
        format!("{} minutes", secs.div_ceil(60))
    } else {
        format!("{secs} seconds")
    };
    format!(
        "This sandbox (bottle) denies network access and capabilities that nobody approved. When \
         something is refused, do not try to get around it: propose the change with egress-block \
         (egress-proxy routes: hosts, paths, methods, credentials), pipelock-block (hostname \
         allowlist) or capability-block (your container's Dockerfile), passing the complete new \
         file and a justification. A human operator reviews the diff against the current config; \
         the call waits up to {wait} for the answer. If it is still pending, call \
         proposal-status with the id later. list-egress-routes shows the current routes."
    )
}

fn tool_definitions() -> Vec<McpTool> {
    use rmcp::handler::server::tool::{schema_for_input, schema_for_output};
    let outcome = schema_for_output::<Outcome>();
    let input = |schema: Result<Arc<JsonObject>, String>| {
        schema.expect("tool argument types are JSON objects")
    };
    let proposing = ToolAnnotations::new()
        .read_only(false)
        .destructive(false)
        .idempotent(false)
        .open_world(false);
    let reading = ToolAnnotations::new().read_only(true).open_world(false);
    vec![
        McpTool::new(
            "egress-block",
            "Call this when egress-proxy refused an HTTP(S) request (a 403 from the proxy naming \
             no matching route). Pass the COMPLETE proposed routes.yaml: start from the current \
             routes (list-egress-routes) and add the narrowest route that allows what you need \
             (exact host, path prefixes, methods). Credentials are referenced by name \
             (auth.token_env / auth.token_file); never put a secret value in the file. The \
             proposal is validated with egress-proxy's own parser, queued for a human operator, \
             and this call waits for the decision.",
            input(schema_for_input::<EgressBlockArgs>()),
        )
        .with_raw_output_schema(outcome.clone())
        .with_annotations(proposing.clone()),
        McpTool::new(
            "pipelock-block",
            "Call this when pipelock (the last hop to the internet) refused a host that egress-proxy \
             allowed. Pass the COMPLETE proposed hostname allowlist (the current entries plus the \
             hosts you need), each a host name (not an IP address) or *.domain. The proposal is \
             queued for a human operator and this call waits for the decision.",
            input(schema_for_input::<PipelockBlockArgs>()),
        )
        .with_raw_output_schema(outcome.clone())
        .with_annotations(proposing.clone()),
        McpTool::new(
            "capability-block",
            "Call this when your container lacks a tool or package you cannot install yourself. \
             Pass the COMPLETE proposed Dockerfile (the current one with your change); it must \
             start with FROM. The proposal is queued for a human operator and this call waits for \
             the decision; an approved image takes effect when the bottle is resumed.",
            input(schema_for_input::<CapabilityBlockArgs>()),
        )
        .with_raw_output_schema(outcome.clone())
        .with_annotations(proposing),
        McpTool::new(
            LIST_EGRESS_ROUTES,
            "Show the egress-proxy routes currently in force (routes.yaml), with credentials \
             shown only by where they come from. Start egress-block proposals from this.",
            input(schema_for_input::<ListEgressRoutesArgs>()),
        )
        .with_annotations(reading.clone()),
        McpTool::new(
            PROPOSAL_STATUS,
            "Get the status of a proposal by the id an earlier egress-block, pipelock-block or \
             capability-block call returned: pending, approved, rejected (with the operator's \
             comment), failed or expired. Returns at once.",
            input(schema_for_input::<ProposalStatusArgs>()),
        )
        .with_raw_output_schema(outcome)
        .with_annotations(reading),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_have_the_contracted_names_and_arguments() {
        let tools = tool_definitions();
        let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
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
        let props = |i: usize| -> Vec<String> {
            let mut keys: Vec<String> = tools[i]
                .input_schema
                .get("properties")
                .and_then(|p| p.as_object())
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            keys.sort();
            keys
        };
        assert_eq!(props(0), ["justification", "routes"]);
        assert_eq!(props(1), ["allowlist", "justification"]);
        assert_eq!(props(2), ["dockerfile", "justification"]);
        assert!(props(3).is_empty());
        assert_eq!(props(4), ["id"]);
        assert!(tools[0].output_schema.is_some());
        for tool in &tools {
            assert_eq!(
                tool.input_schema.get("additionalProperties"),
                Some(&serde_json::Value::Bool(false)),
                "{}",
                tool.name
            );
        }
    }

    #[test]
    fn outcomes_mark_errors_and_carry_structured_content() {
        let id = ProposalId::parse("20260101-000000-abcdef").unwrap();
        for (status, error) in [
            (Status::Pending, false),
            (Status::Approved, false),
            (Status::Rejected, true),
            (Status::Failed, true),
            (Status::Expired, true),
        ] {
            let r = outcome_result(Tool::EgressBlock, &id, status, Some("because"), "");
            assert_eq!(r.is_error, Some(error), "{status}");
            let s = r.structured_content.unwrap();
            assert_eq!(s["id"], id.as_str());
            assert_eq!(s["status"], status.as_str());
            assert_eq!(s["comment"], "because");
        }
        let r = outcome_result(Tool::CapabilityBlock, &id, Status::Pending, None, "");
        assert!(r.structured_content.unwrap()["comment"].is_null());
    }

    #[test]
    fn approvals_claim_only_what_the_operator_said() {
        let id = ProposalId::parse("20260101-000000-abcdef").unwrap();
        let text = |tool, comment| {
            let r = outcome_result(tool, &id, Status::Approved, Some(comment), "");
            r.content[0].as_text().unwrap().text.clone()
        };
        for tool in [
            Tool::EgressBlock,
            Tool::PipelockBlock,
            Tool::CapabilityBlock,
        ] {
            let bare = text(tool, "");
            assert!(!bare.contains("in effect;"), "{bare}");
            assert!(!bare.contains("is staged"), "{bare}");
            assert!(
                bare.contains("cannot tell whether the change is in effect"),
                "{bare}"
            );
        }
        let applied = text(
            Tool::EgressBlock,
            "ok\n\nApplied: egress-proxy now enforces the new routes",
        );
        assert!(applied.contains("The operator's comment: ok"), "{applied}");
        assert!(
            applied.contains("Applied: egress-proxy now enforces"),
            "{applied}"
        );
        assert!(
            applied.contains("the comment says what was applied"),
            "{applied}"
        );
    }
}
