//! The process as an operator sees it: the CLI, startup errors, SIGHUP
//! reloads (good and bad), and SIGTERM draining.

mod support;

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
