//! The `upstream` URL of a repo: `ssh://[user@]host[:port]/path`, nothing else.
//!
//! Only the `ssh://` form is accepted. scp-style `user@host:path` is refused
//! with the equivalent `ssh://` URL in the message: one spelling keeps the
//! launcher's `insteadOf` rewrites and the gate's view of a repo identical.

use std::fmt;
use std::net::IpAddr;

/// A parsed upstream URL, every part checked so none can smuggle ssh options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The URL exactly as configured (what git is given as `origin`).
    pub url: String,
    /// Login user, if the URL names one.
    pub user: Option<String>,
    /// Host name or IP literal (without brackets).
    pub host: String,
    /// Port, if the URL names one.
    pub port: Option<u16>,
    /// Repository path on the server, starting with `/`.
    pub path: String,
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// Parse an upstream URL; the error says what to write instead.
pub fn parse_upstream(url: &str) -> Result<Upstream, String> {
    let Some(rest) = strip_prefix_ignore_case(url, "ssh://") else {
        if let Some(suggestion) = scp_to_ssh(url) {
            return Err(format!(
                "`{url}` is an scp-style address; write it as an ssh:// URL: `{suggestion}`"
            ));
        }
        return Err(format!(
            "`{url}` is not an ssh:// URL; write ssh://[user@]host[:port]/path"
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => return Err(format!("`{url}` has no repository path after the host")),
    };
    check_path(path).map_err(|e| format!("`{url}`: {e}"))?;
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((user, hp)) => (Some(user), hp),
        None => (None, authority),
    };
    if let Some(user) = user {
        check_user(user).map_err(|e| format!("`{url}`: {e}"))?;
    }
    let (host, port) = split_host_port(host_port).map_err(|e| format!("`{url}`: {e}"))?;
    Ok(Upstream {
        url: url.to_string(),
        user: user.map(str::to_string),
        host,
        port,
        path: path.to_string(),
    })
}

/// Whether `name` is a syntactically valid DNS host name (what `extra_hosts` keys must be).
pub fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn scp_to_ssh(url: &str) -> Option<String> {
    if url.contains("://") {
        return None;
    }
    let (host_part, path) = url.split_once(':')?;
    if host_part.is_empty() || path.is_empty() || host_part.contains('/') {
        return None;
    }
    let path = path.trim_start_matches('/');
    Some(format!("ssh://{host_part}/{path}"))
}

fn check_user(user: &str) -> Result<(), String> {
    if user.is_empty() {
        return Err("the user before `@` is empty".into());
    }
    if user.starts_with('-') {
        return Err(format!("user `{user}` starts with `-`"));
    }
    if !user
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(format!(
            "user `{}` may only contain letters, digits, `.`, `_` and `-`",
            user.escape_default()
        ));
    }
    Ok(())
}

fn split_host_port(hp: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = hp.strip_prefix('[') {
        let (inner, after) = rest
            .split_once(']')
            .ok_or("an IPv6 host opened with `[` has no closing `]`")?;
        let ip: IpAddr = inner
            .parse()
            .map_err(|_| format!("`[{inner}]` is not an IPv6 address"))?;
        if !ip.is_ipv6() {
            return Err(format!("`[{inner}]`: brackets are for IPv6 addresses only"));
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("unexpected `{p}` after `]`"))?,
            ),
        };
        (inner.to_string(), port)
    } else {
        match hp.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hp.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if !host.contains(':') && host.parse::<IpAddr>().is_err() && !is_host_name(&host) {
        return Err(format!(
            "`{}` is not a valid host name or IP address",
            host.escape_default()
        ));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return Err(format!(
                    "port `{}` is not a number from 1 to 65535",
                    p.escape_default()
                ));
            }
        },
    };
    Ok((host, port))
}

fn check_path(path: &str) -> Result<(), String> {
    if path.len() < 2 {
        return Err("the repository path is empty".into());
    }
    if let Some(c) = path
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || matches!(c, '%' | '?' | '#' | '\\'))
    {
        return Err(format!(
            "the repository path may not contain `{}` (no whitespace, control characters, `%`, `?`, `#` or `\\`)",
            c.escape_default()
        ));
    }
    if path.split('/').any(|seg| seg == "..") {
        return Err("the repository path may not contain `..` segments".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url_parses() {
        let u = parse_upstream("ssh://git@github.com:22/acme/app.git").unwrap();
        assert_eq!(u.user.as_deref(), Some("git"));
        assert_eq!(u.host, "github.com");
        assert_eq!(u.port, Some(22));
        assert_eq!(u.path, "/acme/app.git");
    }

    #[test]
    fn minimal_and_ipv6_urls_parse() {
        let u = parse_upstream("ssh://example.org/r").unwrap();
        assert_eq!((u.user, u.port), (None, None));
        let u = parse_upstream("SSH://git@[::1]:2222/srv/app.git").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.port, Some(2222));
        let u = parse_upstream("ssh://git@127.0.0.1/srv/app.git").unwrap();
        assert_eq!(u.host, "127.0.0.1");
    }

    #[test]
    fn scp_style_gets_a_suggestion() {
        let e = parse_upstream("git@github.com:acme/app.git").unwrap_err();
        assert!(e.contains("ssh://git@github.com/acme/app.git"), "{e}");
    }

    #[test]
    fn hostile_parts_are_refused() {
        for bad in [
            "https://github.com/acme/app.git",
            "ssh://-oProxyCommand=x/acme",
            "ssh://git@-oProxyCommand=x/acme",
            "ssh://-o@host/acme",
            "ssh://git@host:0/a",
            "ssh://git@host:99999/a",
            "ssh://git@host:x/a",
            "ssh://git@host",
            "ssh://git@host/",
            "ssh://git@ho st/a",
            "ssh://git@host/a b",
            "ssh://git@host/a\nb",
            "ssh://git@host/a%20b",
            "ssh://git@host/../etc",
            "ssh://git@[1.2.3.4]/a",
            "ssh://git@[::1/a",
            "ssh://gi;t@host/a",
            "ssh://@host/a",
        ] {
            assert!(parse_upstream(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn host_names() {
        assert!(is_host_name("github.com"));
        assert!(is_host_name("a-b.c_d.example"));
        assert!(!is_host_name("-a.com"));
        assert!(!is_host_name("a..com"));
        assert!(!is_host_name(""));
        assert!(!is_host_name("a com"));
    }
}
