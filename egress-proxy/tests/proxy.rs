//! End to end through a real egress-proxy: curl as the client, nginx as the
//! HTTPS origin with its own CA, real TLS both sides.

mod support;

use support::*;

fn api_routes(tls: u16, plain: u16) -> String {
    format!(
        r#"routes:
  - host: localhost
    port: {tls}
    paths: ["/echo", "/files/", "/repos/acme/", "/caf%C3%A9%20menu/"]
    methods: [GET, POST, HEAD]
    auth: {{scheme: bearer, token_env: API_TOKEN}}
  - host: localhost
    port: {tls}
    paths: ["/repos/acme/readonly/"]
    methods: [GET]
  - host: 127.0.0.1
    port: {tls}
    auth: {{scheme: header, header: x-api-key, token_env: API_TOKEN}}
  - host: localhost
    port: {plain}
    paths: ["/echo"]
"#
    )
}

#[test]
fn allowed_https_request_gets_the_credential_and_the_agents_is_stripped() {
    let s = Setup::new(api_routes);
    for proto in ["--http1.1", "--http2"] {
        let out = s.curl(&[
            proto,
            "-H",
            "Authorization: Bearer agent-made-this-up",
            "-H",
            "Proxy-Authorization: Basic YWdlbnQ6eA==",
            "-H",
            "X-Auth-Token: agent-token",
            "-H",
            "Private-Token: agent-private",
            "-H",
            "Cookie: session=from-origin",
            &s.https("/echo"),
        ]);
        assert_eq!(out.status, 200, "{proto}: {out:?}");
        assert!(
            out.body
                .contains(&format!("authorization=[Bearer {TOKEN}]")),
            "{proto}: {}",
            out.body
        );
        for stripped in [
            "proxy-authorization=[]",
            "x-auth-token=[]",
            "private-token=[]",
        ] {
            assert!(out.body.contains(stripped), "{proto}: {}", out.body);
        }
        assert!(
            out.body.contains("cookie=[session=from-origin]"),
            "{}",
            out.body
        );
        assert!(!out.body.contains("agent-"), "{}", out.body);
    }
    // A route without auth forwards the agent's headers as they are.
    let out = curl(&[
        "--proxy",
        &s.proxy.url(),
        "-H",
        "X-Auth-Token: agent-token",
        &s.http("/echo"),
    ]);
    assert!(
        out.body.contains("x-auth-token=[agent-token]"),
        "{}",
        out.body
    );
    // A header-scheme route sets its own header and drops Authorization.
    let out = s.curl(&[
        "-H",
        "Authorization: Bearer agent",
        "-H",
        "X-Api-Key: agent-key",
        &format!("https://127.0.0.1:{}/echo", s.origin.tls_port),
    ]);
    assert_eq!(out.status, 200, "{out:?}");
    assert!(
        out.body.contains(&format!("x-api-key=[{TOKEN}]")),
        "{}",
        out.body
    );
    assert!(out.body.contains("authorization=[]"), "{}", out.body);
}

#[test]
fn http2_clients_are_served_over_a_keep_alive_http1_pool() {
    let s = Setup::new(api_routes);
    let out = s.curl(&["--http2", "-v", &s.https("/echo")]);
    assert_eq!(out.status, 200);
    assert!(
        out.stderr.contains("ALPN: server accepted h2") || out.stderr.contains("using HTTP/2"),
        "{}",
        out.stderr
    );
    assert!(out.body.contains("protocol=HTTP/1.1"), "{}", out.body);
}

#[test]
fn plain_http_absolute_form_is_proxied() {
    let s = Setup::new(api_routes);
    let out = curl(&["--proxy", &s.proxy.url(), &s.http("/echo")]);
    assert_eq!(out.status, 200, "{out:?}");
    assert!(out.body.contains("method=GET uri=/echo"), "{}", out.body);
    let out = curl(&["--proxy", &s.proxy.url(), &s.http("/other")]);
    assert_eq!(out.status, 403, "{out:?}");
}

#[test]
fn plaintext_http_inside_a_connect_tunnel_is_checked_too() {
    let s = Setup::new(api_routes);
    let out = curl(&["--proxytunnel", "--proxy", &s.proxy.url(), &s.http("/echo")]);
    assert_eq!(out.status, 200, "{out:?}");
    let out = curl(&[
        "--proxytunnel",
        "--proxy",
        &s.proxy.url(),
        &s.http("/secret"),
    ]);
    assert_eq!(out.status, 403, "{out:?}");
    assert!(out.body.contains("path_not_allowed"), "{}", out.body);
}

#[test]
fn denials_explain_themselves_and_suggest_a_route() {
    let s = Setup::new(api_routes);
    // No route at all: the CONNECT still succeeds so the agent reads the denial.
    let out = s.curl(&["https://localhost:1/v1/things?api_key=QUERYSECRET&page=2"]);
    assert_eq!(out.status, 403, "{out:?}");
    let body = &out.body;
    assert!(
        body.contains("request: GET https://localhost:1/v1/things"),
        "{body}"
    );
    assert!(body.contains("reason: no_route"), "{body}");
    assert!(
        body.contains("query parameters (values not shown): api_key, page"),
        "{body}"
    );
    assert!(
        body.contains(
            "- host: localhost\n  port: 1\n  paths:\n  - /v1/things\n  methods:\n  - GET"
        ),
        "{body}"
    );
    assert!(
        body.contains("egress-block") && body.contains("list-egress-routes"),
        "{body}"
    );
    assert!(!body.contains("QUERYSECRET"));

    let out = s.curl(&[&s.https("/orgs/acme")]);
    assert_eq!(out.status, 403);
    assert!(
        out.body.contains("reason: path_not_allowed"),
        "{}",
        out.body
    );
    assert!(out.body.contains("line 2"), "{}", out.body);

    let out = s.curl(&["-X", "DELETE", &s.https("/repos/acme/x")]);
    assert_eq!(out.status, 403);
    assert!(
        out.body.contains("reason: method_not_allowed"),
        "{}",
        out.body
    );
    assert!(out.body.contains("- DELETE"), "{}", out.body);

    // The longest path prefix decides: readonly/ is GET only and gets no credential.
    let out = s.curl(&["-X", "POST", &s.https("/repos/acme/readonly/x")]);
    assert_eq!(out.status, 403, "{out:?}");
    let lines = s.audit(4);
    let last: Vec<_> = lines
        .iter()
        .map(|l| l["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        last,
        [
            "no_route",
            "path_not_allowed",
            "method_not_allowed",
            "method_not_allowed"
        ]
    );
    assert!(
        !std::fs::read_to_string(&s.proxy.audit_log)
            .unwrap()
            .contains("QUERYSECRET")
    );
}

#[test]
fn audit_lines_carry_every_field_with_real_sizes() {
    let s = Setup::new(api_routes);
    s.origin.file("one-mib", 1024 * 1024);
    let out = s.curl(&["--data-binary", "hello", &s.https("/echo?q=SECRETQ")]);
    assert_eq!(out.status, 200);
    let out = s.curl(&[&s.https("/files/one-mib")]);
    assert_eq!(out.status, 200);
    assert_eq!(out.body.len(), 1024 * 1024);
    let lines = s.audit(2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let post = &lines[0];
    for field in [
        "ts",
        "client",
        "method",
        "scheme",
        "host",
        "port",
        "path",
        "route",
        "decision",
        "reason",
        "status",
        "bytes_in",
        "bytes_out",
        "duration_ms",
        "credential_injected",
    ] {
        assert!(post.get(field).is_some(), "missing {field}: {post}");
    }
    assert_eq!(post["method"], "POST");
    assert_eq!(post["scheme"], "https");
    assert_eq!(post["host"], "localhost");
    assert_eq!(post["port"], s.origin.tls_port);
    assert_eq!(post["path"], "/echo");
    assert_eq!(post["route"]["host"], "localhost");
    assert_eq!(post["route"]["line"], 2);
    assert_eq!(post["decision"], "allow");
    assert_eq!(post["reason"], "allowed");
    assert_eq!(post["status"], 200);
    assert_eq!(post["bytes_in"], 5);
    assert_eq!(post["credential_injected"], true);
    assert!(post["client"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(lines[1]["bytes_out"], 1024 * 1024);
    assert!(!lines.iter().any(|l| l.to_string().contains("SECRETQ")));
}

#[test]
fn introspection_endpoints_never_show_tokens() {
    let s = Setup::new(api_routes);
    let (status, body) = listener_get(s.proxy.addr, "/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, routes) = listener_get(s.proxy.addr, "/routes");
    assert_eq!(status, 200);
    assert!(routes.contains("generation 1"), "{routes}");
    assert!(routes.contains("token_env: API_TOKEN"), "{routes}");
    assert!(routes.contains("- /repos/acme/"), "{routes}");
    // Paths are shown in a form the routes parser reads back, and the listing ends in a newline.
    assert!(routes.contains("- /caf%C3%A9%20menu/"), "{routes}");
    assert!(routes.ends_with('\n'), "{routes:?}");
    let listed = s.dir.path().join("listed.yaml");
    std::fs::write(&listed, &routes).unwrap();
    let check = std::process::Command::new(bin())
        .arg("check")
        .arg(&listed)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let out = curl(&["--proxy", &s.proxy.url(), "http://_egress.local/"]);
    assert_eq!(out.status, 200);
    assert_eq!(out.body, routes);
    let out = s.curl(&["https://_egress.local/"]);
    assert_eq!(out.status, 200, "{out:?}");
    assert_eq!(out.body, routes);
    s.curl(&[&s.https("/echo")]);
    s.curl(&[&s.https("/echo")]);
    let (status, metrics) = listener_get(s.proxy.addr, "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("egress_proxy_requests_total{decision=\"allow\",reason=\"allowed\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("egress_proxy_route_table_generation 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("egress_proxy_leaf_cache_size 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("egress_proxy_leaf_cache_hits_total 1"),
        "{metrics}"
    );
    let (status, body) = listener_get(s.proxy.addr, "/nope");
    assert_eq!(status, 404);
    assert!(body.contains("HTTPS_PROXY"), "{body}");
    for text in [&routes, &metrics] {
        assert!(!text.contains(TOKEN));
    }
}

#[test]
fn git_push_over_http_is_refused_on_every_route_and_fetch_is_not() {
    let s = Setup::new(api_routes);
    for url in [
        s.https("/repos/acme/x.git/info/refs?service=git-receive-pack"),
        s.https("/repos/acme/x.git/git-receive-pack"),
        s.https("/repos/acme/x.git/info/refs?service=git%2Dreceive%2Dpack"),
        format!(
            "https://127.0.0.1:{}/a/b.git/GIT-RECEIVE-PACK",
            s.origin.tls_port
        ),
    ] {
        let out = s.curl(&["-X", "POST", &url]);
        assert_eq!(out.status, 403, "{url}: {out:?}");
        assert!(
            out.body.contains("git_push_blocked") && out.body.contains("git-gate"),
            "{}",
            out.body
        );
    }
    let out = s.curl(&[&s.https("/repos/acme/x.git/info/refs?service=git-upload-pack")]);
    assert_eq!(out.status, 200, "{out:?}");
    // A real git client pushing over HTTPS through the proxy is refused.
    let git = bottle_tests::tools::required_tool("BOTTLE_TEST_GIT", "git");
    let repo = s.dir.path().join("repo");
    let run = |args: &[&str]| {
        std::process::Command::new(&git)
            .args(args)
            .current_dir(&repo)
            .env("HTTPS_PROXY", s.proxy.url())
            .env("GIT_SSL_CAINFO", &s.proxy.ca_cert)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@e")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@e")
            .output()
            .unwrap()
    };
    std::fs::create_dir_all(&repo).unwrap();
    run(&["init", "-q", "-b", "main"]);
    run(&["commit", "-q", "--allow-empty", "-m", "x"]);
    let out = run(&["push", &s.https("/repos/acme/x.git"), "main"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("403"), "{stderr}");
    let lines = s.audit(6);
    assert!(
        lines
            .iter()
            .any(|l| l["reason"] == "git_push_blocked" && l["method"] == "GET"),
        "{lines:?}"
    );
}

#[test]
fn websocket_upgrades_are_forwarded_with_the_credential_and_denied_paths_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ws = bottle_tests::websocket::WsEcho::start(&dir.path().join("ws"));
    let origin = NginxOrigin::start(&dir.path().join("origin"), Some(ws.addr));
    let (tls, plain) = (origin.tls_port, origin.plain_port);
    let routes = format!(
        "routes:\n  - host: localhost\n    port: {tls}\n    paths: [/ws/allowed]\n    auth: {{scheme: bearer, token_env: API_TOKEN}}\n  - host: localhost\n    port: {plain}\n    paths: [/ws/open]\n  - host: localhost\n    port: {plain}\n    paths: [/ws/secret]\n    auth: {{scheme: bearer, token_env: API_TOKEN}}\n"
    );
    let trust = origin.ca_cert.to_string_lossy().into_owned();
    let proxy = EgressProxy::start(
        &bin(),
        &dir.path().join("proxy"),
        &routes,
        &[("API_TOKEN", TOKEN)],
        &["--trust-ca", &trust],
    );
    let client = ws::Client::new(proxy.addr, &proxy.ca_cert);
    // wss://: the route's credential replaces the agent's on the upgrade request.
    let (head, echoed) = client.exchange_with(
        "localhost",
        tls,
        "/ws/allowed",
        b"hello through the proxy",
        "Authorization: Bearer agent-made-this-up\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("x-origin-path: /ws/allowed"), "{head}");
    assert!(
        lower.contains(&format!(
            "x-origin-authorization: [bearer {}]",
            TOKEN.to_ascii_lowercase()
        )),
        "{head}"
    );
    assert_eq!(echoed, b"hello through the proxy");
    let (head, _) = client.exchange("localhost", tls, "/ws/denied", b"x");
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert!(head.contains("path_not_allowed"), "{head}");
    // ws://: allowed without a credential, denied paths refused, and a route
    // with a credential refuses plain http rather than send it in clear.
    let (head, echoed) = client.exchange_plain("localhost", plain, "/ws/open", b"plain ws", "");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-origin-authorization: []"),
        "{head}"
    );
    assert_eq!(echoed, b"plain ws");
    let (head, _) = client.exchange_plain("localhost", plain, "/ws/denied", b"x", "");
    assert!(
        head.starts_with("HTTP/1.1 403") && head.contains("path_not_allowed"),
        "{head}"
    );
    let (head, _) = client.exchange_plain("localhost", plain, "/ws/secret", b"x", "");
    assert!(
        head.starts_with("HTTP/1.1 403") && head.contains("plaintext_credential"),
        "{head}"
    );
    let lines = proxy.wait_audit(5);
    let injected: Vec<&str> = lines
        .iter()
        .filter(|l| l.contains("\"credential_injected\":true"))
        .map(String::as_str)
        .collect();
    assert_eq!(injected.len(), 1, "{lines:?}");
    assert!(injected[0].contains("/ws/allowed"), "{injected:?}");
}

#[test]
fn an_exact_route_beats_a_wildcard_for_the_same_host() {
    let s = Setup::new(|tls, _| {
        format!(
            "routes:\n  - host: \"*.localhost\"\n    port: {tls}\n  - host: api.localhost\n    port: {tls}\n    paths: [/echo]\n    methods: [GET]\n    auth: {{scheme: bearer, token_env: API_TOKEN}}\n"
        )
    });
    let port = s.origin.tls_port;
    // The proxy's decision is what is tested; whether api.localhost resolves
    // does not matter, so the origin's answer is not asserted for allowed requests.
    let url = |host: &str, path: &str| format!("https://{host}.localhost:{port}{path}");
    // The wildcard alone would allow these; the exact route for api.localhost refuses them.
    let out = s.curl(&[&url("api", "/other")]);
    assert_eq!(out.status, 403, "{out:?}");
    assert!(
        out.body.contains("path_not_allowed") && out.body.contains("line 4"),
        "{}",
        out.body
    );
    let out = s.curl(&["-X", "POST", &url("api", "/echo")]);
    assert_eq!(out.status, 403, "{out:?}");
    assert!(out.body.contains("method_not_allowed"), "{}", out.body);
    s.curl(&[&url("api", "/echo")]);
    s.curl(&[&url("www", "/other")]);
    let lines = s.audit(4);
    let decided: Vec<(String, u64, bool)> = lines
        .iter()
        .map(|l| {
            (
                l["reason"].as_str().unwrap().to_string(),
                l["route"]["line"].as_u64().unwrap(),
                l["credential_injected"].as_bool().unwrap(),
            )
        })
        .collect();
    let allowed = |r: &str| r == "allowed" || r == "upstream_error";
    assert_eq!(decided[0], ("path_not_allowed".to_string(), 4, false));
    assert_eq!(decided[1], ("method_not_allowed".to_string(), 4, false));
    assert!(
        allowed(&decided[2].0) && decided[2].1 == 4 && decided[2].2,
        "{decided:?}"
    );
    assert!(
        allowed(&decided[3].0) && decided[3].1 == 2 && !decided[3].2,
        "{decided:?}"
    );
}
