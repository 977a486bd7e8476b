//! Hostile and malformed requests: every one gets a git `ERR` line and a closed connection.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{Options, World};

/// Send `bytes`, then read until the gate closes; returns what it sent.
fn exchange(w: &World, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(w.gate_addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .expect("the gate closes the connection");
    out
}

fn pkt(payload: &[u8]) -> Vec<u8> {
    let mut v = format!("{:04x}", payload.len() + 4).into_bytes();
    v.extend_from_slice(payload);
    v
}

/// The text of a single `ERR` pkt-line, asserting that is all the gate sent.
fn err_text(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply).into_owned();
    assert!(
        reply.len() > 8 && &reply[4..8] == b"ERR ",
        "not an ERR pkt-line: {text:?}"
    );
    let len = usize::from_str_radix(&text[..4], 16).unwrap();
    assert_eq!(
        len,
        reply.len(),
        "exactly one pkt-line, then close: {text:?}"
    );
    text[8..].trim_end().to_string()
}

#[test]
fn malformed_and_hostile_requests_get_err() {
    let w = World::start(Options::default());
    let identity = w.sshd.client_key.display().to_string();
    let mirror = w.dir.path().join("data/app.git").display().to_string();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"zzzz".to_vec(), "malformed pkt-line length"),
        (b"0003".to_vec(), "flush or empty"),
        (b"0000".to_vec(), "flush or empty"),
        (b"0004".to_vec(), "flush or empty"),
        (b"fff0".to_vec(), "exceeds"),
        (pkt(&vec![b'a'; 2000]), "exceeds"),
        (pkt(b"git-upload-archive /app.git\0host=x\0"), "not offered"),
        (pkt(b"git-daemon-export /app.git\0host=x\0"), "not offered"),
        (pkt(b"git-upload-pack /nope.git\0host=x\0"), "no repository"),
        (
            pkt(b"git-upload-pack /../app.git\0host=x\0"),
            "no repository",
        ),
        (
            pkt(b"git-upload-pack /%2e%2e/app.git\0host=x\0"),
            "no repository",
        ),
        (
            pkt(b"git-upload-pack /app.git/..\0host=x\0"),
            "no repository",
        ),
        (pkt(b"git-upload-pack ~/app.git\0host=x\0"), "no repository"),
        (
            pkt(format!("git-upload-pack {identity}\0host=x\0").as_bytes()),
            "no repository",
        ),
        (
            pkt(format!("git-upload-pack {mirror}\0host=x\0").as_bytes()),
            "no repository",
        ),
        (
            pkt(b"git-upload-pack /.gate/ssh/app/config\0host=x\0"),
            "no repository",
        ),
        (pkt(b"git-upload-pack /app\0.git\0host=x\0"), "host="),
        (
            pkt(b"git-upload-pack /app.git\0host=x\0\0version=3\0"),
            "unsupported protocol version",
        ),
        (
            pkt(b"git-upload-pack /app.git\0host=x y\0"),
            "host parameter",
        ),
        (
            pkt(b"git-upload-pack /app\xc3\x28.git\0host=x\0"),
            "not printable",
        ),
        (pkt(b"git-upload-pack"), "malformed request"),
    ];
    let key_body: String = std::fs::read_to_string(&w.sshd.client_key)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    for (bytes, want) in &cases {
        let reply = exchange(&w, bytes);
        assert!(
            !String::from_utf8_lossy(&reply).contains(&key_body[..20]),
            "key material in a reply"
        );
        let text = err_text(&reply);
        assert!(
            text.contains(want),
            "{:?}: wanted {want:?}, got {text:?}",
            String::from_utf8_lossy(bytes)
        );
        assert!(
            !text.contains(&identity) || want == &"no repository",
            "{text}"
        );
    }

    let started = Instant::now();
    let reply = exchange(&w, b"00");
    assert!(err_text(&reply).contains("within 2s"));
    assert!(started.elapsed() < Duration::from_secs(6));
    let reply = exchange(&w, b"0032git-upload-pack /app");
    assert!(
        err_text(&reply).contains("within 2s"),
        "a partial request times out"
    );

    let recs = w.wait_audit("refused", cases.len() + 2);
    assert!(
        recs.iter()
            .all(|r| r["reason"].is_string() && r["client"].is_string())
    );

    let listed = w.git_ok(w.dir.path(), &["ls-remote", &w.url("app")]);
    assert!(
        listed.contains("refs/heads/main"),
        "the gate still serves after all that"
    );
}

#[test]
fn real_git_clients_see_the_err_text() {
    let w = World::start(Options::default());
    let stderr = w.git_fails(
        w.dir.path(),
        &["ls-remote", &format!("git://{}/nope.git", w.gate_addr)],
    );
    assert!(
        stderr.contains("remote error") && stderr.contains("no repository"),
        "{stderr}"
    );
    assert!(
        stderr.contains("/app.git"),
        "the error lists what is served: {stderr}"
    );
    let dest = w.dir.path().join("x");
    let stderr = w.git_fails(
        w.dir.path(),
        &[
            "clone",
            &format!("git://{}/../../etc/passwd", w.gate_addr),
            dest.to_str().unwrap(),
        ],
    );
    assert!(stderr.contains("no repository"), "{stderr}");
    let stderr = w.git_fails(
        w.dir.path(),
        &["archive", "--remote", &w.url("app"), "main"],
    );
    assert!(stderr.contains("not offered"), "{stderr}");
}

#[test]
fn the_request_and_connections_are_bounded() {
    let w = World::start(Options {
        tweak: Box::new(|c, _| c.max_connections = Some(git_gate::config::unlocated(2))),
        ..Options::default()
    });
    let idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(w.gate_addr).unwrap())
        .collect();
    let started = Instant::now();
    let listed = w.git_ok(w.dir.path(), &["ls-remote", &w.url("app")]);
    assert!(listed.contains("refs/heads/main"));
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "a third client waits for a slot until an idle one times out"
    );
    drop(idle);
}

/// Open a service, read its advertisement up to the flush; returns the stream and the advertised lines.
fn open_service(w: &World, service: &str) -> (TcpStream, Vec<String>) {
    let mut s = TcpStream::connect(w.gate_addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(&pkt(format!("{service} /app.git\0host=x\0").as_bytes()))
        .unwrap();
    let mut lines = Vec::new();
    loop {
        let mut len = [0u8; 4];
        s.read_exact(&mut len).expect("advertisement");
        let n = usize::from_str_radix(std::str::from_utf8(&len).unwrap(), 16).unwrap();
        if n == 0 {
            return (s, lines);
        }
        let mut payload = vec![0u8; n - 4];
        s.read_exact(&mut payload).unwrap();
        lines.push(String::from_utf8_lossy(&payload).into_owned());
    }
}

/// Send `bytes`, close our side, and read until the gate closes (a hang fails the read timeout).
fn finish(mut s: TcpStream, bytes: &[u8]) -> String {
    s.write_all(bytes).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .expect("the gate answers and closes, it does not hang");
    assert!(started.elapsed() < Duration::from_secs(15));
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn malformed_input_after_the_request_line_gets_err() {
    let w = World::start(Options::default());
    let upstream_before = w.upstream_refs("app");

    // A want for an object the mirror does not have.
    let (s, adv) = open_service(&w, "git-upload-pack");
    assert!(adv[0].contains("refs/heads/main") || adv[0].contains("HEAD"));
    let mut bytes = pkt(format!("want {} multi_ack\n", "ab".repeat(20)).as_bytes());
    bytes.extend_from_slice(b"0000");
    bytes.extend(pkt(b"done\n"));
    let reply = finish(s, &bytes);
    assert!(
        reply.contains("ERR ") && reply.contains("not our ref"),
        "{reply:?}"
    );

    // A want line that is not a want at all.
    let (s, _) = open_service(&w, "git-upload-pack");
    let mut bytes = pkt(b"wnat nonsense\n");
    bytes.extend_from_slice(b"0000");
    let reply = finish(s, &bytes);
    assert!(reply.contains("ERR "), "{reply:?}");

    // receive-pack commands that do not parse.
    let (s, _) = open_service(&w, "git-receive-pack");
    let mut bytes = pkt(b"garbage\n");
    bytes.extend_from_slice(b"0000");
    let reply = finish(s, &bytes);
    assert!(
        reply.contains("ERR receive-pack failed") && reply.contains("protocol error"),
        "{reply:?}"
    );

    // A valid command followed by a truncated pack.
    let (s, adv) = open_service(&w, "git-receive-pack");
    let old = &adv[0][..40];
    let mut bytes =
        pkt(format!("{old} {} refs/heads/main\0report-status\n", "cd".repeat(20)).as_bytes());
    bytes.extend_from_slice(b"0000");
    bytes.extend_from_slice(b"PACK\0\0\0\x02\0\0\0\x05\x95\x0ax");
    let reply = finish(s, &bytes);
    assert!(
        reply.contains("ERR ") || reply.contains("unpack ") && !reply.contains("unpack ok"),
        "{reply:?}"
    );

    // A pkt-line length that is not hex, mid-stream.
    let (s, _) = open_service(&w, "git-receive-pack");
    let reply = finish(s, b"zz!!");
    assert!(reply.contains("ERR "), "{reply:?}");

    assert_eq!(w.upstream_refs("app"), upstream_before);
    let listed = w.git_ok(w.dir.path(), &["ls-remote", &w.url("app")]);
    assert!(listed.contains("refs/heads/main"), "the gate still serves");
}
