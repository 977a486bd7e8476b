//! Child processes that die with the test that started them.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running child process, killed (whole process group) when dropped.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    name: String,
    /// Where the child's stderr goes, for failure messages.
    pub stderr_path: PathBuf,
}

impl ChildGuard {
    /// Spawn `cmd` in its own process group with stderr captured to a file in `log_dir`.
    pub fn spawn(name: &str, mut cmd: Command, log_dir: &std::path::Path) -> ChildGuard {
        use std::os::unix::process::CommandExt;
        let stderr_path = log_dir.join(format!("{name}.stderr"));
        let stderr = std::fs::File::create(&stderr_path).expect("create stderr log");
        cmd.stdin(Stdio::null()).stderr(stderr).process_group(0);
        if std::env::var_os("BOTTLE_TEST_VERBOSE").is_none() {
            cmd.stdout(Stdio::null());
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        ChildGuard {
            child: Some(child),
            name: name.to_string(),
            stderr_path,
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Send `signal` (e.g. `libc::SIGHUP`) to the child.
    pub fn signal(&self, signal: i32) {
        let pid = self.pid() as i32;
        let rc = kill(pid, signal);
        assert_eq!(rc, 0, "cannot signal {} (pid {pid})", self.name);
    }

    /// Whether the child has exited, and with what status.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Wait up to `timeout` for the child to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// What the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

#[allow(unsafe_code)]
fn kill(pid: i32, signal: i32) -> i32 {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, signal) }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pgid = child.id() as i32;
            kill(-pgid, libc::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
