//! How the gate's git reaches one upstream: a private ssh config and known_hosts per repo.
//!
//! git runs `ssh -F <config>`; `-F` makes ssh ignore every other config file,
//! so nothing outside the gate's data directory changes how it connects. The
//! config pins the key (`IdentitiesOnly`), the host key (`StrictHostKeyChecking`
//! against a one-line known_hosts under a fixed alias, so `extra_hosts` and
//! ports do not change the lookup), and never prompts (`BatchMode`).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bottle_common::atomic::write_atomic;

use crate::config::RepoSettings;

/// Name the pinned host key is filed under; ssh looks keys up by it, not by host.
pub const HOST_KEY_ALIAS: &str = "git-gate-upstream";
/// How long an idle shared ssh connection stays up.
const CONTROL_PERSIST_SECS: u64 = 60;
/// Longest control socket path used; longer ones disable connection sharing.
const MAX_CONTROL_PATH: usize = 80;

/// The ssh setup for one repo.
#[derive(Debug, Clone)]
pub struct SshSetup {
    /// The generated ssh config.
    pub config: PathBuf,
    /// Value for `GIT_SSH_COMMAND`.
    pub command: String,
    /// Whether connections are shared through a control socket.
    pub multiplexed: bool,
}

/// Write the config and known_hosts for `repo` into `dir`; `control` is the socket path, if short enough.
pub fn write_ssh_setup(
    repo: &RepoSettings,
    dir: &Path,
    control: &Path,
    connect_timeout: Duration,
) -> io::Result<SshSetup> {
    create_private_dir(dir)?;
    let known_hosts = dir.join("known_hosts");
    write_atomic(
        &known_hosts,
        repo.known_host_key
            .known_hosts_line(HOST_KEY_ALIAS)
            .as_bytes(),
        0o600,
    )?;
    let control_path = control.to_string_lossy();
    let multiplexed = control_path.len() <= MAX_CONTROL_PATH;
    let config = dir.join("config");
    write_atomic(
        &config,
        render_config(
            repo,
            &known_hosts,
            multiplexed.then_some(control),
            connect_timeout,
        )
        .as_bytes(),
        0o600,
    )?;
    Ok(SshSetup {
        command: format!("ssh -F {}", shell_quote(&config.to_string_lossy())),
        config,
        multiplexed,
    })
}

/// Create `dir` (and parents) readable by the gate's user only.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn render_config(
    repo: &RepoSettings,
    known_hosts: &Path,
    control: Option<&Path>,
    connect_timeout: Duration,
) -> String {
    let mut c = String::from("# Written by git-gate at start; edits are overwritten.\nHost *\n");
    let mut opt = |k: &str, v: &str| c.push_str(&format!("  {k} {v}\n"));
    opt("IdentityFile", &quoted_path(&repo.identity_file));
    opt("IdentitiesOnly", "yes");
    opt("IdentityAgent", "none");
    opt("BatchMode", "yes");
    opt("StrictHostKeyChecking", "yes");
    opt("UserKnownHostsFile", &quoted_path(known_hosts));
    opt("GlobalKnownHostsFile", "/dev/null");
    opt("HostKeyAlias", HOST_KEY_ALIAS);
    opt("CheckHostIP", "no");
    opt("UpdateHostKeys", "no");
    opt(
        "ConnectTimeout",
        &connect_timeout.as_secs().max(1).to_string(),
    );
    opt("ServerAliveInterval", "15");
    opt("ServerAliveCountMax", "3");
    opt("ForwardAgent", "no");
    opt("ForwardX11", "no");
    opt("ClearAllForwardings", "yes");
    opt("PermitLocalCommand", "no");
    opt("ProxyCommand", "none");
    opt("LogLevel", "ERROR");
    if let Some(ip) = repo.host_ip {
        opt("HostName", &ip.to_string());
    }
    match control {
        Some(path) => {
            opt("ControlMaster", "auto");
            opt("ControlPath", &quoted_path(path));
            opt("ControlPersist", &CONTROL_PERSIST_SECS.to_string());
        }
        None => opt("ControlMaster", "no"),
    }
    c
}

/// A path for ssh_config: double-quoted, with `%` escaped (ssh expands `%` tokens in paths).
fn quoted_path(p: &Path) -> String {
    format!("\"{}\"", p.to_string_lossy().replace('%', "%%"))
}

/// Quote `s` for a POSIX shell (git runs `GIT_SSH_COMMAND` through `sh -c`).
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_host_key, parse_upstream};

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEu2h7EDm3qMK1urEpMmMkhx3Z5rCc8CSiYwZ2jeJx/x";

    fn repo(identity: &str) -> RepoSettings {
        RepoSettings {
            name: "app".into(),
            upstream: parse_upstream("ssh://git@github.com/acme/app.git").unwrap(),
            identity_file: PathBuf::from(identity),
            known_host_key: parse_host_key(KEY).unwrap(),
            host_ip: Some("140.82.112.3".parse().unwrap()),
        }
    }

    #[test]
    fn config_pins_key_host_key_and_address() {
        let dir = tempfile::tempdir().unwrap();
        let setup = write_ssh_setup(
            &repo("/run/secrets/100%key"),
            &dir.path().join("ssh/app"),
            &dir.path().join("cm/0"),
            Duration::from_secs(7),
        )
        .unwrap();
        let text = std::fs::read_to_string(&setup.config).unwrap();
        assert!(
            text.contains("IdentityFile \"/run/secrets/100%%key\"\n"),
            "{text}"
        );
        assert!(text.contains("StrictHostKeyChecking yes\n"));
        assert!(text.contains("HostName 140.82.112.3\n"));
        assert!(text.contains("ConnectTimeout 7\n"));
        assert!(text.contains("ControlMaster auto\n"));
        let kh = std::fs::read_to_string(dir.path().join("ssh/app/known_hosts")).unwrap();
        assert_eq!(kh, format!("{HOST_KEY_ALIAS} {KEY}\n"));
        assert!(setup.command.starts_with("ssh -F '"));
    }

    #[test]
    fn long_control_paths_disable_sharing() {
        let dir = tempfile::tempdir().unwrap();
        let long = dir.path().join("x".repeat(120));
        let setup = write_ssh_setup(
            &repo("/k"),
            &dir.path().join("ssh"),
            &long,
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(!setup.multiplexed);
        let text = std::fs::read_to_string(&setup.config).unwrap();
        assert!(text.contains("ControlMaster no\n"));
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(shell_quote("/a b/c'd"), r"'/a b/c'\''d'");
    }
}
