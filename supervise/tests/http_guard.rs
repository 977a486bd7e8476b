//! The HTTP edge with raw requests: Host and Origin checks, hostile bodies, unknown paths.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{entries, server};

/// Send raw bytes, return (status code, whole response text).
fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).to_string();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (code, text)
}

fn post(addr: SocketAddr, headers: &[&str], body: &[u8]) -> (u16, String) {
    let mut request = format!(
        "POST /mcp HTTP/1.1\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\n\
         connection: close\r\ncontent-length: {}\r\n",
        body.len()
    )
    .into_bytes();
    for h in headers {
        request.extend_from_slice(h.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body);
    raw(addr, &request)
}

const LIST: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;

#[test]
fn foreign_hosts_and_origins_are_refused() {
    let sv = server("5", &["--allowed-host", "supervise.bottle-internal"]);
    let port = sv.addr.port();
    let allowed = [
        format!("host: 127.0.0.1:{port}"),
        format!("host: localhost:{port}"),
        "host: supervise:9100".into(),
        "host: supervise".into(),
        "host: SUPERVISE.bottle-internal:1".into(),
    ];
    for host in &allowed {
        let (code, body) = post(sv.addr, &[host], LIST);
        assert_eq!(code, 200, "{host}: {body}");
        assert!(body.contains("egress-block"), "{host}: {body}");
    }
    for host in [
        "host: evil.example",
        "host: evil.example:9100",
        "host: 127.0.0.1.evil.example",
        "host: supervise.evil",
        "host: localhost.",
    ] {
        let (code, body) = post(sv.addr, &[host], LIST);
        assert_eq!(code, 403, "{host}: {body}");
        assert!(body.contains("Host header is not allowed"), "{body}");
        assert!(body.contains("--allowed-host"), "{body}");
    }
    let host = format!("host: 127.0.0.1:{port}");
    for origin in [
        "origin: http://localhost:3000",
        "origin: https://supervise",
        "origin: http://supervise.bottle-internal:8080",
    ] {
        let (code, body) = post(sv.addr, &[&host, origin], LIST);
        assert_eq!(code, 200, "{origin}: {body}");
    }
    for origin in [
        "origin: http://evil.example",
        "origin: null",
        "origin: http://localhost.evil.example",
        "origin: file://",
        "origin: ftp://localhost",
    ] {
        let (code, body) = post(sv.addr, &[&host, origin], LIST);
        assert_eq!(code, 403, "{origin}: {body}");
        assert!(body.contains("Origin"), "{body}");
    }
    let stderr = sv.stderr();
    assert!(stderr.contains("foreign Host or Origin"), "{stderr}");
}

#[test]
fn hostile_bodies_get_errors_and_the_server_keeps_serving() {
    let sv = server("5", &[]);
    let host = format!("host: 127.0.0.1:{}", sv.addr.port());
    let call = |body: &[u8]| post(sv.addr, &[&host], body);

    let (code, _) = call(b"{not json");
    assert!((400..500).contains(&code), "invalid JSON got {code}");
    let (code, _) = call(b"\xff\xfe\x00\x01garbage");
    assert!((400..500).contains(&code), "binary garbage got {code}");
    let non_utf8 = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"egress-block\",\"arguments\":{\"routes\":\"\xff\xfe\",\"justification\":\"x\"}}}";
    let (code, _) = call(non_utf8);
    assert!((400..500).contains(&code), "non-UTF-8 string got {code}");
    let (code, body) = call(&vec![b'a'; 3 * 1024 * 1024]);
    assert_eq!(code, 413, "{}", &body[..body.len().min(300)]);
    assert!(
        body.contains("\"code\":-32600") && body.contains("over 1048576 bytes"),
        "a JSON-RPC error saying why: {body}"
    );
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (code, _) = call(deep.as_bytes());
    assert!((400..500).contains(&code), "deep nesting got {code}");

    let (code, body) = raw(
        sv.addr,
        b"GET /elsewhere HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(code, 404);
    assert!(body.contains("/mcp"), "{body}");
    let (code, body) = raw(
        sv.addr,
        b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(code, 200, "{body}");
    let (code, _) = raw(
        sv.addr,
        b"BREW /mcp HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(code, 405);
    let (code, _) = raw(sv.addr, b"\x16\x03\x01\x00\xa5garbage-tls-hello\r\n\r\n");
    assert!((400..500).contains(&code), "TLS garbage got {code}");

    let (code, body) = call(LIST);
    assert_eq!(
        code, 200,
        "server stopped serving after hostile input: {body}"
    );
    assert!(entries(&sv.queue).is_empty());
}

#[test]
fn only_a_disconnect_ends_a_wait_not_a_cancelled_notification() {
    let sv = server("60", &[]);
    let host = format!("host: 127.0.0.1:{}", sv.addr.port());
    let call = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"pipelock-block","arguments":{"allowlist":["pypi.org"],"justification":"pip"},"_meta":{"progressToken":"p7"}}}"#;
    let mut waiting = TcpStream::connect(sv.addr).unwrap();
    waiting
        .write_all(
            format!(
                "POST /mcp HTTP/1.1\r\n{host}\r\ncontent-type: application/json\r\n\
                 accept: application/json, text/event-stream\r\ncontent-length: {}\r\n\r\n",
                call.len()
            )
            .as_bytes(),
        )
        .unwrap();
    waiting.write_all(call).unwrap();
    let id = common::wait_for_pending(&sv.queue, 1)[0]
        .proposal
        .id
        .to_string();

    let cancel = br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,"reason":"moved on"}}"#;
    let (code, body) = post(sv.addr, &[&host], cancel);
    assert!((200..300).contains(&code), "{code} {body}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !sv.audit_lines().iter().any(|l| l.contains("wait_ended")),
        "a stateless server cannot tie the notification to the call: {:?}",
        sv.audit_lines()
    );

    drop(waiting);
    sv.wait_for_audit(
        &["\"event\":\"wait_ended\"", &id, "\"outcome\":\"cancelled\""],
        Duration::from_secs(30),
    );
    assert_eq!(entries(&sv.queue).len(), 1, "the proposal stays queued");
}
