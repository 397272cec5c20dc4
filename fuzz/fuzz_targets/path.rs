//! `VirtualPath::resolve` and `join` for any current folder and any input bytes.
//!
//! Asserts: a resolved path has only plain names (none empty, `.`, `..`, none holding `/`, `\`
//! or NUL), within the name and path limits; it re-resolves to itself from any folder; `.` and
//! `` keep it, `..` gives its parent; a relative input without `..` stays below the current
//! folder; an absolute input ignores the current folder; a NUL is always refused; `join` adds
//! exactly one name.
#![no_main]

use arbitrary::Arbitrary;
use ferry_proto::{MAX_NAME_LEN, MAX_PATH_LEN, PathError, VirtualPath};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    cwd: Vec<u8>,
    input: Vec<u8>,
    name: Vec<u8>,
}

fn is_separator(b: &u8) -> bool {
    *b == b'/' || *b == b'\\'
}

fuzz_target!(|input: Input| {
    let root = VirtualPath::root();
    let Ok(cwd) = root.resolve(&input.cwd) else {
        return;
    };
    let resolved = cwd.resolve(&input.input);
    if input.input.contains(&0) {
        assert_eq!(resolved, Err(PathError::Nul));
    }
    if let Ok(path) = &resolved {
        for name in path.names() {
            assert!(!name.is_empty() && name != b"." && name != b"..");
            assert!(!name.iter().any(|b| is_separator(b) || *b == 0));
            assert!(name.len() <= MAX_NAME_LEN);
        }
        let bytes = path.to_bytes();
        assert!(bytes.len() <= MAX_PATH_LEN);
        assert_eq!(bytes[0], b'/');
        assert_eq!(path.relative_bytes(), &bytes[1..]);
        assert_eq!(root.resolve(&bytes).as_ref(), Ok(path));
        assert_eq!(cwd.resolve(&bytes).as_ref(), Ok(path));
        assert_eq!(path.resolve(b"").as_ref(), Ok(path));
        assert_eq!(path.resolve(b".").as_ref(), Ok(path));
        assert_eq!(path.resolve(b".."), Ok(path.parent()));
        assert!(path.starts_with(&root));

        let absolute = input.input.first().is_some_and(is_separator);
        if absolute {
            assert_eq!(root.resolve(&input.input).as_ref(), Ok(path));
        } else if !input.input.split(is_separator).any(|n| n == b"..") {
            assert!(path.starts_with(&cwd), "{path} left {cwd}");
        }
    }

    if let Ok(joined) = cwd.join(&input.name) {
        assert_eq!(joined.parent(), cwd);
        assert_eq!(joined.file_name(), Some(input.name.as_slice()));
    }
});
