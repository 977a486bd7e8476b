//! Canonical request paths: the only form path rules are matched against.
//!
//! A path that an origin could read differently from the proxy (dot
//! segments, doubled slashes, encoded separators, backslashes) is refused,
//! never rewritten: rewriting would send the origin something the agent did
//! not ask for, and leaving it would let `/allowed/../secret` through.

use std::fmt;

use percent_encoding::{AsciiSet, CONTROLS, percent_encode};

/// Why a path is not canonical.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    /// Does not start with `/`.
    NotAbsolute,
    /// Contains `//` (an empty segment).
    EmptySegment,
    /// Contains a `.` or `..` segment (also `..;param`, `..%3B`, fullwidth dots, `.%20`).
    DotSegment,
    /// Contains a raw `\`.
    Backslash,
    /// Contains `%2F`, `%5C`, `%2E` or `%25` (encoded `/`, `\`, `.` or `%`).
    EncodedSeparator,
    /// A `%` not followed by two hex digits.
    BadPercentEncoding,
    /// Decodes to a control character or invalid UTF-8.
    BadDecodedByte,
    /// Contains a control character, space, `#` or non-ASCII byte.
    BadCharacter,
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathProblem::NotAbsolute => "path does not start with `/`",
            PathProblem::EmptySegment => "path contains an empty segment (`//`)",
            PathProblem::DotSegment => "path contains a `.` or `..` segment",
            PathProblem::Backslash => "path contains a backslash",
            PathProblem::EncodedSeparator => {
                "path contains an encoded `/`, `\\`, `.` or `%` (%2F, %5C, %2E, %25)"
            }
            PathProblem::BadPercentEncoding => "path contains a malformed %-escape",
            PathProblem::BadDecodedByte => "path decodes to a control character or invalid UTF-8",
            PathProblem::BadCharacter => "path contains a control, space, `#` or non-ASCII byte",
        })
    }
}

/// Check that `raw` (a path without its query) is canonical and return it decoded.
///
/// The decoded form is what route prefixes are compared with, so `%61` and
/// `a` match the same rules; every escape that could change how the path
/// splits into segments is refused before decoding.
pub fn canonical_path(raw: &str) -> Result<String, PathProblem> {
    if !raw.starts_with('/') {
        return Err(PathProblem::NotAbsolute);
    }
    let bytes = raw.as_bytes();
    for &b in bytes {
        match b {
            b'\\' => return Err(PathProblem::Backslash),
            0x00..=0x20 | 0x7f..=0xff | b'#' => return Err(PathProblem::BadCharacter),
            _ => {}
        }
    }
    // Segment checks on the raw form (escapes of `.` and `/` are refused below,
    // so the raw segment structure is the decoded one).
    let segments: Vec<&str> = raw[1..].split('/').collect();
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate() {
        if seg.is_empty() && i != last {
            return Err(PathProblem::EmptySegment);
        }
        let name = seg.split(';').next().unwrap_or_default();
        if name == "." || name == ".." {
            return Err(PathProblem::DotSegment);
        }
    }
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).and_then(|b| hex(*b));
            let lo = bytes.get(i + 2).and_then(|b| hex(*b));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(PathProblem::BadPercentEncoding);
            };
            let byte = hi << 4 | lo;
            match byte {
                b'/' | b'\\' | b'.' | b'%' => return Err(PathProblem::EncodedSeparator),
                0x00..=0x1f | 0x7f => return Err(PathProblem::BadDecodedByte),
                _ => decoded.push(byte),
            }
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    let decoded = String::from_utf8(decoded).map_err(|_| PathProblem::BadDecodedByte)?;
    // Segment checks again on the decoded form: `%3B` turns `..%3B` into the
    // `..;` that Tomcat-style servers read as `..`, and servers that fold
    // Unicode (NFKC) read fullwidth dots as dots.
    if decoded[1..].split('/').any(is_dot_segment) {
        return Err(PathProblem::DotSegment);
    }
    Ok(decoded)
}

/// Whether a (decoded) segment is `.` or `..` as some server could read it:
/// `;params` dropped, trailing spaces trimmed, Unicode dot look-alikes folded.
/// Runs on every segment of every request, so it does not allocate.
fn is_dot_segment(segment: &str) -> bool {
    let name = segment
        .split(';')
        .next()
        .unwrap_or_default()
        .trim_end_matches(' ');
    let mut chars = name.chars();
    match (chars.next(), chars.next(), chars.next()) {
        (Some(a), None, _) => fold_dot(a) == '.',
        (Some(a), Some(b), None) => fold_dot(a) == '.' && fold_dot(b) == '.',
        _ => false,
    }
}

/// Fold the characters that Unicode compatibility folding (NFKC) turns into
/// `.` to `.`; every other character is returned as is.
pub fn fold_dot(c: char) -> char {
    match c {
        '\u{FF0E}' | '\u{2024}' | '\u{FE52}' => '.',
        other => other,
    }
}

/// What [`encode_path`] escapes: controls, space, non-ASCII (always escaped
/// by [`percent_encode`]), and `#`, `?`, `%`, `\`.
const PATH_ESCAPES: &AsciiSet = &CONTROLS.add(b' ').add(b'#').add(b'?').add(b'%').add(b'\\');

/// Render a decoded canonical path so that [`canonical_path`] reads it back unchanged.
///
/// Routes store paths decoded (so `%61` and `a` match the same rules); every
/// place that shows a path as something to paste into a routes file (the
/// listing, denial snippets) goes through this, so it parses again.
pub fn encode_path(decoded: &str) -> String {
    percent_encode(decoded.as_bytes(), PATH_ESCAPES).to_string()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Whether the decoded canonical `path` falls under the decoded `prefix`.
///
/// A prefix ending in `/` covers everything below it; one that does not
/// covers itself and everything below it as a segment, so `/repos/acme`
/// covers `/repos/acme` and `/repos/acme/x` but not `/repos/acme-evil`.
pub fn path_under(path: &str, prefix: &str) -> bool {
    if prefix.ends_with('/') {
        return path.starts_with(prefix);
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_paths_and_decodes_harmless_escapes() {
        assert_eq!(canonical_path("/").unwrap(), "/");
        assert_eq!(canonical_path("/repos/acme/").unwrap(), "/repos/acme/");
        assert_eq!(canonical_path("/repos/%61cme/x").unwrap(), "/repos/acme/x");
        assert_eq!(canonical_path("/a/b.c/..d/.e").unwrap(), "/a/b.c/..d/.e");
        assert_eq!(canonical_path("/caf%C3%A9").unwrap(), "/café");
        assert_eq!(canonical_path("/a%20b").unwrap(), "/a b");
    }

    #[test]
    fn refuses_every_traversal_spelling() {
        let cases = [
            ("repos", PathProblem::NotAbsolute),
            ("*", PathProblem::NotAbsolute),
            ("//repos", PathProblem::EmptySegment),
            ("/repos//acme", PathProblem::EmptySegment),
            ("/repos/./acme", PathProblem::DotSegment),
            ("/repos/acme/..", PathProblem::DotSegment),
            ("/repos/acme/../evil", PathProblem::DotSegment),
            ("/repos/acme/..;/evil", PathProblem::DotSegment),
            ("/repos/acme/.;x/evil", PathProblem::DotSegment),
            ("/repos/acme/%2e%2e/evil", PathProblem::EncodedSeparator),
            ("/repos/acme/%2E%2E/evil", PathProblem::EncodedSeparator),
            ("/repos/acme/.%2e/evil", PathProblem::EncodedSeparator),
            ("/repos/acme%2f..%2fevil", PathProblem::EncodedSeparator),
            ("/repos/acme%2F", PathProblem::EncodedSeparator),
            ("/repos/acme%5c..", PathProblem::EncodedSeparator),
            ("/repos/acme/%252e%252e", PathProblem::EncodedSeparator),
            ("/repos\\acme", PathProblem::Backslash),
            ("/repos/acme/%", PathProblem::BadPercentEncoding),
            ("/repos/acme/%2", PathProblem::BadPercentEncoding),
            ("/repos/acme/%zz", PathProblem::BadPercentEncoding),
            ("/repos/acme/%00", PathProblem::BadDecodedByte),
            ("/repos/acme/%0a", PathProblem::BadDecodedByte),
            ("/repos/%c0%ae%c0%ae/", PathProblem::BadDecodedByte),
            ("/repos/%ff", PathProblem::BadDecodedByte),
            ("/repos/acme/\u{0}", PathProblem::BadCharacter),
            ("/repos/a b", PathProblem::BadCharacter),
            ("/repos/a#b", PathProblem::BadCharacter),
            ("/repos/é", PathProblem::BadCharacter),
            ("/repos/acme/..%3B/evil", PathProblem::DotSegment),
            ("/repos/acme/..%3b/evil", PathProblem::DotSegment),
            ("/repos/acme/.%3Bx/evil", PathProblem::DotSegment),
            (
                "/repos/acme/%EF%BC%8E%EF%BC%8E/evil",
                PathProblem::DotSegment,
            ),
            ("/repos/acme/.%EF%BC%8E/evil", PathProblem::DotSegment),
            (
                "/repos/acme/%E2%80%A4%E2%80%A4/evil",
                PathProblem::DotSegment,
            ),
            ("/repos/acme/%EF%B9%92/evil", PathProblem::DotSegment),
            ("/repos/acme/..%20/evil", PathProblem::DotSegment),
            ("/repos/acme/.%09/evil", PathProblem::BadDecodedByte),
        ];
        for (path, want) in cases {
            assert_eq!(canonical_path(path), Err(want), "{path:?}");
        }
    }

    #[test]
    fn encoded_paths_read_back_as_themselves() {
        for raw in [
            "/",
            "/a%20b",
            "/caf%C3%A9/",
            "/q%3Fx%23y",
            "/a%3Bb;c",
            "/%E2%80%A4dot",
            "/..d/.e/",
        ] {
            let decoded = canonical_path(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            let shown = encode_path(&decoded);
            assert_eq!(canonical_path(&shown), Ok(decoded), "{raw} -> {shown}");
            assert!(shown.is_ascii() && !shown.contains(' '), "{shown}");
        }
        assert_eq!(encode_path("/a b/café?#"), "/a%20b/caf%C3%A9%3F%23");
    }

    #[test]
    fn encode_path_escapes_exactly_controls_space_non_ascii_and_four_marks() {
        for b in 0u8..0x80 {
            let c = char::from(b);
            let escaped = b <= 0x20 || b == 0x7f || "#?%\\".contains(c);
            let want = if escaped {
                format!("%{b:02X}")
            } else {
                c.to_string()
            };
            assert_eq!(encode_path(&c.to_string()), want, "{b:#04x}");
        }
        assert_eq!(encode_path("\u{FF0E}"), "%EF%BC%8E");
    }

    #[test]
    fn dot_segments_are_read_like_a_lenient_server() {
        for seg in [
            ".",
            "..",
            ". ",
            "..  ",
            ".;x",
            "..;",
            "\u{FF0E}",
            ".\u{2024}",
            "\u{FE52} ",
        ] {
            assert!(is_dot_segment(seg), "{seg:?}");
        }
        for seg in [
            "",
            " ",
            ";",
            "...",
            " .",
            ".a",
            "a.",
            "\u{FF0E}\u{FF0E}\u{FF0E}",
            ".\t",
        ] {
            assert!(!is_dot_segment(seg), "{seg:?}");
        }
    }

    #[test]
    fn prefixes_respect_segment_boundaries() {
        assert!(path_under("/repos/acme/x", "/repos/acme/"));
        assert!(!path_under("/repos/acme", "/repos/acme/"));
        assert!(path_under("/repos/acme", "/repos/acme"));
        assert!(path_under("/repos/acme/x", "/repos/acme"));
        assert!(!path_under("/repos/acme-evil", "/repos/acme"));
        assert!(!path_under("/repos/acm", "/repos/acme"));
        assert!(path_under("/anything", "/"));
    }
}
