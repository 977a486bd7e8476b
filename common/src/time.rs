//! Timestamps in the one format every bottle log and file uses: RFC 3339, UTC.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The current time as RFC 3339 UTC with millisecond precision, e.g. `2026-11-22T10:00:00.123Z`.
pub fn now_rfc3339() -> String {
    format_rfc3339(OffsetDateTime::now_utc())
}

/// Format a time as RFC 3339 UTC with millisecond precision.
pub fn format_rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t
        .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Parse an RFC 3339 timestamp written by [`format_rfc3339`] (or any RFC 3339 producer).
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let s = now_rfc3339();
        assert!(s.ends_with('Z'), "{s}");
        let t = parse_rfc3339(&s).unwrap();
        assert_eq!(format_rfc3339(t), s);
    }
}
