//! The OpenSSH extensions Ferry understands (`PROTOCOL` sections 4.2 to 4.9): their request
//! names, the versions a server announces in `SSH_FXP_VERSION`, and the reply of
//! `limits@openssh.com`.
//!
//! Requests with these names decode to their own [`Packet`] variants; any other name, such as
//! `statvfs@openssh.com`, `hardlink@openssh.com` or `copy-data`, decodes to
//! [`Packet::Extended`]. This module does NOT decide which extensions a server offers.

use super::error::SftpError;
use super::packet::{ExtensionPair, Packet};
use super::packet_type;
use super::wire::{Reader, put_u64};

/// `posix-rename@openssh.com`: [`Packet::PosixRename`].
pub const POSIX_RENAME: &[u8] = b"posix-rename@openssh.com";
/// `limits@openssh.com`: [`Packet::Limits`], answered by [`LimitsReply`].
pub const LIMITS: &[u8] = b"limits@openssh.com";
/// `expand-path@openssh.com`: [`Packet::ExpandPath`].
pub const EXPAND_PATH: &[u8] = b"expand-path@openssh.com";
/// `fsync@openssh.com`: [`Packet::Fsync`].
pub const FSYNC: &[u8] = b"fsync@openssh.com";

/// Each typed extension with the version OpenSSH announces for it (`sftp-server.c`,
/// `process_init`): all four are at version `"1"`. OpenSSH's client uses an extension only when
/// the announced version is exactly the one it knows.
pub const ANNOUNCED: [(&[u8], &[u8]); 4] = [
    (POSIX_RENAME, b"1"),
    (LIMITS, b"1"),
    (EXPAND_PATH, b"1"),
    (FSYNC, b"1"),
];

/// [`ANNOUNCED`] as the `extensions` of a [`Packet::Version`].
pub fn announced() -> Vec<ExtensionPair> {
    ANNOUNCED
        .iter()
        .map(|(name, version)| ExtensionPair::new(*name, *version))
        .collect()
}

/// The `SSH_FXP_EXTENDED_REPLY` to `limits@openssh.com` (`PROTOCOL` section 4.8). A field of 0
/// means the server sets no limit of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitsReply {
    /// The longest packet the server accepts, all of it (OpenSSH: 256 KiB; the draft wants at
    /// least 34000).
    pub max_packet_length: u64,
    /// The most bytes one READ returns (OpenSSH: 256 KiB less 1024).
    pub max_read_length: u64,
    /// The most bytes one WRITE may carry (OpenSSH: 256 KiB less 1024).
    pub max_write_length: u64,
    /// The most handles open at once (OpenSSH: its open-file limit less 5).
    pub max_open_handles: u64,
}

impl LimitsReply {
    /// The reply packet for the request `id`.
    pub fn to_packet(&self, id: u32) -> Packet {
        let mut data = Vec::with_capacity(32);
        for value in [
            self.max_packet_length,
            self.max_read_length,
            self.max_write_length,
            self.max_open_handles,
        ] {
            put_u64(&mut data, value);
        }
        Packet::ExtendedReply { id, data }
    }

    /// Reads the `data` of an [`Packet::ExtendedReply`] that answers `limits@openssh.com`: four
    /// `uint64`s. As OpenSSH's client does, bytes after them are ignored.
    pub fn decode(data: &[u8]) -> Result<LimitsReply, SftpError> {
        let mut r = Reader::new(packet_type::EXTENDED_REPLY, data);
        Ok(LimitsReply {
            max_packet_length: r.u64()?,
            max_read_length: r.u64()?,
            max_write_length: r.u64()?,
            max_open_handles: r.u64()?,
        })
    }
}
