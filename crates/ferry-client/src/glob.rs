//! Shell-style wildcards for `mget` and `mput`: `*` (any run), `?` (any one character) and
//! `[abc]`/`[a-z]`/`[!x]` classes, matched against a single name (no `/` handling, no `**`).

/// True when `pattern` has a wildcard at all.
pub fn is_pattern(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// True when `name` matches `pattern` as a whole.
pub fn matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    // Iterative matcher with one backtrack point for the last `*`: linear in practice.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some('?') => {
                p += 1;
                n += 1;
                continue;
            }
            Some('[') => match class(&pattern, p, name[n]) {
                Some((true, next)) => {
                    p = next;
                    n += 1;
                    continue;
                }
                Some((false, _)) => {}
                // An unclosed `[` is an ordinary character.
                None if name[n] == '[' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                None => {}
            },
            Some(&c) if c == name[n] => {
                p += 1;
                n += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((star_p, star_n)) => {
                p = star_p + 1;
                n = star_n + 1;
                star = Some((star_p, star_n + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class starting at `pattern[start] == '['`: `(matched, index after ])`.
/// `None` when the class is not closed (then `[` is an ordinary character).
fn class(pattern: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut index = start + 1;
    let negate = matches!(pattern.get(index), Some('!') | Some('^'));
    if negate {
        index += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let current = *pattern.get(index)?;
        if current == ']' && !first {
            return Some((matched != negate, index + 1));
        }
        first = false;
        if pattern.get(index + 1) == Some(&'-')
            && let Some(&end) = pattern.get(index + 2)
            && end != ']'
        {
            matched |= (current..=end).contains(&c);
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

    #[test]
    fn table() {
        for (pattern, name, expected) in [
            ("*.txt", "a.txt", true),
            ("*.txt", "a.txt.bak", false),
            ("*", "", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*b*b", "abcbxb", true),
            ("[ab]x", "bx", true),
            ("[!ab]x", "bx", false),
            ("[a-c]*", "cat", true),
            ("[a-c]*", "dog", false),
            ("[x", "[x", true),
            ("file 1.txt", "file 1.txt", true),
        ] {
            assert_eq!(matches(pattern, name), expected, "{pattern} {name}");
        }
        assert!(is_pattern("*.x"));
        assert!(!is_pattern("plain name"));
    }
}
