//! Bodies stream: 128 MiB each way through the proxy with bounded memory.

mod support;

use support::*;

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn large_bodies_stream_with_bounded_memory() {
    const SIZE: u64 = 128 * 1024 * 1024;
    let s = Setup::new(|tls, _| format!("routes:\n  - host: localhost\n    port: {tls}\n"));
    s.origin.file("big", SIZE);
    for proto in ["--http1.1", "--http2"] {
        let out = s.curl(&[
            proto,
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}\\n",
            &s.https("/files/big"),
        ]);
        assert!(out.stderr.is_empty(), "{out:?}");
    }
    let upload = s.dir.path().join("upload");
    std::fs::File::create(&upload)
        .unwrap()
        .set_len(SIZE)
        .unwrap();
    let body = format!("@{}", upload.display());
    let out = s.curl(&["--http1.1", "-T", &body[1..], &s.https("/upload/big")]);
    assert_eq!(out.status, 201, "{out:?}");
    let stored = s.origin.www.join("upload/big");
    assert_eq!(std::fs::metadata(&stored).unwrap().len(), SIZE);
    std::fs::remove_file(stored).unwrap();
    let lines = s.audit(3);
    assert_eq!(lines[0]["bytes_out"], SIZE);
    assert_eq!(lines[1]["bytes_out"], SIZE);
    assert_eq!(lines[2]["bytes_in"], SIZE);
    let hwm = vm_hwm_kib(s.proxy.child.pid());
    assert!(
        hwm < 48 * 1024,
        "proxy peak RSS {hwm} KiB after moving 384 MiB"
    );
}
