//! `sftp::PacketDecoder` and `Packet::decode` fed any bytes cut into any chunks, with any length
//! limit and either rule for trailing bytes.
//!
//! Asserts: the packets and errors are exactly those of a reference model that frames the whole
//! stream at once, so chunking never changes the result; once the decoder asks for more it holds
//! at most one unfinished packet (4 + limit bytes); a fatal error repeats and ends the stream; a
//! decoded packet has the frame's type and id, and re-encodes to one packet that decodes to
//! itself even with trailing bytes refused; what decodes with trailing bytes refused decodes the
//! same with them ignored; an error with an id answers one STATUS for that id (OP_UNSUPPORTED for
//! an unknown type, BAD_MESSAGE otherwise) that itself round-trips.
#![no_main]

use arbitrary::Arbitrary;
use ferry_fuzz::chunks;
use ferry_proto::sftp::{
    LimitsReply, Packet, PacketDecoder, SftpError, StatusCode, Trailing, packet_type,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// The limit: small ones reach `TooLong` often; the real one is tried as well.
    max_len: Option<u16>,
    reject_trailing: bool,
    cuts: Vec<u8>,
    data: Vec<u8>,
}

/// What the decoder should give for the whole stream at once: each frame's body decoded, up to
/// the first frame whose length is refused, and the bytes left over.
fn model(data: &[u8], max_len: u32, trailing: Trailing) -> (Vec<Result<Packet, SftpError>>, usize) {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 4 {
        let length = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        if length == 0 {
            out.push(Err(SftpError::Empty));
            return (out, 0);
        }
        if length > max_len {
            out.push(Err(SftpError::TooLong {
                length,
                max: max_len,
            }));
            return (out, 0);
        }
        let end = 4 + length as usize;
        if rest.len() < end {
            break;
        }
        out.push(Packet::decode(&rest[4..end], trailing));
        rest = &rest[end..];
    }
    (out, rest.len())
}

/// Checks one frame body on its own, whatever the decoder's rule.
fn check_body(body: &[u8]) {
    let ignored = Packet::decode(body, Trailing::Ignore);
    let refused = Packet::decode(body, Trailing::Reject);
    match (&refused, &ignored) {
        (Ok(strict), _) => assert_eq!(ignored.as_ref(), Ok(strict)),
        (Err(SftpError::TrailingBytes { .. }), Ok(_)) => {}
        (Err(strict), Err(lenient)) => assert_eq!(strict, lenient),
        (Err(strict), Ok(lenient)) => panic!("{strict:?} refused, but {lenient:?} ignored"),
    }
    if let Ok(packet) = &ignored {
        assert_eq!(packet.packet_type(), body[0]);
        if !matches!(body[0], packet_type::INIT | packet_type::VERSION) {
            let id = u32::from_be_bytes([body[1], body[2], body[3], body[4]]);
            assert_eq!(packet.id(), Some(id));
        }
        let again = packet.to_bytes();
        let mut decoder = PacketDecoder::new(u32::MAX).with_trailing(Trailing::Reject);
        decoder.extend(&again);
        assert_eq!(decoder.next_packet().as_ref(), Ok(&Some(packet.clone())));
        assert!(decoder.is_empty());
        if let Packet::ExtendedReply { data, .. } = packet {
            assert_eq!(LimitsReply::decode(data).is_ok(), data.len() >= 32);
        }
    }
    for error in [&ignored, &refused]
        .into_iter()
        .filter_map(|r| r.as_ref().err())
    {
        assert!(!error.is_fatal(), "{error:?} from a whole frame");
        let Some(reply) = error.status_reply() else {
            assert_eq!(error.id(), None);
            continue;
        };
        let expected = match error {
            SftpError::UnknownType { .. } => StatusCode::OP_UNSUPPORTED,
            _ => StatusCode::BAD_MESSAGE,
        };
        assert!(matches!(reply, Packet::Status { code, .. } if code == expected));
        assert_eq!(reply.id(), error.id());
        let decoded = Packet::decode(&reply.to_bytes()[4..], Trailing::Reject);
        assert_eq!(decoded, Ok(reply));
    }
}

fuzz_target!(|input: Input| {
    let max_len = input
        .max_len
        .map_or(ferry_proto::sftp::MAX_PACKET_LEN, u32::from);
    let trailing = if input.reject_trailing {
        Trailing::Reject
    } else {
        Trailing::Ignore
    };
    let mut decoder = PacketDecoder::new(max_len).with_trailing(trailing);
    let mut decoded = Vec::new();
    let mut fatal = None;
    'feed: for chunk in chunks(&input.data, &input.cuts) {
        decoder.extend(chunk);
        loop {
            match decoder.next_packet() {
                Ok(Some(packet)) => decoded.push(Ok(packet)),
                Ok(None) => break,
                Err(error) if error.is_fatal() => {
                    decoded.push(Err(error.clone()));
                    fatal = Some(error);
                    break 'feed;
                }
                Err(error) => decoded.push(Err(error)),
            }
        }
        assert!(decoder.pending() <= 4 + max_len as usize);
    }
    if let Some(error) = fatal {
        decoder.extend(b"\0\0\0\x05\x01\0\0\0\x03");
        assert_eq!(decoder.next_packet(), Err(error));
        assert!(decoder.is_empty());
    }
    let (expected, pending) = model(&input.data, max_len, trailing);
    assert_eq!(decoded, expected);
    if decoded
        .last()
        .is_none_or(|last| !matches!(last, Err(e) if e.is_fatal()))
    {
        assert_eq!(decoder.pending(), pending);
    }

    // Each whole frame of the stream, on its own.
    let mut rest = input.data.as_slice();
    while rest.len() >= 4 {
        let length = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let Some(body) = rest.get(4..4 + length).filter(|body| !body.is_empty()) else {
            break;
        };
        check_body(body);
        rest = &rest[4 + length..];
    }
});
