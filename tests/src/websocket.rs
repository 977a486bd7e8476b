//! A real WebSocket echo origin (RFC 6455 handshake and framing), in Python's
//! standard library so it shares no code with what it tests. Its 101 answer
//! reports the path (`X-Origin-Path`) and the `Authorization` it received
//! (`X-Origin-Authorization: [value]`), so tests can see what was forwarded.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::net::{free_port, wait_for_port};
use crate::process::ChildGuard;
use crate::tools::required_tool;

const SERVER: &str = r#"
import base64, hashlib, socket, socketserver, struct, sys

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

def read_exact(f, n):
    data = f.read(n)
    if len(data) < n:
        raise EOFError
    return data

class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        lines = []
        while True:
            line = self.rfile.readline(65536).decode("latin-1")
            if line in ("\r\n", "\n", ""):
                break
            lines.append(line)
        headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            headers[k.strip().lower()] = v.strip()
        key = headers.get("sec-websocket-key")
        if not key or headers.get("upgrade", "").lower() != "websocket":
            self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        path = lines[0].split(" ")[1]
        self.wfile.write((
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: %s\r\nX-Origin-Path: %s\r\nX-Origin-Authorization: [%s]\r\n\r\n"
            % (accept, path, headers.get("authorization", ""))).encode())
        self.wfile.flush()
        try:
            while True:
                b1, b2 = read_exact(self.rfile, 2)
                opcode = b1 & 0x0F
                length = b2 & 0x7F
                if length == 126:
                    length = struct.unpack(">H", read_exact(self.rfile, 2))[0]
                elif length == 127:
                    length = struct.unpack(">Q", read_exact(self.rfile, 8))[0]
                mask = read_exact(self.rfile, 4) if b2 & 0x80 else b"\0\0\0\0"
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(read_exact(self.rfile, length)))
                if opcode == 8:
                    self.wfile.write(b"\x88\x00")
                    return
                header = bytes([0x80 | opcode])
                if len(payload) < 126:
                    header += bytes([len(payload)])
                elif len(payload) < 65536:
                    header += bytes([126]) + struct.pack(">H", len(payload))
                else:
                    header += bytes([127]) + struct.pack(">Q", len(payload))
                self.wfile.write(header + payload)
                self.wfile.flush()
        except (EOFError, ConnectionError):
            return

class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

Server(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
"#;

/// A running WebSocket echo server (plain ws://; put nginx in front for wss://).
#[derive(Debug)]
pub struct WsEcho {
    /// Listen address.
    pub addr: SocketAddr,
    _child: ChildGuard,
}

impl WsEcho {
    /// Start the echo server, keeping its script and log in `dir`.
    pub fn start(dir: &Path) -> WsEcho {
        let python = required_tool("BOTTLE_TEST_PYTHON", "python3");
        std::fs::create_dir_all(dir).expect("create ws dir");
        let script = dir.join("ws_echo.py");
        std::fs::write(&script, SERVER).expect("write ws_echo.py");
        let port = free_port();
        let mut cmd = Command::new(python);
        cmd.arg(&script).arg(port.to_string());
        let child = ChildGuard::spawn("ws-echo", cmd, dir);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_for_port(addr, Duration::from_secs(10), "WebSocket echo server");
        WsEcho {
            addr,
            _child: child,
        }
    }
}
