//! SFTP version 3 packets as OpenSSH speaks them: draft-ietf-secsh-filexfer-02 plus the
//! extensions of OpenSSH's `PROTOCOL` file that Ferry uses.
//!
//! [`PacketDecoder`] splits the bytes of an SSH channel into packets (`uint32 length, byte type,
//! ...`) under a length limit, and [`Packet`] decodes and encodes every request and response of
//! version 3 with its [`Attrs`]. Requests and responses share one enum: their type numbers never
//! overlap, and both the server and the client need both directions (one to decode, the other to
//! encode). Strings stay bytes (`Vec<u8>`): paths need not be UTF-8.
//!
//! How strict decoding is follows OpenSSH's `sftp-server` (see [`SftpError`] and [`Trailing`]):
//! a packet over the limit, a field cut short, a string longer than what is left and a NUL inside
//! a name are errors; bytes after the last field are ignored, as `sftp-server` ignores them,
//! unless the caller asks for [`Trailing::Reject`].
//!
//! This module does NOT do I/O (no SSH, no sockets, no files), does NOT sequence requests (INIT
//! first, handles opened before use, ids matched to replies: the session does that) and does NOT
//! choose replies, apart from the one status answer an undecodable packet deserves
//! ([`SftpError::status_reply`]).

mod attrs;
mod decode;
mod decoder;
mod encode;
mod error;
pub mod extension;
mod packet;
mod wire;

pub use attrs::{Attrs, longname};
pub use decoder::PacketDecoder;
pub use encode::DataPacket;
pub use error::SftpError;
pub use extension::LimitsReply;
pub use packet::{ExtensionPair, NameEntry, OpenFlags, Packet, StatusCode, Trailing};

/// The protocol version this module speaks, sent in `SSH_FXP_INIT` and `SSH_FXP_VERSION`.
pub const VERSION: u32 = 3;

/// The largest length field a [`PacketDecoder`] accepts by default: 256 KiB, OpenSSH's
/// `SFTP_MAX_MSG_LENGTH` (`sftp-common.h`). The length counts the type byte and what follows,
/// not the four bytes of the length itself; `sftp-server` and `sftp` close the connection on
/// anything longer.
pub const MAX_PACKET_LEN: u32 = 256 * 1024;

/// The longest handle a server may hand out (draft section 6: "MUST NOT be longer than 256
/// bytes"). Decoding does not enforce it: OpenSSH's `sftp-server` reads a longer handle and
/// answers that it is not open, which is the server's job here too.
pub const MAX_HANDLE_LEN: usize = 256;

/// Packet type numbers (draft section 3, OpenSSH `sftp.h`).
#[allow(missing_docs)] // Each constant is the draft's SSH_FXP_ name without its prefix.
pub mod packet_type {
    pub const INIT: u8 = 1;
    pub const VERSION: u8 = 2;
    pub const OPEN: u8 = 3;
    pub const CLOSE: u8 = 4;
    pub const READ: u8 = 5;
    pub const WRITE: u8 = 6;
    pub const LSTAT: u8 = 7;
    pub const FSTAT: u8 = 8;
    pub const SETSTAT: u8 = 9;
    pub const FSETSTAT: u8 = 10;
    pub const OPENDIR: u8 = 11;
    pub const READDIR: u8 = 12;
    pub const REMOVE: u8 = 13;
    pub const MKDIR: u8 = 14;
    pub const RMDIR: u8 = 15;
    pub const REALPATH: u8 = 16;
    pub const STAT: u8 = 17;
    pub const RENAME: u8 = 18;
    pub const READLINK: u8 = 19;
    pub const SYMLINK: u8 = 20;
    pub const STATUS: u8 = 101;
    pub const HANDLE: u8 = 102;
    pub const DATA: u8 = 103;
    pub const NAME: u8 = 104;
    pub const ATTRS: u8 = 105;
    pub const EXTENDED: u8 = 200;
    pub const EXTENDED_REPLY: u8 = 201;
}

#[cfg(test)]
mod tests;
