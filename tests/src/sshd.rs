//! A real OpenSSH server on loopback, run as the current user, serving git over ssh.
//!
//! It has its own host key and a client key authorised to log in, so tests
//! get a genuine git-over-ssh upstream (`ssh://<user>@127.0.0.1:<port>/path`)
//! with a host key to pin and a key to authenticate with. Every command a
//! client runs is logged (so tests can count upstream round trips), and a
//! delay can be injected before each one (so tests can hold a request open).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::net::{free_port, wait_for_port};
use crate::process::ChildGuard;
use crate::tools::required_tool;

/// A running sshd.
#[derive(Debug)]
pub struct Sshd {
    /// Port on 127.0.0.1.
    pub port: u16,
    /// The login user (the user running the tests).
    pub user: String,
    /// The server's host public key as `<type> <base64>` (what `known_host_key` takes).
    pub host_key: String,
    /// A private key the server accepts (mode 0600).
    pub client_key: PathBuf,
    /// A second private key the server does not accept.
    pub stranger_key: PathBuf,
    dir: PathBuf,
    child: ChildGuard,
}

impl Sshd {
    /// Start sshd with its files under `dir`.
    pub fn start(dir: &Path) -> Sshd {
        let sshd = required_tool("BOTTLE_TEST_SSHD", "sshd");
        let keygen = required_tool("BOTTLE_TEST_SSH_KEYGEN", "ssh-keygen");
        std::fs::create_dir_all(dir).expect("create sshd dir");
        let key = |name: &str| {
            let path = dir.join(name);
            if !path.exists() {
                let status = Command::new(&keygen)
                    .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
                    .arg(&path)
                    .status()
                    .expect("run ssh-keygen");
                assert!(status.success(), "ssh-keygen failed for {name}");
            }
            path
        };
        let host = key("host_ed25519");
        let client_key = key("client_ed25519");
        let stranger_key = key("stranger_ed25519");
        let read_pub = |p: &Path| {
            let text = std::fs::read_to_string(p.with_extension("pub")).expect("read public key");
            let mut f = text.split_whitespace();
            format!("{} {}", f.next().unwrap_or(""), f.next().unwrap_or(""))
        };
        let host_key = read_pub(&host);
        let authorized = dir.join("authorized_keys");
        std::fs::write(&authorized, format!("{}\n", read_pub(&client_key)))
            .expect("write authorized_keys");
        let user = current_user();
        ensure_privsep_dir();
        // Sessions get an empty HOME: the login shell then skips the user's startup files,
        // as on a hosting service's git account (they can cost far more than git itself).
        let home = dir.join("home");
        std::fs::create_dir_all(&home).expect("create session home");
        let wrapper = dir.join("command-wrapper");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$SSH_ORIGINAL_COMMAND\" >> {log}\n\
                 if [ -s {delay} ]; then sleep \"$(cat {delay})\"; fi\n\
                 /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\nrc=$?\n\
                 if [ -s {linger} ]; then sleep \"$(cat {linger})\"; fi\n\
                 exit $rc\n",
                log = dir.join("commands.log").display(),
                delay = dir.join("delay").display(),
                linger = dir.join("linger").display(),
            ),
        )
        .expect("write command wrapper");
        set_mode(&wrapper, 0o755);
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {pid}\n\
                 AuthorizedKeysFile {authorized}\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nAllowUsers {user}\nAcceptEnv GIT_PROTOCOL\n\
                 MaxStartups 200\nMaxSessions 200\nLogLevel VERBOSE\nPrintMotd no\n\
                 ForceCommand {wrapper}\nSetEnv HOME={home}\n",
                host = host.display(),
                pid = dir.join("sshd.pid").display(),
                authorized = authorized.display(),
                wrapper = wrapper.display(),
                home = home.display(),
            ),
        )
        .expect("write sshd_config");
        let mut cmd = Command::new(&sshd);
        cmd.arg("-D").arg("-e").arg("-f").arg(&config);
        let child = ChildGuard::spawn("sshd", cmd, dir);
        wait_for_port(
            ([127, 0, 0, 1], port).into(),
            Duration::from_secs(10),
            "sshd",
        );
        Sshd {
            port,
            user,
            host_key,
            client_key,
            stranger_key,
            dir: dir.to_path_buf(),
            child,
        }
    }

    /// The `ssh://` URL of a repository at absolute `path` on this server.
    pub fn url(&self, path: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }

    /// How many logins the server has accepted so far (from its log).
    pub fn logins(&self) -> usize {
        self.child.stderr().matches("Accepted publickey").count()
    }

    /// `GIT_SSH_COMMAND` for a client that talks to this server directly with the client key.
    pub fn git_ssh_command(&self) -> String {
        let kh = self.dir.join("client_known_hosts");
        std::fs::write(
            &kh,
            format!("[127.0.0.1]:{} {}\n", self.port, self.host_key),
        )
        .expect("write known_hosts");
        format!(
            "ssh -F /dev/null -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
            self.client_key.display(),
            kh.display()
        )
    }

    /// Commands clients ran so far, e.g. `git-upload-pack '/srv/app.git'`.
    pub fn commands(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("commands.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Make every later command wait `seconds` before it runs (0 removes the delay).
    pub fn set_delay(&self, seconds: f64) {
        let text = if seconds > 0.0 {
            format!("{seconds}")
        } else {
            String::new()
        };
        std::fs::write(self.dir.join("delay"), text).expect("write delay");
    }

    /// Keep every later session open `seconds` after its command finished (0 removes it),
    /// so a client's round trip outlasts the moment the server read its refs.
    pub fn set_linger(&self, seconds: f64) {
        let text = if seconds > 0.0 {
            format!("{seconds}")
        } else {
            String::new()
        };
        std::fs::write(self.dir.join("linger"), text).expect("write linger");
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        self.child.stderr()
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// sshd started by root insists on its privilege-separation directory.
fn ensure_privsep_dir() {
    let out = Command::new("id").arg("-u").output().expect("run id -u");
    if String::from_utf8_lossy(&out.stdout).trim() == "0" {
        let _ = std::fs::create_dir_all("/run/sshd");
    }
}
