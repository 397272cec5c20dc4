//! FEAT (RFC 2389 section 3): the 211 reply a server builds from its feature lines, and the
//! client's reading of it.
//!
//! This module does NOT decide which features a server offers: the caller passes its lines.

use crate::reply::{Reply, ReplyCode};

/// The feature lines a server adds when it offers FTPS (RFC 4217 section 6).
pub const TLS_FEATURES: &[&str] = &["AUTH TLS", "AUTH SSL", "PBSZ", "PROT"];

/// The multi-line 211 reply to FEAT: `211-Extensions supported:`, one line per feature (each
/// sent with a leading space, as [`Reply::encode`] writes inner lines), then `211 End`.
pub fn feat_reply<'a>(features: impl IntoIterator<Item = &'a str>) -> Reply {
    let mut lines = vec!["Extensions supported:".to_string()];
    lines.extend(features.into_iter().map(str::to_string));
    lines.push("End".into());
    Reply::multi(ReplyCode::SYSTEM_STATUS, lines)
}

/// What a server said it supports in its FEAT reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    lines: Vec<String>,
}

impl Features {
    /// Parses the lines of a 211 FEAT reply: the inner lines, trimmed, blank ones left out.
    pub fn from_reply(reply: &Reply) -> Features {
        let count = reply.lines.len();
        let inner = if count > 2 {
            &reply.lines[1..count - 1]
        } else {
            &[][..]
        };
        Features {
            lines: inner
                .iter()
                .map(|line| line.trim().to_string())
                .filter(|line| !line.is_empty())
                .collect(),
        }
    }

    /// True when FEAT listed `name` (case-insensitive, the first word of a line).
    pub fn has(&self, name: &str) -> bool {
        self.lines.iter().any(|line| {
            line.split_whitespace()
                .next()
                .is_some_and(|word| word.eq_ignore_ascii_case(name))
        })
    }

    /// The feature lines as listed, trimmed.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        let reply = Reply::multi(
            ReplyCode::SYSTEM_STATUS,
            vec![
                "Extensions supported:".into(),
                " MLST type*;size*;modify*;".into(),
                " EPSV".into(),
                " REST STREAM".into(),
                "End".into(),
            ],
        );
        let features = Features::from_reply(&reply);
        assert!(features.has("mlst"));
        assert!(features.has("REST"));
        assert!(!features.has("MFMT"));
        assert!(!features.has("End"));
        assert!(
            Features::from_reply(&Reply::new(ReplyCode::SYSTEM_STATUS, "x"))
                .lines()
                .is_empty()
        );
    }

    #[test]
    fn build_bytes() {
        let reply = feat_reply(TLS_FEATURES.iter().copied().chain(["EPSV", "UTF8"]));
        assert_eq!(
            reply.to_bytes(),
            b"211-Extensions supported:\r\n AUTH TLS\r\n AUTH SSL\r\n PBSZ\r\n PROT\r\n EPSV\r\n \
              UTF8\r\n211 End\r\n"
        );
        assert_eq!(
            feat_reply([]).to_bytes(),
            b"211-Extensions supported:\r\n211 End\r\n"
        );
    }

    #[test]
    fn round_trip() {
        let features = Features::from_reply(&feat_reply(["MLST type*;size*;", "SIZE"]));
        assert_eq!(features.lines(), ["MLST type*;size*;", "SIZE"]);
        assert!(features.has("SIZE") && features.has("mlst"));
    }
}
