//! A real nginx HTTPS (and HTTP) origin on loopback, with its own config per test.
//!
//! It echoes request headers at `/echo`, serves files under `/files/`
//! (and rate-limited under `/slow/`), stores `PUT /upload/<name>` bodies,
//! proxies WebSockets at `/ws` to a backend, and speaks HTTP/2 over TLS.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::net::{free_port, wait_for_port};
use crate::pki::TestCa;
use crate::process::ChildGuard;
use crate::tools::required_tool;

/// A running nginx origin.
#[derive(Debug)]
pub struct NginxOrigin {
    /// TLS port (HTTP/2 and HTTP/1.1) on 127.0.0.1; the certificate names `localhost` and `127.0.0.1`.
    pub tls_port: u16,
    /// Plain HTTP port on 127.0.0.1.
    pub plain_port: u16,
    /// The CA that signed the origin's certificate.
    pub ca_cert: PathBuf,
    /// Directory served under `/files/` and `/slow/`.
    pub www: PathBuf,
    _child: ChildGuard,
}

/// What the `/echo` location answers: the headers the origin received.
pub const ECHO_FORMAT: &str = "method=$request_method uri=$request_uri host=$http_host \
authorization=[$http_authorization] x-api-key=[$http_x_api_key] \
proxy-authorization=[$http_proxy_authorization] x-hop=[$http_x_hop] \
connection=[$http_connection] protocol=$server_protocol \
x-auth-token=[$http_x_auth_token] private-token=[$http_private_token] cookie=[$http_cookie]\\n";

impl NginxOrigin {
    /// Start nginx with files under `dir`; `ws_backend` is where `/ws` is proxied (if any).
    pub fn start(dir: &Path, ws_backend: Option<SocketAddr>) -> NginxOrigin {
        let nginx = required_tool("BOTTLE_TEST_NGINX", "nginx");
        std::fs::create_dir_all(dir).expect("create nginx dir");
        let ca = TestCa::new(dir, "origin");
        let leaf = ca.issue("origin-leaf", &["localhost", "127.0.0.1"]);
        let www = dir.join("www");
        std::fs::create_dir_all(www.join("files")).expect("create www");
        std::fs::create_dir_all(www.join("slow")).expect("create www");
        let tls_port = free_port();
        let plain_port = free_port();
        let ws = match ws_backend {
            Some(addr) => format!(
                "location /ws {{ proxy_pass http://{addr}; proxy_http_version 1.1; \
                 proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\"; \
                 proxy_read_timeout 60s; }}"
            ),
            None => String::new(),
        };
        let d = dir.display();
        let config = format!(
            r#"daemon off;
master_process off;
worker_processes 1;
error_log {d}/nginx-error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log {d}/nginx-access.log;
    client_body_temp_path {d}/tmp-body;
    proxy_temp_path {d}/tmp-proxy;
    fastcgi_temp_path {d}/tmp-fastcgi;
    uwsgi_temp_path {d}/tmp-uwsgi;
    scgi_temp_path {d}/tmp-scgi;
    client_max_body_size 0;
    keepalive_requests 1000000;
    sendfile on;
    server {{
        listen 127.0.0.1:{tls_port} ssl http2;
        listen 127.0.0.1:{plain_port};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {www};
        location /echo {{ default_type text/plain; return 200 "{ECHO_FORMAT}"; }}
        location /files/ {{ }}
        location /slow/ {{ limit_rate 256k; alias {www}/files/; }}
        location /upload/ {{ dav_methods PUT; create_full_put_path on; }}
        {ws}
        location / {{ default_type text/plain; return 200 "origin path=$uri\n"; }}
    }}
}}
"#,
            cert = leaf.cert_path.display(),
            key = leaf.key_path.display(),
            www = www.display(),
        );
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config).expect("write nginx.conf");
        let mut cmd = Command::new(nginx);
        cmd.arg("-c").arg(&conf).arg("-p").arg(dir);
        let child = ChildGuard::spawn("nginx", cmd, dir);
        for port in [tls_port, plain_port] {
            wait_for_port(
                SocketAddr::from(([127, 0, 0, 1], port)),
                Duration::from_secs(10),
                "nginx",
            );
        }
        NginxOrigin {
            tls_port,
            plain_port,
            ca_cert: ca.cert_path.clone(),
            www,
            _child: child,
        }
    }

    /// Create `files/<name>` of `size` bytes (sparse, so large files cost no disk).
    pub fn file(&self, name: &str, size: u64) -> PathBuf {
        let path = self.www.join("files").join(name);
        let f = std::fs::File::create(&path).expect("create origin file");
        f.set_len(size).expect("size origin file");
        path
    }
}
