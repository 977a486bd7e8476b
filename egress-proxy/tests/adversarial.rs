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
    paths: ["/echo", "/upload/"]
"#
    )
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
        "/repos/acme/..%3B/evil",
        "/repos/acme/%EF%BC%8E%EF%BC%8E/evil",
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
    let lines = s.audit(15);
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
        14
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

/// How many HTTP/1.1 responses a byte stream holds (status lines at line starts).
fn answers(resp: &str) -> usize {
    resp.lines().filter(|l| l.starts_with("HTTP/1.1 ")).count()
}

#[test]
fn request_smuggling_is_refused_or_answered_once_and_closed() {
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
    // outbound request is re-framed, and the connection is closed after the
    // answer (§6.1), so the bytes after the chunked body are never read as a
    // request: exactly one answer, and the origin never sees /smuggled.
    let smuggle = format!(
        "{}0\r\n\r\nGET http://localhost:{p}/smuggled HTTP/1.1\r\nHost: localhost:{p}\r\n\r\n",
        head("Content-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n")
    );
    let resp = raw(s.proxy.addr, smuggle.as_bytes());
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(answers(&resp), 1, "{resp}");
    assert!(
        resp.to_ascii_lowercase().contains("connection: close"),
        "{resp}"
    );
    let smuggle = format!(
        "{}0\r\n\r\nGET http://localhost:{p}/smuggled HTTP/1.1\r\nHost: localhost:{p}\r\n\r\n",
        head("Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n")
    );
    let resp = raw(s.proxy.addr, smuggle.as_bytes());
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(answers(&resp), 1, "{resp}");
    let access = access_log(&s);
    assert!(!access.contains("/smuggled"), "{access}");
    assert_eq!(
        access.lines().filter(|l| l.contains("POST /echo")).count(),
        2,
        "{access}"
    );
    let lines = s.proxy.audit_lines();
    assert!(!lines.iter().any(|l| l.contains("/smuggled")), "{lines:?}");
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
    // HTTP/2 (with a client that ignores the advertised
    // SETTINGS_MAX_HEADER_LIST_SIZE, as curl does not): a header list over the
    // limit that still fits on the wire is answered 431 on its stream...
    let port = s.origin.tls_port;
    let (ca, proxy) = (&s.proxy.ca_cert, s.proxy.addr);
    let compressible = "a".repeat(70 * 1024);
    assert_eq!(h2_get(proxy, ca, port, &[("x-big", compressible)]), Ok(431));
    // ...and one too large even to skip ends the connection: GOAWAY, as
    // ENHANCE_YOUR_CALM (more CONTINUATION frames than the limit needs).
    let huge = "a".repeat(200 * 1024);
    let err = h2_get(proxy, ca, port, &[("x-big", huge)]).unwrap_err();
    assert!(
        err.contains("GoAway") && err.contains("ENHANCE_YOUR_CALM"),
        "{err}"
    );
    assert_eq!(access_log(&s), "");
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
    // A CONNECT line longer than the header limit.
    let long = format!(
        "CONNECT {}.example:443 HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(80 * 1024)
    );
    let resp = raw(s.proxy.addr, long.as_bytes());
    assert_eq!(status_of(&resp), 431, "{}", &resp[..resp.len().min(200)]);
    let label = format!(
        "CONNECT {}.example:443 HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(100)
    );
    let resp = raw(s.proxy.addr, label.as_bytes());
    assert_eq!(status_of(&resp), 400, "{resp}");
    assert!(resp.contains("label longer than 63"), "{resp}");
}

/// Routes without `paths`: the git push block is the only path rule left.
fn open_routes(tls: u16, plain: u16) -> String {
    format!(
        r#"routes:
  - host: localhost
    port: {tls}
    auth: {{scheme: bearer, token_env: API_TOKEN}}
  - host: localhost
    port: {plain}
"#
    )
}

#[test]
fn git_push_is_refused_in_every_spelling_on_routes_without_paths() {
    let s = Setup::new(open_routes);
    let pushes = [
        "/r.git/git-receive-pack/.",
        "/r.git/git-receive-pack/./",
        "/r.git/git-receive-pack/x/..",
        "/r.git/git-receive-pack%2F.",
        "/r.git/git-receive-pack%2f",
        "/r.git/x/../git-receive-pack",
        "/r.git//git-receive-pack",
        "/r.git/git-receive-pack;a=b",
        "/r.git/GIT-RECEIVE-PACK/",
        "/r.git/git-receive-pack%2e",
        "/r.git/git-receive-pack%20",
        "/r.git/git%2Dreceive%2Dpack",
        "/r.git/git%252Dreceive-pack",
        "/r.git/%EF%BD%87it-receive-pack",
        "/r.git/%2e%2e/r.git/git-receive-pack",
        "/r.git/info/refs/.?service=git-receive-pack",
        "/r.git/info/refs/x/..?service=git-receive-pack",
        "/r.git/info/./refs?service=git-receive-pack",
        "/r.git/info/refs;x?service=git-receive-pack",
        "/r.git/info/refs?a=1&service=git%2Dreceive-pack",
        "/r.git/info/refs?service=git-upload-pack&SERVICE=Git-Receive-Pack",
        "/r.git/info/refs?service=%67it-receive-pack+",
        "/r.git/info/refs%3Fservice=git-receive-pack",
    ];
    let p = s.origin.plain_port;
    for path in pushes {
        for proto in ["--http1.1", "--http2"] {
            let out = s.curl(&[proto, "--path-as-is", "-X", "POST", &s.https(path)]);
            assert_eq!(out.status, 403, "{proto} {path}: {out:?}");
            assert!(
                out.body.contains("git_push_blocked"),
                "{path}: {}",
                out.body
            );
        }
        // The same through absolute-form http:// on the listener.
        let resp = raw(
            s.proxy.addr,
            format!(
                "POST http://localhost:{p}{path} HTTP/1.1\r\nHost: localhost:{p}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        assert_eq!(status_of(&resp), 403, "http {path}: {resp}");
        assert!(resp.contains("git_push_blocked"), "{resp}");
    }
    // Nothing reached the origin, and fetches still do.
    let access = access_log(&s);
    assert!(!access.to_ascii_lowercase().contains("receive"), "{access}");
    let out = s.curl(&[&s.https("/r.git/info/refs?service=git-upload-pack")]);
    assert_eq!(out.status, 200, "{out:?}");
}

#[test]
fn decoded_dot_segments_are_refused() {
    let s = Setup::new(routes);
    for path in [
        "/repos/acme/..%3B/evil",
        "/repos/acme/..%3b/evil",
        "/repos/acme/.%3Bx/evil",
        "/repos/acme/%EF%BC%8E%EF%BC%8E/evil",
        "/repos/acme/.%EF%BC%8E/evil",
        "/repos/acme/..%20/evil",
    ] {
        let out = s.curl(&["--path-as-is", &s.https(path)]);
        assert_eq!(out.status, 400, "{path}: {out:?}");
        assert!(
            out.body.contains("non_canonical_path") && out.body.contains("`.` or `..` segment"),
            "{path}: {}",
            out.body
        );
    }
    // The same through absolute-form http:// on the listener.
    let p = s.origin.plain_port;
    for path in [
        "/echo/../x",
        "/echo/..%3B/x",
        "/echo/%EF%BC%8E%EF%BC%8E/x",
        "/echo%2F..%2Fx",
    ] {
        let resp = raw(
            s.proxy.addr,
            format!("GET http://localhost:{p}{path} HTTP/1.1\r\nHost: localhost:{p}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(status_of(&resp), 400, "{path}: {resp}");
        assert!(resp.contains("non_canonical_path"), "{resp}");
    }
    assert_eq!(access_log(&s), "");
}

#[test]
fn credentials_are_never_sent_over_plain_http() {
    let s = Setup::new(|tls, plain| {
        format!(
            "routes:\n  - host: localhost\n    port: {plain}\n    auth: {{scheme: bearer, token_env: API_TOKEN}}\n  - host: localhost\n    port: {tls}\n    auth: {{scheme: bearer, token_env: API_TOKEN}}\n"
        )
    });
    // Absolute-form http:// on the listener.
    let out = curl(&["--proxy", &s.proxy.url(), &s.http("/echo")]);
    assert_eq!(out.status, 403, "{out:?}");
    assert!(
        out.body.contains("plaintext_credential") && out.body.contains("only sent over https"),
        "{}",
        out.body
    );
    // Plaintext inside a CONNECT tunnel, to a port whose route injects a credential.
    let out = curl(&[
        "--proxytunnel",
        "--proxy",
        &s.proxy.url(),
        &format!("http://localhost:{}/echo", s.origin.tls_port),
    ]);
    assert_eq!(out.status, 403, "{out:?}");
    assert!(out.body.contains("plaintext_credential"), "{}", out.body);
    // Over https the same route works.
    let out = s.curl(&[&s.https("/echo")]);
    assert_eq!(out.status, 200, "{out:?}");
    let lines = s.audit(3);
    assert_eq!(lines[0]["reason"], "plaintext_credential");
    assert_eq!(lines[0]["credential_injected"], false);
    assert_eq!(lines[1]["reason"], "plaintext_credential");
    assert_eq!(lines[2]["credential_injected"], true);
    assert_eq!(access_log(&s).lines().count(), 1, "{}", access_log(&s));
}

#[test]
fn connect_targets_in_uppercase_or_with_a_trailing_dot_are_the_same_host() {
    let s = Setup::new(routes);
    let port = s.origin.tls_port;
    let resp = s.tunnel_exchange(
        &format!("LocalHost.:{port}"),
        format!("GET /echo HTTP/1.1\r\nHost: LOCALHOST:{port}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(status_of(&resp), 200, "{resp}");
    assert!(
        resp.contains(&format!("authorization=[Bearer {TOKEN}]")),
        "{resp}"
    );
    let lines = s.audit(1);
    assert_eq!(lines[0]["host"], "localhost");
    assert_eq!(lines[0]["reason"], "allowed");
}

#[test]
fn absolute_uris_inside_a_tls_tunnel_must_name_the_connect_target() {
    let s = Setup::new(routes);
    let port = s.origin.tls_port;
    for (uri, want) in [
        ("https://evil.example/echo".to_string(), 421),
        (format!("https://evil.example:{port}/echo"), 421),
        (format!("https://localhost:{}/echo", port + 1), 421),
        (format!("http://localhost:{port}/echo"), 421),
        (format!("https://localhost:{port}/echo"), 200),
    ] {
        let resp = s.tunnel_exchange(
            &format!("localhost:{port}"),
            format!("GET {uri} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(status_of(&resp), want, "{uri}: {resp}");
        if want == 421 {
            assert!(resp.contains("host_mismatch"), "{resp}");
        }
    }
    assert_eq!(access_log(&s).lines().count(), 1, "{}", access_log(&s));
}

#[test]
fn duplicate_host_headers_are_refused() {
    let s = Setup::new(routes);
    let p = s.origin.plain_port;
    for hosts in [
        format!("Host: localhost:{p}\r\nHost: evil.example\r\n"),
        format!("Host: localhost:{p}\r\nHost: localhost:{p}\r\n"),
    ] {
        let resp = raw(
            s.proxy.addr,
            format!("GET http://localhost:{p}/echo HTTP/1.1\r\n{hosts}Connection: close\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(status_of(&resp), 400, "{resp}");
        assert!(resp.contains("more than one Host header"), "{resp}");
    }
    let port = s.origin.tls_port;
    let resp = s.tunnel_exchange(
        &format!("localhost:{port}"),
        format!("GET /echo HTTP/1.1\r\nHost: localhost:{port}\r\nHost: evil.example\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(status_of(&resp), 400, "{resp}");
    assert_eq!(access_log(&s), "");
}

#[test]
fn h2_authority_and_host_header_must_agree() {
    let s = Setup::new(routes);
    let port = s.origin.tls_port;
    let get = |host: Option<String>| {
        let headers: Vec<(&str, String)> = host.into_iter().map(|h| ("host", h)).collect();
        h2_get(s.proxy.addr, &s.proxy.ca_cert, port, &headers)
    };
    assert_eq!(get(Some("evil.example".into())), Ok(421));
    assert_eq!(get(Some(format!("localhost:{}", port + 1))), Ok(421));
    assert_eq!(get(Some(format!("LOCALHOST.:{port}"))), Ok(200));
    assert_eq!(get(None), Ok(200));
    assert_eq!(access_log(&s).lines().count(), 2, "{}", access_log(&s));
}

#[test]
fn line_endings_folding_and_transfer_coding_spellings() {
    let s = Setup::new(routes);
    let p = s.origin.plain_port;
    // Bare LF line endings are read as line ends (RFC 9112 §2.2) and the
    // request is re-framed: the origin sees one ordinary request.
    let resp = raw(
        s.proxy.addr,
        format!("GET http://localhost:{p}/echo HTTP/1.1\nHost: localhost:{p}\nX-Hop: lf\nConnection: close\n\n").as_bytes(),
    );
    assert_eq!(status_of(&resp), 200, "{resp}");
    assert!(resp.contains("x-hop=[lf]"), "{resp}");
    // Obsolete line folding is refused outright.
    let resp = raw(
        s.proxy.addr,
        format!("GET http://localhost:{p}/echo HTTP/1.1\r\nHost: localhost:{p}\r\nX-Hop: a\r\n b\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(status_of(&resp), 400, "{resp}");
    let put = |name: &str, te: &str, body: &str| {
        raw(
            s.proxy.addr,
            format!("PUT http://localhost:{p}/upload/{name} HTTP/1.1\r\nHost: localhost:{p}\r\n{te}\r\nConnection: close\r\n\r\n{body}")
                .as_bytes(),
        )
    };
    // Spellings every parser reads as `chunked`: accepted, and the body arrives whole.
    for (i, te) in [
        "Transfer-Encoding: chunked ",
        "Transfer-Encoding:\tchunked",
        "Transfer-Encoding: CHUNKED",
        "transfer-encoding: Chunked\t",
    ]
    .iter()
    .enumerate()
    {
        let name = format!("te{i}");
        let resp = put(&name, te, "5\r\nhello\r\n0\r\n\r\n");
        assert_eq!(status_of(&resp), 201, "{te:?}: {resp}");
        let stored = std::fs::read_to_string(s.origin.www.join("upload").join(&name)).unwrap();
        assert_eq!(stored, "hello", "{te:?}");
    }
    // Spellings parsers disagree on: refused before anything is forwarded.
    for te in [
        "Transfer-Encoding : chunked",
        "Transfer-Encoding: \"chunked\"",
        "Transfer-Encoding: chunked, identity",
        "Transfer-Encoding: ,chunked",
        "Transfer-Encoding: chunked\x0b",
        "Transfer-Encoding: chunk\u{0}ed",
        "Transfer-Encoding:\r\n chunked",
    ] {
        let resp = put("refused", te, "5\r\nhello\r\n0\r\n\r\n");
        assert_eq!(status_of(&resp), 400, "{te:?}: {resp}");
    }
    // A chunk size that overflows 64 bits ends the request before the origin stores anything.
    let resp = put(
        "overflow",
        "Transfer-Encoding: chunked",
        "fffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(status_of(&resp), 400, "{resp}");
    assert!(!s.origin.www.join("upload/refused").exists());
    assert!(!s.origin.www.join("upload/overflow").exists());
}

#[test]
fn passthrough_tunnels_carry_only_tls_that_names_the_connect_host() {
    let s = Setup::new(|tls, _| {
        format!("routes:\n  - host: localhost\n    port: {tls}\n    tls: passthrough\n")
    });
    let port = s.origin.tls_port;
    let origin_ca = s.origin.ca_cert.to_string_lossy().into_owned();
    // The genuine article: spliced, the client sees the origin's own certificate.
    let out = curl(&[
        "--proxy",
        &s.proxy.url(),
        "--cacert",
        &origin_ca,
        &s.https("/p"),
    ]);
    assert_eq!(out.status, 200, "{out:?}");
    assert!(out.body.contains("origin path=/p"), "{}", out.body);
    // SNI for another host through a tunnel to this one.
    let out = curl(&[
        "--proxy",
        &s.proxy.url(),
        "--cacert",
        &origin_ca,
        "--connect-to",
        &format!("evil.example:443:localhost:{port}"),
        "https://evil.example/p",
    ]);
    assert_eq!(out.status, 0, "{out:?}");
    // No SNI at all.
    let tcp = connect_tunnel(s.proxy.addr, &format!("localhost:{port}"));
    let mut tls = tls_over(tcp, tls_config(&s.origin.ca_cert, &[], false), "localhost");
    let resp = exchange(&mut tls, b"GET /p HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(resp.starts_with("<error: "), "{resp}");
    // Bytes that are not a TLS ClientHello.
    let mut tcp = connect_tunnel(s.proxy.addr, &format!("localhost:{port}"));
    let resp = exchange(&mut tcp, b"\x16\x03\x01\x00\x05hello");
    assert!(!resp.contains("HTTP/"), "{resp}");
    // Plaintext HTTP gets a readable refusal.
    let out = curl(&[
        "--proxytunnel",
        "--proxy",
        &s.proxy.url(),
        &format!("http://localhost:{port}/p"),
    ]);
    assert_eq!(out.status, 400, "{out:?}");
    assert!(
        out.body.contains("bad_request") && out.body.contains("carries TLS only"),
        "{}",
        out.body
    );
    let lines = s.audit(5);
    let reasons: Vec<&str> = lines
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "passthrough",
            "host_mismatch",
            "bad_request",
            "bad_request",
            "bad_request"
        ],
        "{lines:?}"
    );
    for l in &lines {
        assert_eq!(l["method"], "CONNECT");
        assert_eq!(l["route"]["host"], "localhost", "{l}");
    }
    assert_eq!(lines[4]["status"], 400);
    let access = access_log(&s);
    assert_eq!(access.lines().count(), 1, "{access}");
}
