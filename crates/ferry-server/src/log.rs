//! Log output. Clients choose much of what is logged (user names, paths), so no value reaches a
//! log line as raw control characters: in text, every field is written with control
//! characters (C0, DEL, C1) escaped, so a CR cannot start a forged line and an ANSI escape
//! cannot repaint an operator's terminal; in JSON, the encoder escapes C0 and the writer
//! escapes DEL and C1 as well.
//!
//! This module does NOT decide what is logged (the session does) nor mask passwords
//! (`ferry_proto::Command::for_log` does).

use std::fmt;
use std::io::{self, Write};

use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::{self, Writer};

use crate::config::{LogFormat, LogLevel};

/// Installs the global subscriber: lines on stderr, in `format`, up to `level`.
///
/// Lines are written by the thread that logs them: one write(2) a line, and lines never
/// interleave. At the default level that is a few lines a session plus one a transfer; a
/// background writer thread cost more than the write, since waking it took a context switch
/// per line (measured with 1,000 small files: 82-127 against 60-72 us of CPU per transfer).
pub fn init(format: LogFormat, level: LogLevel) {
    let builder = tracing_subscriber::fmt()
        // Colours only for a terminal, not in log files and pipes.
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_max_level(level.as_tracing())
        .with_target(false);
    match format {
        LogFormat::Text => builder
            .with_writer(io::stderr)
            .fmt_fields(format::debug_fn(write_field).delimited(" "))
            .init(),
        LogFormat::Json => builder
            .with_writer(EscapingWriter(io::stderr))
            .json()
            .init(),
    }
}

/// Writes one field of a text line, `name=value` (the message bare), value escaped.
fn write_field(
    writer: &mut Writer<'_>,
    field: &tracing::field::Field,
    value: &dyn fmt::Debug,
) -> fmt::Result {
    if field.name() != "message" {
        write!(writer, "{}=", field.name())?;
    }
    fmt::Write::write_fmt(&mut Escaping(writer), format_args!("{value:?}"))
}

/// Passes text through with every control character written as an escape (`\r`, `\n`,
/// `\t`, `\x1b`, `\u{9b}`).
pub struct Escaping<W>(pub W);

impl<W: fmt::Write> fmt::Write for Escaping<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(char::is_control) {
            self.0.write_str(&rest[..at])?;
            let Some(control) = rest[at..].chars().next() else {
                break;
            };
            match control {
                '\r' => self.0.write_str("\\r")?,
                '\n' => self.0.write_str("\\n")?,
                '\t' => self.0.write_str("\\t")?,
                c if u32::from(c) < 0x80 => write!(self.0, "\\x{:02x}", u32::from(c))?,
                c => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = &rest[at + control.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// The JSON log writer: escapes DEL and C1 characters, the control characters a JSON encoder
/// leaves raw (inside JSON strings, `\u007f` is the same character). Text lines are escaped
/// field by field instead (`write_field`) and do not go through it.
#[derive(Debug, Clone, Copy)]
pub struct EscapingWriter<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for EscapingWriter<M> {
    type Writer = EscapingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        EscapingWriter(self.0.make_writer())
    }
}

/// Where `line` holds a raw DEL or C1 character at `at`: its length in bytes and its code.
fn raw_control(line: &[u8], at: usize) -> Option<(usize, u8)> {
    match (line[at], line.get(at + 1)) {
        (0x7f, _) => Some((1, 0x7f)),
        (0xc2, Some(&next)) if (0x80..0xa0).contains(&next) => Some((2, next)),
        _ => None,
    }
}

impl<W: Write> Write for EscapingWriter<W> {
    /// Writes `line` in one call to the inner writer (one write(2) a log line), copied with
    /// escapes only when it holds something to escape.
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        if !(0..line.len()).any(|at| raw_control(line, at).is_some()) {
            self.0.write_all(line)?;
            return Ok(line.len());
        }
        let mut escaped = Vec::with_capacity(line.len() + 16);
        let mut at = 0;
        while at < line.len() {
            match raw_control(line, at) {
                Some((len, code)) => {
                    escaped.extend_from_slice(format!("\\u{code:04x}").as_bytes());
                    at += len;
                }
                None => {
                    escaped.push(line[at]);
                    at += 1;
                }
            }
        }
        self.0.write_all(&escaped)?;
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        fmt::Write::write_str(&mut Escaping(&mut out), text).unwrap_or_default();
        out
    }

    #[test]
    fn control_characters_are_escaped_in_text() {
        assert_eq!(escaped("plain name"), "plain name");
        assert_eq!(escaped("a\r\nb\tc"), "a\\r\\nb\\tc");
        assert_eq!(escaped("\u{1b}[2J"), "\\x1b[2J");
        assert_eq!(escaped("x\u{7f}y\u{9b}31m"), "x\\x7fy\\u{9b}31m");
        assert_eq!(escaped("naïve ünïcode"), "naïve ünïcode");
    }

    #[test]
    fn del_and_c1_are_escaped_in_json_lines() {
        let mut out = EscapingWriter(Vec::new());
        out.write_all("{\"user\":\"a\u{7f}b\u{9b}c é\"}\n".as_bytes())
            .unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&out.0),
            "{\"user\":\"a\\u007fb\\u009bc é\"}\n"
        );
        // A plain line is written as it is.
        let mut out = EscapingWriter(Vec::new());
        out.write_all(b"{\"user\":\"bob\"}\n").unwrap_or_default();
        assert_eq!(out.0, b"{\"user\":\"bob\"}\n");
    }
}
