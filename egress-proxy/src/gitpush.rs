//! Recognising git smart-HTTP pushes, which only git-gate may carry.
//!
//! Pushes must go through git-gate so every commit is scanned for secrets;
//! over HTTPS they would bypass it. The check is deliberately loose about
//! spelling (case, escapes, trailing slashes, `;params`, repeated query
//! parameters): a false refusal costs a retry, a false pass leaks a push.

use percent_encoding::percent_decode_str;

use crate::canonical::fold_dot;

/// Whether a request for `path` with `query` (raw, without `?`) is a git push.
///
/// The path is read the way the most lenient server could read it: escapes
/// decoded, case and Unicode compatibility forms folded, `;params` dropped,
/// dot segments resolved and empty segments ignored. So every spelling that
/// some origin would route to `git-receive-pack` is caught, whether or not
/// the route checks paths.
pub fn is_git_push(path: &str, query: Option<&str>) -> bool {
    let loose = loosen(path);
    // An escaped `?` is not a query to a strict origin, but may be to a lenient one.
    let (loose_path, decoded_query) = match loose.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (loose.as_str(), None),
    };
    let segments = resolve(loose_path);
    match segments.as_slice() {
        [.., last] if last == "git-receive-pack" => true,
        [.., info, refs] if info == "info" && refs == "refs" => {
            query.is_some_and(asks_for_receive_pack)
                || decoded_query.is_some_and(asks_for_receive_pack)
        }
        _ => false,
    }
}

/// Whether a query names `service=git-receive-pack` in any of its parameters.
fn asks_for_receive_pack(query: &str) -> bool {
    query.split(['&', ';']).any(|pair| {
        let pair = loosen(pair);
        let (name, value) = pair.split_once('=').unwrap_or((&pair, ""));
        name.trim() == "service" && value.trim() == "git-receive-pack"
    })
}

/// Decode escapes (repeatedly, so `%2573` cannot hide an `s`), `+` as space,
/// fold fullwidth ASCII and dot look-alikes to ASCII, `\` to `/`, and lowercase.
fn loosen(raw: &str) -> String {
    let mut text = raw.replace('+', " ");
    for _ in 0..4 {
        let decoded = percent_decode_str(&text).decode_utf8_lossy().into_owned();
        if decoded == text {
            break;
        }
        text = decoded;
    }
    text.chars()
        .map(|c| match fold_dot(c) {
            // Fullwidth forms of ASCII (NFKC folds them), e.g. `／` (`．` is
            // already folded with the other dot look-alikes).
            f @ '\u{FF01}'..='\u{FF5E}' => char::from_u32(f as u32 - 0xFEE0).unwrap_or(f),
            '\\' => '/',
            other => other,
        })
        .collect::<String>()
        .to_lowercase()
}

/// The segments a lenient server would route on: `;params` and trailing
/// blanks or dots dropped, `.` and empty segments skipped, `..` applied.
fn resolve(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for segment in path.split('/') {
        let name = segment.split(';').next().unwrap_or_default().trim();
        match name {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            _ => {
                let name = name.trim_end_matches(['.', ' ']);
                if !name.is_empty() {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_are_recognised_in_every_spelling() {
        let pushes = [
            ("/acme/repo.git/git-receive-pack", None),
            ("/acme/repo/git-receive-pack/", None),
            ("/acme/repo.git/GIT-RECEIVE-PACK", None),
            ("/acme/repo.git/git-receive-pack;x=1", None),
            ("/acme/repo.git/git%2Dreceive%2Dpack", None),
            ("/acme/repo.git/git%252Dreceive-pack", None),
            ("/acme/repo.git/info/refs", Some("service=git-receive-pack")),
            ("/acme/repo.git/info/refs", Some("SERVICE=Git-Receive-Pack")),
            (
                "/acme/repo.git/info/refs",
                Some("service=git-upload-pack&service=git-receive-pack"),
            ),
            (
                "/acme/repo.git/info/refs",
                Some("x=1;service=git-receive-pack"),
            ),
            (
                "/acme/repo.git/info/refs",
                Some("service=git%2Dreceive%2Dpack"),
            ),
            (
                "/acme/repo.git/info/refs",
                Some("%73ervice=git-receive-pack"),
            ),
            (
                "/acme/repo.git/INFO/Refs/",
                Some("service=git-receive-pack"),
            ),
            (
                "/acme/repo.git/info%2Frefs",
                Some("service=git-receive-pack"),
            ),
        ];
        for (path, query) in pushes {
            assert!(is_git_push(path, query), "{path:?} {query:?}");
        }
    }

    #[test]
    fn pushes_hidden_behind_dot_segments_and_encodings_are_recognised() {
        let pushes = [
            ("/r.git/git-receive-pack/.", None),
            ("/r.git/git-receive-pack/./", None),
            ("/r.git/git-receive-pack/x/..", None),
            ("/r.git/git-receive-pack/x/../", None),
            ("/r.git/git-receive-pack%2F.", None),
            ("/r.git/git-receive-pack%2fx%2f..", None),
            ("/r.git/x/../git-receive-pack", None),
            ("/r.git//git-receive-pack//", None),
            ("/r.git/git-receive-pack;jsessionid=1/", None),
            ("/r.git/git-receive-pack/..;/git-receive-pack", None),
            ("/r.git/git-receive-pack%2e", None),
            ("/r.git/git-receive-pack.", None),
            ("/r.git/git-receive-pack%20", None),
            ("/r.git/git-receive-pack%3Bx", None),
            ("/r.git/%2e%2e/r.git/git-receive-pack", None),
            ("/r.git\\git-receive-pack", None),
            ("/r.git%5cgit-receive-pack", None),
            ("/r.git/%EF%BD%87it-receive-pack", None),
            ("/r.git/git-receive-pack%EF%BC%8F%EF%BC%8E", None),
            ("/r.git/GiT-ReCeIvE-PaCk", None),
            ("/r.git/info/refs/.", Some("service=git-receive-pack")),
            ("/r.git/info/refs/x/..", Some("service=git-receive-pack")),
            ("/r.git/info/./refs", Some("service=git-receive-pack")),
            ("/r.git/info/refs;x", Some("service=git-receive-pack")),
            ("/r.git/info/refs%3Fservice=git-receive-pack", None),
            ("/r.git/info/refs", Some("a=1&service=git%2Dreceive-pack")),
            (
                "/r.git/info/refs",
                Some("service=git%252Dreceive%252Dpack&a=1"),
            ),
            ("/r.git/info/refs", Some("service=+git-receive-pack+")),
            ("/r.git/info/refs", Some("service%3Dgit-receive-pack")),
            ("/r.git/info/refs", Some("Service=GIT-RECEIVE-PACK")),
            ("/r.git/info/refs", Some("service=%EF%BD%87it-receive-pack")),
        ];
        for (path, query) in pushes {
            assert!(is_git_push(path, query), "{path:?} {query:?}");
        }
    }

    #[test]
    fn fetches_and_other_paths_pass() {
        let others = [
            ("/acme/repo.git/git-upload-pack", None),
            ("/acme/repo.git/info/refs", Some("service=git-upload-pack")),
            ("/acme/repo.git/info/refs", None),
            ("/acme/repo.git/git-receive-pack-docs", None),
            ("/acme/git-receive-pack/readme", None),
            ("/acme/info/refs-and-more", Some("service=git-receive-pack")),
            ("/search", Some("q=git-receive-pack")),
            ("/acme/git-receive-pack/x/y/..", None),
            ("/acme/git-receive-pack/..", None),
            (
                "/acme/repo.git/info/refs/x",
                Some("service=git-receive-pack"),
            ),
            (
                "/acme/repo.git/info/refs",
                Some("xservice=git-receive-pack"),
            ),
        ];
        for (path, query) in others {
            assert!(!is_git_push(path, query), "{path:?} {query:?}");
        }
    }
}
