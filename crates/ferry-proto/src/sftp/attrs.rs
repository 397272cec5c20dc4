//! File attributes, the `ATTRS` compound of draft section 5, and what a server puts in an
//! `SSH_FXP_NAME` entry for a listing entry: [`Attrs::from_entry`] and [`longname`].
//!
//! Every field is optional, as on the wire. It does NOT read files: the caller supplies an
//! [`Entry`] and the time.

use super::error::SftpError;
use super::packet::ExtensionPair;
use super::wire::{self, Reader};
use crate::listing::{self, Entry, EntryKind};

/// `SSH_FILEXFER_ATTR_SIZE`: `size` follows.
pub(super) const FLAG_SIZE: u32 = 0x0000_0001;
/// `SSH_FILEXFER_ATTR_UIDGID`: `uid` and `gid` follow.
pub(super) const FLAG_UIDGID: u32 = 0x0000_0002;
/// `SSH_FILEXFER_ATTR_PERMISSIONS`: `permissions` follows.
pub(super) const FLAG_PERMISSIONS: u32 = 0x0000_0004;
/// `SSH_FILEXFER_ATTR_ACMODTIME`: `atime` and `mtime` follow.
pub(super) const FLAG_ACMODTIME: u32 = 0x0000_0008;
/// `SSH_FILEXFER_ATTR_EXTENDED`: a count and that many pairs follow.
pub(super) const FLAG_EXTENDED: u32 = 0x8000_0000;

/// The file-type bits of `permissions` (`S_IFMT`) and the types among them a client tells
/// apart: OpenSSH sends the whole `st_mode`, and clients read the folder bit from it.
const TYPE_MASK: u32 = 0o170_000;
const TYPE_DIR: u32 = 0o040_000;
const TYPE_FILE: u32 = 0o100_000;
const TYPE_LINK: u32 = 0o120_000;

/// The smallest extended pair: two empty strings.
const MIN_PAIR_LEN: usize = 8;

/// File attributes (draft section 5). `None` (or no pairs) means the field is absent from the
/// wire: not known when a server sends it, not to be changed when a client sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attrs {
    /// Size in bytes (`SSH_FILEXFER_ATTR_SIZE`).
    pub size: Option<u64>,
    /// Numeric owner and group, `(uid, gid)` (`SSH_FILEXFER_ATTR_UIDGID`).
    pub uid_gid: Option<(u32, u32)>,
    /// POSIX mode bits, file type included as in `st_mode` (`SSH_FILEXFER_ATTR_PERMISSIONS`).
    pub permissions: Option<u32>,
    /// Last access and last modification, `(atime, mtime)`, in seconds since the Unix epoch
    /// (`SSH_FILEXFER_ATTR_ACMODTIME`). Version 3 has 32 bits for them: times before 1970 or
    /// after 2106 do not fit.
    pub times: Option<(u32, u32)>,
    /// Extended attributes, `name@domain` and data (`SSH_FILEXFER_ATTR_EXTENDED`). The flag
    /// goes out only when there is at least one pair, so a decoded flag with a count of 0
    /// comes back as no flag. OpenSSH reads and drops them.
    pub extended: Vec<ExtensionPair>,
}

impl Attrs {
    /// The `flags` word these attributes go out with.
    pub fn flags(&self) -> u32 {
        let mut flags = 0;
        if self.size.is_some() {
            flags |= FLAG_SIZE;
        }
        if self.uid_gid.is_some() {
            flags |= FLAG_UIDGID;
        }
        if self.permissions.is_some() {
            flags |= FLAG_PERMISSIONS;
        }
        if self.times.is_some() {
            flags |= FLAG_ACMODTIME;
        }
        if !self.extended.is_empty() {
            flags |= FLAG_EXTENDED;
        }
        flags
    }

    /// What a server reports for a listing entry: size, permissions with the file-type bits
    /// (missing permission bits default as in LIST, see [`Entry::mode_or_default`]), and the
    /// modification time as both times, clamped to what 32 bits hold. No owner: storage does
    /// not report one.
    pub fn from_entry(entry: &Entry) -> Attrs {
        let type_bits = match entry.kind {
            EntryKind::File => TYPE_FILE,
            EntryKind::Dir => TYPE_DIR,
            EntryKind::Link => TYPE_LINK,
        };
        let time = entry.modified.map(|secs| {
            let secs = u32::try_from(secs.max(0)).unwrap_or(u32::MAX);
            (secs, secs)
        });
        Attrs {
            size: Some(entry.size),
            uid_gid: None,
            permissions: Some(type_bits | (entry.mode_or_default() & 0o7777)),
            times: time,
            extended: Vec::new(),
        }
    }

    /// The kind of file the type bits of `permissions` name: `None` without permissions;
    /// devices, pipes and sockets count as files, as in LIST.
    pub fn kind(&self) -> Option<EntryKind> {
        let permissions = self.permissions?;
        Some(match permissions & TYPE_MASK {
            TYPE_DIR => EntryKind::Dir,
            TYPE_LINK => EntryKind::Link,
            _ => EntryKind::File,
        })
    }

    /// Appends the wire form: `flags`, then each present field in the draft's order.
    pub fn encode(&self, out: &mut Vec<u8>) {
        wire::put_u32(out, self.flags());
        if let Some(size) = self.size {
            wire::put_u64(out, size);
        }
        if let Some((uid, gid)) = self.uid_gid {
            wire::put_u32(out, uid);
            wire::put_u32(out, gid);
        }
        if let Some(permissions) = self.permissions {
            wire::put_u32(out, permissions);
        }
        if let Some((atime, mtime)) = self.times {
            wire::put_u32(out, atime);
            wire::put_u32(out, mtime);
        }
        if !self.extended.is_empty() {
            wire::put_u32(out, wire::wire_len(self.extended.len()));
            for pair in &self.extended {
                wire::put_string(out, &pair.name);
                wire::put_string(out, &pair.data);
            }
        }
    }

    /// Reads attributes from the front of `bytes` and returns them with the bytes after them:
    /// for extension data that carries attributes. Errors name the ATTRS packet type and no id.
    pub fn decode(bytes: &[u8]) -> Result<(Attrs, &[u8]), SftpError> {
        let mut reader = Reader::new(super::packet_type::ATTRS, bytes);
        let attrs = Attrs::read(&mut reader)?;
        Ok((attrs, reader.remaining()))
    }

    /// Reads the wire form, as OpenSSH's `decode_attrib` does: flag bits version 3 does not
    /// define are ignored (the draft calls them a protocol error; OpenSSH reads past them), and
    /// an extended pair's name is text, its data any bytes.
    pub(super) fn read(reader: &mut Reader<'_>) -> Result<Attrs, SftpError> {
        let flags = reader.u32()?;
        let mut attrs = Attrs::default();
        if flags & FLAG_SIZE != 0 {
            attrs.size = Some(reader.u64()?);
        }
        if flags & FLAG_UIDGID != 0 {
            attrs.uid_gid = Some((reader.u32()?, reader.u32()?));
        }
        if flags & FLAG_PERMISSIONS != 0 {
            attrs.permissions = Some(reader.u32()?);
        }
        if flags & FLAG_ACMODTIME != 0 {
            attrs.times = Some((reader.u32()?, reader.u32()?));
        }
        if flags & FLAG_EXTENDED != 0 {
            let count = reader.u32()?;
            let count = reader.check_count(count, MIN_PAIR_LEN)?;
            attrs.extended.reserve(count);
            for _ in 0..count {
                let name = reader.text()?;
                let data = reader.bytes()?;
                attrs.extended.push(ExtensionPair { name, data });
            }
        }
        Ok(attrs)
    }
}

/// The `longname` of an `SSH_FXP_NAME` entry: the `ls -l` line LIST shows for `entry`
/// ([`listing::format_list_line`], without its CRLF), so that FTP and SFTP listings read the
/// same. `now` is the current Unix time, which decides between showing the time or the year.
pub fn longname(entry: &Entry, now: i64) -> Vec<u8> {
    let mut line = Vec::new();
    listing::format_list_line(entry, now, &mut line);
    if line.ends_with(b"\r\n") {
        line.truncate(line.len() - 2);
    }
    line
}
