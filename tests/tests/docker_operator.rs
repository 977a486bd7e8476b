//! The operator loop on the real Docker engine. An agent that egress-proxy
//! blocks asks for more through supervise with a real MCP client (the Python
//! SDK, run inside the agent container); the operator answers with `bottle
//! approve`, `bottle reject` and the dashboard driven in a real terminal
//! (tmux); approved routes take effect without restarting the agent or the
//! proxy, and an approved Dockerfile arrives with `bottle resume`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use bottle_tests::bottle::{
    KillOnDrop, Origin, bottle_output, build_images, random_token, repo_root, run_bottle,
    start_in_background, wait_exit,
};
use bottle_tests::docker::{BottleLeftovers, docker, docker_output};
use bottle_tests::tools::{required_tool, workspace_bin};
use serde_json::Value;

/// Where the MCP client and its packages live inside the agent container.
const CLIENT_DIR: &str = "/tmp/mcp-client";
const SUPERVISE_URL: &str = "http://supervise:9100/mcp";

/// A running bottle and the operator's view of it.
struct Bottle {
    bin: PathBuf,
    home: PathBuf,
    id: String,
}

impl Bottle {
    fn agent(&self) -> String {
        format!("{}-agent", self.id)
    }

    /// Run a shell script in the agent container, as the agent.
    fn agent_sh(&self, script: &str) -> String {
        let out = docker_output(&["exec", &self.agent(), "sh", "-c", script]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// `curl` from inside the agent, through egress-proxy: body and ` status=NNN`,
    /// with runs of whitespace squeezed to one space.
    fn fetch(&self, url: &str) -> String {
        let out = self.agent_sh(&format!("curl -sS -m 10 -w ' status=%{{http_code}}' {url}"));
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// `bottle ARGS`, whatever its exit status.
    fn bottle(&self, args: &[&str]) -> Output {
        bottle_output(&self.bin, &self.home, args)
    }

    /// When the container of `service` last started and how often it restarted.
    fn started_at(&self, service: &str) -> String {
        docker(&[
            "inspect",
            "--format",
            "{{.State.StartedAt}} {{.RestartCount}} {{.State.Pid}}",
            &format!("{}-{service}", self.id),
        ])
        .trim()
        .to_string()
    }

    /// Copy the Python MCP SDK and the test's agent scripts into the agent container.
    fn install_mcp_client(&self) {
        let python = required_tool("BOTTLE_TEST_MCP_PYTHON", "python3");
        let site = Command::new(&python)
            .args([
                "-c",
                "import mcp, pathlib; print(pathlib.Path(mcp.__file__).parents[1])",
            ])
            .output()
            .expect("ask the test venv where mcp is installed");
        assert!(
            site.status.success(),
            "the mcp package is missing; run scripts/test-env"
        );
        let site = String::from_utf8_lossy(&site.stdout).trim().to_string();
        let tar = Command::new("tar")
            .args([
                "-c",
                "--exclude=__pycache__",
                "--exclude=pip",
                "--exclude=setuptools",
            ])
            .args(["-C", &site, "."])
            .output()
            .expect("tar the mcp package");
        assert!(tar.status.success());
        self.untar(&format!("{CLIENT_DIR}/site"), &tar.stdout);
        let scripts = Command::new("tar")
            .arg("-c")
            .arg("-C")
            .arg(repo_root().join("supervise/tests"))
            .arg("mcp_client.py")
            .arg("-C")
            .arg(repo_root().join("tests/agent"))
            .arg("routes_from_denial.py")
            .output()
            .expect("tar the agent scripts");
        assert!(scripts.status.success());
        self.untar(CLIENT_DIR, &scripts.stdout);
    }

    fn untar(&self, dir: &str, tar: &[u8]) {
        let mut child = Command::new("docker")
            .args(["exec", "-i", &self.agent(), "sh", "-c"])
            .arg(format!("mkdir -p {dir} && tar -x -C {dir}"))
            .stdin(Stdio::piped())
            .spawn()
            .expect("docker exec tar");
        child.stdin.take().unwrap().write_all(tar).unwrap();
        assert!(child.wait().unwrap().success(), "untar into {dir} failed");
    }

    /// Start an MCP tool call inside the agent: `setup` (shell) prints the JSON arguments.
    fn call(&self, tool: &str, setup: &str) -> Call {
        let script = format!(
            "set -e; {setup} > /tmp/args.json; \
             PYTHONPATH={CLIENT_DIR}/site exec python3 {CLIENT_DIR}/mcp_client.py {SUPERVISE_URL} \
             call {tool} --progress < /tmp/args.json"
        );
        let mut child = Command::new("docker")
            .args(["exec", &self.agent(), "sh", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker exec the MCP client");
        let (tx, lines) = channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Call {
            child: KillOnDrop(child),
            lines,
        }
    }

    /// Wait until a pending proposal of `tool` is in the bottle's queue; its id.
    fn pending(&self, tool: &str, call: &mut Call) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let listing = run_bottle(&self.bin, &self.home, &["proposals", &self.id, "--json"]);
            let rows: Value = serde_json::from_str(&listing).expect("proposals --json is JSON");
            if let Some(row) = rows
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["tool"] == tool && r["status"] == "pending")
            {
                return row["id"].as_str().unwrap().to_string();
            }
            if let Some(status) = call.child.0.try_wait().unwrap() {
                panic!(
                    "the MCP call ended ({status}) before its proposal was queued: {}",
                    call.rest()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no pending {tool} proposal: {listing}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// An MCP tool call running inside the agent.
struct Call {
    child: KillOnDrop,
    lines: Receiver<String>,
}

impl Call {
    /// The call's result (`is_error`, `structured`, `text`), once it returns.
    fn result(&mut self, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let v: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("the client printed {line:?}: {e}"));
                    if v.get("result").is_some() {
                        return v["result"].clone();
                    }
                    assert!(v.get("progress").is_some(), "the client failed: {v}");
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("the MCP call did not return in {timeout:?}")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the MCP client exited without a result: {}", self.rest())
                }
            }
        }
    }

    /// Whether the call is still waiting (has not printed a result or exited).
    fn waiting(&mut self) -> bool {
        self.child.0.try_wait().unwrap().is_none()
    }

    /// The client's standard error, after it exited.
    fn rest(&mut self) -> String {
        let _ = wait_exit(&mut self.child.0, Duration::from_secs(5));
        let mut text = String::new();
        if let Some(mut err) = self.child.0.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut text);
        }
        text
    }
}

/// A tmux server of its own running `bottle dashboard`, killed on drop.
struct Dashboard {
    tmux: PathBuf,
    socket: String,
}

impl Dashboard {
    fn start(bottle: &Bottle) -> Dashboard {
        let tmux = required_tool("BOTTLE_TEST_TMUX", "tmux");
        let socket = format!("bottle-e2e-{}", std::process::id());
        let command = format!(
            "env BOTTLE_HOME='{}' USER=e2e-operator '{}' dashboard",
            bottle.home.display(),
            bottle.bin.display()
        );
        let status = Command::new(&tmux)
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "220",
                "-y",
                "50",
            ])
            .arg(command)
            .status()
            .expect("start tmux");
        assert!(status.success(), "tmux new-session failed");
        Dashboard { tmux, socket }
    }

    /// The screen as text.
    fn screen(&self) -> String {
        let out = Command::new(&self.tmux)
            .args(["-L", &self.socket, "capture-pane", "-p", "-J"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait until the screen shows every one of `needles`; the screen.
    fn wait_for(&self, needles: &[&str], timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if needles.iter().all(|n| screen.contains(n)) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the dashboard never showed {needles:?}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn keys(&self, keys: &[&str]) {
        let status = Command::new(&self.tmux)
            .args(["-L", &self.socket, "send-keys"])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = Command::new(&self.tmux)
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// The per-bottle operator audit: the `result` line for each proposal, in order.
fn audit_results(state: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(state.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("audit lines are JSON"))
        .filter(|v| v["event"] == "result")
        .map(|v| {
            (
                v["proposal"].as_str().unwrap_or_default().to_string(),
                v["result"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn docker_operator_loop_approves_rejects_and_resumes_with_a_new_image() {
    let bin = workspace_bin("bottle");
    build_images(&bin);
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("agents")).unwrap();
    std::fs::create_dir_all(home.join("bottles")).unwrap();
    let token = random_token("op-tok-");
    let origin = Origin::start(
        &tmp.path().join("fixture"),
        &format!("bottle-op-{}", std::process::id()),
        &["origin.test", "elsewhere.test"],
        &token,
    );
    std::fs::write(
        home.join("bottles/op.md"),
        format!(
            "---\negress:\n  routes:\n    - host: origin.test\n      paths: [\"/allowed/\"]\n      \
             auth: {{ scheme: bearer, token_ref: OP_ORIGIN_TOKEN }}\n  pipelock: false\n  network: {net}\n  \
             trust_ca: [{ca}]\nsupervise: true\n---\nThe operator loop's bottle.\n",
            net = origin.network.name,
            ca = origin.ca.cert_path.display(),
        ),
    )
    .unwrap();
    std::fs::write(
        home.join("agents/op.md"),
        "---\nbottle: op\n---\nYou are a test.\n",
    )
    .unwrap();

    let mut leftovers = BottleLeftovers::default();
    let env = [("OP_ORIGIN_TOKEN", token.as_str())];
    let mut started = start_in_background(&bin, &home, "op", &["sleep", "1800"], &env);
    leftovers.ids.push(started.id.clone());
    let b = Bottle {
        bin: bin.clone(),
        home: home.clone(),
        id: started.id.clone(),
    };
    let state = home.join("state").join(&b.id);
    b.install_mcp_client();
    let agent_before = b.started_at("agent");
    let proxy_before = b.started_at("egress-proxy");

    // 1. Blocked: a path outside the routes gets 403 with a route to propose.
    let denied = b.fetch("https://origin.test/private/x");
    assert!(
        denied.contains("status=403") && denied.contains("egress-block"),
        "{denied}"
    );
    let allowed = b.fetch("https://origin.test/allowed/a");
    assert!(allowed.contains("auth=yes status=200"), "{allowed}");

    // 2. The agent proposes the routes the 403 suggests, and its call waits.
    let mut call = b.call(
        "egress-block",
        &format!(
            "curl -sS -m 10 https://origin.test/private/x > /tmp/denial.txt; \
             python3 {CLIENT_DIR}/routes_from_denial.py /tmp/denial.txt \
             /etc/bottle/current-config/routes.yaml 'the task needs /private/x'"
        ),
    );
    let p1 = b.pending("egress-block", &mut call);
    let shown = run_bottle(&bin, &home, &["proposals", &b.id, &p1]);
    assert!(shown.contains("+  - /private/x"), "the diff: {shown}");
    assert!(shown.contains("the task needs /private/x"), "{shown}");
    // The suggestion keeps the route's token: sending it to a new path needs confirmation.
    let unconfirmed = b.bottle(&["approve", &b.id, &p1]);
    assert_eq!(unconfirmed.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unconfirmed.stderr).contains("--allow-credential-change"),
        "{}",
        String::from_utf8_lossy(&unconfirmed.stderr)
    );
    assert!(call.waiting(), "the call must still wait for an answer");
    let approved = run_bottle(
        &bin,
        &home,
        &[
            "approve",
            &b.id,
            &p1,
            "--allow-credential-change",
            "--comment",
            "ok for /private/x",
        ],
    );
    assert!(
        approved.contains("egress-proxy now enforces the new routes"),
        "{approved}"
    );
    let result = call.result(Duration::from_secs(30));
    assert_eq!(result["is_error"], false, "{result}");
    assert_eq!(result["structured"]["status"], "approved", "{result}");
    assert!(
        result["text"]
            .as_str()
            .unwrap()
            .contains("ok for /private/x"),
        "{result}"
    );
    // The same request now succeeds, with the token injected, and nothing restarted.
    let now = b.fetch("https://origin.test/private/x");
    assert!(
        now.contains("origin path=/private/x auth=yes status=200"),
        "{now}"
    );
    assert_eq!(b.started_at("agent"), agent_before, "the agent restarted");
    assert_eq!(
        b.started_at("egress-proxy"),
        proxy_before,
        "egress-proxy restarted"
    );
    let current = b.agent_sh("cat /etc/bottle/current-config/routes.yaml");
    assert!(
        current.contains("/private/x"),
        "the agent's current config: {current}"
    );

    // 3. Rejected: the call returns an error with the operator's comment; nothing changes.
    let mut call = b.call(
        "egress-block",
        &format!(
            "curl -sS -m 10 https://elsewhere.test/ > /tmp/denial.txt; \
             python3 {CLIENT_DIR}/routes_from_denial.py /tmp/denial.txt \
             /etc/bottle/current-config/routes.yaml 'want elsewhere'"
        ),
    );
    let p2 = b.pending("egress-block", &mut call);
    run_bottle(
        &bin,
        &home,
        &["reject", &b.id, &p2, "--comment", "not for this task"],
    );
    let result = call.result(Duration::from_secs(30));
    assert_eq!(result["is_error"], true, "{result}");
    assert_eq!(result["structured"]["status"], "rejected", "{result}");
    assert!(
        result["text"]
            .as_str()
            .unwrap()
            .contains("not for this task"),
        "{result}"
    );
    assert!(b.fetch("https://elsewhere.test/").contains("status=403"));

    // 4. Failed apply: routes the parser accepts and the proxy refuses to load
    //    (`basic` needs `user:password`; the token has no colon).
    let mut call = b.call(
        "egress-block",
        "sed 's/scheme: bearer/scheme: basic/' /etc/bottle/current-config/routes.yaml \
         | python3 -c 'import json,sys; print(json.dumps({\"routes\": sys.stdin.read(), \"justification\": \"basic auth\"}))'",
    );
    let p3 = b.pending("egress-block", &mut call);
    let failed = b.bottle(&["approve", &b.id, &p3]);
    let failed_err = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(5), "{failed_err}");
    assert!(
        failed_err.contains("egress-proxy refused the new routes"),
        "{failed_err}"
    );
    let result = call.result(Duration::from_secs(30));
    assert_eq!(result["is_error"], true, "{result}");
    assert_eq!(result["structured"]["status"], "failed", "{result}");
    assert!(!failed_err.contains(&token) && !result.to_string().contains(&token));
    let still = b.fetch("https://origin.test/private/x");
    assert!(
        still.contains("auth=yes status=200"),
        "the routes in force changed: {still}"
    );

    // 5. The dashboard, in a real terminal: it lists the agent's Dockerfile
    //    proposal with its diff, approves it with one key, then stops the bottle.
    let mut call = b.call(
        "capability-block",
        "{ cat /etc/bottle/current-config/Dockerfile; \
           printf 'USER root\\nRUN echo capability-approved > /etc/bottle-capability\\nUSER agent\\n'; } \
         | python3 -c 'import json,sys; print(json.dumps({\"dockerfile\": sys.stdin.read(), \"justification\": \"needs a marker\"}))'",
    );
    let p4 = b.pending("capability-block", &mut call);
    let dash = Dashboard::start(&b);
    dash.wait_for(
        &[
            &b.id,
            "running",
            &p4,
            "needs a marker",
            "+RUN echo capability-approved",
        ],
        Duration::from_secs(30),
    );
    dash.keys(&["a"]);
    dash.wait_for(&["approved", "staged"], Duration::from_secs(30));
    let result = call.result(Duration::from_secs(30));
    assert_eq!(result["structured"]["status"], "approved", "{result}");
    assert!(
        result["text"].as_str().unwrap().contains("bottle resume"),
        "{result}"
    );
    assert!(state.join("staged/Dockerfile").is_file());
    dash.keys(&["Tab"]);
    dash.keys(&["s"]);
    dash.wait_for(&["Stop bottle"], Duration::from_secs(10));
    dash.keys(&["y"]);
    let status = wait_exit(&mut started.process.0, Duration::from_secs(90)).unwrap_or_else(|| {
        panic!(
            "the stopped bottle's start did not exit:\n{}",
            started.stderr()
        )
    });
    assert!(!status.success(), "the agent's command was stopped");
    dash.keys(&["q"]);
    drop(dash);

    // 6. Resume builds the approved Dockerfile and runs the bottle on the new image.
    let resumed = Command::new(&bin)
        .args([
            "resume",
            &b.id,
            "--yes",
            "--",
            "sh",
            "-c",
            "cat /etc/bottle-capability",
        ])
        .env("BOTTLE_HOME", &home)
        .env("OP_ORIGIN_TOKEN", &token)
        .env("BOTTLE_BASE_IMAGE", bottle_tests::bottle::base_image())
        .stdin(Stdio::null())
        .output()
        .expect("bottle resume");
    let out = String::from_utf8_lossy(&resumed.stdout);
    assert!(
        resumed.status.success() && out.contains("capability-approved"),
        "resume did not use the approved image: {out}\n{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let image = format!("bottle-agent-{}:latest", b.id);
    assert!(
        docker_output(&["image", "inspect", &image])
            .status
            .success()
    );

    // 7. Every decision is in the bottle's audit log on the host.
    let results = audit_results(&state);
    assert_eq!(
        results,
        [
            (p1.clone(), "approved".to_string()),
            (p2.clone(), "rejected".to_string()),
            (p3.clone(), "failed".to_string()),
            (p4.clone(), "approved".to_string()),
        ],
        "audit results"
    );
    let _ = docker_output(&["image", "rm", &image]);
    drop(leftovers);
}
