//! Why bytes are not an SFTP packet, and the one answer each reason allows on the wire.
//!
//! OpenSSH's `sftp-server` ends the session on every one of these (`fatal_fr(r, "parse")`),
//! and sends nothing for a packet type it does not know. We keep the request id whenever it
//! could be read so that a server may instead answer that one request (the draft wants exactly
//! one response per request) and go on: [`SftpError::status_reply`]. Errors without an id, and a
//! packet over the limit, leave nothing to answer: the connection must close.

use super::packet::{Packet, StatusCode};

/// Why a packet could not be decoded.
///
/// `packet_type` is the packet's type byte; `id` is its request id when the packet got that
/// far (`SSH_FXP_INIT` and `SSH_FXP_VERSION` carry a version there instead, never an id).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SftpError {
    /// The length field is over the decoder's limit. Nothing is allocated for it, and the
    /// stream cannot be followed past it: the connection must close.
    #[error("SFTP packet of {length} bytes is over the limit of {max}")]
    TooLong {
        /// The length field as received.
        length: u32,
        /// The decoder's limit.
        max: u32,
    },
    /// The length field is 0: the packet has no type byte. As with [`SftpError::TooLong`], the
    /// connection must close.
    #[error("SFTP packet of length 0 has no type")]
    Empty,
    /// A type this module does not know. The packet was consumed whole, so decoding goes on
    /// with the next one; a server answers `SSH_FX_OP_UNSUPPORTED` for the id.
    #[error("unknown SFTP packet type {packet_type}")]
    UnknownType {
        /// The type byte.
        packet_type: u8,
        /// The `uint32` after the type byte, when there is one.
        id: Option<u32>,
    },
    /// The packet ends in the middle of a fixed-size field, or a count promises more entries
    /// than the bytes left can hold.
    #[error("SFTP packet of type {packet_type} ends in the middle of a field")]
    Truncated {
        /// The type byte.
        packet_type: u8,
        /// The request id, if it was read.
        id: Option<u32>,
    },
    /// A string's length runs past the end of the packet.
    #[error("SFTP packet of type {packet_type} has a string of {length} bytes past its end")]
    BadStringLength {
        /// The type byte.
        packet_type: u8,
        /// The request id, if it was read.
        id: Option<u32>,
        /// The string's length field.
        length: u32,
    },
    /// A path, name or message has a NUL byte before its last byte. OpenSSH refuses those
    /// (`sshbuf_get_cstring`): a path with a NUL inside would name another file to C.
    #[error("SFTP packet of type {packet_type} has a NUL byte inside a name")]
    NulInString {
        /// The type byte.
        packet_type: u8,
        /// The request id, if it was read.
        id: Option<u32>,
    },
    /// Bytes after the last field of a packet whose layout has no room for them. Only with
    /// [`Trailing::Reject`](super::Trailing::Reject): OpenSSH ignores them.
    #[error("SFTP packet of type {packet_type} has {count} bytes after its last field")]
    TrailingBytes {
        /// The type byte.
        packet_type: u8,
        /// The request id.
        id: Option<u32>,
        /// How many bytes were left.
        count: usize,
    },
}

impl SftpError {
    /// The request id of the packet, if it was read.
    pub fn id(&self) -> Option<u32> {
        match self {
            SftpError::TooLong { .. } | SftpError::Empty => None,
            SftpError::UnknownType { id, .. }
            | SftpError::Truncated { id, .. }
            | SftpError::BadStringLength { id, .. }
            | SftpError::NulInString { id, .. }
            | SftpError::TrailingBytes { id, .. } => *id,
        }
    }

    /// True when the stream cannot be followed past this error: the length field itself was
    /// refused. After any other error the packet was consumed and the next one can be decoded.
    pub fn is_fatal(&self) -> bool {
        matches!(self, SftpError::TooLong { .. } | SftpError::Empty)
    }

    /// The status code a server answers with: `SSH_FX_OP_UNSUPPORTED` for an unknown type (the
    /// draft's answer to a request it does not implement), `SSH_FX_BAD_MESSAGE` for the rest.
    pub fn status_code(&self) -> StatusCode {
        match self {
            SftpError::UnknownType { .. } => StatusCode::OP_UNSUPPORTED,
            _ => StatusCode::BAD_MESSAGE,
        }
    }

    /// The `SSH_FXP_STATUS` a server sends for this error, or `None` when there is no id to
    /// answer and the connection must close instead. The message is the code's
    /// [`StatusCode::message`], the language tag empty (as OpenSSH sends it).
    ///
    /// An error in `SSH_FXP_INIT` or `SSH_FXP_VERSION` has no id: it closes the connection.
    pub fn status_reply(&self) -> Option<Packet> {
        let id = self.id()?;
        let code = self.status_code();
        Some(Packet::Status {
            id,
            code,
            message: code.message().as_bytes().to_vec(),
            language: Vec::new(),
        })
    }
}
