//! Splits the bytes of an SFTP channel into packets: `uint32 length`, then `length` bytes of
//! type and fields (draft section 3), with a hard limit on `length`.
//!
//! Like [`LineBuffer`](crate::LineBuffer) and [`ReplyDecoder`](crate::ReplyDecoder) it is fed
//! whatever arrives, in any pieces, and hands out whole packets. It does NOT read the channel and
//! does NOT check the order of packets.

use super::MAX_PACKET_LEN;
use super::error::SftpError;
use super::packet::{Packet, Trailing};

/// A buffer of received bytes that yields packets.
///
/// Memory is bounded: a length field over the limit is an error as soon as its four bytes are
/// in, before anything is allocated for it, so after [`PacketDecoder::next_packet`] returns
/// `Ok(None)` at most `4 + max_len` bytes are held. Packets are read in place and the consumed
/// front of the buffer is dropped only once it is at least half the buffer, so many small packets
/// received at once cost time in proportion to their bytes, not to their number squared.
#[derive(Debug)]
pub struct PacketDecoder {
    buf: Vec<u8>,
    /// Where the next packet starts in `buf`; the bytes before it were consumed.
    start: usize,
    max_len: u32,
    trailing: Trailing,
    /// The error that stopped the stream (a length over the limit, or 0): returned again on
    /// every call, and further bytes are dropped.
    broken: Option<SftpError>,
}

impl Default for PacketDecoder {
    fn default() -> Self {
        Self::new(MAX_PACKET_LEN)
    }
}

impl PacketDecoder {
    /// A decoder that refuses packets whose length field is over `max_len` (the type byte and
    /// fields; [`MAX_PACKET_LEN`] is OpenSSH's limit). A limit costs up to `4 + max_len` bytes of
    /// buffer for one unfinished packet.
    pub fn new(max_len: u32) -> Self {
        PacketDecoder {
            buf: Vec::new(),
            start: 0,
            max_len,
            trailing: Trailing::Ignore,
            broken: None,
        }
    }

    /// Sets what to do with bytes after a packet's last field; [`Trailing::Ignore`] (OpenSSH's
    /// way) unless set.
    pub fn with_trailing(mut self, trailing: Trailing) -> Self {
        self.trailing = trailing;
        self
    }

    /// Appends received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.broken.is_some() {
            return;
        }
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Returns the next packet, `Ok(None)` when more bytes are needed.
    ///
    /// A packet that does not decode is consumed and reported; the next call goes on with the
    /// packet after it. Errors for which [`SftpError::is_fatal`] is true (a length field over
    /// the limit, or 0) end the stream: they are returned on every later call, and the
    /// connection must close.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, SftpError> {
        if let Some(error) = &self.broken {
            return Err(error.clone());
        }
        let pending = &self.buf[self.start..];
        let Some((length, rest)) = pending.split_first_chunk::<4>() else {
            return Ok(None);
        };
        let length = u32::from_be_bytes(*length);
        if length > self.max_len || length == 0 {
            let error = if length == 0 {
                SftpError::Empty
            } else {
                SftpError::TooLong {
                    length,
                    max: self.max_len,
                }
            };
            self.broken = Some(error.clone());
            self.buf = Vec::new();
            self.start = 0;
            return Err(error);
        }
        // `length` is at most `max_len`, a u32, so it fits a usize on every target we build for.
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        let Some(body) = rest.get(..length) else {
            return Ok(None);
        };
        let decoded = Packet::decode(body, self.trailing);
        self.start += 4 + length;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        decoded.map(Some)
    }

    /// Bytes received that do not yet form a whole packet (and the packets not yet taken).
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// True when nothing received is held.
    pub fn is_empty(&self) -> bool {
        self.pending() == 0
    }

    /// The buffer itself, for tests that check no byte is moved or kept needlessly.
    #[cfg(test)]
    pub(super) fn buffer(&self) -> &Vec<u8> {
        &self.buf
    }
}
