//! Host integrity: every name a request gives for its origin must agree.
//!
//! A client could CONNECT to an allowed host and then name another one in
//! SNI, `Host` or an absolute URI (domain fronting), hoping the proxy checks
//! one and the origin serves another. The proxy decides on the CONNECT
//! target (or the absolute URI) and refuses any request whose other names
//! disagree with it.

use crate::host::{is_ip_literal, normalize_host, split_authority};
use crate::policy::UrlScheme;

/// Why a request's names for its origin were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntegrityError {
    /// A name is malformed or missing (400).
    Invalid(String),
    /// Names are well-formed but disagree (421).
    Mismatch(String),
}

/// Where a request goes: normalized host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Normalized host.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// Check the SNI a client sent inside a tunnel to `connect`.
pub fn check_sni(connect: &Origin, sni: &str) -> Result<(), IntegrityError> {
    let sni_host = normalize_host(sni)
        .map_err(|e| IntegrityError::Invalid(format!("TLS server name: {e}")))?;
    if sni_host != connect.host {
        return Err(IntegrityError::Mismatch(format!(
            "the CONNECT target is {} but TLS SNI names {sni_host}",
            connect.host
        )));
    }
    Ok(())
}

/// Check the SNI of a passthrough tunnel to `connect`: it must name the
/// CONNECT host; only a tunnel to an IP address may go without (TLS cannot
/// carry an IP address in SNI).
pub fn check_passthrough_sni(connect: &Origin, sni: Option<&str>) -> Result<(), IntegrityError> {
    match sni {
        Some(sni) => check_sni(connect, sni),
        None if is_ip_literal(&connect.host) => Ok(()),
        None => Err(IntegrityError::Invalid(format!(
            "the TLS ClientHello names no server (SNI); a passthrough tunnel to {} is only \
             spliced when its SNI names {}",
            connect.host, connect.host
        ))),
    }
}

/// Check `Host` and the URI authority of a request inside a tunnel to `connect`.
pub fn check_tunnel_request(
    connect: &Origin,
    scheme: UrlScheme,
    host_header: Option<&str>,
    uri_authority: Option<&str>,
    uri_scheme: Option<&str>,
) -> Result<(), IntegrityError> {
    if host_header.is_none() && uri_authority.is_none() {
        return Err(IntegrityError::Invalid(
            "the request has no Host header (HTTP/1.1) or :authority (HTTP/2)".to_string(),
        ));
    }
    if let Some(s) = uri_scheme
        && !s.eq_ignore_ascii_case(scheme.as_str())
    {
        return Err(IntegrityError::Mismatch(format!(
            "the request URI uses {s}:// inside a {} tunnel",
            scheme.as_str()
        )));
    }
    for (what, value) in [("Host header", host_header), ("request URI", uri_authority)] {
        let Some(value) = value else { continue };
        let (host, port) =
            split_authority(value).map_err(|e| IntegrityError::Invalid(format!("{what}: {e}")))?;
        if host != connect.host || port.is_some_and(|p| p != connect.port) {
            return Err(IntegrityError::Mismatch(format!(
                "the CONNECT target is {}:{} but the {what} names {}",
                connect.host,
                connect.port,
                value.escape_default()
            )));
        }
    }
    Ok(())
}

/// The origin of an absolute-form `http://` request, checked against its `Host` header.
pub fn check_absolute_request(
    uri_authority: &str,
    host_header: Option<&str>,
) -> Result<Origin, IntegrityError> {
    let (host, port) = split_authority(uri_authority)
        .map_err(|e| IntegrityError::Invalid(format!("request URI: {e}")))?;
    let port = port.unwrap_or(80);
    if let Some(value) = host_header {
        let (h, p) = split_authority(value)
            .map_err(|e| IntegrityError::Invalid(format!("Host header: {e}")))?;
        if h != host || p.unwrap_or(80) != port {
            return Err(IntegrityError::Mismatch(format!(
                "the request URI names {host}:{port} but the Host header names {}",
                value.escape_default()
            )));
        }
    }
    Ok(Origin { host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(host: &str, port: u16) -> Origin {
        Origin {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn sni_must_name_the_connect_target() {
        let o = origin("api.example.com", 443);
        assert!(check_sni(&o, "API.Example.com.").is_ok());
        assert!(matches!(
            check_sni(&o, "evil.example.com"),
            Err(IntegrityError::Mismatch(_))
        ));
        assert!(matches!(
            check_sni(&o, "a..b"),
            Err(IntegrityError::Invalid(_))
        ));
    }

    #[test]
    fn passthrough_needs_the_connect_host_in_sni() {
        let name = origin("pinned.example.org", 443);
        assert!(check_passthrough_sni(&name, Some("Pinned.Example.org.")).is_ok());
        assert!(matches!(
            check_passthrough_sni(&name, None),
            Err(IntegrityError::Invalid(_))
        ));
        assert!(matches!(
            check_passthrough_sni(&name, Some("other.example.org")),
            Err(IntegrityError::Mismatch(_))
        ));
        for ip in ["127.0.0.1", "[::1]"] {
            let o = origin(ip, 443);
            assert!(check_passthrough_sni(&o, None).is_ok());
            assert!(check_passthrough_sni(&o, Some("pinned.example.org")).is_err());
        }
    }

    #[test]
    fn tunnel_requests_must_name_the_connect_target() {
        let o = origin("api.example.com", 443);
        let t = |h: Option<&str>, a: Option<&str>, s: Option<&str>| {
            check_tunnel_request(&o, UrlScheme::Https, h, a, s)
        };
        assert!(t(Some("api.example.com"), None, None).is_ok());
        assert!(t(Some("API.EXAMPLE.COM."), None, None).is_ok());
        assert!(t(Some("api.example.com:443"), None, None).is_ok());
        assert!(t(None, Some("api.example.com"), Some("https")).is_ok());
        assert!(
            t(
                Some("api.example.com"),
                Some("api.example.com:443"),
                Some("https")
            )
            .is_ok()
        );
        let mismatches = [
            (Some("evil.example.com"), None, None),
            (Some("api.example.com:8443"), None, None),
            (None, Some("evil.example.com"), Some("https")),
            (
                Some("api.example.com"),
                Some("evil.example.com"),
                Some("https"),
            ),
            (
                Some("api.example.com"),
                Some("api.example.com"),
                Some("http"),
            ),
        ];
        for (h, a, s) in mismatches {
            assert!(
                matches!(t(h, a, s), Err(IntegrityError::Mismatch(_))),
                "{h:?} {a:?} {s:?}"
            );
        }
        for (h, a) in [
            (None, None),
            (Some("a..b"), None),
            (Some("u@api.example.com"), None),
            (Some("127.1"), None),
        ] {
            assert!(
                matches!(t(h, a, None), Err(IntegrityError::Invalid(_))),
                "{h:?} {a:?}"
            );
        }
    }

    #[test]
    fn absolute_requests_must_agree_with_host() {
        assert_eq!(
            check_absolute_request("A.com", None).unwrap(),
            origin("a.com", 80)
        );
        assert_eq!(
            check_absolute_request("a.com:8080", Some("A.COM.:8080")).unwrap(),
            origin("a.com", 8080)
        );
        assert_eq!(
            check_absolute_request("a.com", Some("a.com:80")).unwrap(),
            origin("a.com", 80)
        );
        assert!(matches!(
            check_absolute_request("a.com", Some("b.com")),
            Err(IntegrityError::Mismatch(_))
        ));
        assert!(matches!(
            check_absolute_request("a.com:8080", Some("a.com")),
            Err(IntegrityError::Mismatch(_))
        ));
        assert!(matches!(
            check_absolute_request("a.com", Some("a.com:b")),
            Err(IntegrityError::Invalid(_))
        ));
    }
}
