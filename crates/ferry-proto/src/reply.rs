//! FTP replies (RFC 959 section 4.2): a three-digit code and one or more lines of text.
//!
//! The server encodes with [`Reply::encode`], which guarantees that nothing in the text can end
//! the reply early or forge another one (CR and LF become spaces; inner lines of a multi-line reply
//! start with a space). The client decodes with [`ReplyDecoder`], which accepts any code.

use std::fmt;

/// A reply code. A newtype, not a closed enum: a client must accept codes we never send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyCode(pub u16);

#[allow(missing_docs)] // Each constant is named after its RFC 959 section 4.2.2 text.
impl ReplyCode {
    pub const RESTART_MARKER: ReplyCode = ReplyCode(110);
    pub const READY_IN_MINUTES: ReplyCode = ReplyCode(120);
    pub const TRANSFER_STARTING: ReplyCode = ReplyCode(125);
    pub const FILE_STATUS_OK: ReplyCode = ReplyCode(150);
    pub const OK: ReplyCode = ReplyCode(200);
    pub const SUPERFLUOUS: ReplyCode = ReplyCode(202);
    pub const SYSTEM_STATUS: ReplyCode = ReplyCode(211);
    pub const DIRECTORY_STATUS: ReplyCode = ReplyCode(212);
    pub const FILE_STATUS: ReplyCode = ReplyCode(213);
    pub const HELP: ReplyCode = ReplyCode(214);
    pub const SYSTEM_TYPE: ReplyCode = ReplyCode(215);
    pub const SERVICE_READY: ReplyCode = ReplyCode(220);
    pub const CLOSING_CONTROL: ReplyCode = ReplyCode(221);
    pub const DATA_OPEN: ReplyCode = ReplyCode(225);
    pub const CLOSING_DATA: ReplyCode = ReplyCode(226);
    pub const PASSIVE_MODE: ReplyCode = ReplyCode(227);
    pub const EXTENDED_PASSIVE_MODE: ReplyCode = ReplyCode(229);
    pub const LOGGED_IN: ReplyCode = ReplyCode(230);
    pub const AUTH_OK: ReplyCode = ReplyCode(234);
    pub const FILE_ACTION_OK: ReplyCode = ReplyCode(250);
    pub const PATH_CREATED: ReplyCode = ReplyCode(257);
    pub const NEED_PASSWORD: ReplyCode = ReplyCode(331);
    pub const NEED_ACCOUNT: ReplyCode = ReplyCode(332);
    pub const FILE_ACTION_PENDING: ReplyCode = ReplyCode(350);
    pub const SERVICE_NOT_AVAILABLE: ReplyCode = ReplyCode(421);
    pub const CANT_OPEN_DATA: ReplyCode = ReplyCode(425);
    pub const TRANSFER_ABORTED: ReplyCode = ReplyCode(426);
    pub const FILE_BUSY: ReplyCode = ReplyCode(450);
    pub const LOCAL_ERROR: ReplyCode = ReplyCode(451);
    pub const INSUFFICIENT_STORAGE: ReplyCode = ReplyCode(452);
    pub const SYNTAX_ERROR: ReplyCode = ReplyCode(500);
    pub const SYNTAX_ERROR_ARGS: ReplyCode = ReplyCode(501);
    pub const NOT_IMPLEMENTED: ReplyCode = ReplyCode(502);
    pub const BAD_SEQUENCE: ReplyCode = ReplyCode(503);
    pub const PARAMETER_NOT_IMPLEMENTED: ReplyCode = ReplyCode(504);
    pub const NOT_LOGGED_IN: ReplyCode = ReplyCode(530);
    pub const NEED_ACCOUNT_TO_STORE: ReplyCode = ReplyCode(532);
    pub const FILE_UNAVAILABLE: ReplyCode = ReplyCode(550);
    pub const PAGE_TYPE_UNKNOWN: ReplyCode = ReplyCode(551);
    pub const EXCEEDED_STORAGE: ReplyCode = ReplyCode(552);
    pub const BAD_FILE_NAME: ReplyCode = ReplyCode(553);
    /// RFC 3659: "Requested action not taken: invalid REST parameter"; also any action this
    /// server or its storage does not support.
    pub const ACTION_NOT_TAKEN: ReplyCode = ReplyCode(554);
    /// RFC 4217: the data connection cannot be opened with this PROT setting.
    pub const DATA_PROTECTION_REFUSED: ReplyCode = ReplyCode(521);
    /// RFC 2428: network protocol not supported (EPSV with a protocol we do not speak).
    pub const NETWORK_PROTOCOL_NOT_SUPPORTED: ReplyCode = ReplyCode(522);
    /// RFC 4217: the TLS negotiation on the data connection failed (the same code as EPSV's).
    pub const DATA_TLS_FAILED: ReplyCode = ReplyCode(522);
    /// RFC 2228: request denied for policy reasons.
    pub const DENIED_FOR_POLICY: ReplyCode = ReplyCode(534);
    /// RFC 2228: the requested PROT level is not supported by the security mechanism.
    pub const PROT_LEVEL_NOT_SUPPORTED: ReplyCode = ReplyCode(536);
}

impl ReplyCode {
    /// 1yz: preliminary; another reply follows.
    pub fn is_preliminary(self) -> bool {
        (100..200).contains(&self.0)
    }

    /// 2yz: completed.
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }

    /// 3yz: accepted, more is needed.
    pub fn is_intermediate(self) -> bool {
        (300..400).contains(&self.0)
    }

    /// 4yz or 5yz.
    pub fn is_error(self) -> bool {
        self.0 >= 400
    }

    /// The code as three ASCII digits, as it goes on the wire (codes past 999 keep their last
    /// three digits; RFC 959 codes have three).
    pub fn digits(self) -> [u8; 3] {
        let code = self.0 % 1000;
        [
            b'0' + (code / 100) as u8,
            b'0' + (code / 10 % 10) as u8,
            b'0' + (code % 10) as u8,
        ]
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

/// One reply: a code and its lines of text (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The code.
    pub code: ReplyCode,
    /// The text, one entry a line, without line endings.
    pub lines: Vec<String>,
}

impl Reply {
    /// A single-line reply.
    pub fn new(code: ReplyCode, text: impl Into<String>) -> Reply {
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply; `lines` must not be empty (an empty list sends the code alone).
    pub fn multi(code: ReplyCode, lines: Vec<String>) -> Reply {
        Reply { code, lines }
    }

    /// The text of all lines joined by spaces, for a one-line message.
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Appends the wire form of this reply to `out`.
    ///
    /// Single line: `CODE text CRLF`. Multi-line (RFC 959 section 4.2): `CODE-first`, inner lines
    /// each starting with a space so that none can look like an end line, then `CODE last`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.lines.iter().map(|l| l.len() + 6).sum::<usize>().max(6));
        match self.lines.as_slice() {
            [] => push_line(out, Some(self.code), b' ', ""),
            [only] => push_line(out, Some(self.code), b' ', only),
            [first, inner @ .., last] => {
                let encoder = MultiLineEncoder::start(self.code, first, out);
                for line in inner {
                    encoder.line(line, out);
                }
                encoder.end(last, out);
            }
        }
    }

    /// The wire form as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Writes a multi-line reply a line at a time, for replies too long to hold whole (STAT of a
/// big folder); [`Reply::encode`] writes its multi-line replies through it too.
#[derive(Debug)]
pub struct MultiLineEncoder {
    code: ReplyCode,
}

impl MultiLineEncoder {
    /// Appends the first line, `CODE-text`.
    pub fn start(code: ReplyCode, text: &str, out: &mut Vec<u8>) -> MultiLineEncoder {
        push_line(out, Some(code), b'-', text);
        MultiLineEncoder { code }
    }

    /// Appends an inner line; it starts with a space, so it cannot look like the end.
    pub fn line(&self, text: &str, out: &mut Vec<u8>) {
        push_line(out, None, b' ', text);
    }

    /// Appends the last line, `CODE text`.
    pub fn end(self, text: &str, out: &mut Vec<u8>) {
        push_line(out, Some(self.code), b' ', text);
    }
}

/// Appends one reply line: the code if any, `mark` (`-` for a first line, else a space), the
/// text with any CR or LF blanked, CRLF.
fn push_line(out: &mut Vec<u8>, code: Option<ReplyCode>, mark: u8, text: &str) {
    if let Some(code) = code {
        out.extend_from_slice(&code.digits());
    }
    out.push(mark);
    push_clean(out, text);
    out.extend_from_slice(b"\r\n");
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text())
    }
}

fn push_clean(out: &mut Vec<u8>, text: &str) {
    if !text.bytes().any(|b| b == b'\r' || b == b'\n') {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    out.extend(
        text.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
}

/// Why the reply stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// A line that should start a reply does not start with three digits.
    #[error("malformed reply line: {0:?}")]
    Malformed(String),
    /// A reply grew past the decoder's limit.
    #[error("reply too long")]
    TooLong,
}

/// Decodes replies from bytes received on the control connection (the client side).
#[derive(Debug)]
pub struct ReplyDecoder {
    buf: Vec<u8>,
    /// Lines of a multi-line reply seen so far, and its code.
    open: Option<(ReplyCode, Vec<String>)>,
    max_len: usize,
}

impl Default for ReplyDecoder {
    fn default() -> Self {
        Self::new(1 << 20)
    }
}

impl ReplyDecoder {
    /// A decoder that gives up on replies larger than `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        ReplyDecoder {
            buf: Vec::new(),
            open: None,
            max_len,
        }
    }

    /// Appends received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Returns the next complete reply, `Ok(None)` if more bytes are needed.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ReplyError> {
        loop {
            let Some(end) = self.buf.iter().position(|&b| b == b'\n') else {
                if self.buf.len() > self.max_len {
                    return Err(ReplyError::TooLong);
                }
                return Ok(None);
            };
            let mut raw: Vec<u8> = self.buf.drain(..=end).collect();
            raw.pop();
            if raw.last() == Some(&b'\r') {
                raw.pop();
            }
            let line = String::from_utf8_lossy(&raw).into_owned();
            let head = parse_head(&line);
            match self.open.take() {
                None => {
                    let Some((code, separator)) = head else {
                        return Err(ReplyError::Malformed(line));
                    };
                    let text = line.get(4..).unwrap_or("").to_string();
                    if separator == '-' {
                        self.open = Some((code, vec![text]));
                    } else {
                        return Ok(Some(Reply::new(code, text)));
                    }
                }
                Some((code, mut lines)) => {
                    if let Some((end_code, ' ')) = head
                        && end_code == code
                    {
                        lines.push(line.get(4..).unwrap_or("").to_string());
                        return Ok(Some(Reply::multi(code, lines)));
                    }
                    if lines.iter().map(String::len).sum::<usize>() > self.max_len {
                        return Err(ReplyError::TooLong);
                    }
                    lines.push(line);
                    self.open = Some((code, lines));
                }
            }
        }
    }
}

/// `Some((code, separator))` when the line starts with three digits and a space, a dash, or ends.
fn parse_head(line: &str) -> Option<(ReplyCode, char)> {
    let bytes = line.as_bytes();
    if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = ReplyCode(
        u16::from(bytes[0] - b'0') * 100
            + u16::from(bytes[1] - b'0') * 10
            + u16::from(bytes[2] - b'0'),
    );
    match bytes.get(3) {
        None => Some((code, ' ')),
        Some(b' ') => Some((code, ' ')),
        Some(b'-') => Some((code, '-')),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(bytes: &[u8]) -> Vec<Reply> {
        let mut decoder = ReplyDecoder::default();
        decoder.extend(bytes);
        let mut out = Vec::new();
        while let Some(reply) = decoder.next_reply().unwrap() {
            out.push(reply);
        }
        out
    }

    #[test]
    fn single_line() {
        let reply = Reply::new(ReplyCode::OK, "Command okay.");
        assert_eq!(reply.to_bytes(), b"200 Command okay.\r\n");
        assert_eq!(decode_all(&reply.to_bytes()), vec![reply]);
    }

    #[test]
    fn codes_go_out_as_three_digits() {
        assert_eq!(&ReplyCode::FILE_STATUS_OK.digits(), b"150");
        assert_eq!(&ReplyCode(5).digits(), b"005");
        assert_eq!(Reply::new(ReplyCode(42), "x").to_bytes(), b"042 x\r\n");
        for code in [110, 226, 421, 550, 999] {
            assert_eq!(
                ReplyCode(code).digits().to_vec(),
                ReplyCode(code).to_string().into_bytes()
            );
        }
    }

    #[test]
    fn multi_line_round_trip() {
        let reply = Reply::multi(
            ReplyCode::SYSTEM_STATUS,
            vec![
                "Extensions supported:".into(),
                "211 fake end".into(),
                "End".into(),
            ],
        );
        let bytes = reply.to_bytes();
        assert_eq!(
            bytes,
            b"211-Extensions supported:\r\n 211 fake end\r\n211 End\r\n"
        );
        let decoded = decode_all(&bytes);
        assert_eq!(decoded.len(), 1);
        assert_eq!(decoded[0].code, ReplyCode::SYSTEM_STATUS);
        assert_eq!(decoded[0].lines.len(), 3);
    }

    #[test]
    fn crlf_in_text_cannot_end_reply() {
        let reply = Reply::new(ReplyCode::PATH_CREATED, "\"a\r\n230 forged\" created");
        let bytes = reply.to_bytes();
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(decode_all(&bytes).len(), 1);
    }

    #[test]
    fn decodes_foreign_servers() {
        // vsftpd-style multi-line greeting, a code we never send, a bare LF and a bare code.
        let replies = decode_all(b"220-Hello\r\n220-there\r\n220 ready\r\n631 odd\n200\r\n");
        assert_eq!(replies.len(), 3);
        assert_eq!(replies[0].lines, vec!["Hello", "220-there", "ready"]);
        assert_eq!(replies[1].code, ReplyCode(631));
        assert_eq!(replies[2].code, ReplyCode::OK);
    }

    #[test]
    fn split_delivery() {
        let mut decoder = ReplyDecoder::default();
        decoder.extend(b"150 Opening");
        assert_eq!(decoder.next_reply(), Ok(None));
        decoder.extend(b"\r\n226 Done\r\n");
        assert_eq!(
            decoder.next_reply().unwrap().unwrap().code,
            ReplyCode::FILE_STATUS_OK
        );
        assert_eq!(
            decoder.next_reply().unwrap().unwrap().code,
            ReplyCode::CLOSING_DATA
        );
    }

    #[test]
    fn malformed() {
        let mut decoder = ReplyDecoder::default();
        decoder.extend(b"hello\r\n");
        assert!(matches!(
            decoder.next_reply(),
            Err(ReplyError::Malformed(_))
        ));
    }

    /// Reply-shaped bytes: heads, line endings and anything else.
    fn reply_bytes() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"211-".to_vec()),
            Just(b"211 ".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\n".to_vec()),
            Just(vec![0xFF]),
            proptest::collection::vec(any::<u8>(), 0..24),
        ];
        proptest::collection::vec(piece, 0..48).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        /// Whatever arrives, in whatever pieces, the decoder holds no more than its limit of an
        /// unfinished line, and an unfinished multi-line reply stays within a few times it.
        #[test]
        fn decoder_memory_is_bounded(
            max_len in 0usize..64,
            data in reply_bytes(),
            chunk in 1usize..32,
        ) {
            let mut decoder = ReplyDecoder::new(max_len);
            for piece in data.chunks(chunk) {
                decoder.extend(piece);
                loop {
                    match decoder.next_reply() {
                        Ok(Some(reply)) => prop_assert!(!reply.lines.is_empty()),
                        Ok(None) => break,
                        Err(_) => return Ok(()),
                    }
                }
                prop_assert!(decoder.buf.len() <= max_len);
                let open: usize = decoder
                    .open
                    .as_ref()
                    .map_or(0, |(_, lines)| lines.iter().map(String::len).sum());
                // One line may be pushed past the limit; lossy UTF-8 can triple its bytes.
                prop_assert!(open <= max_len + 3 * (max_len + chunk), "{open} held");
            }
        }
    }

    #[test]
    fn multi_line_encoder_writes_what_encode_writes() {
        let lines = [
            "Status of dir:",
            "a line",
            "one with\r\na break",
            "End of status",
        ];
        let whole = Reply::multi(
            ReplyCode::DIRECTORY_STATUS,
            lines.iter().map(|l| (*l).to_string()).collect(),
        )
        .to_bytes();
        let mut pieces = Vec::new();
        let encoder = MultiLineEncoder::start(ReplyCode::DIRECTORY_STATUS, lines[0], &mut pieces);
        encoder.line(lines[1], &mut pieces);
        encoder.line(lines[2], &mut pieces);
        encoder.end(lines[3], &mut pieces);
        assert_eq!(pieces, whole);
    }
}
