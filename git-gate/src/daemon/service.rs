//! Running `git upload-pack` / `git receive-pack` on a client connection.
//!
//! The socket is piped both ways to the child's stdin/stdout; its stderr is
//! logged. If neither side moves a byte for `idle`, the child is killed. If
//! the child fails (malformed input after the request line, a truncated
//! pack, a want the mirror cannot serve), its last error line follows its
//! output as an `ERR` pkt-line, so the client prints why instead of only
//! seeing the connection close.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::Command;

/// How long a child that closed its output has to exit before the connection is closed without
/// waiting for its status.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// How a service run ended.
#[derive(Debug, Default)]
pub struct Served {
    /// The child's exit code (None if killed by a signal).
    pub exit_code: Option<i32>,
    /// Bytes from the client to the child.
    pub bytes_in: u64,
    /// Bytes from the child to the client.
    pub bytes_out: u64,
    /// Whether the idle limit ended it.
    pub idle_timeout: bool,
}

/// Run `cmd` with the connection as its stdio.
pub async fn serve_process(
    mut cmd: Command,
    reader: OwnedReadHalf,
    mut writer: OwnedWriteHalf,
    idle: Duration,
    label: &str,
) -> std::io::Result<Served> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let message = format!("the gate cannot start git ({e}); see the gate's log");
            let _ = writer.write_all(&crate::pktline::err_frame(&message)).await;
            let _ = writer.shutdown().await;
            return Err(e);
        }
    };
    let (Some(stdin), Some(mut stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(std::io::Error::other("child stdio missing"));
    };
    let base = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let bytes_in = Arc::new(AtomicU64::new(0));
    let to_child = {
        let last = Arc::clone(&last);
        let counter = Arc::clone(&bytes_in);
        tokio::spawn(async move { pump(reader, stdin, base, &last, &counter).await })
    };
    let log_stderr = {
        let label = label.to_string();
        tokio::spawn(async move { log_lines(stderr, &label).await })
    };
    let bytes_out = AtomicU64::new(0);
    let watchdog = async {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let quiet = base
                .elapsed()
                .saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)));
            if quiet > idle {
                return;
            }
        }
    };
    let mut idle_timeout = false;
    tokio::select! {
        _ = copy(&mut stdout, &mut writer, base, &last, &bytes_out) => {}
        _ = watchdog => {
            idle_timeout = true;
            let _ = child.start_kill();
        }
    }
    to_child.abort();
    let mut status = tokio::time::timeout(EXIT_GRACE, child.wait())
        .await
        .ok()
        .and_then(Result::ok);
    if let Some(code) = status.filter(|s| !idle_timeout && !s.success()) {
        let last_error = tokio::time::timeout(EXIT_GRACE, log_stderr)
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        let message = match last_error {
            Some(line) => format!("{label} failed: {line}"),
            None => format!("{label} failed ({code})"),
        };
        let _ = writer.write_all(&crate::pktline::err_frame(&message)).await;
    }
    let _ = writer.shutdown().await;
    if status.is_none() {
        status = match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
            Ok(s) => s.ok(),
            Err(_) => {
                let _ = child.start_kill();
                child.wait().await.ok()
            }
        };
    }
    Ok(Served {
        exit_code: status.and_then(|s| s.code()),
        bytes_in: bytes_in.load(Ordering::Relaxed),
        bytes_out: bytes_out.load(Ordering::Relaxed),
        idle_timeout,
    })
}

/// Copy until EOF, stamping activity and counting bytes, then close `to`.
async fn pump<R, W>(from: R, mut to: W, base: Instant, last: &AtomicU64, count: &AtomicU64)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    copy(from, &mut to, base, last, count).await;
    let _ = to.shutdown().await;
}

/// Copy until EOF, stamping activity and counting bytes; `to` stays open.
async fn copy<R, W>(mut from: R, mut to: W, base: Instant, last: &AtomicU64, count: &AtomicU64)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        count.fetch_add(n as u64, Ordering::Relaxed);
        last.store(base.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
    let _ = to.flush().await;
}

/// Log the child's stderr; returns its last non-empty line (control characters removed, bounded).
async fn log_lines<R: AsyncRead + Unpin>(mut r: R, label: &str) -> Option<String> {
    let mut buf = Vec::new();
    let _ = (&mut r).take(64 * 1024).read_to_end(&mut buf).await;
    let _ = tokio::io::copy(&mut r, &mut tokio::io::sink()).await;
    let text = String::from_utf8_lossy(&buf);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        tracing::debug!(service = label, "{line}");
    }
    crate::mirror::last_line(&text, 300)
}
