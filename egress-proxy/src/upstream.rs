//! Which upstream proxy, if any, an outbound connection goes through.
//!
//! `--upstream-proxy` sends everything through one HTTP proxy. Without it the
//! conventional environment applies: `HTTPS_PROXY` for https and tunnels,
//! `HTTP_PROXY` for plain http, both skipped for hosts in `NO_PROXY`.

use std::fmt;

/// An upstream HTTP proxy (only `http://` proxies are supported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyAddr {
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Port from the URL, 80 when it names none.
    pub port: u16,
}

impl fmt::Display for ProxyAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "http://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "http://{}:{}", self.host, self.port)
        }
    }
}

/// A malformed proxy URL or `NO_PROXY` value.
#[derive(Debug, thiserror::Error)]
#[error("{what}: `{value}` {reason}")]
pub struct UpstreamError {
    what: String,
    value: String,
    reason: &'static str,
}

impl ProxyAddr {
    /// Parse `http://host:port[/]` (a bare `host:port` is taken as http).
    pub fn parse(what: &str, url: &str) -> Result<ProxyAddr, UpstreamError> {
        let err = |reason| UpstreamError {
            what: what.to_string(),
            value: url.to_string(),
            reason,
        };
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some(_) => {
                return Err(err(
                    "is not supported: only http:// upstream proxies are (the tunnel inside is still TLS end to end)",
                ));
            }
            None => url,
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('@') {
            return Err(err(
                "carries credentials, which are not supported for the upstream proxy",
            ));
        }
        if rest.contains('/') || rest.contains('?') {
            return Err(err("has a path; give only http://host:port"));
        }
        let (host, port) =
            crate::host::split_authority(rest).map_err(|_| err("is not host:port"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Ok(ProxyAddr {
            host,
            port: port.unwrap_or(80),
        })
    }
}

/// Where outbound connections go.
#[derive(Debug, Clone, Default)]
pub struct Upstream {
    https: Option<ProxyAddr>,
    http: Option<ProxyAddr>,
    no_proxy: Vec<String>,
}

impl Upstream {
    /// Every connection through `proxy` (the `--upstream-proxy` flag).
    pub fn all_through(proxy: ProxyAddr) -> Upstream {
        Upstream {
            https: Some(proxy.clone()),
            http: Some(proxy),
            no_proxy: Vec::new(),
        }
    }

    /// The conventional proxy environment, looked up with `env`.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Upstream, UpstreamError> {
        let get = |upper: &str, lower: &str| {
            env(upper)
                .or_else(|| env(lower))
                .filter(|v| !v.trim().is_empty())
                .map(|v| (upper.to_string(), v))
        };
        let parse = |found: Option<(String, String)>| {
            found
                .map(|(name, value)| ProxyAddr::parse(&name, value.trim()))
                .transpose()
        };
        let no_proxy = get("NO_PROXY", "no_proxy")
            .map(|(_, v)| {
                v.split(',')
                    .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
                    .map(|e| match e.rsplit_once(':') {
                        Some((h, p))
                            if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') =>
                        {
                            h.to_string()
                        }
                        _ => e,
                    })
                    .filter(|e| !e.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Upstream {
            https: parse(get("HTTPS_PROXY", "https_proxy"))?,
            http: parse(get("HTTP_PROXY", "http_proxy"))?,
            no_proxy,
        })
    }

    /// The proxy for a connection to `host` (normalized); `tls` for https and tunnels.
    pub fn proxy_for(&self, tls: bool, host: &str) -> Option<&ProxyAddr> {
        let proxy = if tls {
            self.https.as_ref()
        } else {
            self.http.as_ref()
        }?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let bypass = self.no_proxy.iter().any(|e| {
            e == "*"
                || e.trim_start_matches('[').trim_end_matches(']') == bare
                || host
                    .strip_suffix(e.as_str())
                    .is_some_and(|head| head.ends_with('.'))
        });
        (!bypass).then_some(proxy)
    }

    /// A one-line description for the startup log.
    pub fn describe(&self) -> String {
        match (&self.https, &self.http) {
            (None, None) => "direct".to_string(),
            (https, http) => format!(
                "https via {}, http via {}{}",
                https
                    .as_ref()
                    .map_or("direct".to_string(), |p| p.to_string()),
                http.as_ref()
                    .map_or("direct".to_string(), |p| p.to_string()),
                if self.no_proxy.is_empty() {
                    String::new()
                } else {
                    format!(", except NO_PROXY={}", self.no_proxy.join(","))
                }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Upstream {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Upstream::from_env(&|n| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())).unwrap()
    }

    #[test]
    fn proxy_urls_parse_strictly() {
        assert_eq!(
            ProxyAddr::parse("x", "http://pipelock:8888/").unwrap(),
            ProxyAddr {
                host: "pipelock".into(),
                port: 8888
            }
        );
        assert_eq!(ProxyAddr::parse("x", "127.0.0.1:3128").unwrap().port, 3128);
        assert_eq!(
            ProxyAddr::parse("x", "http://[::1]:3128").unwrap().host,
            "::1"
        );
        assert_eq!(ProxyAddr::parse("x", "http://p").unwrap().port, 80);
        for bad in [
            "https://p:1",
            "socks5://p:1",
            "http://u:pw@p:1",
            "http://p:1/x",
            "http://p:x",
            "",
        ] {
            assert!(ProxyAddr::parse("x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn environment_selects_by_scheme_and_honours_no_proxy() {
        let u = env(&[
            ("HTTPS_PROXY", "http://s:1"),
            ("http_proxy", "http://h:2"),
            (
                "NO_PROXY",
                "internal.example, .corp.example,localhost:8080,[::1]",
            ),
        ]);
        assert_eq!(u.proxy_for(true, "api.github.com").unwrap().host, "s");
        assert_eq!(u.proxy_for(false, "api.github.com").unwrap().host, "h");
        assert!(u.proxy_for(true, "internal.example").is_none());
        assert!(u.proxy_for(true, "a.internal.example").is_none());
        assert!(u.proxy_for(true, "xinternal.example").is_some());
        assert!(u.proxy_for(true, "corp.example").is_none());
        assert!(u.proxy_for(true, "localhost").is_none());
        assert!(u.proxy_for(true, "[::1]").is_none());
        assert!(
            env(&[("HTTPS_PROXY", "http://s:1"), ("no_proxy", "*")])
                .proxy_for(true, "a.com")
                .is_none()
        );
        assert!(env(&[]).proxy_for(true, "a.com").is_none());
        assert!(
            Upstream::from_env(&|n| (n == "HTTPS_PROXY").then(|| "https://x:1".to_string()))
                .is_err()
        );
    }

    #[test]
    fn the_flag_sends_everything_upstream() {
        let u = Upstream::all_through(ProxyAddr::parse("--upstream-proxy", "http://p:1").unwrap());
        assert!(u.proxy_for(true, "localhost").is_some());
        assert!(u.proxy_for(false, "a.com").is_some());
    }
}
