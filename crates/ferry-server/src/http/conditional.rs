//! Validators and ranges of a download (RFC 9110 sections 8.8, 13 and 14): the `ETag` and
//! `Last-Modified` of a file, whether a conditional GET is answered 304, and which bytes a
//! `Range` header asks for.
//!
//! Only single ranges are served; a request for several gets the whole file (200), which RFC
//! 9110 section 14.2 allows. A `Range` that does not parse is ignored, as the RFC says.
//!
//! This module does NOT touch files or build responses: it works on sizes, times and headers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use axum::http::header::{IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, RANGE};

/// What identifies one version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validators {
    /// A strong entity tag, quoted: size and modification time in hex.
    pub(crate) etag: String,
    /// The modification time, whole seconds, if the storage knows it.
    pub(crate) modified: Option<SystemTime>,
}

impl Validators {
    /// The validators of a file of `size` bytes modified at `modified` (Unix seconds).
    pub(crate) fn new(size: u64, modified: Option<i64>) -> Validators {
        let secs = modified.unwrap_or(0);
        Validators {
            etag: etag(size, secs),
            modified: modified
                .and_then(|secs| u64::try_from(secs).ok())
                .map(|secs| UNIX_EPOCH + Duration::from_secs(secs)),
        }
    }

    /// `Last-Modified` as an HTTP date.
    pub(crate) fn last_modified(&self) -> Option<String> {
        self.modified.map(httpdate::fmt_http_date)
    }

    /// True when the request's conditions say the client's copy is current (answer 304):
    /// `If-None-Match` when present (weak comparison, `*` matches), else `If-Modified-Since`.
    pub(crate) fn not_modified(&self, headers: &HeaderMap) -> bool {
        if let Some(value) = headers.get(IF_NONE_MATCH) {
            let Ok(text) = value.to_str() else {
                return false;
            };
            return text.split(',').map(str::trim).any(|tag| {
                tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == self.etag.as_str()
            });
        }
        let since = headers
            .get(IF_MODIFIED_SINCE)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| httpdate::parse_http_date(text).ok());
        match (since, self.modified) {
            (Some(since), Some(modified)) => modified <= since,
            _ => false,
        }
    }

    /// True when an `If-Range` is absent or names this version (strong comparison for a tag,
    /// an exact date otherwise); a `Range` is honoured only then.
    fn range_applies(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(IF_RANGE) else {
            return true;
        };
        let Ok(text) = value.to_str() else {
            return false;
        };
        let text = text.trim();
        if text.starts_with('"') {
            return text == self.etag;
        }
        match (httpdate::parse_http_date(text), self.modified) {
            (Ok(date), Some(modified)) => date == modified,
            _ => false,
        }
    }
}

/// `"SIZE-SECS"`, both in lowercase hex as `format!("\"{size:x}-{secs:x}\"")` writes them (a
/// negative `secs` in two's complement, as `{:x}` writes an `i64`), without the formatting
/// machinery, which cost more than the rest of the validators (once per download).
fn etag(size: u64, secs: i64) -> String {
    let mut out = String::with_capacity(2 * 16 + 3);
    out.push('"');
    push_hex(&mut out, size);
    out.push('-');
    push_hex(&mut out, u64::from_ne_bytes(secs.to_ne_bytes()));
    out.push('"');
    out
}

/// `value` in lowercase hex, no leading zeros (`0` for zero).
fn push_hex(out: &mut String, value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = (64 - value.leading_zeros()).div_ceil(4).max(1);
    for nibble in (0..digits).rev() {
        let digit = (value >> (nibble * 4)) & 0xf;
        out.push(char::from(DIGITS[digit as usize]));
    }
}

/// What part of a file to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// All of it (200).
    Whole,
    /// Bytes `first..=last` (206).
    Range { first: u64, last: u64 },
    /// Nothing the file has (416).
    Unsatisfiable,
}

/// The part of a `size`-byte file that `headers` ask for.
pub(crate) fn part(headers: &HeaderMap, size: u64, validators: &Validators) -> Part {
    let Some(text) = headers.get(RANGE).and_then(|value| value.to_str().ok()) else {
        return Part::Whole;
    };
    if !validators.range_applies(headers) {
        return Part::Whole;
    }
    parse_range(text, size)
}

/// A single `bytes=` range against a `size`-byte file.
fn parse_range(text: &str, size: u64) -> Part {
    let Some(spec) = text.trim().strip_prefix("bytes=") else {
        return Part::Whole;
    };
    if spec.contains(',') {
        return Part::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Part::Whole;
    };
    let number = |text: &str| {
        let text = text.trim();
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u64>().ok())
            .flatten()
    };
    match (first.trim().is_empty(), number(first), number(last)) {
        // bytes=-N: the last N bytes.
        (true, _, Some(suffix)) => {
            if suffix == 0 || size == 0 {
                Part::Unsatisfiable
            } else {
                Part::Range {
                    first: size.saturating_sub(suffix),
                    last: size - 1,
                }
            }
        }
        (false, Some(first), last) if last.is_some() || last_is_empty(spec) => {
            if first >= size {
                return Part::Unsatisfiable;
            }
            match last {
                Some(last) if last < first => Part::Whole,
                Some(last) => Part::Range {
                    first,
                    last: last.min(size - 1),
                },
                None => Part::Range {
                    first,
                    last: size - 1,
                },
            }
        }
        _ => Part::Whole,
    }
}

/// True for `N-` (no last position).
fn last_is_empty(spec: &str) -> bool {
    spec.split_once('-')
        .is_some_and(|(_, last)| last.trim().is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn ranges() {
        let range = |first, last| Part::Range { first, last };
        assert_eq!(parse_range("bytes=0-99", 1000), range(0, 99));
        assert_eq!(parse_range("bytes=500-", 1000), range(500, 999));
        assert_eq!(parse_range("bytes=-100", 1000), range(900, 999));
        assert_eq!(parse_range("bytes=-5000", 1000), range(0, 999));
        assert_eq!(parse_range("bytes=900-5000", 1000), range(900, 999));
        assert_eq!(parse_range("bytes=1000-", 1000), Part::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Part::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 10), Part::Unsatisfiable);
        for ignored in [
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=5-2",
            "bytes=a-b",
            "bytes=-",
            "0-1",
        ] {
            assert_eq!(parse_range(ignored, 1000), Part::Whole, "{ignored}");
        }
    }

    #[test]
    fn etag_is_the_formatted_hex() {
        for (size, secs) in [
            (0, 0),
            (4096, 1_765_000_000),
            (1, -1),
            (u64::MAX, i64::MIN),
            (0x10, 0xf),
            (123_456_789_012, i64::MAX),
        ] {
            assert_eq!(etag(size, secs), format!("\"{size:x}-{secs:x}\""));
        }
    }

    #[test]
    fn conditions() {
        let validators = Validators::new(10, Some(1_700_000_000));
        let mut headers = HeaderMap::new();
        assert!(!validators.not_modified(&headers));
        headers.insert(
            IF_NONE_MATCH,
            HeaderValue::from_str(&validators.etag).unwrap(),
        );
        assert!(validators.not_modified(&headers));
        headers.insert(
            IF_NONE_MATCH,
            HeaderValue::from_static("\"other\", W/\"a-6553f100\""),
        );
        assert!(validators.not_modified(&headers));
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        // If-None-Match wins over If-Modified-Since.
        let date = validators.last_modified().unwrap();
        headers.insert(IF_MODIFIED_SINCE, HeaderValue::from_str(&date).unwrap());
        assert!(!validators.not_modified(&headers));
        headers.remove(IF_NONE_MATCH);
        assert!(validators.not_modified(&headers));
        let earlier = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(1_600_000_000));
        headers.insert(IF_MODIFIED_SINCE, HeaderValue::from_str(&earlier).unwrap());
        assert!(!validators.not_modified(&headers));

        let mut headers = HeaderMap::new();
        headers.insert(RANGE, HeaderValue::from_static("bytes=2-"));
        headers.insert(IF_RANGE, HeaderValue::from_static("\"stale\""));
        assert_eq!(part(&headers, 10, &validators), Part::Whole);
        headers.insert(IF_RANGE, HeaderValue::from_str(&validators.etag).unwrap());
        assert_eq!(
            part(&headers, 10, &validators),
            Part::Range { first: 2, last: 9 }
        );
    }
}
