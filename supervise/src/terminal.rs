//! Which characters may reach the operator's terminal: one predicate for refusing and escaping.
//!
//! Proposals are refused ([`crate::proposal::check_text`]) and queue text is
//! escaped for display ([`crate::operator::printable`]) by the same rule, so
//! anything the server would refuse from the agent is also escaped when some
//! other writer put it into a queue file.

/// Whether `c` could hide, reorder or repaint text on a terminal: control characters
/// (tab and newline included; callers allow those where layout needs them) and
/// invisible formatting characters.
pub fn is_hidden_or_control(c: char) -> bool {
    c.is_control() || is_invisible_format(c)
}

/// Zero-width, bidirectional and other invisible formatting characters ("Trojan Source",
/// tag-character smuggling, blank fillers, line and paragraph separators).
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E007F}'
            | '\u{E0100}'..='\u{E01EF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_invisible_formatting_are_flagged() {
        for c in [
            '\u{0}',
            '\u{7}',
            '\t',
            '\n',
            '\r',
            '\u{1b}',
            '\u{7f}',
            '\u{85}',
            '\u{9b}',
            '\u{ad}',
            '\u{200b}',
            '\u{200d}',
            '\u{202e}',
            '\u{2066}',
            '\u{2028}',
            '\u{2029}',
            '\u{2060}',
            '\u{feff}',
            '\u{e0041}',
            '\u{fe0f}',
            '\u{3164}',
        ] {
            assert!(is_hidden_or_control(c), "U+{:04X}", u32::from(c));
        }
        for c in ['a', ' ', 'é', '中', '€', '—', '…', '😀'] {
            assert!(!is_hidden_or_control(c), "U+{:04X}", u32::from(c));
        }
    }
}
