//! Byte-level helpers the scanner needs: binary detection, printable runs, lines, entropy.

use std::borrow::Cow;

/// How far into a blob git (and we) look for a NUL byte to call it binary.
const BINARY_SNIFF_BYTES: usize = 8000;
/// Shortest printable run kept from a binary blob (like `strings -n 8`).
pub const MIN_PRINTABLE_RUN: usize = 8;

/// Whether `content` is binary by git's rule: a NUL byte in its first 8000 bytes.
pub fn looks_binary(content: &[u8]) -> bool {
    content[..content.len().min(BINARY_SNIFF_BYTES)].contains(&0)
}

/// The text the scanner reads: the content itself, or for binary content its printable runs.
///
/// Each run of at least [`MIN_PRINTABLE_RUN`] printable ASCII bytes becomes one
/// line, so a token embedded in an image, archive or compiled file is still seen.
pub fn scannable(content: &[u8]) -> (Cow<'_, [u8]>, bool) {
    if !looks_binary(content) {
        return (Cow::Borrowed(content), false);
    }
    let mut out = Vec::new();
    let mut run_start = None;
    for (i, &b) in content.iter().enumerate() {
        let printable = (0x20..0x7f).contains(&b) || b == b'\t';
        match (printable, run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(start)) => {
                push_run(&mut out, &content[start..i]);
                run_start = None;
            }
            _ => {}
        }
    }
    if let Some(start) = run_start {
        push_run(&mut out, &content[start..]);
    }
    (Cow::Owned(out), true)
}

fn push_run(out: &mut Vec<u8>, run: &[u8]) {
    if run.len() >= MIN_PRINTABLE_RUN {
        out.extend_from_slice(run);
        out.push(b'\n');
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
        let (t, binary) = scannable(b"hello\nworld");
        assert!(!binary);
        assert_eq!(&*t, b"hello\nworld");
    }

    #[test]
    fn binary_keeps_long_printable_runs_only() {
        let mut blob = vec![0u8, 1, 2];
        blob.extend_from_slice(b"short\x00token=ghp_abcdefgh\x01\x02tail-of-file");
        let (t, binary) = scannable(&blob);
        assert!(binary);
        assert_eq!(&*t, b"token=ghp_abcdefgh\ntail-of-file\n");
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
}
