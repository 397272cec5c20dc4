//! Unit tests against byte layouts written out by hand from draft-ietf-secsh-filexfer-02 and
//! OpenSSH's `PROTOCOL`: each packet is encoded and compared with its bytes, and its bytes are
//! decoded and compared with the packet. Round trips of random packets are in
//! `tests/sftp_properties.rs`.

mod hostile;
mod requests;
mod responses;

use super::*;
use crate::listing::{Entry, EntryKind};

/// Joins the hand-written pieces of a packet.
fn cat(pieces: &[&[u8]]) -> Vec<u8> {
    pieces.concat()
}

/// `packet` encodes to exactly `wire`, and `wire` decodes to exactly `packet` (trailing bytes
/// refused, so every byte of the layout is accounted for), whole and a byte at a time.
#[track_caller]
fn check(wire: &[u8], packet: Packet) {
    assert_eq!(packet.to_bytes(), wire, "encoding {packet:?}");
    let mut decoder = PacketDecoder::default().with_trailing(Trailing::Reject);
    decoder.extend(wire);
    assert_eq!(decoder.next_packet(), Ok(Some(packet.clone())));
    assert_eq!(decoder.next_packet(), Ok(None));
    assert!(decoder.is_empty());
    let mut decoder = PacketDecoder::default();
    for (index, byte) in wire.iter().enumerate() {
        assert_eq!(decoder.next_packet(), Ok(None), "after {index} bytes");
        decoder.extend(&[*byte]);
    }
    assert_eq!(decoder.next_packet(), Ok(Some(packet)));
}

/// Decodes `wire` as one whole packet with `trailing`.
fn decode(wire: &[u8], trailing: Trailing) -> Result<Option<Packet>, SftpError> {
    let mut decoder = PacketDecoder::default().with_trailing(trailing);
    decoder.extend(wire);
    decoder.next_packet()
}

#[test]
fn attrs_with_every_field_in_the_drafts_order() {
    let attrs = Attrs {
        size: Some(0x0102_0304_0506_0708),
        uid_gid: Some((1000, 100)),
        permissions: Some(0o100_644),
        times: Some((0x6000_0000, 0x6000_0001)),
        extended: vec![ExtensionPair::new("a@b", "xy")],
    };
    let wire = cat(&[
        &[0, 0, 0, 54],            // length: 1 + 4 + 4 + 8 + 8 + 4 + 8 + 4 + 7 + 6
        &[105],                    // SSH_FXP_ATTRS
        &[0, 0, 0, 9],             // id
        &[0x80, 0, 0, 0x0F],       // flags: EXTENDED | ACMODTIME | PERMISSIONS | UIDGID | SIZE
        &[1, 2, 3, 4, 5, 6, 7, 8], // size
        &[0, 0, 0x03, 0xE8],       // uid 1000
        &[0, 0, 0, 100],           // gid
        &[0, 0, 0x81, 0xA4],       // permissions 0o100644
        &[0x60, 0, 0, 0],          // atime
        &[0x60, 0, 0, 1],          // mtime
        &[0, 0, 0, 1],             // extended_count
        &[0, 0, 0, 3],
        b"a@b", // extended_type
        &[0, 0, 0, 2],
        b"xy", // extended_data
    ]);
    check(&wire, Packet::Attrs { id: 9, attrs });
}

#[test]
fn attrs_flags_alone_and_each_field_alone() {
    let none = cat(&[&[0, 0, 0, 9], &[105], &[0, 0, 0, 1], &[0, 0, 0, 0]]);
    check(
        &none,
        Packet::Attrs {
            id: 1,
            attrs: Attrs::default(),
        },
    );
    let size_only = cat(&[
        &[0, 0, 0, 17],
        &[105],
        &[0, 0, 0, 1],
        &[0, 0, 0, 1],
        &[0, 0, 0, 0, 0, 0, 0x10, 0],
    ]);
    let attrs = Attrs {
        size: Some(4096),
        ..Attrs::default()
    };
    check(&size_only, Packet::Attrs { id: 1, attrs });
    let times_only = cat(&[
        &[0, 0, 0, 17],
        &[105],
        &[0, 0, 0, 1],
        &[0, 0, 0, 8],
        &[0, 0, 0, 5],
        &[0, 0, 0, 6],
    ]);
    let attrs = Attrs {
        times: Some((5, 6)),
        ..Attrs::default()
    };
    check(&times_only, Packet::Attrs { id: 1, attrs });
}

#[test]
fn attrs_ignore_undefined_flag_bits_and_an_empty_extended_list() {
    // OpenSSH's decode_attrib reads only the bits it knows; 0x10 (a version 4 flag) adds no
    // field in version 3. A count of 0 comes back as no EXTENDED flag.
    let wire = cat(&[
        &[0, 0, 0, 17],
        &[105],
        &[0, 0, 0, 2],
        &[0x80, 0, 0, 0x14], // EXTENDED | 0x10 | PERMISSIONS
        &[0, 0, 0x41, 0xED], // 0o40755
        &[0, 0, 0, 0],       // extended_count 0
    ]);
    let attrs = Attrs {
        permissions: Some(0o40_755),
        ..Attrs::default()
    };
    assert_eq!(
        decode(&wire, Trailing::Reject),
        Ok(Some(Packet::Attrs { id: 2, attrs }))
    );
}

#[test]
fn attrs_alone_for_extension_data() {
    let wire = [0, 0, 0, 4, 0, 0, 0x01, 0xA4, 9, 9];
    let attrs = Attrs {
        permissions: Some(0o644),
        ..Attrs::default()
    };
    assert_eq!(Attrs::decode(&wire), Ok((attrs.clone(), &[9, 9][..])));
    let mut out = Vec::new();
    attrs.encode(&mut out);
    assert_eq!(out, wire[..8]);
    assert_eq!(
        Attrs::decode(&wire[..6]),
        Err(SftpError::Truncated {
            packet_type: packet_type::ATTRS,
            id: None
        })
    );
}

#[test]
fn attrs_from_a_listing_entry_carry_the_file_type() {
    let entry = |kind, mode, modified| Entry {
        name: b"x".to_vec(),
        kind,
        size: 42,
        modified,
        mode,
        unique: None,
    };
    let file = Attrs::from_entry(&entry(EntryKind::File, Some(0o640), Some(1_700_000_000)));
    assert_eq!(
        file,
        Attrs {
            size: Some(42),
            uid_gid: None,
            permissions: Some(0o100_640),
            times: Some((1_700_000_000, 1_700_000_000)),
            extended: Vec::new(),
        }
    );
    assert_eq!(file.kind(), Some(EntryKind::File));
    let dir = Attrs::from_entry(&entry(EntryKind::Dir, None, None));
    assert_eq!(dir.permissions, Some(0o40_755));
    assert_eq!(dir.times, None);
    assert_eq!(dir.kind(), Some(EntryKind::Dir));
    let link = Attrs::from_entry(&entry(EntryKind::Link, Some(0o777), Some(-5)));
    assert_eq!(link.permissions, Some(0o120_777));
    assert_eq!(link.times, Some((0, 0)), "before 1970 is clamped");
    assert_eq!(link.kind(), Some(EntryKind::Link));
    let late = Attrs::from_entry(&entry(EntryKind::File, None, Some(i64::MAX)));
    assert_eq!(
        late.times,
        Some((u32::MAX, u32::MAX)),
        "after 2106 is clamped"
    );
    assert_eq!(Attrs::default().kind(), None);
    // A FIFO shows as a file, as in LIST.
    let fifo = Attrs {
        permissions: Some(0o10_644),
        ..Attrs::default()
    };
    assert_eq!(fifo.kind(), Some(EntryKind::File));
}

#[test]
fn longname_is_the_list_line_without_its_line_ending() {
    const NOW: i64 = 1_795_596_215; // 2026-11-25 08:43:35 UTC
    let entry = Entry {
        name: b"a.txt".to_vec(),
        kind: EntryKind::File,
        size: 5,
        modified: Some(NOW - 60),
        mode: None,
        unique: None,
    };
    assert_eq!(
        String::from_utf8(longname(&entry, NOW)).unwrap(),
        "-rw-r--r-- 1 ftp ftp            5 Nov 25 08:42 a.txt"
    );
    let evil = Entry {
        name: b"x\r\ny".to_vec(),
        ..entry
    };
    assert!(longname(&evil, NOW).ends_with(b" x??y"));
}

#[test]
fn open_flags() {
    let flags = OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC;
    assert_eq!(flags, OpenFlags(0x1A));
    assert!(flags.contains(OpenFlags::WRITE | OpenFlags::TRUNC));
    assert!(!flags.contains(OpenFlags::READ));
    assert_eq!(flags.unknown(), 0);
    assert_eq!(OpenFlags(0x40 | 0x01).unknown(), 0x40);
}

#[test]
fn status_codes_are_the_drafts_numbers() {
    let codes = [
        (StatusCode::OK, 0, "Success"),
        (StatusCode::EOF, 1, "End of file"),
        (StatusCode::NO_SUCH_FILE, 2, "No such file"),
        (StatusCode::PERMISSION_DENIED, 3, "Permission denied"),
        (StatusCode::FAILURE, 4, "Failure"),
        (StatusCode::BAD_MESSAGE, 5, "Bad message"),
        (StatusCode::NO_CONNECTION, 6, "No connection"),
        (StatusCode::CONNECTION_LOST, 7, "Connection lost"),
        (StatusCode::OP_UNSUPPORTED, 8, "Operation unsupported"),
        (StatusCode(9), 9, "Unknown error"),
    ];
    for (code, number, message) in codes {
        assert_eq!(code.0, number);
        assert_eq!(code.message(), message);
    }
    assert_eq!(StatusCode::EOF.to_string(), "End of file (1)");
}

#[test]
fn ids_types_and_directions() {
    let init = Packet::Init {
        version: 3,
        extensions: Vec::new(),
    };
    assert_eq!(
        (init.id(), init.packet_type(), init.is_request()),
        (None, 1, true)
    );
    let limits = Packet::Limits { id: 4 };
    assert_eq!(
        (limits.id(), limits.packet_type(), limits.is_request()),
        (Some(4), 200, true)
    );
    let reply = LimitsReply::default().to_packet(4);
    assert_eq!(
        (reply.id(), reply.packet_type(), reply.is_request()),
        (Some(4), 201, false)
    );
}
