//! Tokens never leave the proxy except in the request to the origin: not in
//! logs (even at trace level), audit lines, introspection, metrics, denial
//! bodies or upstream error answers.

mod support;

use support::*;

#[test]
fn the_token_appears_nowhere_but_at_the_origin() {
    let s = Setup::with(
        |tls, _| {
            format!(
                "routes:\n  - host: localhost\n    port: {tls}\n    paths: [/echo]\n    auth: {{scheme: bearer, token_env: API_TOKEN}}\n  - host: localhost\n    port: 1\n    auth: {{scheme: basic, token_env: BASIC_TOKEN}}\n"
            )
        },
        &[
            ("API_TOKEN", TOKEN),
            ("BASIC_TOKEN", "user:pw-SECRET-77"),
            ("RUST_LOG", "trace"),
        ],
        &[],
    );
    let basic_b64 = "dXNlcjpwdy1TRUNSRVQtNzc=";
    let mut answers = Vec::new();
    // Allowed: the origin sees it (proving injection happened).
    let out = s.curl(&[&s.https("/echo")]);
    assert!(out.body.contains(TOKEN));
    // Denied, upstream failure (port 1 refuses), introspection.
    answers.push(s.curl(&[&s.https("/denied")]).body);
    answers.push(s.curl(&["https://localhost:1/"]).body);
    answers.push(s.curl(&["--http2", &s.https("/denied?token=x")]).body);
    answers.push(curl(&["--proxy", &s.proxy.url(), "http://_egress.local/"]).body);
    answers.push(listener_get(s.proxy.addr, "/routes").1);
    answers.push(listener_get(s.proxy.addr, "/metrics").1);
    assert!(answers[1].contains("upstream_error"), "{}", answers[1]);
    s.audit(6);
    answers.push(std::fs::read_to_string(&s.proxy.audit_log).unwrap());
    answers.push(s.proxy.child.stderr());
    assert!(
        answers.last().unwrap().contains("TRACE"),
        "trace logging must be on for this test to mean anything"
    );
    for text in &answers {
        for secret in [TOKEN, "pw-SECRET-77", basic_b64] {
            assert!(!text.contains(secret), "{secret} leaked into:\n{text}");
        }
    }
}
