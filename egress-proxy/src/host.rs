//! Host names as the proxy compares them: one normal form, and patterns over it.
//!
//! Every host the proxy sees (CONNECT target, SNI, `Host`, `:authority`,
//! route patterns) goes through [`normalize_host`], so `API.GitHub.com.` and
//! `api.github.com` are the same host everywhere and ambiguous spellings
//! (numeric IPv4 shorthands, raw Unicode, empty labels) are refused.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Why a host name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid host `{host}`: {reason}")]
pub struct HostError {
    /// The host as given (truncated when huge).
    pub host: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn host_error(host: &str, reason: &'static str) -> HostError {
    let mut shown: String = host.chars().take(80).collect();
    if shown.len() < host.len() {
        shown.push('…');
    }
    HostError {
        host: shown.escape_default().to_string(),
        reason,
    }
}

/// Lowercase `raw`, drop one trailing dot, and check it is a DNS name or IP literal.
///
/// IPv6 literals may come bracketed (`[::1]`) and are returned bracketed.
pub fn normalize_host(raw: &str) -> Result<String, HostError> {
    if raw.is_empty() {
        return Err(host_error(raw, "empty host"));
    }
    if let Some(inner) = raw.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| host_error(raw, "unclosed `[` in IPv6 literal"))?;
        let ip: Ipv6Addr = inner
            .parse()
            .map_err(|_| host_error(raw, "not a valid IPv6 address"))?;
        return Ok(format!("[{ip}]"));
    }
    if raw.contains(':') {
        let ip: Ipv6Addr = raw
            .parse()
            .map_err(|_| host_error(raw, "contains `:` but is not an IPv6 address"))?;
        return Ok(format!("[{ip}]"));
    }
    let host = raw.strip_suffix('.').unwrap_or(raw);
    if host.len() > 253 {
        return Err(host_error(raw, "longer than 253 characters"));
    }
    if !host.is_ascii() {
        return Err(host_error(
            raw,
            "non-ASCII characters; write internationalized names in punycode (xn--…)",
        ));
    }
    let host = host.to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    for label in &labels {
        if label.is_empty() {
            return Err(host_error(
                raw,
                "empty label (`..` or leading/trailing dot)",
            ));
        }
        if label.len() > 63 {
            return Err(host_error(raw, "label longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(host_error(
                raw,
                "only letters, digits, `-` and `_` are allowed in labels",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(host_error(raw, "label starts or ends with `-`"));
        }
    }
    let last = labels.last().copied().unwrap_or_default();
    if last.bytes().all(|b| b.is_ascii_digit()) || looks_numeric(last) {
        // A numeric final label is only acceptable as a full dotted-quad IPv4
        // address; shorthands like `127.1` or `0x7f.0.0.1` mean different
        // addresses to different resolvers.
        let ip: Ipv4Addr = host.parse().map_err(|_| {
            host_error(
                raw,
                "numeric host that is not a dotted-quad IPv4 address (e.g. 127.1 or 0x7f.0.0.1)",
            )
        })?;
        return Ok(ip.to_string());
    }
    Ok(host)
}

/// Whether a normalized host is an IP address: a bracketed IPv6 literal or
/// dotted-quad IPv4 (the forms [`normalize_host`] leaves addresses in).
pub fn is_ip_literal(host: &str) -> bool {
    host.starts_with('[') || host.parse::<Ipv4Addr>().is_ok()
}

fn looks_numeric(label: &str) -> bool {
    label.len() > 2
        && (label.starts_with("0x") || label.starts_with("0X"))
        && label[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The host part of a route: an exact name, or every subdomain of a suffix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// Matches exactly this normalized host.
    Exact(String),
    /// `*.suffix`: matches any name ending in `.suffix` (any depth), not `suffix` itself.
    Subdomains(String),
}

impl HostPattern {
    /// Parse `api.example.com` or `*.example.com`.
    pub fn parse(raw: &str) -> Result<HostPattern, HostError> {
        if raw == "*" {
            return Err(host_error(
                raw,
                "a bare `*` would allow every host; list hosts or use `*.domain`",
            ));
        }
        if let Some(suffix) = raw.strip_prefix("*.") {
            let suffix = normalize_host(suffix)?;
            if is_ip_literal(&suffix) {
                return Err(host_error(raw, "a wildcard cannot apply to an IP address"));
            }
            return Ok(HostPattern::Subdomains(suffix));
        }
        if raw.contains('*') {
            return Err(host_error(
                raw,
                "`*` is only allowed as the whole first label, as in `*.example.com`",
            ));
        }
        Ok(HostPattern::Exact(normalize_host(raw)?))
    }

    /// Whether this pattern covers the normalized `host`.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => h == host,
            HostPattern::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        }
    }

    /// Higher is more specific: exact names beat wildcards, longer suffixes beat shorter.
    pub fn specificity(&self) -> (u8, usize) {
        match self {
            HostPattern::Exact(h) => (1, h.len()),
            HostPattern::Subdomains(s) => (0, s.len()),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Subdomains(s) => write!(f, "*.{s}"),
        }
    }
}

/// Split `host[:port]` (an authority without userinfo) into a normalized host and optional port.
pub fn split_authority(authority: &str) -> Result<(String, Option<u16>), HostError> {
    if authority.contains('@') {
        return Err(host_error(authority, "userinfo (`user@`) is not allowed"));
    }
    let (host, port) = if authority.starts_with('[') {
        match authority.rfind(']') {
            Some(end) => {
                let rest = &authority[end + 1..];
                let port = match rest.strip_prefix(':') {
                    Some(p) => Some(p),
                    None if rest.is_empty() => None,
                    None => return Err(host_error(authority, "junk after IPv6 literal")),
                };
                (&authority[..=end], port)
            }
            None => return Err(host_error(authority, "unclosed `[` in IPv6 literal")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p).ok_or_else(|| host_error(authority, "invalid port"))?),
    };
    Ok((normalize_host(host)?, port))
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse::<u16>().ok().filter(|p| *p != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_and_trailing_dot() {
        assert_eq!(normalize_host("API.GitHub.com.").unwrap(), "api.github.com");
        assert_eq!(normalize_host("a_b.example").unwrap(), "a_b.example");
    }

    #[test]
    fn refuses_ambiguous_and_hostile_names() {
        for bad in [
            "",
            ".",
            "a..b",
            ".a.com",
            "a.com..",
            "-a.com",
            "a-.com",
            "a b.com",
            "a%2e.com",
            "exa\u{0430}mple.com",
            "127.1",
            "2130706433",
            "0x7f.0.0.1",
            "1.2.3.256",
            "a.com\0",
            "a.com/x",
            "[::1",
            "::zz",
        ] {
            assert!(normalize_host(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(normalize_host(&"a".repeat(64)).is_err());
        assert!(normalize_host(&["a"; 130].join(".")).is_err());
    }

    #[test]
    fn accepts_ip_literals_in_one_form() {
        assert_eq!(normalize_host("127.0.0.1").unwrap(), "127.0.0.1");
        assert_eq!(normalize_host("[::1]").unwrap(), "[::1]");
        assert_eq!(normalize_host("::1").unwrap(), "[::1]");
        assert_eq!(normalize_host("[0:0::1]").unwrap(), "[::1]");
    }

    #[test]
    fn wildcard_matches_subdomains_only() {
        let p = HostPattern::parse("*.Example.com").unwrap();
        assert!(p.matches("a.example.com"));
        assert!(p.matches("a.b.example.com"));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("badexample.com"));
        assert!(!p.matches(".example.com"));
        assert_eq!(p.to_string(), "*.example.com");
    }

    #[test]
    fn wildcard_shapes_are_checked() {
        for bad in ["*", "a.*.com", "*a.com", "**.com", "*.1.2.3.4", "*.[::1]"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn specificity_orders_exact_over_wildcards() {
        let exact = HostPattern::parse("a.example.com").unwrap();
        let wide = HostPattern::parse("*.com").unwrap();
        let narrow = HostPattern::parse("*.example.com").unwrap();
        assert!(exact.specificity() > narrow.specificity());
        assert!(narrow.specificity() > wide.specificity());
    }

    #[test]
    fn authorities_split_and_normalize() {
        assert_eq!(
            split_authority("API.example.com:8443").unwrap(),
            ("api.example.com".into(), Some(8443))
        );
        assert_eq!(split_authority("a.com").unwrap(), ("a.com".into(), None));
        assert_eq!(
            split_authority("[::1]:443").unwrap(),
            ("[::1]".into(), Some(443))
        );
        for bad in [
            "a.com:",
            "a.com:0",
            "a.com:65536",
            "a.com:+1",
            "u@a.com",
            "a.com:1:2",
            "[::1]x",
        ] {
            assert!(split_authority(bad).is_err(), "{bad:?}");
        }
    }
}
