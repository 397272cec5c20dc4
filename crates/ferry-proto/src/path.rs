//! [`VirtualPath`]: the path a client names, normalised once, that can never climb above `/`.
//!
//! A client's path is resolved against the session's current folder: `.` is dropped, `..` removes
//! one component and stops at the root, both `/` and `\` separate components (Windows clients send
//! backslashes), and empty components vanish. NUL bytes and over-long paths are refused. What is
//! left is a list of plain names, so a storage backend joins them beneath its root and nothing
//! in the text can point outside it. Symlinks are the backend's business.

use std::fmt;

/// Longest path accepted, in bytes (Linux PATH_MAX).
pub const MAX_PATH_LEN: usize = 4096;
/// Longest single name accepted, in bytes (Linux NAME_MAX).
pub const MAX_NAME_LEN: usize = 255;

/// Why a client's path was refused (all answer 553 or 501).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path contains a NUL byte.
    #[error("path contains a NUL byte")]
    Nul,
    /// The path or one of its names is too long.
    #[error("path too long")]
    TooLong,
    /// Not a single plain name where one was needed.
    #[error("not a file name")]
    NotAName,
}

/// A normalised absolute path below the user's root: a list of names, none of them empty, `.` or
/// `..`, none containing `/`, `\` or NUL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct VirtualPath {
    names: Vec<Vec<u8>>,
}

impl VirtualPath {
    /// The root, `/`.
    pub fn root() -> VirtualPath {
        VirtualPath::default()
    }

    /// Resolves `input` against `self` (the current folder): absolute if it starts with a
    /// separator, relative otherwise.
    pub fn resolve(&self, input: &[u8]) -> Result<VirtualPath, PathError> {
        if input.contains(&0) {
            return Err(PathError::Nul);
        }
        if input.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        let absolute = matches!(input.first(), Some(b'/' | b'\\'));
        let mut names = if absolute {
            Vec::new()
        } else {
            self.names.clone()
        };
        for name in input.split(|&b| b == b'/' || b == b'\\') {
            match name {
                b"" | b"." => {}
                b".." => {
                    names.pop();
                }
                name if name.len() > MAX_NAME_LEN => return Err(PathError::TooLong),
                name => names.push(name.to_vec()),
            }
        }
        let path = VirtualPath { names };
        if path.len_bytes() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        Ok(path)
    }

    fn len_bytes(&self) -> usize {
        self.names.iter().map(|n| n.len() + 1).sum()
    }

    /// True for `/`.
    pub fn is_root(&self) -> bool {
        self.names.is_empty()
    }

    /// The names from the root down.
    pub fn names(&self) -> impl Iterator<Item = &[u8]> {
        self.names.iter().map(Vec::as_slice)
    }

    /// The last name, `None` for the root.
    pub fn file_name(&self) -> Option<&[u8]> {
        self.names.last().map(Vec::as_slice)
    }

    /// The folder holding this path (the root's parent is the root).
    pub fn parent(&self) -> VirtualPath {
        // Only the names kept are copied (HTTP and the file service take parents per request).
        let kept = self.names.len().saturating_sub(1);
        VirtualPath {
            names: self.names[..kept].to_vec(),
        }
    }

    /// This path with one more name. `name` must be a plain name: one holding a separator, or
    /// empty, `.` or `..` (which [`VirtualPath::resolve`] would not add as a name), is refused.
    /// Checked in the order `resolve` checks, so the errors are those it gives.
    pub fn join(&self, name: &[u8]) -> Result<VirtualPath, PathError> {
        // A separator anywhere is refused: "a/", "./a" or "x/../a" would otherwise resolve to
        // one name that is not the one given.
        if name.iter().any(|&b| b == b'/' || b == b'\\') {
            return Err(PathError::NotAName);
        }
        if name.contains(&0) {
            return Err(PathError::Nul);
        }
        if name.len() > MAX_NAME_LEN {
            return Err(PathError::TooLong);
        }
        if matches!(name, b"" | b"." | b"..") {
            return Err(PathError::NotAName);
        }
        // The names are copied once (HTTP joins each segment of every request path).
        let mut names = Vec::with_capacity(self.names.len() + 1);
        names.extend(self.names.iter().cloned());
        names.push(name.to_vec());
        let joined = VirtualPath { names };
        if joined.len_bytes() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        Ok(joined)
    }

    /// `self` placed below `base` (a path in a user's view below the user's home): `base`'s
    /// names then `self`'s, the path `base.resolve(&self.relative_bytes())` gives (the names are
    /// plain already), without writing them out and parsing them again.
    pub fn below(&self, base: &VirtualPath) -> Result<VirtualPath, PathError> {
        let mut names = Vec::with_capacity(base.names.len() + self.names.len());
        names.extend(base.names.iter().cloned());
        names.extend(self.names.iter().cloned());
        let path = VirtualPath { names };
        if path.len_bytes() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        Ok(path)
    }

    /// True when the folder holding `self` (its [`VirtualPath::parent`]) is `other` or lies
    /// below it, without making the parent.
    pub fn parent_starts_with(&self, other: &VirtualPath) -> bool {
        let kept = self.names.len().saturating_sub(1);
        self.names[..kept].starts_with(&other.names)
    }

    /// True when `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &VirtualPath) -> bool {
        self.names.starts_with(&other.names)
    }

    /// The path as bytes, `/a/b` (`/` for the root).
    pub fn to_bytes(&self) -> Vec<u8> {
        if self.names.is_empty() {
            return b"/".to_vec();
        }
        let mut out = Vec::with_capacity(self.len_bytes());
        for name in &self.names {
            out.push(b'/');
            out.extend_from_slice(name);
        }
        out
    }

    /// The path relative to the root, `a/b` (empty for the root), for joining beneath a folder.
    pub fn relative_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len_bytes());
        for (i, name) in self.names.iter().enumerate() {
            if i > 0 {
                out.push(b'/');
            }
            out.extend_from_slice(name);
        }
        out
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

/// A pathname as a 257 reply (MKD, PWD) quotes it: each `"` doubled, as RFC 959 appendix II
/// asks. The caller puts the surrounding quotes: `format!("\"{}\" created", quote_pathname(p))`.
pub fn quote_pathname(path: &str) -> String {
    path.replace('"', "\"\"")
}

/// The pathname in the text of a 257 reply: `"/a ""quoted"" dir" created` gives
/// `/a "quoted" dir`. `None` when there is no quoted pathname (no `"`, or no closing one).
pub fn unquote_pathname(text: &str) -> Option<String> {
    let start = text.find('"')?;
    let mut out = String::new();
    let mut chars = text[start + 1..].chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
                out.push('"');
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn resolve(cwd: &str, input: &str) -> String {
        let cwd = VirtualPath::root().resolve(cwd.as_bytes()).unwrap();
        cwd.resolve(input.as_bytes()).unwrap().to_string()
    }

    #[test]
    fn normalises() {
        assert_eq!(resolve("/", "a/b"), "/a/b");
        assert_eq!(resolve("/a", "b/../c"), "/a/c");
        assert_eq!(resolve("/a", "/x//y/./z/"), "/x/y/z");
        assert_eq!(resolve("/a/b", ".."), "/a");
        assert_eq!(resolve("/a/b", ""), "/a/b");
    }

    #[test]
    fn never_climbs_above_root() {
        assert_eq!(resolve("/", ".."), "/");
        assert_eq!(resolve("/a", "../../../../etc/passwd"), "/etc/passwd");
        assert_eq!(resolve("/a", "..\\..\\..\\windows"), "/windows");
        assert_eq!(resolve("/", "\\etc"), "/etc");
    }

    #[test]
    fn refuses_nul_and_long() {
        let root = VirtualPath::root();
        assert_eq!(root.resolve(b"a\0b"), Err(PathError::Nul));
        assert_eq!(root.resolve(&vec![b'a'; 256]), Err(PathError::TooLong));
        assert_eq!(root.resolve(&vec![b'a'; 5000]), Err(PathError::TooLong));
        let deep = "a/".repeat(2047);
        assert!(root.resolve(deep.as_bytes()).is_ok());
        let cwd = root.resolve(deep.as_bytes()).unwrap();
        assert_eq!(cwd.resolve(b"bbbb"), Err(PathError::TooLong));
    }

    #[test]
    fn join_takes_one_name() {
        let root = VirtualPath::root();
        assert_eq!(root.join(b"x").unwrap().to_string(), "/x");
        assert!(root.join(b"..").is_err());
        assert!(root.join(b"a/b").is_err());
        assert!(root.join(b"").is_err());
        assert!(root.join(b".").is_err());
        // Found by the path fuzz target: a trailing separator was dropped and the name accepted.
        for name in [&b"'\\"[..], b"a/", b"./a", b"x/../a", b"/a", b"\\a"] {
            assert_eq!(root.join(name), Err(PathError::NotAName), "{name:?}");
        }
        assert_eq!(root.join(b"a\0"), Err(PathError::Nul));
        let a = root.join(b"a").unwrap();
        assert_eq!(a.join(b"b c").unwrap().to_string(), "/a/b c");
        assert_eq!(a.join(b"b").unwrap(), a.resolve(b"b").unwrap());
        assert_eq!(root.join(&[b'n'; 256]), Err(PathError::TooLong));
        let deep = root.resolve("a/".repeat(2047).as_bytes()).unwrap();
        assert_eq!(deep.join(b"bbbb"), Err(PathError::TooLong));
        assert_eq!(root.parent(), root);
    }

    #[test]
    fn below_is_resolving_the_relative_bytes() {
        let root = VirtualPath::root();
        let home = root.resolve(b"/home/alice").unwrap();
        for view in ["/", "/a", "/a/b c/d"] {
            let view = root.resolve(view.as_bytes()).unwrap();
            assert_eq!(view.below(&home), home.resolve(&view.relative_bytes()));
            assert_eq!(view.below(&root), Ok(view.clone()));
        }
        let deep = root.resolve("a/".repeat(2047).as_bytes()).unwrap();
        let view = root.resolve(b"bbbb").unwrap();
        assert_eq!(view.below(&deep), Err(PathError::TooLong));
        assert_eq!(view.below(&deep), deep.resolve(&view.relative_bytes()));
    }

    #[test]
    fn parent_starts_with_is_the_parents() {
        let root = VirtualPath::root();
        let paths =
            ["/", "/a", "/a/b", "/a/b/c", "/b"].map(|p| root.resolve(p.as_bytes()).unwrap());
        for path in &paths {
            for other in &paths {
                assert_eq!(
                    path.parent_starts_with(other),
                    path.parent().starts_with(other),
                    "{path} {other}"
                );
            }
        }
    }

    #[test]
    fn bytes_forms() {
        let p = VirtualPath::root().resolve(b"a/b\xff").unwrap();
        assert_eq!(p.to_bytes(), b"/a/b\xff");
        assert_eq!(p.relative_bytes(), b"a/b\xff");
        assert_eq!(VirtualPath::root().relative_bytes(), b"");
        assert_eq!(p.file_name(), Some(&b"b\xff"[..]));
        assert_eq!(p.parent().to_string(), "/a");
    }

    /// Path text built from the pieces that matter: `..`, `.`, empty names, both separators,
    /// NUL and long names, as well as any bytes.
    fn hostile_path() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"..".to_vec()),
            Just(b".".to_vec()),
            Just(Vec::new()),
            Just(b"a".to_vec()),
            Just(b"...".to_vec()),
            Just(b"\\0".to_vec()),
            Just(vec![b'n'; MAX_NAME_LEN]),
            Just(vec![b'n'; MAX_NAME_LEN + 1]),
            proptest::collection::vec(any::<u8>(), 0..8),
        ];
        let separator = prop_oneof![Just(b'/'), Just(b'\\')];
        (
            proptest::option::of(separator.clone()),
            proptest::collection::vec((piece, separator), 0..24),
        )
            .prop_map(|(lead, pieces)| {
                let mut out: Vec<u8> = lead.into_iter().collect();
                for (piece, separator) in pieces {
                    out.extend_from_slice(&piece);
                    out.push(separator);
                }
                out
            })
    }

    fn check_resolve(cwd: &[u8], input: &[u8]) -> Result<(), TestCaseError> {
        let Ok(cwd) = VirtualPath::root().resolve(cwd) else {
            return Ok(());
        };
        let resolved = cwd.resolve(input);
        if input.contains(&0) {
            prop_assert_eq!(resolved, Err(PathError::Nul));
            return Ok(());
        }
        let Ok(path) = resolved else { return Ok(()) };
        for name in path.names() {
            prop_assert!(!name.is_empty());
            prop_assert!(name != b"." && name != b"..");
            prop_assert!(!name.contains(&b'/') && !name.contains(&b'\\') && !name.contains(&0));
            prop_assert!(name.len() <= MAX_NAME_LEN);
        }
        prop_assert!(path.to_bytes().len() <= MAX_PATH_LEN);
        // Joined beneath a root folder, the relative form names nothing above it.
        let relative = path.relative_bytes();
        prop_assert!(relative.first() != Some(&b'/'));
        prop_assert!(
            !relative
                .split(|&b| b == b'/')
                .any(|n| n == b".." || n == b".")
        );
        // Resolving the result again from anywhere gives the same path.
        prop_assert_eq!(
            VirtualPath::root().resolve(&path.to_bytes()),
            Ok(path.clone())
        );
        prop_assert_eq!(cwd.resolve(&path.to_bytes()), Ok(path.clone()));
        prop_assert_eq!(path.resolve(b".."), Ok(path.parent()));
        let absolute = matches!(input.first(), Some(b'/' | b'\\'));
        if absolute {
            prop_assert_eq!(VirtualPath::root().resolve(input), Ok(path));
        } else if !input
            .split(|&b| b == b'/' || b == b'\\')
            .any(|n| n == b"..")
        {
            // Without `..` a relative path stays below the current folder.
            prop_assert!(path.starts_with(&cwd));
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn any_input_stays_below_root(cwd in proptest::collection::vec(any::<u8>(), 0..64),
                                      input in proptest::collection::vec(any::<u8>(), 0..256)) {
            check_resolve(&cwd, &input)?;
        }

        #[test]
        fn dots_and_separators_stay_below_root(cwd in hostile_path(), input in hostile_path()) {
            check_resolve(&cwd, &input)?;
        }
    }

    #[test]
    fn pathname_quoting() {
        assert_eq!(quote_pathname("/a \"b\" c"), "/a \"\"b\"\" c");
        assert_eq!(
            unquote_pathname("\"/a \"\"b\"\" c\" is current").as_deref(),
            Some("/a \"b\" c")
        );
        assert_eq!(unquote_pathname("\"/\"").as_deref(), Some("/"));
        assert_eq!(unquote_pathname("no quotes"), None);
        assert_eq!(unquote_pathname("\"open"), None);
        for path in ["/", "/x\"y", "/\"\"", "/a b"] {
            let text = format!("\"{}\" created", quote_pathname(path));
            assert_eq!(unquote_pathname(&text).as_deref(), Some(path));
        }
    }
}
