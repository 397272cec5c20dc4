//! Decoding one packet's body (its type byte and what follows) into a [`Packet`], with the field
//! order of draft-ietf-secsh-filexfer-02 and of OpenSSH's `sftp-server.c` and `sftp-client.c`.
//! Framing (the length field) is [`PacketDecoder`](super::PacketDecoder)'s.

use super::attrs::Attrs;
use super::error::SftpError;
use super::extension;
use super::packet::{ExtensionPair, NameEntry, OpenFlags, Packet, StatusCode, Trailing};
use super::packet_type as kind;
use super::wire::Reader;

/// The smallest `SSH_FXP_NAME` entry: two empty strings and attributes without flags.
const MIN_NAME_ENTRY_LEN: usize = 12;

impl Packet {
    /// Decodes the body of one packet: the type byte and the bytes after it, that is the
    /// `length` bytes that follow the length field.
    ///
    /// Bytes after the last field are ignored or refused as `trailing` says, except where the
    /// layout runs to the end of the packet (the extension pairs of INIT and VERSION, the
    /// tails of EXTENDED and EXTENDED_REPLY). A STATUS that ends after its code is accepted.
    pub fn decode(body: &[u8], trailing: Trailing) -> Result<Packet, SftpError> {
        let Some((&packet_type, rest)) = body.split_first() else {
            return Err(SftpError::Empty);
        };
        let mut r = Reader::new(packet_type, rest);
        let packet = match packet_type {
            kind::INIT => {
                let version = r.u32()?;
                let extensions = extension_pairs(&mut r)?;
                return Ok(Packet::Init {
                    version,
                    extensions,
                });
            }
            kind::VERSION => {
                let version = r.u32()?;
                let extensions = extension_pairs(&mut r)?;
                return Ok(Packet::Version {
                    version,
                    extensions,
                });
            }
            kind::EXTENDED => return decode_extended(r, trailing),
            kind::EXTENDED_REPLY => {
                let id = r.id()?;
                return Ok(Packet::ExtendedReply { id, data: r.rest() });
            }
            kind::STATUS => return decode_status(r, trailing),
            kind::OPEN => Packet::Open {
                id: r.id()?,
                filename: r.text()?,
                flags: OpenFlags(r.u32()?),
                attrs: Attrs::read(&mut r)?,
            },
            kind::CLOSE => Packet::Close {
                id: r.id()?,
                handle: r.bytes()?,
            },
            kind::READ => Packet::Read {
                id: r.id()?,
                handle: r.bytes()?,
                offset: r.u64()?,
                len: r.u32()?,
            },
            kind::WRITE => Packet::Write {
                id: r.id()?,
                handle: r.bytes()?,
                offset: r.u64()?,
                data: r.bytes()?,
            },
            kind::LSTAT => Packet::Lstat {
                id: r.id()?,
                path: r.text()?,
            },
            kind::FSTAT => Packet::Fstat {
                id: r.id()?,
                handle: r.bytes()?,
            },
            kind::SETSTAT => Packet::Setstat {
                id: r.id()?,
                path: r.text()?,
                attrs: Attrs::read(&mut r)?,
            },
            kind::FSETSTAT => Packet::Fsetstat {
                id: r.id()?,
                handle: r.bytes()?,
                attrs: Attrs::read(&mut r)?,
            },
            kind::OPENDIR => Packet::Opendir {
                id: r.id()?,
                path: r.text()?,
            },
            kind::READDIR => Packet::Readdir {
                id: r.id()?,
                handle: r.bytes()?,
            },
            kind::REMOVE => Packet::Remove {
                id: r.id()?,
                filename: r.text()?,
            },
            kind::MKDIR => Packet::Mkdir {
                id: r.id()?,
                path: r.text()?,
                attrs: Attrs::read(&mut r)?,
            },
            kind::RMDIR => Packet::Rmdir {
                id: r.id()?,
                path: r.text()?,
            },
            kind::REALPATH => Packet::Realpath {
                id: r.id()?,
                path: r.text()?,
            },
            kind::STAT => Packet::Stat {
                id: r.id()?,
                path: r.text()?,
            },
            kind::RENAME => Packet::Rename {
                id: r.id()?,
                old_path: r.text()?,
                new_path: r.text()?,
            },
            kind::READLINK => Packet::Readlink {
                id: r.id()?,
                path: r.text()?,
            },
            kind::SYMLINK => {
                // OpenSSH's order (PROTOCOL section 4.1): the target first, then the link.
                let id = r.id()?;
                let target_path = r.text()?;
                let link_path = r.text()?;
                Packet::Symlink {
                    id,
                    link_path,
                    target_path,
                }
            }
            kind::HANDLE => Packet::Handle {
                id: r.id()?,
                handle: r.bytes()?,
            },
            kind::DATA => Packet::Data {
                id: r.id()?,
                data: r.bytes()?,
            },
            kind::NAME => {
                let id = r.id()?;
                let count = r.u32()?;
                let count = r.check_count(count, MIN_NAME_ENTRY_LEN)?;
                let mut entries = Vec::with_capacity(count);
                for _ in 0..count {
                    entries.push(NameEntry {
                        filename: r.text()?,
                        longname: r.text()?,
                        attrs: Attrs::read(&mut r)?,
                    });
                }
                Packet::Name { id, entries }
            }
            kind::ATTRS => Packet::Attrs {
                id: r.id()?,
                attrs: Attrs::read(&mut r)?,
            },
            _ => {
                // Keep the id, when there is one, so that the server can answer it.
                let id = r.u32().ok();
                return Err(SftpError::UnknownType { packet_type, id });
            }
        };
        r.finish(trailing)?;
        Ok(packet)
    }
}

/// `string name, string data` pairs up to the end of INIT or VERSION. OpenSSH's client reads
/// the name as text and the data as bytes; both must be whole.
fn extension_pairs(r: &mut Reader<'_>) -> Result<Vec<ExtensionPair>, SftpError> {
    let mut pairs = Vec::new();
    while !r.is_empty() {
        let name = r.text()?;
        let data = r.bytes()?;
        pairs.push(ExtensionPair { name, data });
    }
    Ok(pairs)
}

/// `SSH_FXP_STATUS`: code, then message and language tag, either of which may be missing at
/// the end (a version 2 server sends neither; OpenSSH's client reads only what it shows).
fn decode_status(mut r: Reader<'_>, trailing: Trailing) -> Result<Packet, SftpError> {
    let id = r.id()?;
    let code = StatusCode(r.u32()?);
    let message = if r.is_empty() { Vec::new() } else { r.text()? };
    let language = if r.is_empty() { Vec::new() } else { r.text()? };
    r.finish(trailing)?;
    Ok(Packet::Status {
        id,
        code,
        message,
        language,
    })
}

/// `SSH_FXP_EXTENDED`: the request name, then the typed requests' fields or, for any other
/// name, the rest undecoded. A typed request whose fields do not decode is an error with its
/// id (OpenSSH's `sftp-server` ends the session on it).
fn decode_extended(mut r: Reader<'_>, trailing: Trailing) -> Result<Packet, SftpError> {
    let id = r.id()?;
    let name = r.text()?;
    let packet = match name.as_slice() {
        extension::POSIX_RENAME => Packet::PosixRename {
            id,
            old_path: r.text()?,
            new_path: r.text()?,
        },
        extension::LIMITS => Packet::Limits { id },
        extension::EXPAND_PATH => Packet::ExpandPath {
            id,
            path: r.text()?,
        },
        extension::FSYNC => Packet::Fsync {
            id,
            handle: r.bytes()?,
        },
        _ => {
            return Ok(Packet::Extended {
                id,
                name,
                data: r.rest(),
            });
        }
    };
    r.finish(trailing)?;
    Ok(packet)
}
