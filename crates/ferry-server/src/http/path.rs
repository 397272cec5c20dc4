//! From a request target's path to a path in the user's view, decoded once.
//!
//! The path is split on `/` *before* percent-decoding, and each segment is decoded on its own,
//! so an encoded slash (`%2f`) can never make a new segment. A decoded segment is refused (400)
//! when it is `.` or `..` (browsers resolve dot segments before they send a URL, so only a
//! crafted request carries one), when it holds `/`, `\` or NUL, when an escape is malformed
//! (`%zz`, `%4`), and when its bytes are not UTF-8 (which refuses overlong encodings such as
//! `%c0%ae`, whatever they would decode to elsewhere). Empty segments (`//`) are dropped. What
//! is left is a list of plain names joined into a [`VirtualPath`], which cannot climb above
//! `/` in any case: the file service then maps it under the user's home.
//!
//! This module does NOT read the query string; the caller splits it off.

use ferry_proto::{MAX_NAME_LEN, MAX_PATH_LEN, PathError, VirtualPath};

/// A decoded request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The path in the user's view.
    pub(crate) view: VirtualPath,
    /// Whether the request path ended with `/` (a folder was asked for).
    pub(crate) slash: bool,
}

/// Why a request path was refused (every reason answers 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BadPath {
    /// The path does not start with `/` (an absolute-form or `*` target).
    #[error("the path must start with /")]
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    #[error("malformed percent escape")]
    Escape,
    /// A segment that is `.` or `..`, in any encoding.
    #[error("dot segments are not allowed")]
    DotSegment,
    /// A name holding `/`, `\` or NUL once decoded.
    #[error("a name may not contain /, \\ or NUL")]
    Separator,
    /// A name whose bytes are not UTF-8 (overlong encodings included).
    #[error("names must be UTF-8")]
    NotUtf8,
    /// The path or a name is too long.
    #[error("path too long")]
    TooLong,
}

/// Decodes `raw` (the path part of a request target, as sent).
///
/// The checked names are gathered into one buffer, `/`-separated, and made a [`VirtualPath`]
/// by one [`VirtualPath::resolve`]: as no name holds a separator or NUL, is empty, `.` or `..`,
/// that gives the same path (and the same length limits) as joining the names one by one,
/// without copying the names at every step (this runs for every request).
pub(crate) fn decode(raw: &str) -> Result<Target, BadPath> {
    let rest = raw.strip_prefix('/').ok_or(BadPath::NotAbsolute)?;
    let mut joined = Vec::with_capacity(raw.len());
    for segment in rest.split('/') {
        if segment.is_empty() {
            continue;
        }
        joined.push(b'/');
        let start = joined.len();
        unescape(segment.as_bytes(), &mut joined)?;
        let name = &joined[start..];
        if name == b"." || name == b".." {
            return Err(BadPath::DotSegment);
        }
        if name.iter().any(|&b| b == b'/' || b == b'\\' || b == 0) {
            return Err(BadPath::Separator);
        }
        if std::str::from_utf8(name).is_err() {
            return Err(BadPath::NotUtf8);
        }
        // As a join would, at the name that goes past a limit.
        if name.len() > MAX_NAME_LEN || joined.len() > MAX_PATH_LEN {
            return Err(BadPath::TooLong);
        }
    }
    let view = VirtualPath::root()
        .resolve(&joined)
        .map_err(|error| match error {
            PathError::TooLong => BadPath::TooLong,
            PathError::Nul | PathError::NotAName => BadPath::Separator,
        })?;
    Ok(Target {
        view,
        slash: raw.ends_with('/'),
    })
}

/// Percent-decodes one segment onto the end of `out`; a malformed escape is an error, not left
/// as it is.
fn unescape(segment: &[u8], out: &mut Vec<u8>) -> Result<(), BadPath> {
    let mut bytes = segment.iter();
    while let Some(&byte) = bytes.next() {
        if byte != b'%' {
            out.push(byte);
            continue;
        }
        let high = bytes.next().and_then(|&b| hex(b));
        let low = bytes.next().and_then(|&b| hex(b));
        match (high, low) {
            (Some(high), Some(low)) => out.push(high << 4 | low),
            _ => return Err(BadPath::Escape),
        }
    }
    Ok(())
}

fn hex(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|digit| u8::try_from(digit).ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn names(raw: &str) -> Vec<String> {
        decode(raw)
            .unwrap()
            .view
            .names()
            .map(|n| String::from_utf8(n.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn plain_paths() {
        assert_eq!(names("/"), Vec::<String>::new());
        assert_eq!(names("/a/b.txt"), ["a", "b.txt"]);
        assert_eq!(names("//a///b/"), ["a", "b"]);
        assert_eq!(names("/caf%C3%A9%20x"), ["café x"]);
        assert_eq!(names("/100%25"), ["100%"]);
        assert!(decode("/a/").unwrap().slash);
        assert!(!decode("/a").unwrap().slash);
    }

    #[test]
    fn traversal_in_every_encoding_is_refused() {
        for raw in [
            "/..",
            "/a/../b",
            "/%2e%2e/x",
            "/%2E%2E",
            "/.%2e/",
            "/./a",
            "/%2e",
        ] {
            assert_eq!(decode(raw), Err(BadPath::DotSegment), "{raw}");
        }
        for raw in [
            "/a%2f..%2fb",
            "/..%2f",
            "/..%5c..%5cetc",
            "/a%5cb",
            "/a%00b",
            "/%2F",
        ] {
            assert_eq!(decode(raw), Err(BadPath::Separator), "{raw}");
        }
        for raw in ["/%c0%ae%c0%ae/x", "/%c0%af", "/%e0%80%ae", "/%ff"] {
            assert_eq!(decode(raw), Err(BadPath::NotUtf8), "{raw}");
        }
        for raw in ["/%", "/%2", "/%zz", "/a%g0"] {
            assert_eq!(decode(raw), Err(BadPath::Escape), "{raw}");
        }
        assert_eq!(decode("a/b"), Err(BadPath::NotAbsolute));
        assert_eq!(
            decode(&format!("/{}", "n".repeat(300))),
            Err(BadPath::TooLong)
        );
    }

    #[test]
    fn same_path_as_joining_the_names() {
        for raw in ["/a/b.txt", "//x/%41b/c/", "/caf%C3%A9/100%25"] {
            let mut joined = VirtualPath::root();
            for name in names(raw) {
                joined = joined.join(name.as_bytes()).unwrap();
            }
            assert_eq!(decode(raw).unwrap().view, joined, "{raw}");
        }
        // Past MAX_PATH_LEN at the name that crosses it, whatever follows.
        let long = format!("/{}", ["n"; 2100].join("/"));
        assert_eq!(decode(&long), Err(BadPath::TooLong));
        assert_eq!(decode(&format!("{long}/%zz")), Err(BadPath::TooLong));
        let fits = format!("/{}", ["n"; 2048].join("/"));
        assert!(decode(&fits).is_ok());
    }
}
