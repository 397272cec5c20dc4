//! `listing::parse_mlsx_line` on any line, and `listing::format_mlsx` on any entry.
//!
//! Asserts: an entry parsed from any line, formatted and parsed again, comes back as it was,
//! apart from what the format cannot carry (a link is sent as `type=file`, a folder has no
//! size, CR and LF in names become `?`, the mode keeps its low twelve bits); and
//! parse(format(x)) == x for any entry whose `unique` value is one RFC 3659 allows.
#![no_main]

use arbitrary::Arbitrary;
use ferry_proto::listing::{self, Entry, EntryKind};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    line: Vec<u8>,
    name: Vec<u8>,
    dir: bool,
    size: u64,
    modified: Option<u64>,
    mode: Option<u32>,
    unique: Option<String>,
}

/// 0000-01-01 00:00:00 and 9999-12-31 23:59:59 UTC, the span a `modify` fact can write.
const FIRST: i64 = -62_167_219_200;
const LAST: i64 = 253_402_300_799;

/// `entry` as it reads after one trip through `format_mlsx` and `parse_mlsx_line`.
fn carried(entry: &Entry) -> Entry {
    let kind = match entry.kind {
        EntryKind::Dir => EntryKind::Dir,
        EntryKind::File | EntryKind::Link => EntryKind::File,
    };
    Entry {
        name: entry
            .name
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b'?' } else { b })
            .collect(),
        kind,
        size: if kind == EntryKind::Dir {
            0
        } else {
            entry.size
        },
        modified: entry.modified,
        mode: entry.mode.map(|mode| mode & 0o7777),
        unique: entry.unique.clone(),
    }
}

fn round_trip(entry: &Entry) -> Option<Entry> {
    let mut out = Vec::new();
    listing::format_mlsx(entry, None, "adfrw", &mut out);
    assert!(!out.contains(&b'\n') && !out.contains(&b'\r'));
    listing::parse_mlsx_line(&out)
}

fuzz_target!(|input: Input| {
    if let Some(entry) = listing::parse_mlsx_line(&input.line) {
        assert_eq!(round_trip(&entry), Some(carried(&entry)), "{entry:?}");
    }

    let unique = input
        .unique
        .filter(|u| u.chars().all(|c| c.is_ascii_graphic() && c != ';'));
    let entry = Entry {
        name: input.name,
        kind: if input.dir {
            EntryKind::Dir
        } else {
            EntryKind::File
        },
        size: input.size,
        modified: input
            .modified
            .map(|m| FIRST + (m % (LAST - FIRST + 1) as u64) as i64),
        mode: input.mode,
        unique,
    };
    assert_eq!(round_trip(&entry), Some(carried(&entry)), "{entry:?}");
});
