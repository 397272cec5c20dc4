//! Wildcards in names: `*` (any run), `?` (any one element) and, when the rules allow them,
//! `[abc]`/`[a-z]`/`[!x]` classes, matched against a single name (no `/` handling, no `**`).
//!
//! One matcher serves both sides, which differ on purpose and keep their behaviour through
//! [`GlobRules`]: the server ([`GlobRules::SERVER`], for `NLST *.txt`) knows no classes and, as a
//! shell does, lets no wildcard match a leading dot; the client ([`GlobRules::SHELL`], for `mget`
//! and `mput`) knows classes and treats a dot like any character. Matching runs in
//! O(len(pattern) x len(name)) time at worst with one backtrack point for the last `*`, so
//! hostile patterns such as `*a*a*a*a*b` cost microseconds; [`glob_match`] allocates nothing.

/// Which wildcards a pattern may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobRules {
    /// `[...]` is a class (an unclosed `[` stays an ordinary character); else `[` is ordinary.
    pub classes: bool,
    /// A name starting with `.` matches only a pattern starting with `.`.
    pub hidden_dot: bool,
}

impl GlobRules {
    /// The server's: `*` and `?`, no classes, a leading dot hidden from wildcards.
    pub const SERVER: GlobRules = GlobRules {
        classes: false,
        hidden_dot: true,
    };
    /// The client's `mget`/`mput`: `*`, `?` and classes; a leading dot is not special.
    pub const SHELL: GlobRules = GlobRules {
        classes: true,
        hidden_dot: false,
    };
}

/// True when `pattern` holds a wildcard under `rules`.
pub fn is_glob(pattern: &[u8], rules: GlobRules) -> bool {
    pattern
        .iter()
        .any(|&b| b == b'*' || b == b'?' || (rules.classes && b == b'['))
}

/// True when the name (bytes) matches `pattern` as a whole; `?` matches one byte.
pub fn glob_match(pattern: &[u8], name: &[u8], rules: GlobRules) -> bool {
    matches(pattern, name, rules)
}

/// True when the name (text) matches `pattern` as a whole; `?` matches one character.
pub fn glob_match_str(pattern: &str, name: &str, rules: GlobRules) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    matches(&pattern, &name, rules)
}

/// The matcher over bytes or characters.
fn matches<T>(pattern: &[T], name: &[T], rules: GlobRules) -> bool
where
    T: Copy + PartialOrd + From<u8>,
{
    let [star_c, any, open, dot] = [b'*', b'?', b'[', b'.'].map(T::from);
    if rules.hidden_dot && name.first() == Some(&dot) && pattern.first() != Some(&dot) {
        return false;
    }
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was, and the name position it is trying to cover up to.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pattern.get(p) {
            Some(&c) if c == star_c => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some(&c) if c == any => Some(p + 1),
            Some(&c) if c == open && rules.classes => match class(pattern, p, name[n]) {
                Some((true, next)) => Some(next),
                Some((false, _)) => None,
                // An unclosed `[` is an ordinary character.
                None => (name[n] == open).then_some(p + 1),
            },
            Some(&c) if c == name[n] => Some(p + 1),
            _ => None,
        };
        match (step, star) {
            (Some(next), _) => {
                p = next;
                n += 1;
            }
            (None, Some((star_p, star_n))) => {
                p = star_p + 1;
                n = star_n + 1;
                star = Some((star_p, star_n + 1));
            }
            (None, None) => return false,
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == star_c)
}

/// Matches `c` against the class starting at `pattern[start] == '['`: `(matched, index after ])`.
/// `None` when the class is not closed (then `[` is an ordinary character).
fn class<T>(pattern: &[T], start: usize, c: T) -> Option<(bool, usize)>
where
    T: Copy + PartialOrd + From<u8>,
{
    let [bang, caret, close, dash] = [b'!', b'^', b']', b'-'].map(T::from);
    let mut index = start + 1;
    let negate = pattern
        .get(index)
        .is_some_and(|&first| first == bang || first == caret);
    if negate {
        index += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let current = *pattern.get(index)?;
        if current == close && !first {
            return Some((matched != negate, index + 1));
        }
        first = false;
        if pattern.get(index + 1) == Some(&dash)
            && let Some(&end) = pattern.get(index + 2)
            && end != close
        {
            matched |= current <= c && c <= end;
            index += 3;
        } else {
            matched |= current == c;
            index += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(pattern: &[u8], name: &[u8]) -> bool {
        glob_match(pattern, name, GlobRules::SERVER)
    }

    #[test]
    fn server_globs() {
        assert!(server(b"*.txt", b"a.txt"));
        assert!(!server(b"*.txt", b"a.txt.bak"));
        assert!(server(b"a?c", b"abc"));
        assert!(!server(b"a?c", b"ac"));
        assert!(server(b"*", b"x"));
        assert!(!server(b"*", b".hidden"));
        assert!(server(b".*", b".hidden"));
        assert!(server(b"a*b*c", b"aXXbYYc"));
        assert!(!server(b"a*b*c", b"aXXbYY"));
        // No classes on the server: `[` is an ordinary byte.
        assert!(server(b"[ab]x", b"[ab]x"));
        assert!(!server(b"[ab]x", b"bx"));
        assert!(is_glob(b"*.x", GlobRules::SERVER));
        assert!(!is_glob(b"[ab]", GlobRules::SERVER));
        // A pathological pattern against a long name stays fast (no exponential backtracking).
        let name = vec![b'a'; 255];
        let mut pattern = b"*a".repeat(100);
        pattern.push(b'b');
        let start = std::time::Instant::now();
        assert!(!server(&pattern, &name));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn shell_globs() {
        for (pattern, name, expected) in [
            ("*.txt", "a.txt", true),
            ("*.txt", "a.txt.bak", false),
            ("*", "", true),
            ("*", ".hidden", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("?", "é", true),
            ("*b*b", "abcbxb", true),
            ("[ab]x", "bx", true),
            ("[!ab]x", "bx", false),
            ("[a-c]*", "cat", true),
            ("[a-c]*", "dog", false),
            ("[x", "[x", true),
            ("file 1.txt", "file 1.txt", true),
        ] {
            assert_eq!(
                glob_match_str(pattern, name, GlobRules::SHELL),
                expected,
                "{pattern} {name}"
            );
        }
        assert!(is_glob(b"*.x", GlobRules::SHELL));
        assert!(is_glob(b"[ab]", GlobRules::SHELL));
        assert!(!is_glob(b"plain name", GlobRules::SHELL));
    }
}
