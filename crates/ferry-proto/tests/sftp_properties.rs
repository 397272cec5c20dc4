//! Property tests (proptest) over `ferry_proto::sftp`: every packet type survives encode then
//! decode, whatever the chunking; a packet cut short is an error that keeps the request id once
//! the id is in; bytes after the last field are ignored or refused as asked. The byte layouts
//! themselves are checked by hand in `src/sftp/tests/`; the `sftp_packet` fuzz target checks
//! decoding of any bytes (README "Fuzzing").

use ferry_proto::listing::{Entry, EntryKind};
use ferry_proto::sftp::{
    Attrs, ExtensionPair, LimitsReply, NameEntry, OpenFlags, Packet, PacketDecoder, SftpError,
    StatusCode, Trailing, extension,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::Union;

/// Any bytes: handles, data, extension values.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..24)
}

/// Names and paths: any bytes but NUL, which decoding refuses inside a name.
fn text() -> impl Strategy<Value = Vec<u8>> {
    vec(1u8..=255, 0..24)
}

fn pairs() -> impl Strategy<Value = Vec<ExtensionPair>> {
    vec(
        (text(), bytes()).prop_map(|(name, data)| ExtensionPair { name, data }),
        0..3,
    )
}

fn attrs() -> impl Strategy<Value = Attrs> {
    (
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<(u32, u32)>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<(u32, u32)>()),
        pairs(),
    )
        .prop_map(|(size, uid_gid, permissions, times, extended)| Attrs {
            size,
            uid_gid,
            permissions,
            times,
            extended,
        })
}

fn name_entry() -> impl Strategy<Value = NameEntry> {
    (text(), text(), attrs()).prop_map(|(filename, longname, attrs)| NameEntry {
        filename,
        longname,
        attrs,
    })
}

/// An extended request name that is not one of the typed ones (those decode to their own
/// variants).
fn other_extension() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"statvfs@openssh.com".to_vec()),
        Just(b"hardlink@openssh.com".to_vec()),
        text(),
    ]
    .prop_filter("a typed extension", |name| {
        ![
            extension::POSIX_RENAME,
            extension::LIMITS,
            extension::EXPAND_PATH,
            extension::FSYNC,
        ]
        .contains(&name.as_slice())
    })
}

/// Every packet type of version 3 and every typed extension.
fn packet() -> impl Strategy<Value = Packet> {
    let id = any::<u32>;
    Union::new(vec![
        (any::<u32>(), pairs())
            .prop_map(|(version, extensions)| Packet::Init {
                version,
                extensions,
            })
            .boxed(),
        (any::<u32>(), pairs())
            .prop_map(|(version, extensions)| Packet::Version {
                version,
                extensions,
            })
            .boxed(),
        (id(), text(), any::<u32>(), attrs())
            .prop_map(|(id, filename, flags, attrs)| Packet::Open {
                id,
                filename,
                flags: OpenFlags(flags),
                attrs,
            })
            .boxed(),
        (id(), bytes())
            .prop_map(|(id, handle)| Packet::Close { id, handle })
            .boxed(),
        (id(), bytes(), any::<u64>(), any::<u32>())
            .prop_map(|(id, handle, offset, len)| Packet::Read {
                id,
                handle,
                offset,
                len,
            })
            .boxed(),
        (id(), bytes(), any::<u64>(), bytes())
            .prop_map(|(id, handle, offset, data)| Packet::Write {
                id,
                handle,
                offset,
                data,
            })
            .boxed(),
        (id(), text())
            .prop_map(|(id, path)| Packet::Lstat { id, path })
            .boxed(),
        (id(), bytes())
            .prop_map(|(id, handle)| Packet::Fstat { id, handle })
            .boxed(),
        (id(), text(), attrs())
            .prop_map(|(id, path, attrs)| Packet::Setstat { id, path, attrs })
            .boxed(),
        (id(), bytes(), attrs())
            .prop_map(|(id, handle, attrs)| Packet::Fsetstat { id, handle, attrs })
            .boxed(),
        (id(), text())
            .prop_map(|(id, path)| Packet::Opendir { id, path })
            .boxed(),
        (id(), bytes())
            .prop_map(|(id, handle)| Packet::Readdir { id, handle })
            .boxed(),
        (id(), text())
            .prop_map(|(id, filename)| Packet::Remove { id, filename })
            .boxed(),
        (id(), text(), attrs())
            .prop_map(|(id, path, attrs)| Packet::Mkdir { id, path, attrs })
            .boxed(),
        (id(), text())
            .prop_map(|(id, path)| Packet::Rmdir { id, path })
            .boxed(),
        (id(), text())
            .prop_map(|(id, path)| Packet::Realpath { id, path })
            .boxed(),
        (id(), text())
            .prop_map(|(id, path)| Packet::Stat { id, path })
            .boxed(),
        (id(), text(), text())
            .prop_map(|(id, old_path, new_path)| Packet::Rename {
                id,
                old_path,
                new_path,
            })
            .boxed(),
        (id(), text())
            .prop_map(|(id, path)| Packet::Readlink { id, path })
            .boxed(),
        (id(), text(), text())
            .prop_map(|(id, link_path, target_path)| Packet::Symlink {
                id,
                link_path,
                target_path,
            })
            .boxed(),
        (id(), any::<u32>(), text(), text())
            .prop_map(|(id, code, message, language)| Packet::Status {
                id,
                code: StatusCode(code),
                message,
                language,
            })
            .boxed(),
        (id(), bytes())
            .prop_map(|(id, handle)| Packet::Handle { id, handle })
            .boxed(),
        (id(), bytes())
            .prop_map(|(id, data)| Packet::Data { id, data })
            .boxed(),
        (id(), vec(name_entry(), 0..4))
            .prop_map(|(id, entries)| Packet::Name { id, entries })
            .boxed(),
        (id(), attrs())
            .prop_map(|(id, attrs)| Packet::Attrs { id, attrs })
            .boxed(),
        (id(), text(), text())
            .prop_map(|(id, old_path, new_path)| Packet::PosixRename {
                id,
                old_path,
                new_path,
            })
            .boxed(),
        id().prop_map(|id| Packet::Limits { id }).boxed(),
        (id(), text())
            .prop_map(|(id, path)| Packet::ExpandPath { id, path })
            .boxed(),
        (id(), bytes())
            .prop_map(|(id, handle)| Packet::Fsync { id, handle })
            .boxed(),
        (id(), other_extension(), bytes())
            .prop_map(|(id, name, data)| Packet::Extended { id, name, data })
            .boxed(),
        (id(), bytes())
            .prop_map(|(id, data)| Packet::ExtendedReply { id, data })
            .boxed(),
    ])
}

/// Packets whose layout runs to the end of the packet, so that bytes added after them are
/// fields, not trailing bytes.
fn runs_to_the_end(packet: &Packet) -> bool {
    matches!(
        packet,
        Packet::Init { .. }
            | Packet::Version { .. }
            | Packet::Extended { .. }
            | Packet::ExtendedReply { .. }
    )
}

/// `wire` (one encoded packet) with `tail` added to its body and its length field fixed.
fn with_tail(wire: &[u8], tail: &[u8]) -> Vec<u8> {
    let mut longer = wire.to_vec();
    longer.extend_from_slice(tail);
    let length = u32::try_from(longer.len() - 4).expect("small packets");
    longer[..4].copy_from_slice(&length.to_be_bytes());
    longer
}

fn decode_one(wire: &[u8], trailing: Trailing) -> Result<Option<Packet>, SftpError> {
    let mut decoder = PacketDecoder::default().with_trailing(trailing);
    decoder.extend(wire);
    decoder.next_packet()
}

proptest! {
    #[test]
    fn every_packet_round_trips_in_any_pieces(
        packets in vec(packet(), 1..4),
        cuts in vec(any::<Index>(), 0..6),
    ) {
        let mut stream = Vec::new();
        for packet in &packets {
            packet.encode(&mut stream);
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(stream.len() + 1)).collect();
        cuts.sort_unstable();
        let mut decoder = PacketDecoder::default().with_trailing(Trailing::Reject);
        let mut decoded = Vec::new();
        let mut start = 0;
        for end in cuts.into_iter().chain([stream.len()]) {
            decoder.extend(&stream[start..end]);
            start = end;
            while let Some(packet) = decoder.next_packet()? {
                decoded.push(packet);
            }
        }
        prop_assert_eq!(decoded, packets);
        prop_assert!(decoder.is_empty());
    }

    #[test]
    fn a_cut_packet_keeps_its_id_once_the_id_is_in(packet in packet(), cut in any::<Index>()) {
        let wire = packet.to_bytes();
        // Keep the type byte; cut the fields anywhere.
        let cut = 5 + cut.index(wire.len() - 4);
        let mut short = wire[..cut].to_vec();
        let length = u32::try_from(cut - 4).expect("small packets");
        short[..4].copy_from_slice(&length.to_be_bytes());
        match decode_one(&short, Trailing::Reject) {
            // Some layouts stay whole when cut: INIT and VERSION between pairs, the free tail
            // of EXTENDED, a STATUS without its strings, an ATTRS or NAME never.
            Ok(decoded) => prop_assert!(decoded.is_some()),
            Err(error) => {
                prop_assert!(!error.is_fatal());
                let id_is_in = cut >= 9;
                let expected = packet.id().filter(|_| id_is_in);
                prop_assert_eq!(error.id(), expected, "{:?}", error);
                if let Some(reply) = error.status_reply() {
                    prop_assert_eq!(reply.id(), expected);
                    prop_assert_eq!(decode_one(&reply.to_bytes(), Trailing::Reject)?, Some(reply));
                }
            }
        }
    }

    #[test]
    fn trailing_bytes_are_ignored_or_refused(
        packet in packet(),
        tail in vec(any::<u8>(), 1..8),
    ) {
        prop_assume!(!runs_to_the_end(&packet));
        let longer = with_tail(&packet.to_bytes(), &tail);
        prop_assert_eq!(decode_one(&longer, Trailing::Ignore)?, Some(packet.clone()));
        let refused = decode_one(&longer, Trailing::Reject);
        prop_assert_eq!(
            refused,
            Err(SftpError::TrailingBytes {
                packet_type: packet.packet_type(),
                id: packet.id(),
                count: tail.len(),
            })
        );
    }

    #[test]
    fn limits_reply_round_trip(values in any::<[u64; 4]>(), id in any::<u32>()) {
        let limits = LimitsReply {
            max_packet_length: values[0],
            max_read_length: values[1],
            max_write_length: values[2],
            max_open_handles: values[3],
        };
        let Some(Packet::ExtendedReply { id: got, data }) =
            decode_one(&limits.to_packet(id).to_bytes(), Trailing::Reject)?
        else {
            return Err(TestCaseError::fail("not an EXTENDED_REPLY"));
        };
        prop_assert_eq!(got, id);
        prop_assert_eq!(LimitsReply::decode(&data), Ok(limits));
    }

    #[test]
    fn attrs_of_an_entry_name_its_kind(
        kind in prop_oneof![Just(EntryKind::File), Just(EntryKind::Dir), Just(EntryKind::Link)],
        size in any::<u64>(),
        modified in proptest::option::of(any::<i64>()),
        mode in proptest::option::of(any::<u32>()),
    ) {
        let entry = Entry { name: b"x".to_vec(), kind, size, modified, mode, unique: None };
        let attrs = Attrs::from_entry(&entry);
        prop_assert_eq!(attrs.kind(), Some(kind));
        prop_assert_eq!(attrs.size, Some(size));
        prop_assert_eq!(attrs.permissions.map(|bits| bits & 0o7777), Some(entry.mode_or_default() & 0o7777));
        let packet = Packet::Attrs { id: 1, attrs };
        prop_assert_eq!(decode_one(&packet.to_bytes(), Trailing::Reject)?, Some(packet));
    }
}
