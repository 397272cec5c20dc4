//! Responses, server to client (draft sections 4 and 7, `PROTOCOL` sections 4.2 and 4.8), each
//! as the bytes OpenSSH's `sftp-server` sends.

use super::*;

#[test]
fn version_with_extension_pairs() {
    let wire = cat(&[
        &[0, 0, 0, 66], // length: 1 + 4 + 33 + 28
        &[2],           // SSH_FXP_VERSION
        &[0, 0, 0, 3],  // version
        &[0, 0, 0, 24],
        b"posix-rename@openssh.com", // ext1-name
        &[0, 0, 0, 1],
        b"1", // ext1-version
        &[0, 0, 0, 19],
        b"statvfs@openssh.com", // ext2-name
        &[0, 0, 0, 1],
        b"2", // ext2-version
    ]);
    check(
        &wire,
        Packet::Version {
            version: 3,
            extensions: vec![
                ExtensionPair::new("posix-rename@openssh.com", "1"),
                ExtensionPair::new("statvfs@openssh.com", "2"),
            ],
        },
    );
    check(
        &[0, 0, 0, 5, 2, 0, 0, 0, 3],
        Packet::Version {
            version: 3,
            extensions: Vec::new(),
        },
    );
}

#[test]
fn announced_extensions_are_openssh_names_and_versions() {
    let names: Vec<(String, String)> = extension::announced()
        .into_iter()
        .map(|pair| {
            let name = String::from_utf8(pair.name).unwrap();
            (name, String::from_utf8(pair.data).unwrap())
        })
        .collect();
    let expected = [
        ("posix-rename@openssh.com", "1"),
        ("limits@openssh.com", "1"),
        ("expand-path@openssh.com", "1"),
        ("fsync@openssh.com", "1"),
    ];
    assert_eq!(names.len(), expected.len());
    for ((name, version), (want_name, want_version)) in names.iter().zip(expected) {
        assert_eq!((name.as_str(), version.as_str()), (want_name, want_version));
    }
}

#[test]
fn status_as_openssh_sends_it() {
    let wire = cat(&[
        &[0, 0, 0, 28], // length: 1 + 4 + 4 + 15 + 4
        &[101],         // SSH_FXP_STATUS
        &[0, 0, 0, 5],  // id
        &[0, 0, 0, 1],  // SSH_FX_EOF
        &[0, 0, 0, 11],
        b"End of file", // error message
        &[0, 0, 0, 0],  // language tag, empty as OpenSSH sends it
    ]);
    check(
        &wire,
        Packet::Status {
            id: 5,
            code: StatusCode::EOF,
            message: b"End of file".to_vec(),
            language: Vec::new(),
        },
    );
}

#[test]
fn status_without_message_or_language_is_accepted() {
    // A status that ends after its code (before version 3, and accepted by OpenSSH's client).
    let bare = cat(&[&[0, 0, 0, 9], &[101], &[0, 0, 0, 6], &[0, 0, 0, 4]]);
    let expected = Packet::Status {
        id: 6,
        code: StatusCode::FAILURE,
        message: Vec::new(),
        language: Vec::new(),
    };
    assert_eq!(decode(&bare, Trailing::Reject), Ok(Some(expected)));
    let no_language = cat(&[
        &[0, 0, 0, 15],
        &[101],
        &[0, 0, 0, 6],
        &[0, 0, 0, 4],
        &[0, 0, 0, 2],
        b"no",
    ]);
    let expected = Packet::Status {
        id: 6,
        code: StatusCode::FAILURE,
        message: b"no".to_vec(),
        language: Vec::new(),
    };
    assert_eq!(decode(&no_language, Trailing::Reject), Ok(Some(expected)));
    // A code past the draft's is kept.
    let later = cat(&[
        &[0, 0, 0, 17],
        &[101],
        &[0, 0, 0, 6],
        &[0, 0, 0, 9],
        &[0; 4],
        &[0; 4],
    ]);
    let decoded = decode(&later, Trailing::Reject);
    assert!(matches!(
        decoded,
        Ok(Some(Packet::Status {
            code: StatusCode(9),
            ..
        }))
    ));
}

#[test]
fn handle_and_data() {
    let handle = cat(&[
        &[0, 0, 0, 13],
        &[102],
        &[0, 0, 0, 1],
        &[0, 0, 0, 4],
        &[0, 0, 0, 0],
    ]);
    check(
        &handle,
        Packet::Handle {
            id: 1,
            handle: vec![0, 0, 0, 0],
        },
    );
    let data = cat(&[&[0, 0, 0, 12], &[103], &[0, 0, 0, 2], &[0, 0, 0, 3], b"abc"]);
    check(
        &data,
        Packet::Data {
            id: 2,
            data: b"abc".to_vec(),
        },
    );
}

#[test]
fn data_built_in_place_is_the_same_bytes() {
    let wire = cat(&[&[0, 0, 0, 12], &[103], &[0, 0, 0, 2], &[0, 0, 0, 3], b"abc"]);
    let mut packet = DataPacket::new(2, 3);
    assert_eq!(packet.data_len(), 0);
    packet.buffer().extend_from_slice(b"ab");
    packet.buffer().push(b'c');
    assert_eq!(packet.data_len(), 3);
    assert_eq!(packet.finish(), wire);
    // Empty, and bigger than the room asked for.
    let empty = DataPacket::new(7, 0).finish();
    assert_eq!(
        empty,
        Packet::Data {
            id: 7,
            data: Vec::new()
        }
        .to_bytes()
    );
    let mut big = DataPacket::new(9, 1);
    big.buffer().extend_from_slice(&[5; 70_000]);
    let data = vec![5; 70_000];
    assert_eq!(big.finish(), Packet::Data { id: 9, data }.to_bytes());
}

#[test]
fn name_with_two_entries_and_with_none() {
    let wire = cat(&[
        &[0, 0, 0, 45], // length: 1 + 4 + 4 + 23 + 13
        &[104],         // SSH_FXP_NAME
        &[0, 0, 0, 3],  // id
        &[0, 0, 0, 2],  // count
        &[0, 0, 0, 1],
        b"a", // filename
        &[0, 0, 0, 2],
        b"la",                     // longname
        &[0, 0, 0, 1],             // attrs flags: SIZE
        &[0, 0, 0, 0, 0, 0, 0, 1], // size
        &[0, 0, 0, 1],
        b"b",          // filename
        &[0, 0, 0, 0], // longname, empty
        &[0, 0, 0, 0], // attrs flags: none
    ]);
    check(
        &wire,
        Packet::Name {
            id: 3,
            entries: vec![
                NameEntry {
                    filename: b"a".to_vec(),
                    longname: b"la".to_vec(),
                    attrs: Attrs {
                        size: Some(1),
                        ..Attrs::default()
                    },
                },
                NameEntry {
                    filename: b"b".to_vec(),
                    longname: Vec::new(),
                    attrs: Attrs::default(),
                },
            ],
        },
    );
    let empty = cat(&[&[0, 0, 0, 9], &[104], &[0, 0, 0, 3], &[0, 0, 0, 0]]);
    let entries = Vec::new();
    check(&empty, Packet::Name { id: 3, entries });
}

#[test]
fn limits_reply_as_openssh_sends_it() {
    // sftp-server.c process_extended_limits: SFTP_MAX_MSG_LENGTH, that less 1024 twice, and
    // the open-file limit less 5 (here 1024).
    let wire = cat(&[
        &[0, 0, 0, 37],                  // length: 1 + 4 + 32
        &[201],                          // SSH_FXP_EXTENDED_REPLY
        &[0, 0, 0, 19],                  // id
        &[0, 0, 0, 0, 0, 0x04, 0, 0],    // max-packet-length 262144
        &[0, 0, 0, 0, 0, 0x03, 0xFC, 0], // max-read-length 261120
        &[0, 0, 0, 0, 0, 0x03, 0xFC, 0], // max-write-length 261120
        &[0, 0, 0, 0, 0, 0, 0x03, 0xFB], // max-open-handles 1019
    ]);
    let limits = LimitsReply {
        max_packet_length: 262_144,
        max_read_length: 261_120,
        max_write_length: 261_120,
        max_open_handles: 1019,
    };
    check(&wire, limits.to_packet(19));
    let Ok(Some(Packet::ExtendedReply { id: 19, data })) = decode(&wire, Trailing::Reject) else {
        panic!("not an extended reply");
    };
    assert_eq!(LimitsReply::decode(&data), Ok(limits));
    // Bytes after the four numbers are ignored, as OpenSSH's client ignores them; fewer than
    // four numbers are an error.
    let mut longer = data.clone();
    longer.push(7);
    assert_eq!(LimitsReply::decode(&longer), Ok(limits));
    assert_eq!(
        LimitsReply::decode(&data[..31]),
        Err(SftpError::Truncated {
            packet_type: packet_type::EXTENDED_REPLY,
            id: None
        })
    );
}
