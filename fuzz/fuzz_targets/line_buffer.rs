//! `LineBuffer` fed any byte stream cut into any chunks, with any line limit up to 255.
//!
//! Asserts: the lines (and too-long reports) are exactly those of a reference model that splits
//! the whole stream at LF at once, so chunking never changes the result; no line returned is
//! longer than the limit; the bytes held for an unfinished line never exceed the limit plus CRLF.
#![no_main]

use arbitrary::Arbitrary;
use ferry_fuzz::{chunks, strip_telnet};
use ferry_proto::{LineBuffer, LineError};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    max_len: u8,
    cuts: Vec<u8>,
    data: Vec<u8>,
}

/// Lines of the whole stream at once, and the bytes left pending.
fn model(data: &[u8], max_len: usize) -> (Vec<Result<Vec<u8>, LineError>>, usize) {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        let line = &rest[..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        out.push(if line.len() > max_len {
            Err(LineError::TooLong)
        } else {
            Ok(strip_telnet(line))
        });
        rest = &rest[end + 1..];
    }
    // An unfinished line is reported as soon as it cannot fit, then skipped.
    if rest.len() > max_len + 2 {
        out.push(Err(LineError::TooLong));
        return (out, 0);
    }
    (out, rest.len())
}

fuzz_target!(|input: Input| {
    let max_len = usize::from(input.max_len);
    let mut buffer = LineBuffer::new(max_len);
    let mut lines = Vec::new();
    for chunk in chunks(&input.data, &input.cuts) {
        buffer.extend(chunk);
        assert!(buffer.pending() <= max_len + 2, "{} held", buffer.pending());
        while let Some(line) = buffer.next_line() {
            if let Ok(line) = &line {
                assert!(line.len() <= max_len);
            }
            lines.push(line);
        }
    }
    let (expected, pending) = model(&input.data, max_len);
    assert_eq!(lines, expected);
    assert_eq!(buffer.pending(), pending);
});
