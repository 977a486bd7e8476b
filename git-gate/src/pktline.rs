//! git's pkt-line framing: a 4-hex-digit length, then that many bytes (length included).
//!
//! Used for the daemon request line, `ERR` replies, and the `proc-receive`
//! hook protocol. Every read is bounded and every malformed frame is an error.

use std::io::{self, Read, Write};

/// Largest pkt-line git allows (length field included).
pub const MAX_PKT_LEN: usize = 65520;

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pkt {
    /// `0000`: end of a section.
    Flush,
    /// `0001`: section delimiter (protocol v2).
    Delim,
    /// `0002`: end of a response (protocol v2).
    ResponseEnd,
    /// A payload.
    Data(Vec<u8>),
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PktError {
    /// The stream ended inside or before a frame.
    #[error("connection closed before a complete pkt-line was received")]
    Eof,
    /// The length prefix is not 4 hex digits.
    #[error("malformed pkt-line length {0:?}; expected 4 hex digits")]
    BadLength(String),
    /// The length is 3, or beyond the limit in force.
    #[error("pkt-line length {len} is out of range (at most {max})")]
    TooLong {
        /// Declared length.
        len: usize,
        /// Limit in force.
        max: usize,
    },
    /// The underlying stream failed.
    #[error("reading pkt-line: {0}")]
    Io(#[from] io::Error),
}

/// Parse a 4-byte length prefix; returns the total frame length.
pub fn parse_len(prefix: &[u8; 4]) -> Result<usize, PktError> {
    let text = std::str::from_utf8(prefix)
        .ok()
        .filter(|t| t.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| PktError::BadLength(String::from_utf8_lossy(prefix).into_owned()))?;
    usize::from_str_radix(text, 16).map_err(|_| PktError::BadLength(text.to_string()))
}

/// Read one frame of at most `max` bytes from a blocking reader.
pub fn read_pkt<R: Read>(r: &mut R, max: usize) -> Result<Pkt, PktError> {
    let mut prefix = [0u8; 4];
    read_exact(r, &mut prefix)?;
    let len = parse_len(&prefix)?;
    match len {
        0 => return Ok(Pkt::Flush),
        1 => return Ok(Pkt::Delim),
        2 => return Ok(Pkt::ResponseEnd),
        3 => return Err(PktError::TooLong { len, max }),
        _ if len > max.min(MAX_PKT_LEN) => {
            return Err(PktError::TooLong {
                len,
                max: max.min(MAX_PKT_LEN),
            });
        }
        _ => {}
    }
    let mut data = vec![0u8; len - 4];
    read_exact(r, &mut data)?;
    Ok(Pkt::Data(data))
}

fn read_exact<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<(), PktError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => PktError::Eof,
        _ => PktError::Io(e),
    })
}

/// Encode `payload` as one frame; payloads over the limit are cut (callers send short lines).
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let payload = &payload[..payload.len().min(MAX_PKT_LEN - 4)];
    let mut out = format!("{:04x}", payload.len() + 4).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The flush frame.
pub const FLUSH: &[u8] = b"0000";

/// An `ERR` frame: git clients print its text as `fatal: remote error: <text>`.
pub fn err_frame(message: &str) -> Vec<u8> {
    let clean: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    encode(format!("ERR {clean}\n").as_bytes())
}

/// Write one data frame.
pub fn write_pkt<W: Write>(w: &mut W, payload: &[u8]) -> io::Result<()> {
    w.write_all(&encode(payload))
}

/// Strip one trailing newline, as git does when reading text pkt-lines.
pub fn chomp(data: &[u8]) -> &[u8] {
    data.strip_suffix(b"\n").unwrap_or(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_specials() {
        let mut wire = encode(b"hello\n");
        wire.extend_from_slice(FLUSH);
        wire.extend_from_slice(b"0001");
        let mut r = &wire[..];
        assert_eq!(
            read_pkt(&mut r, 100).unwrap(),
            Pkt::Data(b"hello\n".to_vec())
        );
        assert_eq!(read_pkt(&mut r, 100).unwrap(), Pkt::Flush);
        assert_eq!(read_pkt(&mut r, 100).unwrap(), Pkt::Delim);
        assert!(matches!(read_pkt(&mut r, 100), Err(PktError::Eof)));
    }

    #[test]
    fn malformed_frames_are_errors() {
        for (wire, what) in [
            (&b"00zz"[..], "bad hex"),
            (b"0003", "length 3"),
            (b"ffff", "over max"),
            (b"0009abc", "truncated"),
            (b"00", "short prefix"),
            (b"-001", "sign"),
            (b"+00a", "plus sign"),
        ] {
            assert!(read_pkt(&mut &wire[..], MAX_PKT_LEN).is_err(), "{what}");
        }
        assert!(matches!(
            read_pkt(&mut &b"0100"[..], 64),
            Err(PktError::TooLong { len: 256, max: 64 })
        ));
    }

    #[test]
    fn random_streams_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..5_000 {
            let bytes: Vec<u8> = (0..round % 40)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    b"0123456789abcdefXYZ\0\n"[(x % 21) as usize]
                })
                .collect();
            let mut r = &bytes[..];
            while let Ok(p) = read_pkt(&mut r, 64) {
                if let Pkt::Data(d) = p {
                    assert!(d.len() <= 60);
                }
            }
        }
    }

    #[test]
    fn err_frames_are_single_lines() {
        assert_eq!(
            err_frame("no\nsuch repo"),
            b"0015ERR no such repo\n".to_vec()
        );
    }
}
