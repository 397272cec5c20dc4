//! The SSH data types SFTP is written in (RFC 4251 section 5): `byte`, `uint32`, `uint64` (big
//! endian) and `string` (a `uint32` length, then that many bytes), read from one packet's body
//! and appended to a buffer. It does NOT know packet layouts: that is decode.rs and encode.rs.

use super::error::SftpError;
use super::packet::Trailing;

/// Reads fields off the body of one packet. Every error it returns names the packet's type and,
/// once it has been read, the request id, so that the server can answer that request.
#[derive(Debug)]
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    packet_type: u8,
    id: Option<u32>,
}

impl<'a> Reader<'a> {
    /// A reader over what follows the type byte of a packet of type `packet_type`.
    pub(super) fn new(packet_type: u8, bytes: &'a [u8]) -> Self {
        Reader {
            bytes,
            packet_type,
            id: None,
        }
    }

    /// Reads the request id and remembers it for the errors that follow.
    pub(super) fn id(&mut self) -> Result<u32, SftpError> {
        let id = self.u32()?;
        self.id = Some(id);
        Ok(id)
    }

    pub(super) fn u32(&mut self) -> Result<u32, SftpError> {
        let (head, rest) = self
            .bytes
            .split_first_chunk::<4>()
            .ok_or_else(|| self.truncated())?;
        self.bytes = rest;
        Ok(u32::from_be_bytes(*head))
    }

    pub(super) fn u64(&mut self) -> Result<u64, SftpError> {
        let (head, rest) = self
            .bytes
            .split_first_chunk::<8>()
            .ok_or_else(|| self.truncated())?;
        self.bytes = rest;
        Ok(u64::from_be_bytes(*head))
    }

    /// A `string` of any bytes: a handle, file data, an extension's value.
    pub(super) fn bytes(&mut self) -> Result<Vec<u8>, SftpError> {
        self.slice().map(<[u8]>::to_vec)
    }

    /// A `string` that names something: a path, a file name, a long name, a message, an
    /// extension's name. OpenSSH reads these with `sshbuf_get_cstring`, which refuses a NUL
    /// anywhere but in the last byte and reads a last NUL as the C string's end: so do we.
    pub(super) fn text(&mut self) -> Result<Vec<u8>, SftpError> {
        let text = self.slice()?;
        let text = text.strip_suffix(b"\0").unwrap_or(text);
        if text.contains(&0) {
            return Err(SftpError::NulInString {
                packet_type: self.packet_type,
                id: self.id,
            });
        }
        Ok(text.to_vec())
    }

    /// Everything left, for the free-form tail of `SSH_FXP_EXTENDED` and its reply.
    pub(super) fn rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes).to_vec()
    }

    /// The bytes not read yet, left in place.
    pub(super) fn remaining(&self) -> &'a [u8] {
        self.bytes
    }

    /// True when every byte has been read.
    pub(super) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// At least how many more items of `min_size` bytes each fit in what is left: a count read
    /// from the wire is checked against it before anything is allocated for it.
    pub(super) fn check_count(&self, count: u32, min_size: usize) -> Result<usize, SftpError> {
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if count > self.bytes.len() / min_size {
            return Err(self.truncated());
        }
        Ok(count)
    }

    /// Ends the packet: bytes after the last field are ignored or refused, as `trailing` says.
    pub(super) fn finish(self, trailing: Trailing) -> Result<(), SftpError> {
        if trailing == Trailing::Reject && !self.bytes.is_empty() {
            return Err(SftpError::TrailingBytes {
                packet_type: self.packet_type,
                id: self.id,
                count: self.bytes.len(),
            });
        }
        Ok(())
    }

    fn slice(&mut self) -> Result<&'a [u8], SftpError> {
        let length = self.u32()?;
        let Some((string, rest)) = usize::try_from(length)
            .ok()
            .and_then(|length| self.bytes.split_at_checked(length))
        else {
            return Err(SftpError::BadStringLength {
                packet_type: self.packet_type,
                id: self.id,
                length,
            });
        };
        self.bytes = rest;
        Ok(string)
    }

    fn truncated(&self) -> SftpError {
        SftpError::Truncated {
            packet_type: self.packet_type,
            id: self.id,
        }
    }
}

/// Appends a `uint32`.
pub(super) fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Appends a `uint64`.
pub(super) fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Appends a `string`: its length, then its bytes.
pub(super) fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, wire_len(bytes.len()));
    out.extend_from_slice(bytes);
}

/// A length as a `uint32`. Nothing near 4 GiB fits in any peer's packet limit; such a length
/// is written as `u32::MAX` (which every peer refuses) rather than cut to a smaller, wrong one.
pub(super) fn wire_len(length: usize) -> u32 {
    u32::try_from(length).unwrap_or(u32::MAX)
}
