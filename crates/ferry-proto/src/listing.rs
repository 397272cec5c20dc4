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

/// Six months, as `ls` counts them to decide between showing the time or the year.
const HALF_YEAR: i64 = 182 * 86_400;

/// Appends one `LIST` line (with CRLF) for `entry`; `now` is the current Unix time.
pub fn format_list_line(entry: &Entry, now: i64, out: &mut Vec<u8>) {
    let kind = match entry.kind {
        EntryKind::File => '-',
        EntryKind::Dir => 'd',
        EntryKind::Link => 'l',
    };
    let mode = entry.mode.unwrap_or(match entry.kind {
        EntryKind::Dir => 0o755,
        _ => 0o644,
    });
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
    let when = if modified > now - HALF_YEAR && modified < now + HALF_YEAR {
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
    out.extend(
        name.iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b'?' } else { b }),
    );
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
