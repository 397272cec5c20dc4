//! Hostile and broken input: lengths that lie, fields cut short, strings past the end, NULs in
//! paths, unknown types, bytes left over, and floods of tiny packets.

use super::*;

#[test]
fn a_4_gib_length_is_refused_at_once_without_allocating() {
    let mut decoder = PacketDecoder::default();
    decoder.extend(&[0xFF, 0xFF, 0xFF]);
    assert_eq!(decoder.next_packet(), Ok(None));
    decoder.extend(&[0xFF, 1]);
    let error = SftpError::TooLong {
        length: u32::MAX,
        max: MAX_PACKET_LEN,
    };
    assert_eq!(decoder.next_packet(), Err(error.clone()));
    assert!(error.is_fatal());
    assert_eq!(error.status_reply(), None, "nothing to answer: close");
    // The stream is over: the same error again, and nothing more is kept.
    decoder.extend(&[0; 4096]);
    assert_eq!(decoder.next_packet(), Err(error));
    assert!(decoder.is_empty());
    assert!(decoder.buffer().capacity() < 4096);
}

#[test]
fn the_limit_is_on_the_length_field() {
    let mut wire = cat(&[&[0, 0, 0, 104], &[103], &[0, 0, 0, 1], &[0, 0, 0, 95]]);
    wire.extend_from_slice(&[b'x'; 95]);
    let mut decoder = PacketDecoder::new(104);
    decoder.extend(&wire);
    assert!(matches!(
        decoder.next_packet(),
        Ok(Some(Packet::Data { .. }))
    ));
    let mut decoder = PacketDecoder::new(103);
    decoder.extend(&wire[..4]);
    assert_eq!(
        decoder.next_packet(),
        Err(SftpError::TooLong {
            length: 104,
            max: 103
        })
    );
}

#[test]
fn a_zero_length_ends_the_stream() {
    let mut decoder = PacketDecoder::default();
    decoder.extend(&[0, 0, 0, 0, 0, 0, 0, 5, 1, 0, 0, 0, 3]);
    assert_eq!(decoder.next_packet(), Err(SftpError::Empty));
    assert_eq!(decoder.next_packet(), Err(SftpError::Empty));
    assert!(SftpError::Empty.is_fatal());
}

#[test]
fn truncated_fields_keep_the_id_when_it_was_read() {
    // READ whose `len` has two bytes of four.
    let read = cat(&[
        &[0, 0, 0, 20],
        &[5],
        &[0, 0, 0, 42],
        &[0, 0, 0, 1],
        b"h",
        &[0; 8],
        &[0, 0x80],
    ]);
    let error = SftpError::Truncated {
        packet_type: packet_type::READ,
        id: Some(42),
    };
    assert_eq!(decode(&read, Trailing::Ignore), Err(error.clone()));
    assert!(!error.is_fatal());
    assert_eq!(
        error.status_reply(),
        Some(Packet::Status {
            id: 42,
            code: StatusCode::BAD_MESSAGE,
            message: b"Bad message".to_vec(),
            language: Vec::new(),
        })
    );
    // CLOSE with half an id: nothing to answer.
    let close = cat(&[&[0, 0, 0, 3], &[4], &[0, 0]]);
    let error = SftpError::Truncated {
        packet_type: packet_type::CLOSE,
        id: None,
    };
    assert_eq!(decode(&close, Trailing::Ignore), Err(error.clone()));
    assert_eq!(error.status_reply(), None);
    // INIT with half a version; OPEN whose attributes stop after the flags.
    let init = cat(&[&[0, 0, 0, 3], &[1], &[0, 3]]);
    assert_eq!(
        decode(&init, Trailing::Ignore),
        Err(SftpError::Truncated {
            packet_type: packet_type::INIT,
            id: None
        })
    );
    let open = cat(&[
        &[0, 0, 0, 18],
        &[3],
        &[0, 0, 0, 7],
        &[0, 0, 0, 1],
        b"a",
        &[0, 0, 0, 1],
        &[0, 0, 0, 1],
    ]);
    assert_eq!(
        decode(&open, Trailing::Ignore),
        Err(SftpError::Truncated {
            packet_type: packet_type::OPEN,
            id: Some(7)
        })
    );
}

#[test]
fn strings_longer_than_the_packet() {
    // STAT whose path claims 6 bytes with 5 left, then 0xFFFFFFFF.
    for (claimed, length) in [([0, 0, 0, 6], 6), ([0xFF; 4], u32::MAX)] {
        let stat = cat(&[&[0, 0, 0, 14], &[17], &[0, 0, 0, 3], &claimed, b"/etc/"]);
        let error = SftpError::BadStringLength {
            packet_type: packet_type::STAT,
            id: Some(3),
            length,
        };
        assert_eq!(decode(&stat, Trailing::Ignore), Err(error.clone()));
        assert_eq!(error.status_reply().and_then(|p| p.id()), Some(3));
    }
    // An INIT extension pair cut in its data.
    let init = cat(&[
        &[0, 0, 0, 14],
        &[1],
        &[0, 0, 0, 3],
        &[0, 0, 0, 1],
        b"x",
        &[0, 0, 0, 9],
    ]);
    assert_eq!(
        decode(&init, Trailing::Ignore),
        Err(SftpError::BadStringLength {
            packet_type: packet_type::INIT,
            id: None,
            length: 9
        })
    );
}

#[test]
fn counts_past_the_packet_fail_before_allocating() {
    // NAME claiming 0xFFFFFFFF entries, ATTRS claiming 0xFFFFFFFF extended pairs.
    let name = cat(&[&[0, 0, 0, 9], &[104], &[0, 0, 0, 1], &[0xFF; 4]]);
    let truncated = |packet_type| SftpError::Truncated {
        packet_type,
        id: Some(1),
    };
    assert_eq!(
        decode(&name, Trailing::Ignore),
        Err(truncated(packet_type::NAME))
    );
    let attrs = cat(&[
        &[0, 0, 0, 13],
        &[105],
        &[0, 0, 0, 1],
        &[0x80, 0, 0, 0],
        &[0xFF; 4],
    ]);
    assert_eq!(
        decode(&attrs, Trailing::Ignore),
        Err(truncated(packet_type::ATTRS))
    );
}

#[test]
fn nul_inside_a_path_is_refused_and_a_final_nul_dropped() {
    let with_nul = |path: &[u8]| {
        let length = u8::try_from(9 + path.len()).unwrap();
        let length_of_path = u8::try_from(path.len()).unwrap();
        cat(&[
            &[0, 0, 0, length],
            &[13],
            &[0, 0, 0, 8],
            &[0, 0, 0, length_of_path],
            path,
        ])
    };
    assert_eq!(
        decode(&with_nul(b"a\0/etc/passwd"), Trailing::Ignore),
        Err(SftpError::NulInString {
            packet_type: packet_type::REMOVE,
            id: Some(8)
        })
    );
    assert!(decode(&with_nul(b"a\0\0"), Trailing::Ignore).is_err());
    // sshbuf_get_cstring allows one NUL as the last byte, the C string's end.
    assert_eq!(
        decode(&with_nul(b"a\0"), Trailing::Ignore),
        Ok(Some(Packet::Remove {
            id: 8,
            filename: b"a".to_vec()
        }))
    );
    // Handles and data are bytes: NUL is fine there.
    let handle = cat(&[
        &[0, 0, 0, 12],
        &[4],
        &[0, 0, 0, 8],
        &[0, 0, 0, 3],
        &[0, 0, 0],
    ]);
    assert_eq!(
        decode(&handle, Trailing::Reject),
        Ok(Some(Packet::Close {
            id: 8,
            handle: vec![0; 3]
        }))
    );
}

#[test]
fn unknown_types_are_consumed_and_keep_their_id() {
    let mut decoder = PacketDecoder::default();
    decoder.extend(&cat(&[&[0, 0, 0, 7], &[42], &[0, 0, 0, 9], &[1, 2]]));
    decoder.extend(&cat(&[&[0, 0, 0, 3], &[21], &[1, 2]]));
    decoder.extend(&cat(&[
        &[0, 0, 0, 10],
        &[17],
        &[0, 0, 0, 10],
        &[0, 0, 0, 1],
        b"a",
    ]));
    let error = SftpError::UnknownType {
        packet_type: 42,
        id: Some(9),
    };
    assert_eq!(decoder.next_packet(), Err(error.clone()));
    assert_eq!(
        error.status_reply(),
        Some(Packet::Status {
            id: 9,
            code: StatusCode::OP_UNSUPPORTED,
            message: b"Operation unsupported".to_vec(),
            language: Vec::new(),
        })
    );
    let error = SftpError::UnknownType {
        packet_type: 21,
        id: None,
    };
    assert_eq!(decoder.next_packet(), Err(error));
    let path = b"a".to_vec();
    assert_eq!(
        decoder.next_packet(),
        Ok(Some(Packet::Stat { id: 10, path }))
    );
    assert_eq!(decoder.next_packet(), Ok(None));
}

#[test]
fn trailing_bytes_are_ignored_as_openssh_does_or_refused_on_request() {
    let close = cat(&[
        &[0, 0, 0, 12],
        &[4],
        &[0, 0, 0, 5],
        &[0, 0, 0, 1],
        b"h",
        &[0xAA, 0xBB],
    ]);
    let expected = Packet::Close {
        id: 5,
        handle: b"h".to_vec(),
    };
    assert_eq!(decode(&close, Trailing::Ignore), Ok(Some(expected)));
    let error = SftpError::TrailingBytes {
        packet_type: packet_type::CLOSE,
        id: Some(5),
        count: 2,
    };
    assert_eq!(decode(&close, Trailing::Reject), Err(error.clone()));
    assert_eq!(error.status_code(), StatusCode::BAD_MESSAGE);
    // The same for a typed extension request: `limits@openssh.com` takes no fields.
    let limits = cat(&[
        &[0, 0, 0, 28],
        &[200],
        &[0, 0, 0, 6],
        &[0, 0, 0, 18],
        b"limits@openssh.com",
        &[0],
    ]);
    assert_eq!(
        decode(&limits, Trailing::Ignore),
        Ok(Some(Packet::Limits { id: 6 }))
    );
    assert!(matches!(
        decode(&limits, Trailing::Reject),
        Err(SftpError::TrailingBytes {
            id: Some(6),
            count: 1,
            ..
        })
    ));
}

#[test]
fn a_typed_extension_with_bad_fields_is_an_error_with_its_id() {
    // posix-rename@openssh.com with one path of two.
    let wire = cat(&[
        &[0, 0, 0, 38],
        &[200],
        &[0, 0, 0, 4],
        &[0, 0, 0, 24],
        b"posix-rename@openssh.com",
        &[0, 0, 0, 1],
        b"a",
    ]);
    assert_eq!(
        decode(&wire, Trailing::Ignore),
        Err(SftpError::Truncated {
            packet_type: packet_type::EXTENDED,
            id: Some(4)
        })
    );
}

/// Ten thousand STATs, the smallest requests with a path.
fn tiny_packets(count: u32) -> Vec<u8> {
    let mut wire = Vec::new();
    for id in 0..count {
        wire.extend_from_slice(&[0, 0, 0, 9, 17]);
        wire.extend_from_slice(&id.to_be_bytes());
        wire.extend_from_slice(&[0, 0, 0, 0]);
    }
    wire
}

#[test]
fn ten_thousand_tiny_packets_in_one_buffer_are_read_in_place() {
    let wire = tiny_packets(10_000);
    let mut decoder = PacketDecoder::default();
    decoder.extend(&wire);
    let (pointer, length) = (decoder.buffer().as_ptr(), decoder.buffer().len());
    for id in 0..10_000 {
        let packet = decoder.next_packet();
        let path = Vec::new();
        assert_eq!(packet, Ok(Some(Packet::Stat { id, path })));
        if id < 9_999 {
            // No byte was moved: the decoder only advanced past the packet.
            assert_eq!(
                (decoder.buffer().as_ptr(), decoder.buffer().len()),
                (pointer, length)
            );
            assert_eq!(decoder.pending(), wire.len() - 13 * (id as usize + 1));
        }
    }
    assert_eq!(decoder.next_packet(), Ok(None));
    assert!(decoder.is_empty());
}

#[test]
fn packets_trickling_in_cost_linear_copying() {
    // Fed in pieces of 7 bytes and drained after each: the consumed front is dropped only when
    // it is half the buffer, so the buffer never holds more than twice a piece and a packet.
    let wire = tiny_packets(10_000);
    let mut decoder = PacketDecoder::default();
    let mut decoded = 0;
    for piece in wire.chunks(7) {
        decoder.extend(piece);
        while let Some(packet) = decoder.next_packet().unwrap() {
            assert_eq!(packet.id(), Some(decoded));
            decoded += 1;
        }
        assert!(
            decoder.buffer().len() <= 2 * (7 + 13),
            "{} held",
            decoder.buffer().len()
        );
    }
    assert_eq!(decoded, 10_000);
}
