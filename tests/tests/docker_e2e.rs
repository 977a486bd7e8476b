//! End-to-end on the real Docker engine: build the images, start one bottle
//! with `bottle start --yes -- SCRIPT`, and prove from inside the agent that
//! the sandbox holds, then prove from the host that the token never reached
//! the agent and that teardown left nothing running.
//!
//! Around the bottle: an HTTPS origin (nginx, certificate from a test CA that
//! egress-proxy trusts) and an sshd upstream with a bare repository, both on
//! a network that only the bottle's egress side joins.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bottle_tests::bottle::{
    KillOnDrop, Origin, Started, assert_gone, build_images, fixture_image, random_token,
    run_bottle, start_in_background, wait_exit,
};
use bottle_tests::docker::{
    BottleLeftovers, ContainerGuard, docker, docker_output, export_to, file_contains,
};
use bottle_tests::tools::workspace_bin;

/// What the agent runs. Each check prints `CHECK <name> <result>`; the host asserts on them.
/// It never sees the token: the origin answers `auth=yes` only when it got exactly the host's token.
const AGENT_SCRIPT: &str = r#"
check() { printf 'CHECK %s %s\n' "$1" "$(printf '%s' "$2" | tr '\n' ' ' | tr -s ' ')"; }
o=https://origin.test
check allowed "$(curl -sS -m 10 -w ' status=%{http_code}' $o/allowed/x 2>&1)"
check forged "$(curl -sS -m 10 -H 'Authorization: Bearer forged-by-agent' -w ' status=%{http_code}' $o/allowed/y 2>&1)"
check denied_path "$(curl -sS -m 10 -w ' status=%{http_code}' $o/private/z 2>&1)"
check denied_host "$(curl -sS -m 10 -w ' status=%{http_code}' https://elsewhere.test/ 2>&1)"
check direct_ip "$(curl -sS -m 5 --noproxy '*' -k https://$ORIGIN_IP/allowed/ -o /dev/null 2>&1; echo rc=$?)"
check direct_host "$(curl -sS -m 5 --noproxy '*' http://$EGRESS_GATEWAY:$HOST_PORT/ 2>&1; echo rc=$?)"
check dns_origin "$(getent hosts origin.test; echo rc=$?)"
check dns_upstream "$(getent hosts upstream.test; echo rc=$?)"
check dns_external "$(getent hosts deb.debian.org; echo rc=$?)"
check python "$(python3 -c 'import urllib.request; print(urllib.request.urlopen("https://origin.test/allowed/py", timeout=10).read().decode())' 2>&1)"
check dollar "$DOLLAR"
git config --global user.email agent@bottle.test
git config --global user.name agent
check clone "$(git clone -q ssh://git@upstream.test/srv/git/app.git /tmp/app 2>&1; echo rc=$?; cat /tmp/app/README 2>&1)"
cd /tmp/app
echo 'clean change' > notes.txt && git add notes.txt && git commit -qm 'clean change'
check push_clean "$(git push -q origin HEAD:main 2>&1; echo rc=$?)"
printf 'aws_access_key_id = AKIAQYLPMN5HHHFPZAM2\ngithub = ghp_8fJ2kLmN4pQrS6tUvW8xYz0aBcDeFgHiJkLm\n' > creds.txt
git add creds.txt && git commit -qm 'add creds'
check push_secret "$(git push origin HEAD:main 2>&1; echo rc=$?)"
# A liveness check of supervise's MCP endpoint; the operator-loop test
# (tests/tests/docker_operator.rs) drives it with the Python MCP SDK inside an agent.
check mcp "$(curl -sS -m 10 -X POST http://supervise:9100/mcp -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"0"}}}' 2>&1)"
check mcp_registered "$(cat ~/.claude.json)"
check current_config "$(cat /etc/bottle/current-config/routes.yaml)"
echo 'kept across resume' > ~/.claude/marker
echo READY-FOR-INSPECTION
read -r _go
exit 7
"#;

struct Checks(Vec<(String, String)>);

impl Checks {
    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| {
                panic!(
                    "the agent script printed no CHECK {name}; got {:#?}",
                    self.0
                )
            })
    }
}

fn ssh_keygen(path: &Path) -> String {
    let status = Command::new(bottle_tests::tools::required_tool(
        "BOTTLE_TEST_SSH_KEYGEN",
        "ssh-keygen",
    ))
    .args(["-q", "-t", "ed25519", "-N", "", "-C", "e2e", "-f"])
    .arg(path)
    .status()
    .expect("run ssh-keygen");
    assert!(status.success());
    std::fs::read_to_string(path.with_extension("pub"))
        .unwrap()
        .trim()
        .to_string()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn docker_bottle_sandbox_end_to_end() {
    let bottle = workspace_bin("bottle");
    build_images(&bottle);

    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let fix = tmp.path().join("fixture");
    std::fs::create_dir_all(home.join("agents")).unwrap();
    std::fs::create_dir_all(home.join("bottles")).unwrap();

    let token = random_token("e2e-tok-");
    let token_file = tmp.path().join("token-pattern");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();

    // The origin: nginx with a certificate from a CA only egress-proxy trusts.
    let origin = Origin::start(
        &fix,
        &format!("bottle-e2e-{}", std::process::id()),
        &["origin.test", "elsewhere.test"],
        &token,
    );
    let net = &origin.network;
    let fixture = fixture_image();
    let upstream = ContainerGuard::run(
        &format!("{}-upstream", net.name),
        &[
            "--network",
            &net.name,
            "--network-alias",
            "upstream.test",
            &fixture,
            "/usr/sbin/sshd",
            "-D",
            "-e",
        ],
    );
    let gate_key = tmp.path().join("gate_key");
    let gate_pub = ssh_keygen(&gate_key);
    upstream.exec(&format!(
        "set -e; mkdir -p /home/git/.ssh; echo '{gate_pub}' > /home/git/.ssh/authorized_keys; \
         chmod 700 /home/git/.ssh; chmod 600 /home/git/.ssh/authorized_keys; \
         mkdir -p /srv/git; git init -q --bare -b main /srv/git/app.git; \
         w=$(mktemp -d); cd $w; git init -q -b main; echo 'hello from upstream' > README; git add README; \
         git -c user.email=u@test -c user.name=u commit -qm init; git push -q /srv/git/app.git main; \
         chown -R git:git /srv/git /home/git/.ssh"
    ));
    let host_key = upstream
        .exec("cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub")
        .trim()
        .to_string();
    let origin_ip = &origin.ip;
    // The host side of the egress network: an address on this machine the agent must not reach.
    let gateway = docker(&[
        "network",
        "inspect",
        "--format",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
        &net.name,
    ])
    .trim()
    .to_string();
    assert!(!gateway.is_empty(), "the test network has no gateway");
    let host_listener = HostListener::start(&gateway);

    std::fs::write(
        home.join("bottles/e2e.md"),
        format!(
            "---\negress:\n  routes:\n    - host: origin.test\n      paths: [\"/allowed/\"]\n      \
             auth: {{ scheme: bearer, token_ref: E2E_ORIGIN_TOKEN }}\n  pipelock: false\n  network: {net}\n  \
             trust_ca: [{ca}]\ngit:\n  - name: app\n    upstream: ssh://git@upstream.test/srv/git/app.git\n    \
             identity_file: {key}\n    known_host_key: \"{host_key}\"\nenv: {{ ORIGIN_IP: \"{origin_ip}\", EGRESS_GATEWAY: \"{gateway}\", \
             HOST_PORT: \"{host_port}\", DOLLAR: \"${{E2E_ORIGIN_TOKEN}}\" }}\n\
             supervise: true\nruntime: auto\n---\nThe bottle the end-to-end test runs.\n",
            net = net.name,
            ca = origin.ca.cert_path.display(),
            key = gate_key.display(),
            host_port = host_listener.port,
        ),
    )
    .unwrap();
    std::fs::write(
        home.join("agents/e2e.md"),
        "---\nbottle: e2e\n---\nYou are a test.\n",
    )
    .unwrap();

    let mut leftovers = BottleLeftovers::default();
    let stderr_log = tmp.path().join("bottle.stderr");
    let mut child = KillOnDrop(
        Command::new(&bottle)
            .args(["start", "e2e", "--yes", "--", "sh", "-c", AGENT_SCRIPT])
            .env("BOTTLE_HOME", &home)
            .env("E2E_ORIGIN_TOKEN", &token)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_log).unwrap())
            .spawn()
            .expect("start bottle"),
    );
    let state_root = home.join("state");
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr_text = || std::fs::read_to_string(&stderr_log).unwrap_or_default();
    let mut checks = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        if leftovers.ids.is_empty()
            && let Some(id) = std::fs::read_dir(&state_root)
                .ok()
                .and_then(|mut d| d.next())
                .and_then(|e| e.ok())
        {
            leftovers.ids.push(e2e_id(&id.path()));
        }
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line == "READY-FOR-INSPECTION" => break,
            Ok(line) => {
                if let Some(rest) = line.strip_prefix("CHECK ") {
                    let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
                    checks.push((name.to_string(), value.to_string()));
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!(
                    "bottle exited before the agent script finished; checks {checks:#?}\nstderr:\n{}",
                    stderr_text()
                )
            }
        }
        assert!(
            Instant::now() < deadline,
            "agent script timed out; checks {checks:#?}\nstderr:\n{}",
            stderr_text()
        );
    }
    let checks = Checks(checks);
    let id = leftovers
        .ids
        .first()
        .cloned()
        .expect("a state directory for the bottle");
    let state = state_root.join(&id);

    // Inside the agent: the allowed route works with the host's token injected, even over a forged header.
    assert!(
        checks
            .get("allowed")
            .contains("origin path=/allowed/x auth=yes status=200"),
        "{}",
        checks.get("allowed")
    );
    assert!(
        checks.get("forged").contains("auth=yes status=200"),
        "{}",
        checks.get("forged")
    );
    // Denied path and denied host: 403 with an explanation.
    for name in ["denied_path", "denied_host"] {
        let v = checks.get(name);
        assert!(
            v.contains("status=403") && v.contains("egress-proxy refused"),
            "{name}: {v}"
        );
        assert!(
            !v.contains("origin path="),
            "{name} reached the origin: {v}"
        );
    }
    assert!(
        checks.get("denied_host").contains("elsewhere.test"),
        "{}",
        checks.get("denied_host")
    );
    // No direct route: not to the origin, not to a listener on this machine.
    for name in ["direct_ip", "direct_host"] {
        let v = checks.get(name);
        assert!(!v.contains("rc=0"), "{name} connected directly: {v}");
    }
    assert!(
        !checks.get("direct_host").contains(HostListener::GREETING),
        "{}",
        checks.get("direct_host")
    );
    assert_eq!(
        host_listener.connections(),
        0,
        "the agent's connection reached the host listener"
    );
    let egress_proxy = format!("{id}-egress-proxy");
    let from_egress = docker_output(&[
        "exec",
        &egress_proxy,
        "bash",
        "-c",
        &format!(
            "exec 3<>/dev/tcp/{gateway}/{} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3",
            host_listener.port
        ),
    ]);
    assert!(
        String::from_utf8_lossy(&from_egress.stdout).contains(HostListener::GREETING),
        "control: the host listener must be reachable from the egress side ({}): stdout {:?}, stderr {:?}",
        from_egress.status,
        String::from_utf8_lossy(&from_egress.stdout),
        String::from_utf8_lossy(&from_egress.stderr)
    );
    // No name resolution for anything outside the internal network, though
    // the egress side resolves each of those names.
    for name in ["dns_origin", "dns_upstream", "dns_external"] {
        let v = checks.get(name);
        assert!(v.trim_end().ends_with("rc=2"), "{name} resolved: {v}");
    }
    for host in ["origin.test", "upstream.test", "deb.debian.org"] {
        let control = docker_output(&["exec", &egress_proxy, "getent", "hosts", host]);
        assert!(
            control.status.success(),
            "control: egress-proxy must resolve {host}"
        );
    }
    // Tools trust the bottle's CA: Python's urllib through the proxy, token injected.
    assert!(
        checks
            .get("python")
            .contains("origin path=/allowed/py auth=yes"),
        "{}",
        checks.get("python")
    );
    // A `$` in the bottle's env is literal: Compose does not substitute the host's token.
    assert_eq!(checks.get("dollar"), "${E2E_ORIGIN_TOKEN}");
    // git through the gate: clone, clean push lands, secret push refused.
    let clone = checks.get("clone");
    assert!(
        clone.contains("rc=0") && clone.contains("hello from upstream"),
        "{clone}"
    );
    assert!(
        checks.get("push_clean").contains("rc=0"),
        "{}",
        checks.get("push_clean")
    );
    let refused = checks.get("push_secret");
    assert!(
        !refused.contains("rc=0"),
        "secret push went through: {refused}"
    );
    assert!(
        !refused.contains("AKIAQYLPMN5HHHFPZAM2")
            && !refused.contains("ghp_8fJ2kLmN4pQrS6tUvW8xYz0aBcDeFgHiJkLm"),
        "rejection echoed the secret: {refused}"
    );
    let upstream_log = upstream.exec("git --git-dir=/srv/git/app.git log --format=%s main");
    assert_eq!(
        upstream_log.lines().collect::<Vec<_>>(),
        ["clean change", "init"],
        "upstream history"
    );
    // supervise answers MCP and is registered for Claude Code.
    let mcp = checks.get("mcp");
    assert!(
        mcp.contains("\"protocolVersion\"") && mcp.contains("serverInfo"),
        "{mcp}"
    );
    assert!(
        checks
            .get("mcp_registered")
            .contains("http://supervise:9100/mcp"),
        "{}",
        checks.get("mcp_registered")
    );
    assert!(
        checks.get("current_config").contains("origin.test"),
        "{}",
        checks.get("current_config")
    );

    // From the host, while the bottle runs: the token is nowhere in the agent container.
    let agent = format!("{id}-agent");
    let procs = docker(&[
        "exec",
        "-u",
        "0",
        &agent,
        "sh",
        "-c",
        "cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null; ps auxeww",
    ]);
    assert!(
        procs.contains("HTTPS_PROXY=http://egress-proxy:3128"),
        "process environments were not read"
    );
    assert!(
        !procs.contains(&token),
        "token in an agent process environment or command line"
    );
    let inspect = docker(&["inspect", &agent]);
    assert!(
        !inspect.contains(&token),
        "token in the agent's container config"
    );
    let export = tmp.path().join("agent.tar");
    export_to(&agent, &export);
    let ca_line = tmp.path().join("ca-line");
    let ca_pem = std::fs::read_to_string(state.join("trust/agent/egress-proxy-ca.pem")).unwrap();
    std::fs::write(&ca_line, format!("{}\n", ca_pem.lines().nth(1).unwrap())).unwrap();
    assert!(
        file_contains(&export, &ca_line),
        "control: the installed CA must be in the agent's filesystem export"
    );
    assert!(
        !file_contains(&export, &token_file),
        "token in the agent's filesystem"
    );
    for mount in ["trust/agent", "agent", "current-config", "transcript"] {
        let mut files = Vec::new();
        walk(&state.join(mount), &mut files);
        for f in files {
            assert!(
                !file_contains(&f, &token_file),
                "token in {} (mounted into the agent)",
                f.display()
            );
        }
    }
    // Control: egress-proxy does hold it.
    let held = docker(&[
        "exec",
        &egress_proxy,
        "cat",
        "/run/bottle/secrets/E2E_ORIGIN_TOKEN",
    ]);
    assert_eq!(held, token);

    // `bottle list` shows the bottle running, then flags a sidecar that died.
    let list = run_bottle(&bottle, &home, &["list"]);
    assert!(list.contains(&id) && list.contains("running"), "{list}");
    docker(&["kill", &format!("{id}-supervise")]);
    let list = run_bottle(&bottle, &home, &["list"]);
    assert!(list.contains("DEGRADED (supervise not running)"), "{list}");

    // Let the script finish: its exit status is bottle's, and teardown leaves nothing running.
    child.0.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let status = wait_exit(&mut child.0, Duration::from_secs(90))
        .unwrap_or_else(|| panic!("bottle did not exit\n{}", stderr_text()));
    assert_eq!(
        status.code(),
        Some(7),
        "bottle must exit with the command's status\n{}",
        stderr_text()
    );
    let left = docker(&["ps", "-aq", "--filter", &format!("label=bottle.id={id}")]);
    assert!(left.trim().is_empty(), "containers left after exit: {left}");
    let nets = docker(&[
        "network",
        "ls",
        "-q",
        "--filter",
        &format!("label=bottle.id={id}"),
    ]);
    assert!(nets.trim().is_empty(), "networks left after exit: {nets}");
    assert!(state.join("metadata.json").is_file() && state.join("compose.log").is_file());
    assert!(
        !state.join("secrets").exists(),
        "secrets must be scrubbed at teardown"
    );
    let mut files = Vec::new();
    walk(&state, &mut files);
    for f in files {
        assert!(
            !file_contains(&f, &token_file),
            "token left in {}",
            f.display()
        );
    }
    let stderr = stderr_text();
    assert!(!stderr.contains(&token), "token in bottle's output");

    // Resume: same id, same transcript, provisioned again (with the token read again).
    let resumed = Command::new(&bottle)
        .args([
            "resume",
            &id,
            "--yes",
            "--",
            "sh",
            "-c",
            "cat ~/.claude/marker; git config --global --get-regexp insteadof",
        ])
        .env("BOTTLE_HOME", &home)
        .env("E2E_ORIGIN_TOKEN", &token)
        .stdin(Stdio::null())
        .output()
        .expect("resume");
    let resumed_out = String::from_utf8_lossy(&resumed.stdout);
    assert!(
        resumed.status.success(),
        "resume failed: {}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(
        resumed_out.contains("kept across resume"),
        "transcript lost on resume: {resumed_out}"
    );
    assert!(
        resumed_out.contains("git://git-gate/app.git"),
        "{resumed_out}"
    );
    assert!(!state.join("secrets").exists());

    // A stopped bottle is listed with --all, and cleanup removes its state.
    assert!(!run_bottle(&bottle, &home, &["list"]).contains(&id));
    assert!(run_bottle(&bottle, &home, &["list", "--all"]).contains("stopped"));
    run_bottle(&bottle, &home, &["cleanup", "--yes", &id]);
    assert!(!state.exists(), "cleanup must remove the state directory");
    drop(leftovers);
}

/// A TCP listener on this machine, on the egress network's gateway address:
/// reachable from the egress side, and something the agent must not reach.
struct HostListener {
    port: u16,
    count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl HostListener {
    const GREETING: &'static str = "host-listener-answered";

    fn start(address: &str) -> HostListener {
        let listener = std::net::TcpListener::bind((address, 0))
            .unwrap_or_else(|e| panic!("bind a listener on the gateway {address}: {e}"));
        let port = listener.local_addr().unwrap().port();
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // Read the request first: closing with unread input sends a
                // reset, and a reset can discard the answer at the client.
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") && request.len() < 4096 {
                    match stream.read(&mut byte) {
                        Ok(1) => request.push(byte[0]),
                        _ => break,
                    }
                }
                let _ = write!(
                    stream,
                    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n{}\n",
                    Self::GREETING
                );
                let _ = stream.shutdown(std::net::Shutdown::Write);
            }
        });
        HostListener { port, count }
    }

    fn connections(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn e2e_id(state_dir: &Path) -> String {
    state_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Start a minimal bottle running `sleep`, wait until it is up.
fn start_sleeper(bottle: &Path, home: &Path) -> Started {
    start_in_background(bottle, home, "idle", &["sleep", "600"], &[])
}

#[test]
fn docker_stop_and_sigterm_tear_the_bottle_down() {
    let bottle = workspace_bin("bottle");
    build_images(&bottle);
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().to_path_buf();
    idle_manifests(&home);
    let mut leftovers = BottleLeftovers::default();

    // `bottle stop ID` from elsewhere ends the attached start, which exits.
    let mut started = start_sleeper(&bottle, &home);
    let id = started.id.clone();
    leftovers.ids.push(id.clone());
    run_bottle(&bottle, &home, &["stop", &id]);
    let status = wait_exit(&mut started.process.0, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("start did not exit after stop:\n{}", started.stderr()));
    assert_ne!(status.code(), Some(0), "the agent's command was killed");
    assert_gone(&id);
    assert!(home.join("state").join(&id).join("metadata.json").is_file());

    // SIGTERM to bottle start tears down and exits 143.
    let mut started = start_sleeper(&bottle, &home);
    let id = started.id.clone();
    leftovers.ids.push(id.clone());
    let kill = Command::new("kill")
        .args(["-TERM", &started.process.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_exit(&mut started.process.0, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("start did not exit on SIGTERM:\n{}", started.stderr()));
    assert_eq!(status.code(), Some(143), "{}", started.stderr());
    assert_gone(&id);
    assert!(!home.join("state").join(&id).join("secrets").exists());
    drop(leftovers);
}

/// Write the minimal `idle` bottle and agent into `home`.
fn idle_manifests(home: &Path) {
    std::fs::create_dir_all(home.join("agents")).unwrap();
    std::fs::create_dir_all(home.join("bottles")).unwrap();
    std::fs::write(
        home.join("bottles/idle.md"),
        "---\negress:\n  pipelock: false\n---\n",
    )
    .unwrap();
    std::fs::write(home.join("agents/idle.md"), "---\nbottle: idle\n---\n").unwrap();
}

#[test]
fn docker_answering_no_on_a_terminal_starts_nothing() {
    let bottle = workspace_bin("bottle");
    build_images(&bottle);
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().to_path_buf();
    idle_manifests(&home);
    // util-linux `script` gives `bottle start` a terminal; we type into it.
    let mut child = KillOnDrop(
        Command::new("script")
            .args(["-q", "-e", "-c"])
            .arg(format!("'{}' start idle -- true", bottle.display()))
            .arg("/dev/null")
            .env("BOTTLE_HOME", &home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run script (util-linux)"),
    );
    let mut stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !String::from_utf8_lossy(&seen).contains("[y/N]") {
        assert!(
            Instant::now() < deadline,
            "no prompt: {}",
            String::from_utf8_lossy(&seen)
        );
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.extend(chunk);
        }
    }
    let mut stdin = child.0.stdin.take().unwrap();
    stdin.write_all(b"n\n").unwrap();
    let status = wait_exit(&mut child.0, Duration::from_secs(30)).expect("bottle exits after `n`");
    drop(stdin);
    while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
        seen.extend(chunk);
    }
    let text = String::from_utf8_lossy(&seen);
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        text.contains("Start this bottle? [y/N]") && text.contains("not started"),
        "{text}"
    );
    assert!(!home.join("state").exists(), "nothing is created after `n`");
}

#[test]
fn docker_cleanup_leaves_objects_with_hostile_labels_alone() {
    let bottle = workspace_bin("bottle");
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("state")).unwrap();
    let victim = tmp.path().join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("keep"), "keep").unwrap();
    let name = format!("bottle-e2e-hostile-{}", std::process::id());
    let network = bottle_tests::docker::NetworkGuard::create_with(
        &name,
        &["--label", "bottle.id=../../victim"],
    );
    let out = bottle_tests::bottle::bottle_output(&bottle, &home, &["cleanup", "--dry-run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "ignoring network {name} (bottle.id label `../../victim`)"
        )),
        "{stderr}"
    );
    assert!(!stdout.contains("victim"), "{stdout}");
    assert!(victim.join("keep").is_file());
    assert!(
        docker_output(&["network", "inspect", &name])
            .status
            .success(),
        "the network is left for its owner"
    );
    drop(network);
}
