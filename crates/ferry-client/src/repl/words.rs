//! The words of a command line: arguments (quotes, one-path commands), `~`, and local
//! wildcards for `mput`.

use std::path::{Path, PathBuf};

use ferry_proto::glob::{GlobRules, glob_match_str, is_glob};

/// Splits a command's arguments. Quoted words (`"a b"` or `'a b'`) are one argument; without
/// quotes, a one-path command takes the whole rest of the line as its path.
pub fn split_arguments(rest: &str, one_path: bool) -> Result<Vec<String>, String> {
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    if one_path && !rest.contains(['"', '\'']) {
        // `get -c name with spaces` keeps its flag apart.
        if let Some(after) = rest.strip_prefix("-c ") {
            return Ok(vec!["-c".into(), after.trim().to_string()]);
        }
        return Ok(vec![rest.to_string()]);
    }
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in rest.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unclosed quote".into());
    }
    if in_word {
        out.push(current);
    }
    Ok(out)
}

/// The user's home folder, from `HOME`.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
}

/// `~/x` to `$HOME/x`; anything else unchanged.
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), home_dir()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ if path == "~" => home_dir().unwrap_or_else(|| PathBuf::from(path)),
        _ => PathBuf::from(path),
    }
}

/// Local files matching a pattern whose last name may have wildcards (`dir/*.txt`), sorted.
pub fn local_glob(pattern: &Path) -> Vec<PathBuf> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !is_glob(name.as_bytes(), GlobRules::SHELL) {
        return if pattern.is_file() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let folder = match pattern.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_file())
        .filter(|entry| {
            glob_match_str(
                &name,
                &entry.file_name().to_string_lossy(),
                GlobRules::SHELL,
            )
        })
        .map(|entry| {
            if folder == Path::new(".") {
                PathBuf::from(entry.file_name())
            } else {
                entry.path()
            }
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        assert_eq!(
            split_arguments("  my file.txt ", true).unwrap(),
            vec!["my file.txt"]
        );
        assert_eq!(
            split_arguments("-c my file.txt", true).unwrap(),
            vec!["-c", "my file.txt"]
        );
        assert_eq!(
            split_arguments("\"a b\" 'c d'", true).unwrap(),
            vec!["a b", "c d"]
        );
        assert_eq!(split_arguments("a b", false).unwrap(), vec!["a", "b"]);
        assert_eq!(split_arguments("\"\"", false).unwrap(), vec![""]);
        assert!(split_arguments("\"open", false).is_err());
        assert!(split_arguments("", true).unwrap().is_empty());
    }

    #[test]
    fn globbing_local_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.txt", "b.txt", "c.bin"] {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        let found = local_glob(&dir.path().join("*.txt"));
        assert_eq!(
            found,
            vec![dir.path().join("a.txt"), dir.path().join("b.txt")]
        );
        assert_eq!(local_glob(&dir.path().join("c.bin")).len(), 1);
        assert!(local_glob(&dir.path().join("none")).is_empty());
    }
}
