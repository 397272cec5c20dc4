//! Encoding a [`Packet`] with its framing, `uint32 length, byte type, ...`, in the field order
//! decode.rs reads.

use super::extension;
use super::packet::{ExtensionPair, Packet};
use super::wire::{put_string, put_u32, put_u64, wire_len};

/// An `SSH_FXP_DATA` packet built in place, for a server that reads a file straight into the
/// outgoing packet (no copy from a read buffer into a [`Packet::Data`]): the caller appends the
/// bytes to [`DataPacket::buffer`], then [`DataPacket::finish`] frames them. The result is the
/// same bytes [`Packet::Data`] encodes to.
#[derive(Debug)]
pub struct DataPacket {
    bytes: Vec<u8>,
}

impl DataPacket {
    /// Length, type, id and the data's length.
    const HEADER: usize = 4 + 1 + 4 + 4;

    /// A DATA packet answering request `id`, with room for exactly `capacity` bytes of data.
    pub fn new(id: u32, capacity: usize) -> Self {
        let mut bytes = Vec::with_capacity(Self::HEADER + capacity);
        bytes.extend_from_slice(&[0; 4]);
        bytes.push(super::packet_type::DATA);
        put_u32(&mut bytes, id);
        bytes.extend_from_slice(&[0; 4]);
        DataPacket { bytes }
    }

    /// Where the data goes: append to it, never shorten it.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// The data's length so far.
    pub fn data_len(&self) -> usize {
        self.bytes.len().saturating_sub(Self::HEADER)
    }

    /// The whole packet, framed.
    pub fn finish(mut self) -> Vec<u8> {
        let data = wire_len(self.data_len());
        let length = wire_len(self.bytes.len().saturating_sub(4));
        if let Some(head) = self.bytes.get_mut(..Self::HEADER) {
            head[..4].copy_from_slice(&length.to_be_bytes());
            head[9..].copy_from_slice(&data.to_be_bytes());
        }
        self.bytes
    }
}

impl Packet {
    /// Appends the whole packet to `out`: length, type, fields.
    ///
    /// Nothing is checked against a peer's limits: a server keeps DATA within what READ asked
    /// for and the client keeps WRITE within the server's `max-write-length`. A packet longer
    /// than `u32::MAX` bytes cannot be framed; its length goes out as `u32::MAX`, which every
    /// peer refuses.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        out.push(self.packet_type());
        self.encode_fields(out);
        let length = wire_len(out.len() - start - 4);
        out[start..start + 4].copy_from_slice(&length.to_be_bytes());
    }

    /// The whole packet as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    fn encode_fields(&self, out: &mut Vec<u8>) {
        match self {
            Packet::Init {
                version,
                extensions,
            }
            | Packet::Version {
                version,
                extensions,
            } => {
                put_u32(out, *version);
                put_pairs(out, extensions);
            }
            Packet::Open {
                id,
                filename,
                flags,
                attrs,
            } => {
                put_u32(out, *id);
                put_string(out, filename);
                put_u32(out, flags.0);
                attrs.encode(out);
            }
            Packet::Close { id, handle }
            | Packet::Fstat { id, handle }
            | Packet::Readdir { id, handle }
            | Packet::Handle { id, handle } => {
                put_u32(out, *id);
                put_string(out, handle);
            }
            Packet::Read {
                id,
                handle,
                offset,
                len,
            } => {
                put_u32(out, *id);
                put_string(out, handle);
                put_u64(out, *offset);
                put_u32(out, *len);
            }
            Packet::Write {
                id,
                handle,
                offset,
                data,
            } => {
                put_u32(out, *id);
                put_string(out, handle);
                put_u64(out, *offset);
                put_string(out, data);
            }
            Packet::Lstat { id, path }
            | Packet::Opendir { id, path }
            | Packet::Rmdir { id, path }
            | Packet::Realpath { id, path }
            | Packet::Stat { id, path }
            | Packet::Readlink { id, path }
            | Packet::Remove { id, filename: path } => {
                put_u32(out, *id);
                put_string(out, path);
            }
            Packet::Setstat { id, path, attrs } | Packet::Mkdir { id, path, attrs } => {
                put_u32(out, *id);
                put_string(out, path);
                attrs.encode(out);
            }
            Packet::Fsetstat { id, handle, attrs } => {
                put_u32(out, *id);
                put_string(out, handle);
                attrs.encode(out);
            }
            Packet::Rename {
                id,
                old_path,
                new_path,
            } => {
                put_u32(out, *id);
                put_string(out, old_path);
                put_string(out, new_path);
            }
            Packet::Symlink {
                id,
                link_path,
                target_path,
            } => {
                // OpenSSH's order (PROTOCOL section 4.1): the target first, then the link.
                put_u32(out, *id);
                put_string(out, target_path);
                put_string(out, link_path);
            }
            Packet::Status {
                id,
                code,
                message,
                language,
            } => {
                put_u32(out, *id);
                put_u32(out, code.0);
                put_string(out, message);
                put_string(out, language);
            }
            Packet::Data { id, data } => {
                put_u32(out, *id);
                put_string(out, data);
            }
            Packet::ExtendedReply { id, data } => {
                put_u32(out, *id);
                out.extend_from_slice(data);
            }
            Packet::Name { id, entries } => {
                put_u32(out, *id);
                put_u32(out, wire_len(entries.len()));
                for entry in entries {
                    put_string(out, &entry.filename);
                    put_string(out, &entry.longname);
                    entry.attrs.encode(out);
                }
            }
            Packet::Attrs { id, attrs } => {
                put_u32(out, *id);
                attrs.encode(out);
            }
            Packet::PosixRename {
                id,
                old_path,
                new_path,
            } => {
                put_u32(out, *id);
                put_string(out, extension::POSIX_RENAME);
                put_string(out, old_path);
                put_string(out, new_path);
            }
            Packet::Limits { id } => {
                put_u32(out, *id);
                put_string(out, extension::LIMITS);
            }
            Packet::ExpandPath { id, path } => {
                put_u32(out, *id);
                put_string(out, extension::EXPAND_PATH);
                put_string(out, path);
            }
            Packet::Fsync { id, handle } => {
                put_u32(out, *id);
                put_string(out, extension::FSYNC);
                put_string(out, handle);
            }
            Packet::Extended { id, name, data } => {
                put_u32(out, *id);
                put_string(out, name);
                out.extend_from_slice(data);
            }
        }
    }
}

fn put_pairs(out: &mut Vec<u8>, pairs: &[ExtensionPair]) {
    for pair in pairs {
        put_string(out, &pair.name);
        put_string(out, &pair.data);
    }
}
