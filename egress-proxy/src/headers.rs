//! Header hygiene between agent and origin: framing checks, hop-by-hop
//! stripping, and swapping the agent's credentials for the route's.

use http::header::{self, HeaderMap, HeaderName};

use crate::table::Credential;

/// Refuse message framing that two parsers could read differently.
///
/// hyper has already refused conflicting or invalid `Content-Length`s and
/// drops `Content-Length` when `Transfer-Encoding` is present (RFC 9112
/// §6.3); what remains to refuse is any transfer coding but plain `chunked`.
pub fn check_framing(headers: &HeaderMap) -> Result<(), String> {
    let mut te = headers.get_all(header::TRANSFER_ENCODING).iter().peekable();
    if te.peek().is_some() {
        let values: Vec<&[u8]> = te.map(|v| v.as_bytes()).collect();
        if values.len() != 1 || !values[0].trim_ascii().eq_ignore_ascii_case(b"chunked") {
            return Err(
                "Transfer-Encoding must be exactly `chunked` (one header, one coding)".to_string(),
            );
        }
        if headers.contains_key(header::CONTENT_LENGTH) {
            return Err("both Content-Length and Transfer-Encoding are present".to_string());
        }
    }
    let mut cl = headers.get_all(header::CONTENT_LENGTH).iter();
    if let Some(first) = cl.next() {
        let valid = !first.is_empty() && first.as_bytes().iter().all(u8::is_ascii_digit);
        if !valid || cl.next().is_some() {
            return Err("Content-Length must be one decimal number".to_string());
        }
    }
    Ok(())
}

/// Whether a request asks to become a WebSocket (`Upgrade: websocket`).
pub fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let upgrade = headers
        .get_all(header::UPGRADE)
        .iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    upgrade && connection_names(headers).any(|n| n.eq_ignore_ascii_case("upgrade"))
}

fn connection_names(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
}

/// Headers that describe one hop and never travel further.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHORIZATION,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Remove hop-by-hop headers (and those `Connection` names); keep a WebSocket
/// upgrade's `Connection: upgrade` + `Upgrade` when `websocket` is set.
///
/// `TE: trailers` survives (gRPC needs it end to end); any other `TE` goes.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, websocket: bool) {
    let te_trailers = headers.get_all(header::TE).iter().count() == 1
        && headers
            .get(header::TE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    if !te_trailers {
        headers.remove(header::TE);
    }
    let named: Vec<HeaderName> = connection_names(headers)
        .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
        .filter(|n| !(websocket && *n == header::UPGRADE))
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    if websocket {
        headers.insert(
            header::CONNECTION,
            header::HeaderValue::from_static("upgrade"),
        );
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// Headers that commonly carry an API credential, removed from every request
/// on a route with `auth` (on top of the headers the table's routes inject).
///
/// `Cookie` is not among them: cookies are session state the origin itself
/// set, and the agent holds no credential to put there.
pub const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "apikey",
    "x-auth-token",
    "x-access-token",
    "private-token",
    "job-token",
    "deploy-token",
    "x-goog-api-key",
    "x-amz-security-token",
    "ocp-apim-subscription-key",
    "x-functions-key",
    "x-vault-token",
];

/// Drop every credential header the agent sent (`strip`: [`CREDENTIAL_HEADERS`]
/// and every header a route injects) and set the route's own.
pub fn inject_credential(headers: &mut HeaderMap, credential: &Credential, strip: &[HeaderName]) {
    for name in strip {
        headers.remove(name);
    }
    headers.insert(credential.header.clone(), credential.value.expose().clone());
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::secret::Secret;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn framing_accepts_plain_forms() {
        assert!(check_framing(&map(&[])).is_ok());
        assert!(check_framing(&map(&[("content-length", "12")])).is_ok());
        assert!(check_framing(&map(&[("transfer-encoding", "Chunked")])).is_ok());
    }

    #[test]
    fn framing_refuses_ambiguity() {
        for bad in [
            vec![("transfer-encoding", "chunked"), ("content-length", "3")],
            vec![("transfer-encoding", "gzip, chunked")],
            vec![
                ("transfer-encoding", "chunked"),
                ("transfer-encoding", "chunked"),
            ],
            vec![("transfer-encoding", "identity")],
            vec![("transfer-encoding", "chunked, chunked")],
            vec![("content-length", "3"), ("content-length", "3")],
            vec![("content-length", "+3")],
            vec![("content-length", "3, 3")],
            vec![("content-length", "")],
        ] {
            assert!(check_framing(&map(&bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authorization", "Basic eA=="),
            ("te", "trailers, deflate"),
            ("trailer", "x"),
            ("upgrade", "h2c"),
            ("accept", "*/*"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["accept"]);
        let mut grpc = map(&[("te", "trailers")]);
        strip_hop_by_hop(&mut grpc, false);
        assert_eq!(grpc["te"], "trailers");
    }

    #[test]
    fn websocket_upgrades_keep_their_handshake() {
        let mut h = map(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "k"),
        ]);
        assert!(is_websocket_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "upgrade");
        assert!(!is_websocket_upgrade(&map(&[("upgrade", "websocket")])));
        assert!(!is_websocket_upgrade(&map(&[
            ("connection", "upgrade"),
            ("upgrade", "h2c")
        ])));
    }

    #[test]
    fn injection_replaces_every_agent_credential() {
        let mut h = map(&[
            ("authorization", "Bearer agent"),
            ("Authorization", "Basic agent2"),
            ("proxy-authorization", "x"),
            ("x-api-key", "agent"),
            ("private-token", "agent"),
            ("X-Auth-Token", "agent"),
            ("x-other-route-key", "agent"),
            ("cookie", "session=from-the-origin"),
        ]);
        let mut strip: Vec<HeaderName> = CREDENTIAL_HEADERS
            .iter()
            .map(|n| HeaderName::from_static(n))
            .collect();
        strip.push(HeaderName::from_static("x-other-route-key"));
        let mut v = HeaderValue::from_static("real");
        v.set_sensitive(true);
        let c = Credential {
            header: HeaderName::from_static("x-api-key"),
            value: Secret::new(v),
        };
        inject_credential(&mut h, &c, &strip);
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(h["x-api-key"], "real");
        assert_eq!(h["cookie"], "session=from-the-origin");
    }
}
