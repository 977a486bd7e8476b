//! The one request a git:// client sends: `git-upload-pack /app.git\0host=gate\0[\0version=2\0]`.
//!
//! Parsed strictly. The path only ever selects a configured repo by name; it
//! is never joined onto a filesystem path, so `..`, absolute paths, `%2e`,
//! `~user` and NUL tricks have nothing to reach.

use std::fmt;

/// Longest request line accepted; real ones are well under 200 bytes.
pub const MAX_REQUEST_BYTES: usize = 1024;

/// The git services a client may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Fetch, clone, pull, ls-remote.
    UploadPack,
    /// Push.
    ReceivePack,
}

impl Service {
    /// The program name as it appears on the wire and in the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Service::UploadPack => "git-upload-pack",
            Service::ReceivePack => "git-receive-pack",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What the client wants to run.
    pub service: Service,
    /// The configured repo it names.
    pub repo: String,
    /// The `host=` parameter, if sent (informational only).
    pub host: Option<String>,
    /// Protocol version the client asked for with `version=N`.
    pub version: Option<u8>,
}

/// A request the gate refuses; the text is sent to the client as `ERR <text>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);

fn refuse<T>(message: impl Into<String>) -> Result<T, RequestError> {
    Err(RequestError(message.into()))
}

/// Parse a request payload against the configured repo names.
pub fn parse_request(payload: &[u8], repos: &[&str]) -> Result<Request, RequestError> {
    if payload.len() > MAX_REQUEST_BYTES {
        return refuse(format!(
            "request is {} bytes; the limit is {MAX_REQUEST_BYTES}",
            payload.len()
        ));
    }
    let (command, params) = match payload.iter().position(|&b| b == 0) {
        Some(i) => (&payload[..i], Some(&payload[i + 1..])),
        None => (payload, None),
    };
    let command = command.strip_suffix(b"\n").unwrap_or(command);
    let command = std::str::from_utf8(command)
        .ok()
        .filter(|c| c.bytes().all(|b| (0x21..0x7f).contains(&b) || b == b' '))
        .ok_or_else(|| RequestError("request line is not printable ASCII".into()))?;
    let Some((service, path)) = command.split_once(' ') else {
        return refuse("malformed request: expected `<service> <path>`");
    };
    let service = match service {
        "git-upload-pack" => Service::UploadPack,
        "git-receive-pack" => Service::ReceivePack,
        other => {
            return refuse(format!(
                "service `{other}` is not offered; this gate serves git-upload-pack and git-receive-pack only"
            ));
        }
    };
    let repo = repo_for_path(path, repos)?;
    let (host, version) = match params {
        None => (None, None),
        Some(p) => parse_params(p)?,
    };
    Ok(Request {
        service,
        repo,
        host,
        version,
    })
}

fn repo_for_path(path: &str, repos: &[&str]) -> Result<String, RequestError> {
    let name = path.strip_prefix('/').unwrap_or("");
    let name = name.strip_suffix(".git").unwrap_or(name);
    if let Some(found) = repos.iter().find(|r| **r == name) {
        return Ok((*found).to_string());
    }
    let shown: String = path.chars().take(100).collect();
    refuse(format!(
        "no repository `{shown}` here; this gate serves: {}",
        repos
            .iter()
            .map(|r| format!("/{r}.git"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// `host=<host>\0` then optionally `\0` and `key=value\0` pairs.
fn parse_params(params: &[u8]) -> Result<(Option<String>, Option<u8>), RequestError> {
    let mut fields = params.split(|&b| b == 0);
    let mut host = None;
    let first = fields.next().unwrap_or_default();
    if !first.is_empty() {
        let Some(value) = first.strip_prefix(b"host=") else {
            return refuse("malformed request: the first parameter must be `host=`");
        };
        let value = std::str::from_utf8(value)
            .ok()
            .filter(|v| {
                !v.is_empty()
                    && v.len() <= 255
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
            })
            .ok_or_else(|| RequestError("malformed host parameter".into()))?;
        host = Some(value.to_string());
    }
    let rest: Vec<&[u8]> = fields.collect();
    let mut version = None;
    match rest.as_slice() {
        [] | [b""] => {}
        [b"", extra @ .., b""] => {
            for kv in extra {
                if kv.is_empty() {
                    continue;
                }
                let text = std::str::from_utf8(kv)
                    .ok()
                    .filter(|t| t.bytes().all(|b| (0x21..0x7f).contains(&b)))
                    .ok_or_else(|| RequestError("malformed extra parameter".into()))?;
                if let Some(v) = text.strip_prefix("version=") {
                    version = match v {
                        "1" => Some(1),
                        "2" => Some(2),
                        _ => {
                            return refuse(format!(
                                "unsupported protocol version `{v}`; use 1 or 2"
                            ));
                        }
                    };
                }
            }
        }
        _ => return refuse("malformed request parameters"),
    }
    Ok((host, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPOS: &[&str] = &["app", "lib.rs"];

    fn parse(p: &[u8]) -> Result<Request, RequestError> {
        parse_request(p, REPOS)
    }

    #[test]
    fn real_client_requests_parse() {
        let r = parse(b"git-upload-pack /app.git\0host=gate:9418\0").unwrap();
        assert_eq!(
            (r.service, r.repo.as_str(), r.version),
            (Service::UploadPack, "app", None)
        );
        assert_eq!(r.host.as_deref(), Some("gate:9418"));
        let r = parse(b"git-upload-pack /app\0host=gate\0\0version=2\0").unwrap();
        assert_eq!(r.version, Some(2));
        let r = parse(b"git-receive-pack /lib.rs.git\0host=[::1]:9418\0").unwrap();
        assert_eq!(
            (r.service, r.repo.as_str()),
            (Service::ReceivePack, "lib.rs")
        );
        let r = parse(b"git-upload-pack /app.git\n").unwrap();
        assert_eq!(r.host, None);
        let r =
            parse(b"git-upload-pack /app.git\0host=g\0\0version=1\0object-format=sha1\0").unwrap();
        assert_eq!(r.version, Some(1));
    }

    #[test]
    fn path_tricks_select_nothing() {
        for path in [
            "/../app.git",
            "/app/../app.git",
            "//app.git",
            "app.git",
            "/APP.git",
            "/%2e%2e/app.git",
            "/app.git/",
            "/app.git.git",
            "/~root/app.git",
            "/srv/git/app.git",
            "/etc/passwd",
            "/run/secrets/app_key",
            "/.gate/hooks",
            "/",
        ] {
            let req = format!("git-upload-pack {path}\0host=g\0");
            let e = parse(req.as_bytes()).unwrap_err();
            assert!(e.0.starts_with("no repository"), "{path}: {e}");
        }
        let e = parse(b"git-upload-pack /app\0.git\0host=g\0").unwrap_err();
        assert!(e.0.contains("host="), "{e}");
    }

    #[test]
    fn other_services_and_garbage_are_refused() {
        let e = parse(b"git-upload-archive /app.git\0host=g\0").unwrap_err();
        assert!(e.0.contains("not offered"), "{e}");
        for bad in [
            &b""[..],
            b"git-upload-pack",
            b"git-upload-pack /app.git\0hots=g\0",
            b"git-upload-pack /app.git\0host=g\0\0version=3\0",
            b"git-upload-pack /app.git\0host=g h\0",
            b"git-upload-pack /app.git\0host=g\0extra",
            b"git-upload-pack /app.git\0host=g\0\0version=2",
            b"git-upload-pack /app\xff.git\0host=g\0",
            b"git-upload-pack\t/app.git\0host=g\0",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let huge = format!("git-upload-pack /{}\0host=g\0", "a".repeat(2000));
        assert!(parse(huge.as_bytes()).unwrap_err().0.contains("limit"));
    }

    #[test]
    fn random_bytes_never_panic_or_select_a_repo_by_accident() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let alphabet = b"git-uploadrecivpkh/ .=\0\n\xff012app";
        for round in 0..20_000 {
            let len = round % 80;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x % alphabet.len() as u64) as usize]
                })
                .collect();
            if let Ok(r) = parse(&bytes) {
                assert!(REPOS.contains(&r.repo.as_str()));
                assert!(
                    bytes.starts_with(b"git-upload-pack /")
                        || bytes.starts_with(b"git-receive-pack /")
                );
            }
        }
    }
}
