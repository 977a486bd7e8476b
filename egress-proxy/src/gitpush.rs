//! Recognising git smart-HTTP pushes, which only git-gate may carry.
//!
//! Pushes must go through git-gate so every commit is scanned for secrets;
//! over HTTPS they would bypass it. The check is deliberately loose about
//! spelling (case, escapes, trailing slashes, `;params`, repeated query
//! parameters): a false refusal costs a retry, a false pass leaks a push.

use percent_encoding::percent_decode_str;

/// Whether a request for `path` with `query` (raw, without `?`) is a git push.
pub fn is_git_push(path: &str, query: Option<&str>) -> bool {
    let path = loosen(path);
    let path = path.trim_end_matches('/');
    if path.ends_with("/git-receive-pack") || path == "git-receive-pack" {
        return true;
    }
    if path.ends_with("/info/refs") {
        return query.is_some_and(|q| {
            q.split(['&', ';']).any(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                loosen(name).trim() == "service" && loosen(value).trim() == "git-receive-pack"
            })
        });
    }
    false
}

/// Decode escapes (repeatedly, so `%2573` cannot hide an `s`), `+` as space,
/// drop `;params` from segments, and lowercase.
fn loosen(raw: &str) -> String {
    let mut text = raw.replace('+', " ");
    for _ in 0..4 {
        let decoded = percent_decode_str(&text).decode_utf8_lossy().into_owned();
        if decoded == text {
            break;
        }
        text = decoded;
    }
    let text = text.replace('\\', "/").to_ascii_lowercase();
    text.split('/')
        .map(|seg| seg.split(';').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("/")
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
    fn fetches_and_other_paths_pass() {
        let others = [
            ("/acme/repo.git/git-upload-pack", None),
            ("/acme/repo.git/info/refs", Some("service=git-upload-pack")),
            ("/acme/repo.git/info/refs", None),
            ("/acme/repo.git/git-receive-pack-docs", None),
            ("/acme/git-receive-pack/readme", None),
            ("/acme/info/refs-and-more", Some("service=git-receive-pack")),
            ("/search", Some("q=git-receive-pack")),
        ];
        for (path, query) in others {
            assert!(!is_git_push(path, query), "{path:?} {query:?}");
        }
    }
}
