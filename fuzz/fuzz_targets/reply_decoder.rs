//! `ReplyDecoder` (the client side) fed any bytes cut into any chunks, with any size limit.
//!
//! Asserts: codes are three digits and every reply has a line; each decoded reply, encoded again,
//! decodes to exactly one reply with the same code and number of lines; chunking never changes
//! what is decoded, except that a partial line over the limit may be refused earlier (`TooLong`)
//! when it arrives in pieces.
#![no_main]

use arbitrary::Arbitrary;
use ferry_fuzz::chunks;
use ferry_proto::{Reply, ReplyDecoder, ReplyError};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    max_len: u16,
    cuts: Vec<u8>,
    data: Vec<u8>,
}

/// Decodes `pieces` in turn, up to and including the first error.
fn decode(pieces: &[&[u8]], max_len: usize) -> Vec<Result<Reply, ReplyError>> {
    let mut decoder = ReplyDecoder::new(max_len);
    let mut out = Vec::new();
    for piece in pieces {
        decoder.extend(piece);
        loop {
            match decoder.next_reply() {
                Ok(Some(reply)) => out.push(Ok(reply)),
                Ok(None) => break,
                Err(error) => {
                    out.push(Err(error));
                    return out;
                }
            }
        }
    }
    out
}

fuzz_target!(|input: Input| {
    let max_len = usize::from(input.max_len);
    let whole = decode(&[&input.data], max_len);
    let pieces = decode(&chunks(&input.data, &input.cuts), max_len);

    for reply in whole.iter().filter_map(|r| r.as_ref().ok()) {
        assert!(reply.code.0 <= 999);
        assert!(!reply.lines.is_empty());
        let mut again = ReplyDecoder::default();
        again.extend(&reply.to_bytes());
        let decoded = again
            .next_reply()
            .expect("our encoding decodes")
            .expect("one reply");
        assert_eq!(decoded.code, reply.code);
        assert_eq!(decoded.lines.len(), reply.lines.len());
        assert_eq!(again.next_reply(), Ok(None));
    }

    match pieces.last() {
        Some(Err(ReplyError::TooLong)) => {
            let before = pieces.len() - 1;
            assert!(whole.len() >= before, "{pieces:?} vs {whole:?}");
            assert_eq!(pieces[..before], whole[..before]);
        }
        _ => assert_eq!(pieces, whole),
    }
});
