//! The ASCII (`TYPE A`) line-ending rule of RFC 959 section 3.1.1.1: on the wire, lines end in
//! CRLF. Both directions work chunk by chunk, carrying one byte of state between chunks.
//!
//! This module does NOT decide when to convert (the transfer type does) nor touch any stream.

/// Appends `input` to `out` with each LF not preceded by CR turned into CRLF; `last` is the byte
/// before `input`. Returns the last byte of `input` (or `last` if it is empty).
pub fn lf_to_crlf(input: &[u8], mut last: u8, out: &mut Vec<u8>) -> u8 {
    out.reserve(input.len() + input.len() / 16);
    for &byte in input {
        if byte == b'\n' && last != b'\r' {
            out.push(b'\r');
        }
        out.push(byte);
        last = byte;
    }
    last
}

/// Appends `input` to `out` with each CRLF turned into LF; a CR at the very end is held back
/// (returned as true) until the next chunk shows what follows it.
pub fn crlf_to_lf(input: &[u8], mut pending_cr: bool, out: &mut Vec<u8>) -> bool {
    out.reserve(input.len());
    for &byte in input {
        if pending_cr && byte != b'\n' {
            out.push(b'\r');
        }
        pending_cr = byte == b'\r';
        if !pending_cr {
            out.push(byte);
        }
    }
    pending_cr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_crlf(chunks: &[&[u8]]) -> Vec<u8> {
        let (mut out, mut last) = (Vec::new(), 0);
        for chunk in chunks {
            last = lf_to_crlf(chunk, last, &mut out);
        }
        out
    }

    fn to_lf(chunks: &[&[u8]]) -> Vec<u8> {
        let (mut out, mut pending) = (Vec::new(), false);
        for chunk in chunks {
            pending = crlf_to_lf(chunk, pending, &mut out);
        }
        if pending {
            out.push(b'\r');
        }
        out
    }

    #[test]
    fn ascii_out() {
        assert_eq!(to_crlf(&[b"a\nb\n"]), b"a\r\nb\r\n");
        assert_eq!(to_crlf(&[b"a\r", b"\nb"]), b"a\r\nb");
        assert_eq!(to_crlf(&[b"\n\n"]), b"\r\n\r\n");
    }

    #[test]
    fn ascii_in() {
        assert_eq!(to_lf(&[b"a\r\nb\r\n"]), b"a\nb\n");
        assert_eq!(to_lf(&[b"a\r", b"\nb"]), b"a\nb");
        assert_eq!(to_lf(&[b"a\rb", b"\r"]), b"a\rb\r");
        assert_eq!(to_lf(&[b"\r\r\n"]), b"\r\n");
    }
}
