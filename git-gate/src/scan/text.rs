//! Byte-level helpers the scanner needs: binary and UTF-16 detection, printable runs, lines, entropy.

use std::borrow::Cow;

/// How far into a blob git (and we) look for a NUL byte to call it binary.
const BINARY_SNIFF_BYTES: usize = 8000;
/// Shortest printable run kept from a binary blob (like `strings -n 8`).
pub const MIN_PRINTABLE_RUN: usize = 8;

/// Whether `content` is binary by git's rule: a NUL byte in its first 8000 bytes.
pub fn looks_binary(content: &[u8]) -> bool {
    content[..content.len().min(BINARY_SNIFF_BYTES)].contains(&0)
}

/// How a blob was turned into scannable text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Read as is (no NUL in the first 8000 bytes).
    Text,
    /// UTF-16 (by byte-order mark or alternating NULs), decoded to UTF-8.
    Utf16,
    /// Binary: only its printable runs are read.
    Binary,
}

/// The text the scanner reads for one blob.
#[derive(Debug)]
pub struct Scannable<'a> {
    /// The bytes to scan.
    pub text: Cow<'a, [u8]>,
    /// How they were obtained.
    pub encoding: Encoding,
    /// Offsets below this are real lines of the blob; beyond it are extracted runs without lines.
    pub lines_until: usize,
}

/// The text the scanner reads: the content itself, decoded UTF-16, or the printable runs of a binary.
///
/// Binary content yields each run of at least [`MIN_PRINTABLE_RUN`] printable
/// ASCII characters, stored as bytes or as UTF-16 code units (either byte
/// order, any alignment), one per line, so a token embedded in an image,
/// archive or compiled file is still seen. UTF-16 text is decoded with its
/// lines intact and its single-byte printable runs are read as well, so a
/// byte-order mark cannot hide ASCII behind it.
pub fn scannable(content: &[u8]) -> Scannable<'_> {
    if !looks_binary(content) {
        return Scannable {
            lines_until: content.len(),
            text: Cow::Borrowed(content),
            encoding: Encoding::Text,
        };
    }
    if let Some((little_endian, skip)) = utf16_layout(content) {
        let mut out = decode_utf16(&content[skip..], little_endian).into_bytes();
        let lines_until = out.len();
        out.push(b'\n');
        byte_runs(content, &mut out);
        return Scannable {
            text: Cow::Owned(out),
            encoding: Encoding::Utf16,
            lines_until,
        };
    }
    let mut out = Vec::new();
    byte_runs(content, &mut out);
    wide_runs(content, &mut out);
    Scannable {
        text: Cow::Owned(out),
        encoding: Encoding::Binary,
        lines_until: 0,
    }
}

/// Byte order and BOM length when `content` (already known to hold a NUL) is UTF-16 text.
///
/// A byte-order mark decides; without one, text in the Latin range shows as
/// NULs in nearly every high byte and almost never in a low byte.
fn utf16_layout(content: &[u8]) -> Option<(bool, usize)> {
    match content {
        [0xFF, 0xFE, ..] => return Some((true, 2)),
        [0xFE, 0xFF, ..] => return Some((false, 2)),
        _ => {}
    }
    let sample = &content[..content.len().min(BINARY_SNIFF_BYTES) & !1];
    let pairs = sample.len() / 2;
    if pairs < 4 {
        return None;
    }
    let (mut even, mut odd) = (0, 0);
    for p in sample.chunks_exact(2) {
        even += usize::from(p[0] == 0);
        odd += usize::from(p[1] == 0);
    }
    if odd * 2 >= pairs && even * 20 <= pairs {
        Some((true, 0))
    } else if even * 2 >= pairs && odd * 20 <= pairs {
        Some((false, 0))
    } else {
        None
    }
}

fn decode_utf16(bytes: &[u8], little_endian: bool) -> String {
    let units = bytes.chunks_exact(2).map(|p| {
        if little_endian {
            u16::from_le_bytes([p[0], p[1]])
        } else {
            u16::from_be_bytes([p[0], p[1]])
        }
    });
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

const fn printable(b: u8) -> bool {
    (b >= 0x20 && b < 0x7f) || b == b'\t'
}

/// Runs of printable single bytes, one per line.
fn byte_runs(content: &[u8], out: &mut Vec<u8>) {
    let mut run_start = None;
    for (i, &b) in content.iter().enumerate() {
        match (printable(b), run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(start)) => {
                push_run(out, &content[start..i]);
                run_start = None;
            }
            _ => {}
        }
    }
    if let Some(start) = run_start {
        push_run(out, &content[start..]);
    }
}

/// Byte classes for [`wide_runs`]: NUL, printable, or neither (0). Two neighbours
/// can stand in one UTF-16 run exactly when their classes OR to 3.
const WIDE_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[0] = 1;
    let mut b = 1;
    while b < 256 {
        if printable(b as u8) {
            t[b] = 2;
        }
        b += 1;
    }
    t
};

/// Runs of printable characters stored as UTF-16 code units, either byte order, any alignment.
///
/// A run is a maximal stretch in which printable bytes and NULs alternate
/// (`c 0 c 0 …` little-endian, `0 c 0 c …` big-endian; one stretch is both),
/// read once as its printable bytes. One pass, a table look-up per byte, and
/// nothing copied but the runs kept.
fn wide_runs(content: &[u8], out: &mut Vec<u8>) {
    let keep = |out: &mut Vec<u8>, start: usize, end: usize| {
        let first = start + usize::from(content.get(start) == Some(&0));
        if end.saturating_sub(first) >= 2 * MIN_PRINTABLE_RUN - 1 {
            out.extend(content[first..end].iter().step_by(2));
            out.push(b'\n');
        }
    };
    let (mut start, mut prev) = (0, 0);
    for (i, &b) in content.iter().enumerate() {
        let class = WIDE_CLASS[usize::from(b)];
        if class | prev != 3 {
            keep(out, start, i);
            start = i;
        }
        prev = class;
    }
    keep(out, start, content.len());
}

fn push_run(out: &mut Vec<u8>, run: &[u8]) {
    if run.len() >= MIN_PRINTABLE_RUN {
        out.extend_from_slice(run);
        out.push(b'\n');
    }
}

/// Whether a value with no digit reads as words or an identifier (`getTokenFromEnv`,
/// `SECRET_KEY_BASE`, `your-api-key-here`) rather than random letters.
///
/// The value is split into words at non-letters and camel-case boundaries.
/// Words must average at least 3 letters and be at most 20; a word of 3 or
/// more letters needs a vowel (`y` counts) unless it is an upper-case
/// acronym of at most 4; a word of 5 or more needs vowels in a fifth of its
/// letters and no more than 3 consonants in a row. Random letters rarely pass
/// all of these (about 2% at 20 characters, under 1% from 32).
pub fn reads_as_words(value: &[u8]) -> bool {
    if value.iter().any(u8::is_ascii_digit) {
        return false;
    }
    let mut words = Vec::new();
    for segment in value.split(|b| !b.is_ascii_alphabetic()) {
        split_camel(segment, &mut words);
    }
    let letters: usize = words.iter().map(|w| w.len()).sum();
    if words.is_empty() || letters < 3 * words.len() {
        return false;
    }
    words.iter().all(|w| pronounceable(w))
}

fn is_vowel(b: u8) -> bool {
    matches!(
        b.to_ascii_lowercase(),
        b'a' | b'e' | b'i' | b'o' | b'u' | b'y'
    )
}

fn pronounceable(word: &[u8]) -> bool {
    if word.len() > 20 {
        return false;
    }
    if word.len() <= 4 && word.iter().all(u8::is_ascii_uppercase) {
        return true;
    }
    let vowels = word.iter().filter(|&&b| is_vowel(b)).count();
    if word.len() >= 3 && vowels == 0 {
        return false;
    }
    if word.len() < 5 {
        return true;
    }
    let mut run = 0;
    let longest = word.iter().fold(0, |longest, &b| {
        run = if is_vowel(b) { 0 } else { run + 1 };
        longest.max(run)
    });
    vowels * 5 >= word.len() && longest <= 3
}

/// Split letters into words: `HTTPServerError` → `HTTP`, `Server`, `Error`.
fn split_camel<'a>(segment: &'a [u8], words: &mut Vec<&'a [u8]>) {
    let mut i = 0;
    while i < segment.len() {
        let start = i;
        if segment[i].is_ascii_uppercase() {
            let mut j = i;
            while j < segment.len() && segment[j].is_ascii_uppercase() {
                j += 1;
            }
            if j == segment.len() || j - i == 1 {
                i = j;
            } else {
                words.push(&segment[i..j - 1]);
                i = j - 1;
                continue;
            }
            if j == segment.len() && j - start > 1 {
                words.push(&segment[start..j]);
                continue;
            }
        }
        while i < segment.len() && segment[i].is_ascii_lowercase() {
            i += 1;
        }
        words.push(&segment[start..i]);
    }
}

/// Start of the line containing byte `at`, looking back at most `reach` bytes.
pub fn line_start(content: &[u8], at: usize, reach: usize) -> usize {
    let at = at.min(content.len());
    let floor = at.saturating_sub(reach);
    content[floor..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(floor, |p| floor + p + 1)
}

/// End of the line containing byte `at` (its `\n` or the content end), looking ahead at most `reach` bytes.
pub fn line_end(content: &[u8], at: usize, reach: usize) -> usize {
    let at = at.min(content.len());
    let ceiling = at.saturating_add(reach).min(content.len());
    content[at..ceiling]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(ceiling, |p| at + p)
}

/// Maps byte offsets to 1-based line numbers by counting newlines from the last answer.
///
/// Findings arrive in nearly increasing order, so the total work is about one
/// pass over the content, and nothing is allocated.
#[derive(Debug)]
pub struct LineCursor<'a> {
    content: &'a [u8],
    pos: std::cell::Cell<(usize, u64)>,
}

impl<'a> LineCursor<'a> {
    /// A cursor at the start of `content`.
    pub fn new(content: &'a [u8]) -> LineCursor<'a> {
        LineCursor {
            content,
            pos: std::cell::Cell::new((0, 1)),
        }
    }

    /// The 1-based line of byte `offset`.
    pub fn line_of(&self, offset: usize) -> u64 {
        let offset = offset.min(self.content.len());
        let (at, line) = self.pos.get();
        let count = |r: &[u8]| r.iter().filter(|&&b| b == b'\n').count() as u64;
        let line = if offset >= at {
            line + count(&self.content[at..offset])
        } else {
            line - count(&self.content[offset..at])
        };
        self.pos.set((offset, line));
        line
    }
}

/// Shannon entropy of `bytes` in bits per byte (0 for empty input).
pub fn shannon_entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[b as usize] += 1;
    }
    let len = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / len;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_passed_through() {
        let s = scannable(b"hello\nworld");
        assert_eq!(s.encoding, Encoding::Text);
        assert_eq!(&*s.text, b"hello\nworld");
        assert_eq!(s.lines_until, 11);
    }

    #[test]
    fn binary_keeps_long_printable_runs_only() {
        let mut blob = vec![0u8, 1, 2];
        blob.extend_from_slice(b"short\x00token=ghp_abcdefgh\x01\x02tail-of-file");
        let s = scannable(&blob);
        assert_eq!(s.encoding, Encoding::Binary);
        assert_eq!(&*s.text, b"token=ghp_abcdefgh\ntail-of-file\n");
        assert_eq!(s.lines_until, 0);
    }

    fn utf16(text: &str, little_endian: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let units = bom.then_some(0xFEFF).into_iter().chain(text.encode_utf16());
        for u in units {
            out.extend_from_slice(&if little_endian {
                u.to_le_bytes()
            } else {
                u.to_be_bytes()
            });
        }
        out
    }

    #[test]
    fn utf16_text_is_decoded_with_its_lines() {
        for (le, bom) in [(true, true), (false, true), (true, false), (false, false)] {
            let blob = utf16("first line\nkey = ghp_abc\n", le, bom);
            let s = scannable(&blob);
            assert_eq!(s.encoding, Encoding::Utf16, "le={le} bom={bom}");
            assert!(
                s.text.starts_with(b"first line\nkey = ghp_abc\n"),
                "le={le} bom={bom}: {:?}",
                String::from_utf8_lossy(&s.text)
            );
            assert_eq!(s.lines_until, 25);
        }
        let unpaired = [0x3D, 0xD8, b'a', 0];
        assert_eq!(
            &*scannable(&[&unpaired[..], &[b'b', 0, b'c', 0][..]].concat()).text,
            "\u{fffd}abc\n".as_bytes()
        );
    }

    #[test]
    fn a_byte_order_mark_cannot_hide_ascii() {
        let mut blob = vec![0xFF, 0xFE, 0, 1];
        blob.extend_from_slice(b"token=ghp_abcdefgh\x00");
        let s = scannable(&blob);
        assert_eq!(s.encoding, Encoding::Utf16);
        assert!(s.text[s.lines_until..].starts_with(b"\ntoken=ghp_abcdefgh\n"));
    }

    #[test]
    fn utf16_runs_inside_binaries_are_found_at_any_alignment() {
        for offset in 0..2 {
            for le in [true, false] {
                let mut blob = vec![0u8; 16 + offset];
                blob.extend(utf16("ghp_secretvalue", le, false));
                blob.extend_from_slice(&[0xff, 0x13, 0x37, 0xc8]);
                let s = scannable(&blob);
                assert_eq!(s.encoding, Encoding::Binary);
                assert!(
                    s.text.windows(15).any(|w| w == b"ghp_secretvalue"),
                    "offset {offset} le={le}: {:?}",
                    String::from_utf8_lossy(&s.text)
                );
                let lines = s.text.split(|&b| b == b'\n');
                assert_eq!(
                    lines
                        .filter(|l| l.windows(13).any(|w| w == b"hp_secretvalu"))
                        .count(),
                    1,
                    "offset {offset} le={le}: each wide string is read once: {:?}",
                    String::from_utf8_lossy(&s.text)
                );
            }
        }
    }

    #[test]
    fn wide_runs_need_eight_characters_at_either_edge() {
        let wide = |chars: &str, lead: bool, trail: bool| {
            let mut blob = vec![0xffu8];
            blob.extend(lead.then_some(0));
            for c in chars.bytes() {
                blob.extend([c, 0]);
            }
            if !trail {
                blob.pop();
            }
            let mut out = Vec::new();
            wide_runs(&blob, &mut out);
            out
        };
        for (lead, trail) in [(false, false), (false, true), (true, false), (true, true)] {
            assert_eq!(wide("abcdefg", lead, trail), b"", "{lead} {trail}");
            assert_eq!(
                wide("abcdefgh", lead, trail),
                b"abcdefgh\n",
                "{lead} {trail}"
            );
        }
        let mut out = Vec::new();
        wide_runs(b"\0u\0v\0w\0x\0ab\0c\0d\0e\0f\0g\0h\0i\0", &mut out);
        assert_eq!(
            out, b"bcdefghi\n",
            "`ab` ends one stretch and starts the next"
        );
    }

    #[test]
    fn lines_and_offsets() {
        let c = b"a\nbb\n\nccc";
        assert_eq!((line_start(c, 3, 99), line_end(c, 3, 99)), (2, 4));
        assert_eq!((line_start(c, 0, 99), line_end(c, 0, 99)), (0, 1));
        assert_eq!((line_start(c, 7, 99), line_end(c, 7, 99)), (6, 9));
        assert_eq!((line_start(c, 8, 1), line_end(c, 6, 2)), (7, 8));
        let cur = LineCursor::new(c);
        assert_eq!(cur.line_of(8), 4);
        assert_eq!(cur.line_of(0), 1);
        assert_eq!(cur.line_of(5), 3);
        assert_eq!(cur.line_of(2), 2);
        assert_eq!(cur.line_of(9), 4);
    }

    #[test]
    fn entropy_orders_randomness() {
        assert_eq!(shannon_entropy(b""), 0.0);
        assert_eq!(shannon_entropy(b"aaaa"), 0.0);
        assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
        assert!(shannon_entropy(b"q8Vz3LmT0pRw9XbK2nYc") > 4.0);
    }

    #[test]
    fn words_and_identifiers_read_as_words() {
        for ok in [
            "authorizationHeaderValue",
            "getHTTPResponseHandler",
            "SECRET_KEY_BASE_VALUE",
            "your-api-key-goes-here",
            "kubernetes.io/service-account-token",
            "ThisIsNotARealPassword",
        ] {
            assert!(reads_as_words(ok.as_bytes()), "{ok}");
        }
        for no in [
            "qZxKvbTrwLmnPsdfGhjK",
            "kdjfhqpwzmxnbvtr",
            "aBcDeFgHiJkLmNoP",
            "QWRTZPLKMNBVCXSD",
            "wordsWithDigit1",
            "",
            "---",
        ] {
            assert!(!reads_as_words(no.as_bytes()), "{no}");
        }
        let mut words = Vec::new();
        split_camel(b"HTTPServerError", &mut words);
        assert_eq!(words, [&b"HTTP"[..], b"Server", b"Error"]);
        words.clear();
        split_camel(b"getX", &mut words);
        assert_eq!(words, [&b"get"[..], b"X"]);
    }
}
