//! Chained behind an upstream proxy that intercepts TLS with its own CA
//! (mitmdump), as egress-proxy runs behind pipelock: intercepted requests,
//! passthrough tunnels and WebSocket upgrades all go through it.

mod support;

use bottle_tests::mitm::Mitmdump;
use bottle_tests::websocket::WsEcho;
use support::*;

#[test]
fn every_path_goes_through_the_upstream_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let ws = WsEcho::start(&dir.path().join("ws"));
    let origin = NginxOrigin::start(&dir.path().join("origin"), Some(ws.addr));
    let mitm = Mitmdump::start(&dir.path().join("mitm"), &origin.ca_cert);
    let routes = format!(
        "routes:\n  - host: localhost\n    port: {p}\n    auth: {{scheme: bearer, token_env: API_TOKEN}}\n  - host: 127.0.0.1\n    port: {p}\n    tls: passthrough\n",
        p = origin.tls_port
    );
    let trust = mitm.ca_cert.to_string_lossy().into_owned();
    // The upstream comes from the environment here; --upstream-proxy is covered below.
    let proxy = EgressProxy::start(
        &bin(),
        &dir.path().join("proxy"),
        &routes,
        &[("API_TOKEN", TOKEN), ("HTTPS_PROXY", &mitm.url())],
        &["--trust-ca", &trust],
    );

    // Intercepted: the proxy verifies mitmdump's certificate via --trust-ca.
    let out = curl_via(
        &proxy.url(),
        &proxy.ca_cert,
        &[&format!("https://localhost:{}/echo", origin.tls_port)],
    );
    assert_eq!(out.status, 200, "{out:?}");
    assert!(
        out.body
            .contains(&format!("authorization=[Bearer {TOKEN}]")),
        "{}",
        out.body
    );

    // Passthrough: bytes are spliced through mitmdump, so the client sees mitmdump's certificate.
    let url = format!("https://127.0.0.1:{}/passthrough", origin.tls_port);
    let out = curl(&["--proxy", &proxy.url(), "--cacert", &trust, &url]);
    assert_eq!(out.status, 200, "{out:?}");
    assert!(
        out.body.contains("origin path=/passthrough"),
        "{}",
        out.body
    );

    // WebSocket upgrade through mitmdump.
    let client = ws_client(&proxy);
    let (head, echoed) = client.exchange(
        "localhost",
        origin.tls_port,
        "/ws/chat",
        b"ping via upstream",
    );
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(echoed, b"ping via upstream");

    let flows = wait_for_flows(&mitm, 3);
    assert!(flows.contains("/echo"), "{flows}");
    assert!(flows.contains("/passthrough"), "{flows}");
    assert!(flows.contains("/ws/chat"), "{flows}");
    let lines = proxy.wait_audit(3);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"reason\":\"passthrough\"")),
        "{lines:?}"
    );
}

#[test]
fn the_flag_overrides_the_environment_for_every_path_and_failures_are_502() {
    let dir = tempfile::tempdir().unwrap();
    let ws = WsEcho::start(&dir.path().join("ws"));
    let origin = NginxOrigin::start(&dir.path().join("origin"), Some(ws.addr));
    let mitm = Mitmdump::start(&dir.path().join("mitm"), &origin.ca_cert);
    let (tls, plain) = (origin.tls_port, origin.plain_port);
    let routes = format!(
        "routes:\n  - host: localhost\n    port: {tls}\n  - host: localhost\n    port: {plain}\n  - host: 127.0.0.1\n    port: {tls}\n    tls: passthrough\n"
    );
    let trust = mitm.ca_cert.to_string_lossy().into_owned();
    let dead = format!("http://127.0.0.1:{}", bottle_tests::net::free_port());
    let mitm_url = mitm.url();
    let proxy = EgressProxy::start(
        &bin(),
        &dir.path().join("proxy"),
        &routes,
        &[
            ("HTTPS_PROXY", dead.as_str()),
            ("HTTP_PROXY", dead.as_str()),
        ],
        &["--trust-ca", &trust, "--upstream-proxy", &mitm_url],
    );
    // Intercepted https.
    let out = curl_via(
        &proxy.url(),
        &proxy.ca_cert,
        &[&format!("https://localhost:{tls}/x")],
    );
    assert_eq!(out.status, 200, "{out:?}");
    // Plain http (absolute-form to the upstream).
    let out = curl(&[
        "--proxy",
        &proxy.url(),
        &format!("http://localhost:{plain}/plain-http"),
    ]);
    assert_eq!(out.status, 200, "{out:?}");
    assert!(out.body.contains("origin path=/plain-http"), "{}", out.body);
    // ws:// (an upgrade through the upstream).
    let client = ws_client(&proxy);
    let (head, echoed) = client.exchange_plain("localhost", plain, "/ws/plain", b"plain ws up", "");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(echoed, b"plain ws up");
    // Passthrough: spliced through mitmdump, whose certificate the client then sees.
    let out = curl(&[
        "--proxy",
        &proxy.url(),
        "--cacert",
        &trust,
        &format!("https://127.0.0.1:{tls}/spliced"),
    ]);
    assert_eq!(out.status, 200, "{out:?}");
    let flows = wait_for_flows(&mitm, 4);
    for path in ["/x", "/plain-http", "/ws/plain", "/spliced"] {
        assert!(
            flows.contains(path),
            "{path} not through the upstream:\n{flows}"
        );
    }
    // Without trusting mitmdump's CA, the proxy refuses its certificate: 502, audited.
    let proxy2 = EgressProxy::start(
        &bin(),
        &dir.path().join("proxy2"),
        &routes,
        &[],
        &["--upstream-proxy", &mitm_url],
    );
    let out = curl_via(
        &proxy2.url(),
        &proxy2.ca_cert,
        &[&format!("https://localhost:{tls}/x")],
    );
    assert_eq!(out.status, 502, "{out:?}");
    assert!(out.body.contains("upstream_error"), "{}", out.body);
}

#[test]
fn no_proxy_hosts_go_direct_and_the_rest_through_the_environment_proxy() {
    let dead = format!("http://127.0.0.1:{}", bottle_tests::net::free_port());
    let s = Setup::with(
        |tls, plain| {
            format!(
                "routes:\n  - host: localhost\n    port: {tls}\n  - host: localhost\n    port: {plain}\n  - host: 127.0.0.1\n    port: {tls}\n"
            )
        },
        &[
            ("HTTPS_PROXY", dead.as_str()),
            ("HTTP_PROXY", dead.as_str()),
            ("NO_PROXY", "example.org, LOCALHOST:1234"),
        ],
        &[],
    );
    let out = s.curl(&[&s.https("/direct")]);
    assert_eq!(out.status, 200, "{out:?}");
    let out = curl(&["--proxy", &s.proxy.url(), &s.http("/direct-plain")]);
    assert_eq!(out.status, 200, "{out:?}");
    // 127.0.0.1 is not in NO_PROXY, so it goes to the (dead) proxy.
    let out = s.curl(&[&format!("https://127.0.0.1:{}/x", s.origin.tls_port)]);
    assert_eq!(out.status, 502, "{out:?}");
    assert!(out.body.contains("via upstream proxy"), "{}", out.body);
}

fn wait_for_flows(mitm: &Mitmdump, n: usize) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let flows = mitm.flows();
        if flows
            .lines()
            .filter(|l| l.contains("HTTP") || l.contains(" << "))
            .count()
            >= n
            || std::time::Instant::now() > deadline
        {
            return flows;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn ws_client(proxy: &EgressProxy) -> ws::Client {
    ws::Client::new(proxy.addr, &proxy.ca_cert)
}
