//! `listing::parse_list_line` on any line and any clock, and `listing::format_list_line` on any
//! entry.
//!
//! Asserts: nothing panics or overflows, whatever the year in the line or the clock; an entry
//! parsed from any line formats to a line that parses again to the same kind, size and mode;
//! and for any entry of years 0-9999 not newer than the clock, parse(format(x)) gives back its
//! kind, size, permission bits, name (less what the format cannot carry) and its time, to the
//! minute when `ls` shows a clock, to the day when it shows a year.
#![no_main]

use arbitrary::Arbitrary;
use ferry_proto::listing::{self, Entry, EntryKind};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    line: Vec<u8>,
    now: i64,
    name: Vec<u8>,
    kind: u8,
    size: u64,
    age: u64,
    mode: Option<u16>,
}

/// 0000-01-01 00:00:00 and 9999-12-31 23:59:59 UTC.
const FIRST: i64 = -62_167_219_200;
const LAST: i64 = 253_402_300_799;
/// What `format_list_line` counts as recent.
const HALF_YEAR: i64 = 182 * 86_400;

fn format(entry: &Entry, now: i64) -> Vec<u8> {
    let mut out = Vec::new();
    listing::format_list_line(entry, now, &mut out);
    assert!(out.ends_with(b"\r\n"));
    assert_eq!(out.iter().filter(|&&b| b == b'\n' || b == b'\r').count(), 2);
    out
}

/// The mode `format_list_line` shows when the entry has none.
fn default_mode(kind: EntryKind) -> u32 {
    if kind == EntryKind::Dir { 0o755 } else { 0o644 }
}

fuzz_target!(|input: Input| {
    // Any clock at all: nothing may panic.
    let _ = listing::parse_list_line(&input.line, input.now);
    let now = FIRST + input.now.rem_euclid(LAST - FIRST + 1);
    if let Some(entry) = listing::parse_list_line(&input.line, now) {
        let again = listing::parse_list_line(&format(&entry, now), now);
        let again = again.unwrap_or_else(|| panic!("{entry:?} does not parse back"));
        assert_eq!((again.kind, again.size), (entry.kind, entry.size));
        let mode = entry.mode.unwrap_or(default_mode(entry.kind)) & 0o777;
        assert_eq!(again.mode, Some(mode));
    }

    let kind = match input.kind % 3 {
        0 => EntryKind::File,
        1 => EntryKind::Dir,
        _ => EntryKind::Link,
    };
    let modified = now - (input.age % (now - FIRST + 1) as u64) as i64;
    let entry = Entry {
        name: input.name,
        kind,
        size: input.size,
        modified: Some(modified),
        mode: input.mode.map(u32::from),
        unique: None,
    };
    let line = format(&entry, now);
    // An empty name, or one of blanks only, is not an entry a client can use.
    if entry.name.iter().all(|&b| b == b' ' || b == b'\t') {
        return;
    }
    let parsed = listing::parse_list_line(&line, now);
    let text = String::from_utf8_lossy(&line);
    let parsed = parsed.unwrap_or_else(|| panic!("{text:?} does not parse"));
    assert_eq!(parsed.kind, kind, "{text:?}");
    assert_eq!(parsed.size, entry.size, "{text:?}");
    let default = if kind == EntryKind::Dir { 0o755 } else { 0o644 };
    assert_eq!(
        parsed.mode,
        Some(entry.mode.unwrap_or(default) & 0o777),
        "{text:?}"
    );
    let expected = if modified > now - HALF_YEAR {
        modified - modified.rem_euclid(60)
    } else {
        modified - modified.rem_euclid(86_400)
    };
    assert_eq!(parsed.modified, Some(expected), "{text:?}");
    // The name comes back unless it starts with a blank (taken as column padding), holds CR/LF
    // (sent as '?') or, for a link, holds " -> " (taken as the target).
    let blank_first = matches!(entry.name[0], b' ' | b'\t');
    let line_break = entry.name.iter().any(|&b| b == b'\r' || b == b'\n');
    let arrow = kind == EntryKind::Link && entry.name.windows(4).any(|w| w == b" -> ");
    if !(blank_first || line_break || arrow) {
        assert_eq!(parsed.name, entry.name, "{text:?}");
    }
});
