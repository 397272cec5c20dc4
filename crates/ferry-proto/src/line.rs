//! Splits the control stream into command lines with a hard length limit.
//!
//! RFC 959 ends lines with CRLF; many clients send a bare LF, so both are accepted. Telnet
//! commands (IAC sequences, sent by some clients before ABOR, RFC 959 section 4.1.3) are removed.
//! It does NOT interpret the line: that is [`crate::Command::parse`].

use std::collections::VecDeque;

const IAC: u8 = 0xFF;

/// Why a line could not be returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line was longer than the limit; its bytes were discarded up to the next LF.
    #[error("command line too long")]
    TooLong,
}

/// A buffer of control-connection bytes that yields complete lines.
///
/// Memory is bounded: at most `max_len` bytes of an unfinished line are kept. An over-long line is
/// reported once as [`LineError::TooLong`] and the rest of it is skipped.
#[derive(Debug)]
pub struct LineBuffer {
    ready: VecDeque<Result<Vec<u8>, LineError>>,
    partial: Vec<u8>,
    max_len: usize,
    /// True while skipping the tail of an over-long line.
    discarding: bool,
}

impl LineBuffer {
    /// A buffer accepting lines of at most `max_len` bytes (without the line ending).
    pub fn new(max_len: usize) -> Self {
        LineBuffer {
            ready: VecDeque::new(),
            partial: Vec::new(),
            max_len,
            discarding: false,
        }
    }

    /// Appends bytes read from the connection.
    pub fn extend(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let (chunk, ends_line) = match bytes.iter().position(|&b| b == b'\n') {
                Some(end) => (&bytes[..=end], true),
                None => (bytes, false),
            };
            bytes = &bytes[chunk.len()..];
            if self.discarding {
                self.discarding = !ends_line;
                continue;
            }
            // The limit plus room for CR LF.
            if self.partial.len() + chunk.len() > self.max_len + 2 {
                self.partial.clear();
                self.ready.push_back(Err(LineError::TooLong));
                self.discarding = !ends_line;
                continue;
            }
            self.partial.extend_from_slice(chunk);
            if ends_line {
                let mut line = std::mem::take(&mut self.partial);
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                let line = if line.len() > self.max_len {
                    Err(LineError::TooLong)
                } else {
                    Ok(strip_telnet(line))
                };
                self.ready.push_back(line);
            }
        }
    }

    /// Returns the next complete line without its line ending, if one has arrived.
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, LineError>> {
        self.ready.pop_front()
    }

    /// Bytes held that do not yet form a line.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// True when nothing received is held: no line waiting, no partial line, no over-long line
    /// being skipped. A server checks this before it starts TLS on the connection, so that
    /// nothing received in clear is taken for a command sent over TLS.
    pub fn is_empty(&self) -> bool {
        self.ready.is_empty() && self.partial.is_empty() && !self.discarding
    }
}

/// Removes Telnet IAC sequences: `IAC IAC` stands for one 0xFF byte, `IAC x` (x a Telnet command
/// such as IP or DM) and `IAC WILL/WONT/DO/DONT opt` are dropped. 0xFF never occurs in UTF-8.
fn strip_telnet(line: Vec<u8>) -> Vec<u8> {
    if !line.contains(&IAC) {
        return line;
    }
    let mut out = Vec::with_capacity(line.len());
    let mut bytes = line.iter().copied();
    while let Some(b) = bytes.next() {
        if b != IAC {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(IAC) => out.push(IAC),
            // WILL, WONT, DO, DONT carry one option byte.
            Some(251..=254) => {
                bytes.next();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(buf: &mut LineBuffer) -> Vec<Result<Vec<u8>, LineError>> {
        std::iter::from_fn(|| buf.next_line()).collect()
    }

    #[test]
    fn crlf_and_lf_lines() {
        let mut buf = LineBuffer::new(100);
        buf.extend(b"USER a\r\nPASS b\nNO");
        assert_eq!(
            lines(&mut buf),
            vec![Ok(b"USER a".to_vec()), Ok(b"PASS b".to_vec())]
        );
        buf.extend(b"OP\r\n");
        assert_eq!(lines(&mut buf), vec![Ok(b"NOOP".to_vec())]);
    }

    #[test]
    fn bytes_one_at_a_time() {
        let mut buf = LineBuffer::new(10);
        for b in b"LIST\r\n" {
            buf.extend(&[*b]);
        }
        assert_eq!(lines(&mut buf), vec![Ok(b"LIST".to_vec())]);
    }

    #[test]
    fn exactly_max_is_accepted() {
        let mut buf = LineBuffer::new(4);
        buf.extend(b"NOOP\r\n");
        assert_eq!(lines(&mut buf), vec![Ok(b"NOOP".to_vec())]);
    }

    #[test]
    fn over_long_line_is_reported_once_and_skipped() {
        let mut buf = LineBuffer::new(8);
        buf.extend(b"RETR aaaaaaaaaaaaaaaa");
        buf.extend(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        assert!(buf.pending() <= 10);
        buf.extend(b"aaa\r\nNOOP\r\n");
        assert_eq!(
            lines(&mut buf),
            vec![Err(LineError::TooLong), Ok(b"NOOP".to_vec())]
        );
    }

    #[test]
    fn over_long_complete_line() {
        let mut buf = LineBuffer::new(4);
        buf.extend(b"NOOPS\r\nPWD\r\n");
        assert_eq!(
            lines(&mut buf),
            vec![Err(LineError::TooLong), Ok(b"PWD".to_vec())]
        );
    }

    #[test]
    fn empty_only_when_nothing_is_held() {
        let mut buf = LineBuffer::new(8);
        assert!(buf.is_empty());
        buf.extend(b"AUTH TLS\r\nUSER");
        assert_eq!(buf.next_line(), Some(Ok(b"AUTH TLS".to_vec())));
        assert!(!buf.is_empty(), "a partial line is held");
        buf.extend(b" x\r\n");
        assert!(!buf.is_empty(), "a complete line is held");
        assert_eq!(buf.next_line(), Some(Ok(b"USER x".to_vec())));
        assert!(buf.is_empty());
        buf.extend(b"RETR aaaaaaaaaaaaaaaa");
        assert_eq!(buf.next_line(), Some(Err(LineError::TooLong)));
        assert!(
            !buf.is_empty(),
            "the rest of an over-long line is being skipped"
        );
        buf.extend(b"a\n");
        assert!(buf.is_empty());
    }

    #[test]
    fn telnet_sequences_removed() {
        let mut buf = LineBuffer::new(100);
        buf.extend(&[IAC, 244, IAC, 242, b'A', b'B', b'O', b'R', b'\r', b'\n']);
        assert_eq!(lines(&mut buf), vec![Ok(b"ABOR".to_vec())]);
        buf.extend(&[b'x', IAC, IAC, b'\n']);
        assert_eq!(lines(&mut buf), vec![Ok(vec![b'x', IAC])]);
    }

    #[test]
    fn non_utf8_is_kept() {
        let mut buf = LineBuffer::new(100);
        buf.extend(b"RETR \xe9t\xe9\r\n");
        assert_eq!(lines(&mut buf), vec![Ok(b"RETR \xe9t\xe9".to_vec())]);
    }
}
