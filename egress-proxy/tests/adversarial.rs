//! Attempts to get around the routes: encodings, host confusion, smuggling,
//! oversized and slow input, malformed CONNECTs. Everything here must be
//! refused, and refused in a way the agent can read.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::*;

fn routes(tls: u16, plain: u16) -> String {
    format!(
        r#"routes:
  - host: localhost
    port: {tls}
    paths: ["/repos/acme/", "/echo"]
    auth: {{scheme: bearer, token_env: API_TOKEN}}
  - host: localhost
    port: {plain}
    paths: ["/echo"]
"#
    )
}

fn status_of(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn path_encodings_and_dot_segments_are_refused_not_rewritten() {
    let s = Setup::new(routes);
    for path in [
        "/repos/acme/../evil",
        "/repos/acme/%2e%2e/evil",
        "/repos/acme/%2E%2E/evil",
        "/repos/acme/.%2e/evil",
        "/repos/acme%2f..%2fevil",
        "/repos/acme/..;/evil",
        "/repos//acme/x",
        "/repos/acme/./x",
        "/repos/acme/%252e%252e/evil",
        "/repos/acme/%5c..%5cevil",
        "/repos/acme/%c0%ae%c0%ae/evil",
        "/repos/acme/x%00",
    ] {
        let out = s.curl(&["--path-as-is", &s.https(path)]);
        assert_eq!(out.status, 400, "{path}: {out:?}");
        assert!(
            out.body.contains("non_canonical_path"),
            "{path}: {}",
            out.body
        );
    }
    let out = s.curl(&["--path-as-is", &s.https("/repos/acme/x")]);
    assert_eq!(out.status, 200);
    let lines = s.audit(13);
    // A raw backslash is refused whichever layer sees it first.
    let p = s.origin.plain_port;
    let resp = raw(
        s.proxy.addr,
        format!("GET http://localhost:{p}/echo\\..\\x HTTP/1.1\r\nHost: localhost:{p}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(status_of(&resp), 400, "{resp}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["reason"] == "non_canonical_path" && l["status"] == 400)
            .count(),
        12
    );
}

#[test]
fn host_header_and_authority_must_match_the_connect_target() {
    let s = Setup::new(routes);
    for proto in ["--http1.1", "--http2"] {
        let out = s.curl(&[proto, "-H", "Host: evil.example", &s.https("/echo")]);
        assert_eq!(out.status, 421, "{proto}: {out:?}");
        assert!(out.body.contains("host_mismatch"), "{}", out.body);
        let out = s.curl(&[
            proto,
            "-H",
            &format!("Host: localhost:{}", s.origin.tls_port + 1),
            &s.https("/echo"),
        ]);
        assert_eq!(out.status, 421, "{proto}: {out:?}");
    }
    // The same host spelled differently is the same host.
    let out = s.curl(&[
        "-H",
        &format!("Host: LOCALHOST.:{}", s.origin.tls_port),
        &s.https("/echo"),
    ]);
    assert_eq!(out.status, 200, "{out:?}");
}

#[test]
fn sni_that_differs_from_the_connect_target_closes_the_tunnel() {
    let s = Setup::new(routes);
    // curl tunnels to localhost:<port> but sends SNI and Host for evil.example.
    let out = s.curl(&[
        "--connect-to",
        &format!("evil.example:443:localhost:{}", s.origin.tls_port),
        "https://evil.example/echo",
    ]);
    assert_eq!(out.status, 0, "{out:?}");
    assert_ne!(out.exit, 0);
    let lines = s.audit(1);
    assert_eq!(lines[0]["reason"], "host_mismatch", "{lines:?}");
    assert_eq!(lines[0]["method"], "CONNECT");
}

#[test]
fn uppercase_and_trailing_dot_hosts_are_normalized() {
    let s = Setup::new(routes);
    let resp = raw(
        s.proxy.addr,
        format!(
            "GET http://LocalHost.:{p}/echo HTTP/1.1\r\nHost: LOCALHOST:{p}\r\nConnection: close\r\n\r\n",
            p = s.origin.plain_port
        )
        .as_bytes(),
    );
    assert_eq!(status_of(&resp), 200, "{resp}");
    assert!(
        resp.contains(&format!("host=localhost:{}", s.origin.plain_port)),
        "{resp}"
    );
    // Numeric shorthands for addresses are refused outright.
    let resp = raw(
        s.proxy.addr,
        b"GET http://127.1/echo HTTP/1.1\r\nHost: 127.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&resp), 400, "{resp}");
    let lines = s.audit(2);
    assert_eq!(lines[0]["host"], "localhost");
}

#[test]
fn absolute_form_uri_and_host_header_must_agree() {
    let s = Setup::new(routes);
    let p = s.origin.plain_port;
    for (uri, host) in [
        (
            format!("http://localhost:{p}/echo"),
            "evil.example".to_string(),
        ),
        (
            format!("http://localhost:{p}/echo"),
            format!("localhost:{}", p + 1),
        ),
        (
            format!("http://evil.example:{p}/echo"),
            format!("localhost:{p}"),
        ),
    ] {
        let resp = raw(
            s.proxy.addr,
            format!("GET {uri} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(status_of(&resp), 421, "{uri} / {host}: {resp}");
        assert!(resp.contains("host_mismatch"), "{resp}");
    }
    let resp = raw(s.proxy.addr, format!("GET https://localhost:{p}/echo HTTP/1.1\r\nHost: localhost:{p}\r\nConnection: close\r\n\r\n").as_bytes());
    assert_eq!(status_of(&resp), 400, "{resp}");
    assert!(resp.contains("CONNECT"), "{resp}");
}

#[test]
fn request_smuggling_is_refused_or_split_into_checked_requests() {
    let s = Setup::new(routes);
    let p = s.origin.plain_port;
    let head = |extra: &str| {
        format!("POST http://localhost:{p}/echo HTTP/1.1\r\nHost: localhost:{p}\r\n{extra}")
    };
    for bad in [
        head("Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
        head("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n"),
        head("Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
        head("Content-Length: +3\r\n\r\nabc"),
        head("Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
    ] {
        let resp = raw(s.proxy.addr, bad.as_bytes());
        assert_eq!(status_of(&resp), 400, "{bad:?}: {resp}");
    }
    // CL and TE together: TE wins and CL is dropped (RFC 9112 §6.3), the
    // outbound request is re-framed, and the bytes after the chunked body can
    // only be a new request on the proxy's side, which is decided on its own
    // (or the connection is closed). The origin never sees them.
    let smuggle = format!(
        "{}0\r\n\r\nGET http://localhost:{p}/smuggled HTTP/1.1\r\nHost: localhost:{p}\r\nConnection: close\r\n\r\n",
        head("Content-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n")
    );
    let resp = raw(s.proxy.addr, smuggle.as_bytes());
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let second = resp.matches("HTTP/1.1 ").count() > 1;
    assert!(!second || resp.contains("path_not_allowed"), "{resp}");
    let access = std::fs::read_to_string(s.dir.path().join("origin/nginx-access.log")).unwrap();
    assert!(!access.contains("/smuggled"), "{access}");
    let lines = s.proxy.audit_lines();
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("/smuggled") && l.contains("\"allow\"")),
        "{lines:?}"
    );
}

#[test]
fn oversized_headers_are_refused() {
    let s = Setup::new(routes);
    let big = "a".repeat(80 * 1024);
    let out = s.curl(&[
        "--http1.1",
        "-H",
        &format!("X-Big: {big}"),
        &s.https("/echo"),
    ]);
    assert_eq!(out.status, 431, "{}", out.status);
    let p = s.origin.plain_port;
    let resp = raw(
        s.proxy.addr,
        format!(
            "GET http://localhost:{p}/echo HTTP/1.1\r\nHost: localhost:{p}\r\nX-Big: {big}\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(status_of(&resp), 431, "{}", &resp[..resp.len().min(200)]);
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let resp = raw(
        s.proxy.addr,
        format!("GET http://localhost:{p}/echo HTTP/1.1\r\nHost: localhost:{p}\r\n{many}\r\n")
            .as_bytes(),
    );
    assert_eq!(status_of(&resp), 431, "{resp}");
    let out = s.curl(&["--http2", "-H", &format!("X-Big: {big}"), &s.https("/echo")]);
    assert_ne!(out.status, 200, "{out:?}");
}

#[test]
fn slow_headers_are_cut_off() {
    let s = Setup::with(
        routes,
        &[("API_TOKEN", TOKEN)],
        &["--client-header-timeout", "1s"],
    );
    let started = Instant::now();
    let mut c = TcpStream::connect(s.proxy.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET http://localhost/ HTTP/1.1\r\nHost: local")
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = c.read(&mut buf).unwrap_or(0);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    // A tunnel that never says anything is closed the same way.
    let mut t = TcpStream::connect(s.proxy.addr).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    t.write_all(b"CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let mut all = Vec::new();
    let _ = t.read_to_end(&mut all);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 200"));
}

#[test]
fn malformed_connect_lines_get_400() {
    let s = Setup::new(routes);
    for line in [
        "CONNECT localhost HTTP/1.1",
        "CONNECT localhost:0 HTTP/1.1",
        "CONNECT localhost:99999 HTTP/1.1",
        "CONNECT a..b:443 HTTP/1.1",
        "CONNECT 127.1:443 HTTP/1.1",
        "CONNECT user@localhost:443 HTTP/1.1",
        "CONNECT [::1:443 HTTP/1.1",
        "CONNECT /path HTTP/1.1",
        "CONNECT http://localhost:443/ HTTP/1.1",
        "CONNECT  HTTP/1.1",
    ] {
        let resp = raw(
            s.proxy.addr,
            format!("{line}\r\nHost: x\r\n\r\n").as_bytes(),
        );
        assert_eq!(status_of(&resp), 400, "{line}: {resp}");
    }
    let resp = raw(s.proxy.addr, b"\x16\x03\x01garbage\r\n\r\n");
    assert_eq!(status_of(&resp), 400, "{resp}");
}
