//! Proposal ids: minted by the server, checked before any id from outside touches a path.
//!
//! An id is `YYYYMMDD-HHMMSS-xxxxxx`: the UTC creation time (so ids sort by
//! age) and six random base-36 characters. Ids read from the command line,
//! tool arguments or file names are accepted only if they are short and made
//! of `a-z`, `0-9` and `-`, so no id can name a path outside the queue.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

/// Longest id accepted from outside; minted ids are 22 characters.
pub const MAX_ID_LEN: usize = 64;

const RANDOM_LEN: usize = 6;
const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A proposal id that is safe to use as part of a file name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ProposalId(String);

/// Why a string is not a proposal id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid proposal id `{shown}`: {reason}; ids look like `20260101-120000-a1b2c3` \
     (see `supervise queue list`)"
)]
pub struct IdError {
    /// The rejected input, escaped and truncated for display.
    pub shown: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl ProposalId {
    /// Mint a fresh id for a proposal created at `now`.
    pub fn generate(now: OffsetDateTime) -> ProposalId {
        let now = now.to_offset(time::UtcOffset::UTC);
        let mut random = [0u8; RANDOM_LEN];
        getrandom::fill(&mut random).expect("the OS random number generator is unavailable");
        let suffix: String = random
            .iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
            .collect();
        ProposalId(format!(
            "{:04}{:02}{:02}-{:02}{:02}{:02}-{suffix}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
        ))
    }

    /// Validate an id that came from outside (CLI, tool argument, file name).
    pub fn parse(raw: &str) -> Result<ProposalId, IdError> {
        let reject = |reason| IdError {
            shown: shown(raw),
            reason,
        };
        if raw.is_empty() {
            return Err(reject("it is empty"));
        }
        if raw.len() > MAX_ID_LEN {
            return Err(reject("it is longer than 64 characters"));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(reject(
                "only lowercase letters, digits and `-` are allowed (no paths, dots or slashes)",
            ));
        }
        if raw.starts_with('-') {
            return Err(reject("it starts with `-`"));
        }
        Ok(ProposalId(raw.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProposalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ProposalId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProposalId::parse(s)
    }
}

impl<'de> Deserialize<'de> for ProposalId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        ProposalId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// `raw` made printable and short enough for an error message.
fn shown(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .take(40)
        .collect::<String>()
        .escape_default()
        .to_string();
    if raw.chars().count() > 40 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_parse_and_sort_by_time() {
        let early = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let late = OffsetDateTime::from_unix_timestamp(1_700_000_001).unwrap();
        let a = ProposalId::generate(early);
        let b = ProposalId::generate(late);
        assert_eq!(a.as_str().len(), 22, "{a}");
        assert!(a.as_str().starts_with("20231114-221320-"), "{a}");
        assert_eq!(ProposalId::parse(a.as_str()).unwrap(), a);
        assert!(a < b);
        assert_ne!(ProposalId::generate(early), ProposalId::generate(early));
    }

    #[test]
    fn path_tricks_and_garbage_are_refused() {
        let long = "a".repeat(65);
        for bad in [
            "",
            "../x",
            "..",
            ".",
            "/etc/passwd",
            "a/b",
            "a\\b",
            "a\0b",
            "A1",
            "-rf",
            "x.json",
            "é",
            " a",
            "a b",
            "%2e%2e",
            &long,
        ] {
            let e = ProposalId::parse(bad).expect_err(bad);
            assert!(e.to_string().contains("invalid proposal id"), "{e}");
        }
        assert!(ProposalId::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn errors_show_hostile_input_escaped_and_short() {
        let e = ProposalId::parse(&format!("\u{1b}[31m{}", "x".repeat(100))).unwrap_err();
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
        assert!(e.shown.ends_with('…'));
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<ProposalId>("\"../etc\"").is_err());
        assert!(serde_json::from_str::<ProposalId>("\"20260101-000000-abc123\"").is_ok());
    }
}
