//! Directory listings: `LIST` in the `ls -l` form every client parses, and the machine-readable
//! facts of `MLSD`/`MLST` (RFC 3659 section 7).
//!
//! Formatting takes the current time as an argument (LIST shows the year for old files); this
//! crate has no clock. Names are written as raw bytes, except CR and LF, which become `?` so
//! that no name can end a listing line or a reply early.

use crate::time::{self, UtcTime};

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A folder.
    Dir,
    /// A symbolic link (shown by LIST as `l`).
    Link,
}

/// The facts of one entry, as a backend reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's name (raw bytes, no separators).
    pub name: Vec<u8>,
    /// File, folder or link.
    pub kind: EntryKind,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, seconds since the Unix epoch (UTC), if known.
    pub modified: Option<i64>,
    /// Unix permission bits (`0o644`), if known.
    pub mode: Option<u32>,
    /// A value that is the same for two names only if they are the same object (MLSD `unique`).
    pub unique: Option<String>,
}

impl Entry {
    /// The permission bits listings show: the entry's own, else `0o755` for a folder and
    /// `0o644` for anything else.
    pub fn mode_or_default(&self) -> u32 {
        self.mode.unwrap_or(match self.kind {
            EntryKind::Dir => 0o755,
            EntryKind::File | EntryKind::Link => 0o644,
        })
    }
}

/// The last year a listing line may name: four digits, as in `YYYYMMDDHHMMSS`.
const MAX_YEAR: i64 = 9999;

/// Six months, as `ls` counts them to decide between showing the time or the year.
const HALF_YEAR: i64 = 182 * 86_400;

/// Appends one `LIST` line (with CRLF) for `entry`; `now` is the current Unix time.
pub fn format_list_line(entry: &Entry, now: i64, out: &mut Vec<u8>) {
    let kind = match entry.kind {
        EntryKind::File => '-',
        EntryKind::Dir => 'd',
        EntryKind::Link => 'l',
    };
    let mode = entry.mode_or_default();
    let mut perms = String::with_capacity(10);
    perms.push(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        perms.push(if bits & 4 != 0 { 'r' } else { '-' });
        perms.push(if bits & 2 != 0 { 'w' } else { '-' });
        perms.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    let modified = entry.modified.unwrap_or(0);
    let t = UtcTime::from_unix(modified);
    let month = time::MONTHS[(t.month - 1) as usize];
    let recent =
        modified > now.saturating_sub(HALF_YEAR) && modified < now.saturating_add(HALF_YEAR);
    let when = if recent {
        format!("{month} {:>2} {:02}:{:02}", t.day, t.hour, t.minute)
    } else {
        format!("{month} {:>2}  {:>4}", t.day, t.year)
    };
    let line = format!("{perms} 1 ftp ftp {:>12} {when} ", entry.size);
    out.extend_from_slice(line.as_bytes());
    push_name(out, &entry.name);
    out.extend_from_slice(b"\r\n");
}

/// Appends one `NLST` line: the name and CRLF.
pub fn format_nlst_line(name: &[u8], out: &mut Vec<u8>) {
    push_name(out, name);
    out.extend_from_slice(b"\r\n");
}

/// Appends the MLSx facts and name of `entry` (`type=file;size=3;...; name`), without a line
/// ending. `perm` is the RFC 3659 section 7.5.5 permission string the caller computed; `kind` may
/// be overridden for the `cdir`/`pdir` entries of MLSD.
pub fn format_mlsx(entry: &Entry, type_fact: Option<&str>, perm: &str, out: &mut Vec<u8>) {
    let type_fact = type_fact.unwrap_or(match entry.kind {
        EntryKind::Dir => "dir",
        EntryKind::File | EntryKind::Link => "file",
    });
    let mut facts = format!("type={type_fact};");
    if entry.kind != EntryKind::Dir {
        facts.push_str(&format!("size={};", entry.size));
    }
    if let Some(modified) = entry.modified {
        facts.push_str(&format!("modify={};", time::format_timeval(modified)));
    }
    facts.push_str(&format!("perm={perm};"));
    if let Some(unique) = &entry.unique {
        facts.push_str(&format!("unique={unique};"));
    }
    if let Some(mode) = entry.mode {
        facts.push_str(&format!("UNIX.mode=0{:o};", mode & 0o7777));
    }
    out.extend_from_slice(facts.as_bytes());
    out.push(b' ');
    push_name(out, &entry.name);
}

fn push_name(out: &mut Vec<u8>, name: &[u8]) {
    out.extend_from_slice(&shown_name(name));
}

/// A name as listings show it: always UTF-8 (FEAT says `UTF8`, RFC 2640), so a byte sequence
/// that is not UTF-8 becomes U+FFFD, as a lossy decoder shows it; CR and LF become `?`, so a
/// name cannot end a listing line. Names that are UTF-8 without CR or LF are shown as they are
/// (and borrowed).
pub fn shown_name(name: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let lossy = String::from_utf8_lossy(name);
    if !lossy.contains(['\r', '\n']) {
        return match lossy {
            std::borrow::Cow::Borrowed(_) => std::borrow::Cow::Borrowed(name),
            std::borrow::Cow::Owned(text) => std::borrow::Cow::Owned(text.into_bytes()),
        };
    }
    std::borrow::Cow::Owned(lossy.replace(['\r', '\n'], "?").into_bytes())
}

/// Parses one MLSD line (or the fact line of an MLST reply, leading space allowed).
pub fn parse_mlsx_line(line: &[u8]) -> Option<Entry> {
    let line = line.strip_prefix(b" ").unwrap_or(line);
    let space = line.iter().position(|&b| b == b' ')?;
    let (facts, name) = (&line[..space], &line[space + 1..]);
    let facts = std::str::from_utf8(facts).ok()?;
    let mut entry = Entry {
        name: name.to_vec(),
        kind: EntryKind::File,
        size: 0,
        modified: None,
        mode: None,
        unique: None,
    };
    for fact in facts.split(';').filter(|f| !f.is_empty()) {
        let (key, value) = fact.split_once('=')?;
        match key.to_ascii_lowercase().as_str() {
            "type" => {
                entry.kind = match value.to_ascii_lowercase().as_str() {
                    "dir" | "cdir" | "pdir" => EntryKind::Dir,
                    value
                        if value.starts_with("os.unix=symlink")
                            || value.starts_with("os.unix=slink") =>
                    {
                        EntryKind::Link
                    }
                    _ => EntryKind::File,
                };
            }
            "size" => entry.size = value.parse().ok()?,
            "modify" => entry.modified = time::parse_timeval(value),
            "unique" => entry.unique = Some(value.to_string()),
            "unix.mode" => entry.mode = u32::from_str_radix(value, 8).ok(),
            _ => {}
        }
    }
    Some(entry)
}

/// Parses one line of a `LIST` reply as the client sees it from any server: Unix `ls -l` style
/// (vsftpd, Pure-FTPd, pyftpdlib, ProFTPD, ours) and DOS/IIS style
/// (`11-25-26  08:42AM  <DIR>  name`). `now` (Unix seconds) supplies the year that `ls` omits for
/// recent files. Returns `None` for lines that are not entries (`total 12`, blank, garbage).
///
/// Times in `LIST` are in the server's local zone and are read as UTC; prefer MLSD when offered.
pub fn parse_list_line(line: &[u8], now: i64) -> Option<Entry> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let tokens = tokens(line);
    let first = tokens.first()?;
    if first.1.first().is_some_and(u8::is_ascii_digit) {
        parse_dos_line(line, &tokens)
    } else {
        parse_unix_line(line, &tokens, now)
    }
}

/// Whitespace-separated tokens of `line`, each with its start offset.
fn tokens(line: &[u8]) -> Vec<(usize, &[u8])> {
    let mut out = Vec::new();
    let mut start = None;
    for (index, &byte) in line.iter().enumerate() {
        match (byte == b' ' || byte == b'\t', start) {
            (true, Some(begin)) => {
                out.push((begin, &line[begin..index]));
                start = None;
            }
            (false, None) => start = Some(index),
            _ => {}
        }
    }
    if let Some(begin) = start {
        out.push((begin, &line[begin..]));
    }
    out
}

/// The name: everything after the token at `index`, leading blanks skipped.
fn rest_after<'a>(line: &'a [u8], tokens: &[(usize, &[u8])], index: usize) -> Option<&'a [u8]> {
    let (start, token) = tokens.get(index)?;
    let rest = &line[start + token.len()..];
    let skip = rest.iter().position(|&b| b != b' ' && b != b'\t')?;
    Some(&rest[skip..])
}

fn number<T: std::str::FromStr>(bytes: &[u8]) -> Option<T> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

fn parse_unix_line(line: &[u8], tokens: &[(usize, &[u8])], now: i64) -> Option<Entry> {
    let perms = tokens.first()?.1;
    let kind = match perms.first()? {
        b'-' => EntryKind::File,
        b'd' => EntryKind::Dir,
        b'l' => EntryKind::Link,
        // Block and character devices, pipes, sockets: show them as files.
        b'b' | b'c' | b'p' | b's' => EntryKind::File,
        _ => return None,
    };
    if perms.len() < 10 {
        return None;
    }
    // Owner and group columns vary (some servers omit the group or the link count), so find the
    // date: a month name, a day, then a time or a year, right after the size.
    let month_at = (2..tokens.len().saturating_sub(2)).find(|&index| {
        month_number(tokens[index].1).is_some()
            && number::<u64>(tokens[index - 1].1).is_some()
            && number::<u32>(tokens[index + 1].1).is_some_and(|day| (1..=31).contains(&day))
    })?;
    let size = number::<u64>(tokens[month_at - 1].1)?;
    let month = month_number(tokens[month_at].1)?;
    let day = number::<u32>(tokens[month_at + 1].1)?;
    let when = tokens[month_at + 2].1;
    let modified = if let Some((hour, minute)) = split_clock(when) {
        // Clamped, as is the year below, so that no clock and no line can overflow the
        // arithmetic.
        let this_year = time::UtcTime::from_unix(now).year.clamp(0, MAX_YEAR);
        let at = |year: i64| {
            time::days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60)
        };
        // `ls` shows the time for dates within six months; a date "in the future" by more than
        // a day belongs to last year.
        let guess = at(this_year);
        Some(if guess > now.saturating_add(86_400) {
            at(this_year - 1)
        } else {
            guess
        })
    } else {
        let year = number::<i64>(when).filter(|year| (0..=MAX_YEAR).contains(year))?;
        Some(time::days_from_civil(year, month, day) * 86_400)
    };
    let mut name = rest_after(line, tokens, month_at + 2)?;
    if kind == EntryKind::Link
        && let Some(arrow) = name.windows(4).position(|w| w == b" -> ")
    {
        name = &name[..arrow];
    }
    let mut mode = 0;
    for (index, &byte) in perms[1..10].iter().enumerate() {
        if byte != b'-' {
            mode |= 1 << (8 - index);
        }
    }
    Some(Entry {
        name: name.to_vec(),
        kind,
        size,
        modified,
        mode: Some(mode),
        unique: None,
    })
}

fn month_number(token: &[u8]) -> Option<u32> {
    let position = time::MONTHS
        .iter()
        .position(|month| month.as_bytes().eq_ignore_ascii_case(token))?;
    Some(position as u32 + 1)
}

/// `HH:MM` to (hour, minute).
fn split_clock(token: &[u8]) -> Option<(u32, u32)> {
    let text = std::str::from_utf8(token).ok()?;
    let (hour, minute) = text.split_once(':')?;
    let (hour, minute) = (hour.parse::<u32>().ok()?, minute.parse::<u32>().ok()?);
    (hour < 24 && minute < 60).then_some((hour, minute))
}

/// `MM-DD-YY  HH:MMAM  <DIR>|size  name`, as IIS and other DOS-style servers write.
fn parse_dos_line(line: &[u8], tokens: &[(usize, &[u8])]) -> Option<Entry> {
    let date = std::str::from_utf8(tokens.first()?.1).ok()?;
    let mut parts = date.split(['-', '/']);
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    let year: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let year = match year {
        0..=69 => 2000 + year,
        70..=99 => 1900 + year,
        100..=MAX_YEAR => year,
        _ => return None,
    };
    let clock = std::str::from_utf8(tokens.get(1)?.1)
        .ok()?
        .to_ascii_uppercase();
    let (clock, afternoon) = match (clock.strip_suffix("PM"), clock.strip_suffix("AM")) {
        (Some(clock), _) => (clock.to_string(), Some(true)),
        (None, Some(clock)) => (clock.to_string(), Some(false)),
        (None, None) => (clock, None),
    };
    let (mut hour, minute) = split_clock(clock.as_bytes())?;
    match afternoon {
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        _ => {}
    }
    let size_token = tokens.get(2)?.1;
    let (kind, size) = if size_token.eq_ignore_ascii_case(b"<DIR>") {
        (EntryKind::Dir, 0)
    } else {
        (EntryKind::File, number::<u64>(size_token)?)
    };
    let name = rest_after(line, tokens, 2)?;
    Some(Entry {
        name: name.to_vec(),
        kind,
        size,
        modified: Some(
            time::days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60),
        ),
        mode: None,
        unique: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_not_utf8_are_shown_as_utf8() {
        assert_eq!(&*shown_name(b"plain.txt"), b"plain.txt");
        assert_eq!(&*shown_name("ünï".as_bytes()), "ünï".as_bytes());
        assert_eq!(
            &*shown_name(b"bad\xff\xfename"),
            "bad\u{fffd}\u{fffd}name".as_bytes()
        );
        assert_eq!(&*shown_name(b"a\r\nb"), b"a??b");
        assert_eq!(&*shown_name(b"\xff\n"), "\u{fffd}?".as_bytes());
        let mut line = Vec::new();
        format_nlst_line(b"x\xc3", &mut line);
        assert!(std::str::from_utf8(&line).is_ok(), "{line:?}");
    }

    fn entry(name: &[u8], kind: EntryKind, size: u64, modified: i64) -> Entry {
        Entry {
            name: name.to_vec(),
            kind,
            size,
            modified: Some(modified),
            mode: None,
            unique: None,
        }
    }

    const NOW: i64 = 1_795_596_215; // 2026-11-25 08:43:35 UTC

    #[test]
    fn list_line_recent_and_old() {
        let mut out = Vec::new();
        format_list_line(
            &entry(b"a.txt", EntryKind::File, 5, NOW - 60),
            NOW,
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "-rw-r--r-- 1 ftp ftp            5 Nov 25 08:42 a.txt\r\n"
        );
        let mut out = Vec::new();
        format_list_line(&entry(b"old", EntryKind::Dir, 4096, 0), NOW, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "drwxr-xr-x 1 ftp ftp         4096 Jan  1  1970 old\r\n"
        );
    }

    #[test]
    fn names_cannot_break_lines() {
        let mut out = Vec::new();
        format_list_line(
            &entry(b"evil\r\n226 done", EntryKind::File, 1, NOW),
            NOW,
            &mut out,
        );
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        let mut out = Vec::new();
        format_nlst_line(b"x\ny", &mut out);
        assert_eq!(out, b"x?y\r\n");
    }

    #[test]
    fn mlsx_round_trip() {
        let mut e = entry(b"my file", EntryKind::File, 42, NOW);
        e.mode = Some(0o640);
        e.unique = Some("801g1234".into());
        let mut out = Vec::new();
        format_mlsx(&e, None, "adfrw", &mut out);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "type=file;size=42;modify=20261125084335;perm=adfrw;unique=801g1234;UNIX.mode=0640; my file"
        );
        assert_eq!(parse_mlsx_line(&out), Some(e));
        let dir = parse_mlsx_line(b"type=cdir;perm=el; /").unwrap();
        assert_eq!(dir.kind, EntryKind::Dir);
        assert_eq!(parse_mlsx_line(b"garbage"), None);
    }

    /// Real `LIST` lines from other servers: (line, name, kind, size, modified as timeval).
    #[test]
    fn parse_list_lines_of_real_servers() {
        let table: &[(&str, &str, EntryKind, u64, &str)] = &[
            // vsftpd 3.0
            (
                "-rw-r--r--    1 1000     1000            6 Nov 25 08:42 a.txt",
                "a.txt",
                EntryKind::File,
                6,
                "20261125084200",
            ),
            (
                "drwxr-xr-x    2 1000     1000         4096 Mar 03  2024 sub dir",
                "sub dir",
                EntryKind::Dir,
                4096,
                "20240303000000",
            ),
            // Pure-FTPd
            (
                "-rw-r--r--    1 1000       1000          1048576 Nov 24 23:59 big.bin",
                "big.bin",
                EntryKind::File,
                1_048_576,
                "20261124235900",
            ),
            (
                "lrwxrwxrwx    1 0          0                 4 Jan  2  2020 link -> a.txt",
                "link",
                EntryKind::Link,
                4,
                "20200102000000",
            ),
            // pyftpdlib
            (
                "-rw-r--r--   1 root     root            5 Dec 31 10:00 last year.txt",
                "last year.txt",
                EntryKind::File,
                5,
                "20251231100000",
            ),
            // No group column (some embedded servers)
            (
                "-rw-r--r-- 1 ftp 123 Feb 29 2024 leap",
                "leap",
                EntryKind::File,
                123,
                "20240229000000",
            ),
            // IIS, two- and four-digit years
            (
                "11-25-26  08:42AM                    6 a.txt",
                "a.txt",
                EntryKind::File,
                6,
                "20261125084200",
            ),
            (
                "01-02-2020  12:05PM       <DIR>          Folder Name",
                "Folder Name",
                EntryKind::Dir,
                0,
                "20200102120500",
            ),
            (
                "12-31-99  12:00AM                 1024 old.dat",
                "old.dat",
                EntryKind::File,
                1024,
                "19991231000000",
            ),
        ];
        for (line, name, kind, size, modified) in table {
            let entry = parse_list_line(line.as_bytes(), NOW).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(entry.name, name.as_bytes(), "{line}");
            assert_eq!(entry.kind, *kind, "{line}");
            assert_eq!(entry.size, *size, "{line}");
            assert_eq!(
                entry.modified.map(time::format_timeval).as_deref(),
                Some(*modified),
                "{line}"
            );
        }
    }

    #[test]
    fn parse_list_line_round_trips_our_format() {
        let mut e = entry(b"with  two spaces", EntryKind::File, 77, NOW - 120);
        e.mode = Some(0o640);
        let mut out = Vec::new();
        format_list_line(&e, NOW, &mut out);
        let mut parsed = parse_list_line(&out, NOW).unwrap();
        assert_eq!(parsed.name, e.name);
        assert_eq!(parsed.size, 77);
        assert_eq!(parsed.mode, Some(0o640));
        // LIST shows minutes only.
        assert_eq!(parsed.modified, Some((NOW - 120) / 60 * 60));
        parsed.modified = e.modified;
        assert_eq!(parsed, e);
        let mut out = Vec::new();
        format_list_line(&entry(b"d", EntryKind::Dir, 0, 0), NOW, &mut out);
        assert_eq!(parse_list_line(&out, NOW).unwrap().kind, EntryKind::Dir);
    }

    #[test]
    fn list_lines_survive_any_year_and_any_clock() {
        // Found by the list_line fuzz target: a year past 9999 in a DOS or Unix line, or a clock
        // near the ends of i64, overflowed the date arithmetic (a panic with overflow checks,
        // a wrong time without).
        for line in [
            "1/11/1111133333333311\t\t9:9\t1 x",
            "01-01-99999999999  12:00AM  5 x",
            "01-01-10000  12:00AM  5 x",
            "-rw-r--r-- 1 ftp ftp 5 Jan  1 99999999999 x",
            "-rw-r--r-- 1 ftp ftp 5 Jan  1 -9223372036854775808 x",
        ] {
            assert_eq!(parse_list_line(line.as_bytes(), NOW), None, "{line:?}");
        }
        let last = parse_list_line(b"-rw-r--r-- 1 ftp ftp 5 Dec 31  9999 x", NOW).unwrap();
        assert_eq!(last.modified, Some(253_402_214_400));
        for now in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
            let parsed = parse_list_line(b"-rw-r--r-- 1 ftp ftp 5 Jan  1 08:42 x", now).unwrap();
            assert_eq!(parsed.size, 5);
            let mut out = Vec::new();
            format_list_line(&entry(b"x", EntryKind::File, 1, now), now, &mut out);
            assert!(out.ends_with(b" x\r\n"));
        }
    }

    #[test]
    fn parse_list_line_rejects_non_entries() {
        for line in [
            "",
            "total 12",
            "garbage line here",
            "-rw-r--r-- 1 a b notanumber Nov 25 08:42 x",
            "13-45-26  08:42AM  6 x",
            "-rw-r--r-- 1 a b 5 Nov 25 08:42",
        ] {
            assert_eq!(parse_list_line(line.as_bytes(), NOW), None, "{line:?}");
        }
    }
}
