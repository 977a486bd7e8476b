//! The process as an operator sees it: the CLI, startup errors, SIGHUP
//! reloads (good and bad), and SIGTERM draining.

mod support;

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

fn metric(addr: std::net::SocketAddr, name: &str) -> String {
    let (_, text) = listener_get(addr, "/metrics");
    text.lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .rsplit_once(' ')
        .unwrap()
        .1
        .to_string()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn check_validates_with_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, "routes:\n  - host: a.com\n    auth: {scheme: bearer, token_env: T}\n  - host: b.com\n    tls: passthrough\n").unwrap();
    let out = Command::new(bin())
        .arg("check")
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ok: 2 routes (1 intercepted, 1 passthrough, 1 with credentials)"),
        "{stdout}"
    );
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "routes:\n  - host: a.com\n    paths: [/a/../b]\n  - host: b..com\n",
    )
    .unwrap();
    let out = Command::new(bin()).arg("check").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:3:13: paths", bad.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{}:4:11: host", bad.display())),
        "{stderr}"
    );
    std::fs::write(&bad, "routes:\n  - hots: b.com\n").unwrap();
    let out = Command::new(bin()).arg("check").arg(&bad).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `host`?"));
    let out = Command::new(bin())
        .arg("check")
        .arg(dir.path().join("missing.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.yaml"));
}

#[test]
fn ca_init_writes_a_private_key_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["ca", "init", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(dir.path().join("ca-key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let before = std::fs::read(dir.path().join("ca-key.pem")).unwrap();
    let out = Command::new(bin())
        .args(["ca", "init", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(
        std::fs::read(dir.path().join("ca-key.pem")).unwrap(),
        before
    );
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["ca", "init", "--help"],
        &["check", "--help"],
    ] {
        let out = Command::new(bin()).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[test]
fn startup_fails_clearly_on_a_missing_token() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    Command::new(bin())
        .args(["ca", "init", "--out"])
        .arg(&ca)
        .output()
        .unwrap();
    let routes = dir.path().join("routes.yaml");
    std::fs::write(
        &routes,
        "routes:\n  - host: a.com\n    auth: {scheme: bearer, token_env: NOT_SET_ANYWHERE}\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["run", "--listen", "127.0.0.1:0", "--routes"])
        .arg(&routes)
        .arg("--ca-cert")
        .arg(ca.join("ca.pem"))
        .arg("--ca-key")
        .arg(ca.join("ca-key.pem"))
        .env_remove("NOT_SET_ANYWHERE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:2:1", routes.display())),
        "{stderr}"
    );
    assert!(stderr.contains("NOT_SET_ANYWHERE is not set"), "{stderr}");
}

#[test]
fn sighup_reloads_routes_and_token_files_and_survives_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "first-token\n").unwrap();
    let tf = token_file.display().to_string();
    let mut s = Setup::with(
        |tls, _| {
            format!(
                "routes:\n  - host: localhost\n    port: {tls}\n    paths: [/echo]\n    auth: {{scheme: token, token_file: {tf}}}\n"
            )
        },
        &[],
        &[],
    );
    let hup = || s.proxy.child.signal(libc::SIGHUP);
    let out = s.curl(&[&s.https("/echo")]);
    assert!(
        out.body.contains("authorization=[token first-token]"),
        "{}",
        out.body
    );

    // A changed token file is picked up on reload.
    std::fs::write(&token_file, "second-token\n").unwrap();
    hup();
    wait_for("reload ok", || {
        metric(s.proxy.addr, "egress_proxy_reloads_total{result=\"ok\"}") == "1"
    });
    let out = s.curl(&[&s.https("/echo")]);
    assert!(
        out.body.contains("authorization=[token second-token]"),
        "{}",
        out.body
    );
    assert_eq!(
        metric(s.proxy.addr, "egress_proxy_route_table_generation"),
        "2"
    );

    // An invalid file is reported with its position and changes nothing.
    let valid = std::fs::read_to_string(&s.proxy.routes).unwrap();
    std::fs::write(
        &s.proxy.routes,
        "routes:\n  - host: localhost\n    paths: [/a/../b]\n",
    )
    .unwrap();
    hup();
    wait_for("reload error", || {
        metric(s.proxy.addr, "egress_proxy_reloads_total{result=\"error\"}") == "1"
    });
    assert!(
        s.proxy
            .child
            .stderr()
            .contains(&format!("{}:3:13", s.proxy.routes.display())),
        "{}",
        s.proxy.child.stderr()
    );
    let out = s.curl(&[&s.https("/echo")]);
    assert_eq!(out.status, 200);
    assert!(out.body.contains("second-token"));

    // So is a valid file whose token file vanished: the old table and token stay.
    std::fs::write(&s.proxy.routes, &valid).unwrap();
    std::fs::remove_file(&token_file).unwrap();
    hup();
    wait_for("reload error", || {
        metric(s.proxy.addr, "egress_proxy_reloads_total{result=\"error\"}") == "2"
    });
    let out = s.curl(&[&s.https("/echo")]);
    assert!(out.body.contains("second-token"), "{}", out.body);

    // A valid new table takes effect atomically: /echo is gone, generation 3.
    std::fs::write(&token_file, "third\n").unwrap();
    std::fs::write(&s.proxy.routes, valid.replace("[/echo]", "[/other]")).unwrap();
    hup();
    wait_for("generation 3", || {
        metric(s.proxy.addr, "egress_proxy_route_table_generation") == "3"
    });
    assert_eq!(s.curl(&[&s.https("/echo")]).status, 403);

    // A routes file that was deleted keeps the table in force too.
    std::fs::remove_file(&s.proxy.routes).unwrap();
    hup();
    wait_for("reload error", || {
        metric(s.proxy.addr, "egress_proxy_reloads_total{result=\"error\"}") == "3"
    });
    assert_eq!(
        metric(s.proxy.addr, "egress_proxy_route_table_generation"),
        "3"
    );
    assert_eq!(s.curl(&[&s.https("/other")]).status, 200);
    assert!(
        s.proxy.child.try_wait().is_none(),
        "the proxy must survive bad reloads"
    );
}

fn reload_report(addr: std::net::SocketAddr) -> serde_json::Value {
    let (status, body) = listener_get(addr, "/reload");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET /reload: {e}: {body}"))
}

#[test]
fn get_reload_reports_each_attempt_and_refusals_without_token_values() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let tf = token_file.display().to_string();
    let s = Setup::with(
        |tls, _| {
            format!(
                "routes:\n  - host: localhost\n    port: {tls}\n    auth: {{scheme: bearer, token_file: {tf}}}\n"
            )
        },
        &[],
        &[],
    );
    let fresh = reload_report(s.proxy.addr);
    assert_eq!(fresh["generation"], 1);
    assert_eq!(fresh["attempts"], 0);
    assert!(fresh["last_attempt"].is_null(), "{fresh}");

    // Refused: the token does not fit the scheme (basic needs `user:password`).
    let valid = std::fs::read_to_string(&s.proxy.routes).unwrap();
    std::fs::write(&s.proxy.routes, valid.replace("bearer", "basic")).unwrap();
    s.proxy.child.signal(libc::SIGHUP);
    wait_for("attempt 1", || reload_report(s.proxy.addr)["attempts"] == 1);
    let refused = reload_report(s.proxy.addr);
    assert_eq!(refused["generation"], 1, "the old table stays: {refused}");
    assert_eq!(refused["last_attempt"]["result"], "error");
    let errors = refused["last_attempt"]["errors"].to_string();
    assert!(
        errors.contains(&format!(
            "{}:2:1: route for localhost",
            s.proxy.routes.display()
        )),
        "{errors}"
    );
    assert!(errors.contains(&tf), "names the token file: {errors}");
    assert!(!errors.contains(TOKEN), "token value in /reload: {errors}");

    // Syntax errors are reported with their position too.
    std::fs::write(&s.proxy.routes, "routes:\n  - hots: localhost\n").unwrap();
    s.proxy.child.signal(libc::SIGHUP);
    wait_for("attempt 2", || reload_report(s.proxy.addr)["attempts"] == 2);
    let errors = reload_report(s.proxy.addr)["last_attempt"]["errors"].to_string();
    assert!(
        errors.contains(&format!("{}:2:5", s.proxy.routes.display()))
            && errors.contains("did you mean"),
        "{errors}"
    );

    // Accepted: the new generation is reported and is the one /routes shows.
    std::fs::write(&s.proxy.routes, &valid).unwrap();
    s.proxy.child.signal(libc::SIGHUP);
    wait_for("attempt 3", || reload_report(s.proxy.addr)["attempts"] == 3);
    let ok = reload_report(s.proxy.addr);
    assert_eq!(ok["last_attempt"]["result"], "ok");
    assert_eq!(ok["last_attempt"]["generation"], 2);
    assert_eq!(ok["generation"], 2);
    let (_, listing) = listener_get(s.proxy.addr, "/routes");
    assert!(listing.contains("generation 2,"), "{listing}");
}

#[test]
fn sigterm_drains_in_flight_requests_then_exits_zero() {
    let mut s = Setup::new(|tls, _| format!("routes:\n  - host: localhost\n    port: {tls}\n"));
    s.origin.file("slow-file", 768 * 1024);
    let proxy = s.proxy.url();
    let ca = s.proxy.ca_cert.clone();
    let url = s.https("/slow/slow-file");
    let download = std::thread::spawn(move || curl_via(&proxy, &ca, &[&url]));
    wait_for("download to start", || {
        metric(s.proxy.addr, "egress_proxy_active_tunnels") == "1"
    });
    std::thread::sleep(Duration::from_millis(300));
    s.proxy.child.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    // New connections are no longer accepted while the download drains.
    assert!(std::net::TcpStream::connect(s.proxy.addr).is_err());
    let out = download.join().unwrap();
    assert_eq!(out.status, 200, "{out:?}");
    assert_eq!(out.body.len(), 768 * 1024);
    let status = s
        .proxy
        .child
        .wait_timeout(Duration::from_secs(10))
        .expect("proxy exits");
    assert!(status.success(), "{status}");
    let lines = s.audit(1);
    assert_eq!(
        lines[0]["bytes_out"],
        768 * 1024,
        "the audit log is flushed at exit"
    );
}

#[test]
fn a_passthrough_tunnel_keeps_the_table_it_was_decided_on() {
    let s = Setup::new(|tls, _| {
        format!(
            "routes:\n  - host: other.example\n  - host: localhost\n    port: {tls}\n    tls: passthrough\n"
        )
    });
    let port = s.origin.tls_port;
    let tcp = connect_tunnel(s.proxy.addr, &format!("localhost:{port}"));
    // The table changes (the route index no longer exists) before the tunnel's first byte.
    std::fs::write(&s.proxy.routes, "routes: []\n").unwrap();
    s.proxy.child.signal(libc::SIGHUP);
    wait_for("generation 2", || {
        metric(s.proxy.addr, "egress_proxy_route_table_generation") == "2"
    });
    let mut tls = tls_over(
        tcp,
        tls_config(&s.origin.ca_cert, &[b"http/1.1"], true),
        "localhost",
    );
    let resp = exchange(
        &mut tls,
        b"GET /spliced HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&resp), 200, "{resp}");
    assert!(resp.contains("origin path=/spliced"), "{resp}");
    drop(tls);
    let lines = s.audit(1);
    assert_eq!(lines[0]["reason"], "passthrough");
    assert_eq!(lines[0]["route"]["line"], 3);
    // New tunnels are decided on the new table.
    let out = s.curl(&[
        "--cacert",
        &s.origin.ca_cert.to_string_lossy(),
        &s.https("/x"),
    ]);
    assert_ne!(out.status, 200, "{out:?}");
}

#[test]
fn an_origin_that_never_answers_gets_504() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let (conn, _) = silent.accept().unwrap();
        std::thread::sleep(Duration::from_secs(2));
        drop(conn);
    });
    let s = Setup::with(
        |_, _| format!("routes:\n  - host: 127.0.0.1\n    port: {port}\n"),
        &[],
        &["--response-header-timeout", "1s"],
    );
    let out = curl(&[
        "--proxy",
        &s.proxy.url(),
        &format!("http://127.0.0.1:{port}/"),
    ]);
    assert_eq!(out.status, 504, "{out:?}");
    assert!(
        out.body.contains("upstream_error") && out.body.contains("no response headers within 1s"),
        "{}",
        out.body
    );
    let lines = s.audit(1);
    assert_eq!(lines[0]["status"], 504);
    held.join().unwrap();
}

#[test]
fn connections_beyond_the_limit_wait_until_one_closes() {
    let s = Setup::with(
        |_, plain| format!("routes:\n  - host: localhost\n    port: {plain}\n"),
        &[],
        &["--max-connections", "1"],
    );
    let p = s.origin.plain_port;
    let request = format!(
        "GET http://localhost:{p}/second HTTP/1.1\r\nHost: localhost:{p}\r\nConnection: close\r\n\r\n"
    );
    let first = std::net::TcpStream::connect(s.proxy.addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut second = std::net::TcpStream::connect(s.proxy.addr).unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    second.write_all(request.as_bytes()).unwrap();
    let mut buf = [0u8; 256];
    let waited = second.read(&mut buf);
    assert!(
        matches!(&waited, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut),
        "the second connection was served while the first held the only slot: {waited:?}"
    );
    drop(first);
    second
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let resp = exchange(&mut second, b"");
    assert_eq!(status_of(&resp), 200, "{resp}");
    assert!(resp.contains("origin path=/second"), "{resp}");
}
