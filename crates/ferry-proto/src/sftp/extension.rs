//! The OpenSSH extensions Ferry understands (`PROTOCOL` sections 4.2 to 4.9): their request
//! names, the versions a server announces in `SSH_FXP_VERSION`, and the reply of
//! `limits@openssh.com`. Also `check-file-name` and `check-file-handle`
//! (draft-ietf-secsh-filexfer-extensions-00 section 3, as ProFTPD's mod_sftp and paramiko speak
//! them): [`CheckFile`] and its reply.
//!
//! Requests with these names decode to their own [`Packet`] variants; any other name, such as
//! `statvfs@openssh.com`, `hardlink@openssh.com` or `copy-data`, decodes to
//! [`Packet::Extended`]. This module does NOT decide which extensions a server offers.

use super::error::SftpError;
use super::packet::{ExtensionPair, Packet};
use super::packet_type;
use super::wire::{Reader, put_string, put_u32, put_u64};

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

/// `check-file-name`: a file's digest by path ([`CheckFile`]).
pub const CHECK_FILE_NAME: &[u8] = b"check-file-name";
/// `check-file-handle`: a file's digest by open handle ([`CheckFile`]).
pub const CHECK_FILE_HANDLE: &[u8] = b"check-file-handle";
/// `check-file`: the name ProFTPD announces for both, and the name paramiko's
/// `SFTPFile.check` sends with a handle (read as `check-file-handle`).
pub const CHECK_FILE: &[u8] = b"check-file";

/// The check-file extensions as a server announces them: `check-file` at version `"1"` as
/// ProFTPD's mod_sftp does, and each request name with the algorithms it takes.
pub const ANNOUNCED_CHECK_FILE: [(&[u8], &[u8]); 3] = [
    (CHECK_FILE, b"1"),
    (CHECK_FILE_NAME, b"sha256,sha512,sha1,md5"),
    (CHECK_FILE_HANDLE, b"sha256,sha512,sha1,md5"),
];

/// [`ANNOUNCED`] as the `extensions` of a [`Packet::Version`].
pub fn announced() -> Vec<ExtensionPair> {
    ANNOUNCED
        .iter()
        .map(|(name, version)| ExtensionPair::new(*name, *version))
        .collect()
}

/// A `check-file-name` or `check-file-handle` request's fields (the `data` of its
/// [`Packet::Extended`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFile {
    /// The path (`check-file-name`) or the handle (`check-file-handle`).
    pub target: Vec<u8>,
    /// The algorithms the client takes, comma-separated, most wanted first (`sha256,md5`).
    pub algorithms: Vec<u8>,
    /// Where hashing starts.
    pub start: u64,
    /// Bytes to hash; 0: to the end of the file.
    pub length: u64,
    /// One digest per block of this many bytes; 0: one digest for the whole range. The draft
    /// wants at least 256 otherwise.
    pub block_size: u32,
}

impl CheckFile {
    /// Reads the `data` of the request. Bytes after the fields are ignored.
    pub fn decode(data: &[u8]) -> Result<CheckFile, SftpError> {
        let mut r = Reader::new(packet_type::EXTENDED, data);
        Ok(CheckFile {
            target: r.bytes()?,
            algorithms: r.bytes()?,
            start: r.u64()?,
            length: r.u64()?,
            block_size: r.u32()?,
        })
    }

    /// The `data` of the request, as a client sends it.
    pub fn encode(&self) -> Vec<u8> {
        let mut data = Vec::with_capacity(self.target.len() + self.algorithms.len() + 28);
        put_string(&mut data, &self.target);
        put_string(&mut data, &self.algorithms);
        put_u64(&mut data, self.start);
        put_u64(&mut data, self.length);
        put_u32(&mut data, self.block_size);
        data
    }

    /// The reply packet for the request `id`: `string "check-file"`, the algorithm used, then
    /// the digests one after another with no length (the draft's layout; paramiko reads it so).
    pub fn reply(id: u32, algorithm: &str, digests: &[u8]) -> Packet {
        let mut data = Vec::with_capacity(digests.len() + algorithm.len() + 20);
        put_string(&mut data, CHECK_FILE);
        put_string(&mut data, algorithm.as_bytes());
        data.extend_from_slice(digests);
        Packet::ExtendedReply { id, data }
    }
}

/// The handle a `check-file-handle` request's `data` names, without decoding the rest; `None`
/// when the data is too short to hold one.
pub fn check_file_handle(data: &[u8]) -> Option<&[u8]> {
    let (length, rest) = data.split_first_chunk::<4>()?;
    let length = usize::try_from(u32::from_be_bytes(*length)).ok()?;
    rest.get(..length)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_file_round_trip() {
        let request = CheckFile {
            target: b"7".to_vec(),
            algorithms: b"sha256,md5".to_vec(),
            start: 1 << 33,
            length: 0,
            block_size: 4096,
        };
        let data = request.encode();
        assert_eq!(CheckFile::decode(&data), Ok(request));
        assert_eq!(check_file_handle(&data), Some(&b"7"[..]));
        assert_eq!(check_file_handle(&data[..4]), None);
        assert_eq!(check_file_handle(&[0, 0]), None);
        // Cut anywhere, it is refused, never read past its end.
        for end in 0..data.len() {
            assert!(CheckFile::decode(&data[..end]).is_err(), "{end}");
        }
    }

    #[test]
    fn check_file_reply_layout() {
        let Packet::ExtendedReply { id, data } = CheckFile::reply(9, "md5", &[0xab; 16]) else {
            panic!("not an extended reply");
        };
        assert_eq!(id, 9);
        let mut expected = vec![0, 0, 0, 10];
        expected.extend_from_slice(b"check-file");
        expected.extend_from_slice(&[0, 0, 0, 3]);
        expected.extend_from_slice(b"md5");
        expected.extend_from_slice(&[0xab; 16]);
        assert_eq!(data, expected);
    }
}
