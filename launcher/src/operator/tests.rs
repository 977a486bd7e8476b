//! Deciding and applying against a real egress-proxy process (no Docker):
//! the bottle's state directory is a temporary one, its live routes file is
//! the one the proxy loads, and SIGHUP and `GET /reload`/`/routes` are real.

use std::path::PathBuf;

use bottle_tests::egress::EgressProxy;
use bottle_tests::tools::workspace_bin;
use supervise::id::ProposalId;
use supervise::queue::{NewProposal, Queue, QueueError, Status, Tool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::audit::{OperatorAudit, Via};
use super::decide::{DecideError, Outcome, Request, Verdict, decide};
use super::sidecars::{Sidecars, http_body};
use crate::state::StateDir;

const SIGHUP: i32 = 1;

/// egress-proxy as a local process, standing in for the bottle's container.
struct LocalSidecars {
    proxy: EgressProxy,
    up: bool,
}

impl Sidecars for LocalSidecars {
    async fn running(&self, service: &str) -> anyhow::Result<bool> {
        Ok(self.up && service == "egress-proxy")
    }

    async fn proxy_get(&self, path: &str) -> anyhow::Result<String> {
        let mut s = tokio::net::TcpStream::connect(self.proxy.addr).await?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
            .await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        http_body(&out)
    }

    async fn proxy_hangup(&self) -> anyhow::Result<()> {
        self.proxy.child.signal(SIGHUP);
        Ok(())
    }

    async fn restart_pipelock(&self) -> anyhow::Result<()> {
        anyhow::bail!("no pipelock in these tests")
    }

    async fn pipelock_healthy(&self) -> anyhow::Result<bool> {
        Ok(false)
    }
}

/// A bottle: state directory, token file, a running egress-proxy on its live routes, a queue.
struct Bottle {
    _dir: tempfile::TempDir,
    state: StateDir,
    token: PathBuf,
    sidecars: LocalSidecars,
    queue: Queue,
    audit: OperatorAudit,
}

const TOKEN: &str = "tok-unit-7f3a9c";

impl Bottle {
    fn start() -> Bottle {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::at(&dir.path().join("state"), "coder-abc123");
        let token = dir.path().join("GH_TOKEN");
        std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
        std::fs::create_dir_all(state.queue()).unwrap();
        std::fs::create_dir_all(state.current_config()).unwrap();
        let routes = Bottle::routes_with(&token, "[/v1/]", "");
        std::fs::write(state.current_config().join("routes.yaml"), &routes).unwrap();
        let proxy = EgressProxy::start(
            &workspace_bin("egress-proxy"),
            &state.live_egress_dir(),
            &routes,
            &[],
            &[],
        );
        assert_eq!(proxy.routes, state.live_routes());
        let queue = Queue::open(&state.queue()).unwrap();
        let audit = OperatorAudit::open(&state).unwrap();
        Bottle {
            _dir: dir,
            state,
            token,
            sidecars: LocalSidecars { proxy, up: true },
            queue,
            audit,
        }
    }

    fn routes_with(token: &std::path::Path, paths: &str, extra: &str) -> String {
        format!(
            "routes:\n  - host: api.example.test\n    paths: {paths}\n    auth: {{scheme: bearer, token_file: {}}}\n{extra}",
            token.display()
        )
    }

    fn routes(&self, paths: &str, extra: &str) -> String {
        Bottle::routes_with(&self.token, paths, extra)
    }

    fn propose(&self, tool: Tool, content: &str) -> ProposalId {
        self.queue
            .submit(NewProposal {
                tool,
                justification: "need it for the task".into(),
                content: content.into(),
                base: None,
            })
            .unwrap()
            .id
    }

    async fn decide(
        &self,
        id: &str,
        verdict: Verdict,
        comment: &str,
    ) -> Result<Outcome, DecideError> {
        decide(
            &self.state,
            &self.sidecars,
            &self.audit,
            Request {
                proposal: id.into(),
                verdict,
                comment: comment.into(),
                by: "alice".into(),
                via: Via::Cli,
            },
        )
        .await
    }

    async fn reload_report(&self) -> serde_json::Value {
        serde_json::from_str(&self.sidecars.proxy_get("/reload").await.unwrap()).unwrap()
    }

    fn live(&self) -> String {
        std::fs::read_to_string(self.state.live_routes()).unwrap()
    }

    fn current(&self, name: &str) -> String {
        std::fs::read_to_string(self.state.current_config().join(name)).unwrap_or_default()
    }

    fn audit_lines(&self) -> Vec<serde_json::Value> {
        self.audit.flush();
        std::fs::read_to_string(self.state.root().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

const APPROVE: Verdict = Verdict::Approve {
    confirm_credentials: false,
};
const APPROVE_CONFIRMED: Verdict = Verdict::Approve {
    confirm_credentials: true,
};

#[tokio::test]
async fn approving_new_routes_reloads_the_proxy_and_answers_once_they_are_in_force() {
    let b = Bottle::start();
    let proposed = b.routes("[/v1/]", "  - host: pypi.org\n    methods: [GET]\n");
    let id = b.propose(Tool::EgressBlock, &proposed);
    let outcome = b.decide(id.as_str(), APPROVE, "go ahead").await.unwrap();
    assert_eq!(outcome.decision.status, Status::Approved);
    assert_eq!(outcome.decision.decided_by, "alice");
    assert!(
        outcome.decision.comment.starts_with(
            "go ahead\n\nApplied: egress-proxy now enforces the new routes (generation 2)"
        ),
        "{}",
        outcome.decision.comment
    );
    let applied = outcome.applied.unwrap();
    assert_eq!(applied.routes_generation, Some(2));
    assert_eq!(
        applied.files,
        [
            "live-config/egress-proxy/routes.yaml",
            "current-config/routes.yaml"
        ]
    );
    let listing = b.sidecars.proxy_get("/routes").await.unwrap();
    assert!(
        listing.contains("generation 2,") && listing.contains("pypi.org"),
        "{listing}"
    );
    assert_eq!(b.live(), proposed);
    assert_eq!(b.current("routes.yaml"), proposed);
    assert_eq!(b.queue.status(&id).unwrap(), Status::Approved);

    let audit = b.audit_lines();
    let events: Vec<&str> = audit.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["seen", "decision", "result"]);
    assert_eq!(audit[1]["decision"], "approve");
    assert_eq!(audit[1]["by"], "alice");
    assert_eq!(audit[1]["comment"], "go ahead");
    assert_eq!(audit[2]["result"], "approved");
    assert_eq!(audit[2]["applied"]["routes_generation"], 2);
    assert!(
        audit
            .iter()
            .all(|l| l["ts"].as_str().unwrap().ends_with('Z'))
    );

    // Answered once: a second approval is refused and nothing is reloaded.
    let e = b.decide(id.as_str(), APPROVE, "").await.unwrap_err();
    assert!(
        matches!(e, DecideError::Queue(QueueError::AlreadyAnswered { .. })),
        "{e}"
    );
    assert_eq!(e.exit_code(), 4);
    assert_eq!(b.reload_report().await["attempts"], 1);
}

#[tokio::test]
async fn a_refused_reload_answers_failed_with_the_proxy_error_and_restores_the_file() {
    let b = Bottle::start();
    let before = b.live();
    // Valid for the parser, refused by the proxy: `basic` needs `user:password` and the token has no `:`.
    let proposed = b.routes("[/v1/]", "").replace("bearer", "basic");
    let id = b.propose(Tool::EgressBlock, &proposed);
    let e = b.decide(id.as_str(), APPROVE, "").await.unwrap_err();
    let DecideError::Failed { decision, message } = &e else {
        panic!("{e}")
    };
    assert_eq!(e.exit_code(), 5);
    assert_eq!(decision.status, Status::Failed);
    assert!(
        message.contains("egress-proxy refused the new routes"),
        "{message}"
    );
    assert!(
        message.contains("scheme basic takes `user:password`"),
        "{message}"
    );
    assert!(
        message.contains(&format!("{}:2:1", b.state.live_routes().display())),
        "the proxy's file:line:col: {message}"
    );
    assert!(!message.contains(TOKEN), "{message}");
    assert!(
        decision
            .comment
            .contains("Approved by alice, but applying it failed"),
        "{}",
        decision.comment
    );
    assert_eq!(
        b.live(),
        before,
        "the live file is back to the routes in force"
    );
    assert_eq!(
        b.current("routes.yaml"),
        before,
        "the agent's view is unchanged"
    );
    let report = b.reload_report().await;
    assert_eq!(report["attempts"], 1);
    assert_eq!(report["generation"], 1);
    let audit = b.audit_lines();
    assert_eq!(audit.last().unwrap()["result"], "failed");
    assert!(
        audit.last().unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("scheme basic")
    );
}

#[tokio::test]
async fn new_token_sources_are_refused_without_touching_the_proxy() {
    let b = Bottle::start();
    let before = b.live();
    for source in [
        "token_env: HOME",
        "token_file: /etc/shadow",
        "token_file: /run/bottle/secrets/../../../proc/self/environ",
    ] {
        let proposed = b.routes(
            "[/v1/]",
            &format!("  - host: collector.example\n    auth: {{scheme: bearer, {source}}}\n"),
        );
        let id = b.propose(Tool::EgressBlock, &proposed);
        let e = b
            .decide(id.as_str(), APPROVE_CONFIRMED, "")
            .await
            .unwrap_err();
        let DecideError::Failed { decision, message } = &e else {
            panic!("{source}: {e}")
        };
        assert!(message.starts_with("refused:"), "{message}");
        assert!(message.contains(source), "{message}");
        assert!(
            decision.comment.contains("token_ref"),
            "{}",
            decision.comment
        );
    }
    // The same file spelled through `..` is a new source too.
    let dir = b.token.parent().unwrap();
    let respelled = b.routes("[/v1/]", "").replace(
        &b.token.display().to_string(),
        &format!(
            "{}/../{}/GH_TOKEN",
            dir.display(),
            dir.file_name().unwrap().to_string_lossy()
        ),
    );
    let id = b.propose(Tool::EgressBlock, &respelled);
    assert!(matches!(
        b.decide(id.as_str(), APPROVE_CONFIRMED, "").await,
        Err(DecideError::Failed { .. })
    ));
    assert_eq!(b.live(), before);
    assert_eq!(
        b.reload_report().await["attempts"],
        0,
        "no reload was attempted"
    );
}

#[tokio::test]
async fn moving_a_credential_needs_confirmation_and_then_applies() {
    let b = Bottle::start();
    let moved = b.routes(
        "[/v1/]",
        &format!(
            "  - host: evil.example\n    auth: {{scheme: header, header: x-k, token_file: {}}}\n",
            b.token.display()
        ),
    );
    let id = b.propose(Tool::EgressBlock, &moved);
    let e = b.decide(id.as_str(), APPROVE, "").await.unwrap_err();
    let DecideError::NeedsConfirmation(warnings) = &e else {
        panic!("{e}")
    };
    assert_eq!(e.exit_code(), 2);
    assert!(warnings[0].contains("evil.example"), "{warnings:?}");
    assert!(e.to_string().contains("--allow-credential-change"), "{e}");
    assert_eq!(b.queue.status(&id).unwrap(), Status::Pending);
    assert_eq!(b.reload_report().await["attempts"], 0);

    let outcome = b.decide(id.as_str(), APPROVE_CONFIRMED, "").await.unwrap();
    assert_eq!(outcome.decision.status, Status::Approved);
    let audit = b.audit_lines();
    let decision = audit.iter().find(|l| l["event"] == "decision").unwrap();
    assert!(
        decision["credential_warnings"][0]
            .as_str()
            .unwrap()
            .contains("evil.example"),
        "the confirmed warning is audited: {decision}"
    );
    assert_eq!(
        audit.iter().filter(|l| l["event"] == "seen").count(),
        1,
        "seen once however often it is shown"
    );
}

#[tokio::test]
async fn rejecting_needs_a_comment_and_applies_nothing() {
    let b = Bottle::start();
    let id = b.propose(Tool::EgressBlock, &b.routes("[/v1/, /admin/]", ""));
    let e = b
        .decide(id.as_str(), Verdict::Reject, "  ")
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    let outcome = b
        .decide(id.as_str(), Verdict::Reject, "not /admin")
        .await
        .unwrap();
    assert_eq!(outcome.decision.status, Status::Rejected);
    assert_eq!(outcome.decision.comment, "not /admin");
    assert!(outcome.applied.is_none());
    assert_eq!(b.reload_report().await["attempts"], 0);
    let audit = b.audit_lines();
    assert_eq!(audit.last().unwrap()["result"], "rejected");
}

#[tokio::test]
async fn a_stopped_bottle_leaves_the_proposal_pending() {
    let mut b = Bottle::start();
    b.sidecars.up = false;
    let id = b.propose(Tool::EgressBlock, &b.routes("[/v1/, /v2/]", ""));
    let e = b
        .decide(id.as_str(), APPROVE_CONFIRMED, "")
        .await
        .unwrap_err();
    assert!(matches!(e, DecideError::NotApplied(_)), "{e}");
    assert!(e.to_string().contains("bottle resume coder-abc123"), "{e}");
    assert_eq!(b.queue.status(&id).unwrap(), Status::Pending);
    assert_eq!(b.audit_lines().last().unwrap()["result"], "not_applied");
}

#[tokio::test]
async fn hostile_queue_entries_and_ids_are_refused() {
    let b = Bottle::start();
    for raw in [
        "../../etc/passwd",
        "a/b",
        "",
        "-rf",
        &"a".repeat(65),
        "ID-UPPER",
        "x\u{0}y",
    ] {
        let e = b.decide(raw, APPROVE, "").await.unwrap_err();
        assert!(
            matches!(e, DecideError::Queue(QueueError::InvalidId(_))),
            "{raw:?}: {e}"
        );
        assert_eq!(e.exit_code(), 2);
    }
    let e = b
        .decide("20260101-000000-aaaaaa", APPROVE, "")
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 3, "{e}");

    // Written straight into the queue, past supervise's validation.
    let write = |id: &str, content: &str| {
        let proposal = serde_json::json!({
            "version": 1, "id": id, "tool": "egress-block", "target": "routes.yaml",
            "created_at": "2026-01-01T00:00:00.000Z", "justification": "x", "content": content,
        });
        std::fs::write(
            b.state.queue().join(format!("{id}.proposal.json")),
            serde_json::to_vec(&proposal).unwrap(),
        )
        .unwrap();
    };
    write("20260101-000000-malfrm", "routes:\n  - hots: a.com\n");
    let e = b
        .decide("20260101-000000-malfrm", APPROVE, "")
        .await
        .unwrap_err();
    let DecideError::Failed { message, .. } = &e else {
        panic!("{e}")
    };
    assert!(
        message.contains("not valid") && message.contains("did you mean"),
        "{message}"
    );
    write(
        "20260101-000000-ctrlch",
        "routes:\n  - host: a.com # \u{1b}[2J\n",
    );
    let e = b
        .decide("20260101-000000-ctrlch", APPROVE, "")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("U+001B"), "{e}");
    let huge = format!("routes: []\n#{}\n", "x".repeat(3 * 1024 * 1024));
    write("20260101-000000-hugeee", &huge);
    let e = b
        .decide("20260101-000000-hugeee", APPROVE, "")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("byte limit"), "{e}");
    assert_eq!(b.reload_report().await["attempts"], 0);
    assert_eq!(
        b.queue
            .status(&ProposalId::parse("20260101-000000-hugeee").unwrap())
            .unwrap(),
        Status::Pending
    );
}

#[tokio::test]
async fn an_approved_dockerfile_is_staged_for_resume() {
    let b = Bottle::start();
    let dockerfile = "FROM bottle-agent:latest\nRUN touch /marker\n";
    let id = b.propose(Tool::CapabilityBlock, dockerfile);
    let outcome = b.decide(id.as_str(), APPROVE, "").await.unwrap();
    assert_eq!(outcome.decision.status, Status::Approved);
    assert!(
        outcome
            .decision
            .comment
            .contains("`bottle resume coder-abc123`"),
        "{}",
        outcome.decision.comment
    );
    assert_eq!(
        std::fs::read_to_string(b.state.staged_dockerfile()).unwrap(),
        dockerfile
    );
    assert_eq!(b.current("Dockerfile"), dockerfile);
    assert_eq!(
        b.reload_report().await["attempts"],
        0,
        "the running bottle is not touched"
    );
}

#[tokio::test]
async fn an_allowlist_for_a_bottle_without_pipelock_fails_with_the_reason() {
    let b = Bottle::start();
    let id = b.propose(Tool::PipelockBlock, "pypi.org\n");
    let e = b.decide(id.as_str(), APPROVE, "").await.unwrap_err();
    let DecideError::Failed { message, .. } = &e else {
        panic!("{e}")
    };
    assert!(message.contains("runs without pipelock"), "{message}");
}

#[tokio::test]
async fn racing_approvals_apply_once() {
    let b = Bottle::start();
    let id = b.propose(
        Tool::EgressBlock,
        &b.routes("[/v1/]", "  - host: a.example\n"),
    );
    let (x, y) = tokio::join!(
        b.decide(id.as_str(), APPROVE, "first"),
        b.decide(id.as_str(), APPROVE, "second")
    );
    let oks = [&x, &y].iter().filter(|r| r.is_ok()).count();
    assert_eq!(oks, 1, "{x:?} {y:?}");
    assert_eq!(b.reload_report().await["attempts"], 1, "applied once");
}
