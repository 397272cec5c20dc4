//! `Reply::encode` for any code 100-599 and any lines of any text (CR, LF, digits, dashes).
//!
//! Asserts: the encoding has one CRLF per line and nothing else ends a line; followed by another
//! reply and cut into any chunks, it decodes to exactly two replies: ours with the same code, the
//! same number of lines and the same text (CR/LF as spaces, inner lines behind one space), then
//! the next one untouched. No text can end a reply early or forge another.
#![no_main]

use arbitrary::Arbitrary;
use ferry_fuzz::{chunks, clean};
use ferry_proto::{Reply, ReplyCode, ReplyDecoder};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    code: u16,
    lines: Vec<String>,
    cuts: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let code = ReplyCode(100 + input.code % 500);
    let reply = Reply::multi(code, input.lines);
    let count = reply.lines.len().max(1);
    let bytes = reply.to_bytes();
    assert!(bytes.ends_with(b"\r\n"));
    assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), count);
    assert_eq!(bytes.iter().filter(|&&b| b == b'\r').count(), count);

    let next = Reply::new(ReplyCode::OK, "next");
    let mut stream = bytes.clone();
    next.encode(&mut stream);
    let mut decoder = ReplyDecoder::default();
    let mut decoded = Vec::new();
    for chunk in chunks(&stream, &input.cuts) {
        decoder.extend(chunk);
        while let Some(reply) = decoder.next_reply().expect("an encoded reply decodes") {
            decoded.push(reply);
        }
    }
    assert_eq!(decoded.len(), 2, "{decoded:?}");
    assert_eq!(decoded[1], next);
    let ours = &decoded[0];
    assert_eq!(ours.code, code);
    assert_eq!(ours.lines.len(), count);
    let expected: Vec<String> = match reply.lines.len() {
        0 => vec![String::new()],
        n => reply
            .lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                if i == 0 || i == n - 1 {
                    clean(line)
                } else {
                    format!(" {}", clean(line))
                }
            })
            .collect(),
    };
    assert_eq!(ours.lines, expected);
});
