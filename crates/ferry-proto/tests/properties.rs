//! Property tests (proptest) over ferry-proto's public API: no reply text can end a reply early,
//! the line buffer keeps its limits whatever the chunking, and parse(format(x)) == x for data
//! addresses, timevals, MLSx facts, LIST lines and PROXY protocol headers. The path property lives beside `VirtualPath` in path.rs;
//! the fuzz targets in `fuzz/` check the same and more on any bytes (README "Fuzzing").

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use ferry_proto::listing::{self, Entry, EntryKind};
use ferry_proto::proxy::{self, ProxyHeader};
use ferry_proto::{Command, LineBuffer, Reply, ReplyCode, ReplyDecoder, addr, time};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

/// 0000-01-01 00:00:00 and 9999-12-31 23:59:59 UTC: the span `YYYYMMDDHHMMSS` can write.
const FIRST_TIMEVAL: i64 = -62_167_219_200;
const LAST_TIMEVAL: i64 = 253_402_300_799;

/// Text that tries to break a reply: CR, LF, digits, dashes and spaces among any characters.
fn hostile_text() -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            Just('\r'),
            Just('\n'),
            Just(' '),
            Just('-'),
            proptest::char::range('0', '9'),
            any::<char>(),
        ],
        0..24,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(Ipv4Addr::from(ip).into(), port)),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(Ipv6Addr::from(ip).into(), port)),
    ]
}

/// Entries whose every field the MLSx format can carry: no CR/LF in the name, a folder without
/// a size, a time within years 0-9999, twelve mode bits, a `unique` value RFC 3659 allows.
fn mlsx_entry() -> impl Strategy<Value = Entry> {
    (
        vec(
            any::<u8>().prop_filter("CR/LF", |b| *b != b'\r' && *b != b'\n'),
            0..40,
        ),
        any::<bool>(),
        any::<u64>(),
        proptest::option::of(FIRST_TIMEVAL..=LAST_TIMEVAL),
        proptest::option::of(0u32..=0o7777),
        proptest::option::of("[!-:<-~]{0,16}"),
    )
        .prop_map(|(name, dir, size, modified, mode, unique)| Entry {
            name,
            kind: if dir { EntryKind::Dir } else { EntryKind::File },
            size: if dir { 0 } else { size },
            modified,
            mode,
            unique,
        })
}

/// Two addresses of one family (a PROXY header names both in the same family).
fn address_pair() -> impl Strategy<Value = (SocketAddr, SocketAddr)> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<[u8; 4]>(), any::<(u16, u16)>()).prop_map(|(s, d, (p, q))| (
            SocketAddr::new(Ipv4Addr::from(s).into(), p),
            SocketAddr::new(Ipv4Addr::from(d).into(), q)
        )),
        (any::<[u8; 16]>(), any::<[u8; 16]>(), any::<(u16, u16)>()).prop_map(|(s, d, (p, q))| (
            SocketAddr::new(Ipv6Addr::from(s).into(), p),
            SocketAddr::new(Ipv6Addr::from(d).into(), q)
        )),
    ]
}

fn decode_all(stream: &[u8], cut: usize) -> Vec<Reply> {
    let mut decoder = ReplyDecoder::default();
    let mut replies = Vec::new();
    for chunk in [&stream[..cut], &stream[cut..]] {
        decoder.extend(chunk);
        while let Some(reply) = decoder.next_reply().expect("an encoded reply decodes") {
            replies.push(reply);
        }
    }
    replies
}

proptest! {
    #[test]
    fn encoded_reply_never_ends_early(
        code in 100u16..600,
        lines in vec(hostile_text(), 0..6),
        cut in any::<Index>(),
    ) {
        let reply = Reply::multi(ReplyCode(code), lines);
        let next = Reply::new(ReplyCode::OK, "next");
        let mut stream = reply.to_bytes();
        let count = reply.lines.len().max(1);
        prop_assert_eq!(stream.iter().filter(|&&b| b == b'\n').count(), count);
        next.encode(&mut stream);
        let cut = cut.index(stream.len() + 1);

        let decoded = decode_all(&stream, cut);
        prop_assert_eq!(decoded.len(), 2, "{:?}", decoded);
        prop_assert_eq!(decoded[0].code, ReplyCode(code));
        prop_assert_eq!(decoded[0].lines.len(), count);
        let first = reply.lines.first().map_or(String::new(), |l| l.replace(['\r', '\n'], " "));
        prop_assert_eq!(&decoded[0].lines[0], &first);
        prop_assert_eq!(&decoded[1], &next);
    }

    #[test]
    fn line_buffer_keeps_its_limit(
        max_len in 0usize..64,
        data in vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(0xFF), any::<u8>()], 0..512),
        cuts in vec(any::<Index>(), 0..8),
    ) {
        let mut whole = LineBuffer::new(max_len);
        whole.extend(&data);
        let expected: Vec<_> = std::iter::from_fn(|| whole.next_line()).collect();

        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
        cuts.sort_unstable();
        let mut buffer = LineBuffer::new(max_len);
        let mut lines = Vec::new();
        let mut start = 0;
        for end in cuts.into_iter().chain([data.len()]) {
            buffer.extend(&data[start..end]);
            start = end;
            prop_assert!(buffer.pending() <= max_len + 2);
            lines.extend(std::iter::from_fn(|| buffer.next_line()));
        }
        for line in lines.iter().flatten() {
            prop_assert!(line.len() <= max_len);
        }
        prop_assert_eq!(lines, expected);
        prop_assert_eq!(buffer.pending(), whole.pending());
    }

    #[test]
    fn port_and_pasv_round_trip(ip in any::<[u8; 4]>(), port in any::<u16>()) {
        let address = SocketAddrV4::new(Ipv4Addr::from(ip), port);
        prop_assert_eq!(addr::parse_port(&addr::format_port(address)), Some(address));
        let reply = format!("227 {}", addr::format_pasv_reply(address));
        prop_assert_eq!(addr::parse_pasv_reply(&reply), Some(address));
        let line = format!("PORT {}", addr::format_port(address));
        prop_assert_eq!(Command::parse(line.as_bytes()), Ok(Command::Port(address)));
    }

    #[test]
    fn eprt_round_trip(address in socket_addr()) {
        prop_assert_eq!(addr::parse_eprt(&addr::format_eprt(address)), Some(address));
        let line = format!("EPRT {}", addr::format_eprt(address));
        prop_assert_eq!(Command::parse(line.as_bytes()), Ok(Command::Eprt(address)));
    }

    #[test]
    fn epsv_reply_round_trip(port in any::<u16>()) {
        prop_assert_eq!(addr::parse_epsv_reply(&addr::format_epsv_reply(port)), Some(port));
    }

    #[test]
    fn timeval_round_trip(secs in FIRST_TIMEVAL..=LAST_TIMEVAL, fraction in "(\\.[0-9]{1,6})?") {
        let text = time::format_timeval(secs);
        prop_assert_eq!(text.len(), 14);
        prop_assert_eq!(time::parse_timeval(&text), Some(secs));
        prop_assert_eq!(time::parse_timeval(&format!("{text}{fraction}")), Some(secs));
        let line = format!("MFMT {text}{fraction} some file");
        prop_assert_eq!(
            Command::parse(line.as_bytes()),
            Ok(Command::Mfmt(secs, b"some file".to_vec()))
        );
    }

    #[test]
    fn mlsx_round_trip(entry in mlsx_entry(), leading_space in any::<bool>()) {
        let mut line = Vec::new();
        if leading_space {
            line.push(b' ');
        }
        listing::format_mlsx(&entry, None, "adfrw", &mut line);
        // A name comes back as listings show it: UTF-8 (itself, when it was UTF-8 already).
        let shown = Entry { name: listing::shown_name(&entry.name).into_owned(), ..entry };
        prop_assert!(std::str::from_utf8(&line).is_ok());
        prop_assert_eq!(listing::parse_mlsx_line(&line), Some(shown));
    }

    #[test]
    fn list_line_round_trip(
        name in "[A-Za-z0-9._-][A-Za-z0-9 ._-]{0,30}",
        kind in prop_oneof![Just(EntryKind::File), Just(EntryKind::Dir), Just(EntryKind::Link)],
        size in any::<u64>(),
        mode in proptest::option::of(0u32..=0o777),
        now in FIRST_TIMEVAL..=LAST_TIMEVAL,
        age in prop_oneof![0i64..400 * 86_400, any::<i64>()],
    ) {
        let modified = now - age.rem_euclid(now - FIRST_TIMEVAL + 1);
        let entry = Entry {
            name: name.into_bytes(),
            kind,
            size,
            modified: Some(modified),
            mode,
            unique: None,
        };
        let mut line = Vec::new();
        listing::format_list_line(&entry, now, &mut line);
        let Some(parsed) = listing::parse_list_line(&line, now) else {
            let line = String::from_utf8_lossy(&line);
            return Err(TestCaseError::fail(format!("{line:?} does not parse")));
        };
        // `ls` shows the time of day for the last six months, the year before that.
        let shown = if modified > now - 182 * 86_400 {
            modified - modified.rem_euclid(60)
        } else {
            modified - modified.rem_euclid(86_400)
        };
        let default_mode = if kind == EntryKind::Dir { 0o755 } else { 0o644 };
        prop_assert_eq!(parsed, Entry {
            modified: Some(shown),
            mode: Some(mode.unwrap_or(default_mode)),
            ..entry
        });
    }

    #[test]
    fn proxy_header_round_trip(
        (source, destination) in address_pair(),
        version_2 in any::<bool>(),
        tail in vec(any::<u8>(), 0..32),
    ) {
        let mut bytes = if version_2 {
            proxy::encode_v2(source, destination)
        } else {
            proxy::encode_v1(source, destination).into_bytes()
        };
        let length = bytes.len();
        bytes.extend_from_slice(&tail);
        let expected = ProxyHeader { source: Some(source), length };
        prop_assert_eq!(proxy::parse(&bytes), Ok(Some(expected)));
        // Peeking before the header is complete asks for more.
        prop_assert_eq!(proxy::parse(&bytes[..length - 1]), Ok(None));
    }
}
