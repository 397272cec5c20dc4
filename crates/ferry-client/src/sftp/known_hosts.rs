//! `~/.ssh/known_hosts` as OpenSSH reads it (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): which keys
//! a host is known by, whether a key it shows is one of them, and adding a key.
//!
//! Host names are matched as OpenSSH writes them: `host` on port 22, `[host]:port` on any other,
//! against plain patterns (comma-separated, `*` and `?` wildcards, `!` negation) and hashed ones
//! (`|1|base64 salt|base64 HMAC-SHA1 of the name`). `@revoked` lines refuse a key; lines
//! with `@cert-authority` are skipped (host certificates are not asked for), as are lines that
//! do not parse. New keys are appended as plain `name algorithm base64` lines.
//!
//! This module does not decide what to do with an unknown key (see `transport.rs`).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use data_encoding::BASE64;
use russh::keys::{Algorithm, HashAlg, PublicKey};

/// What known_hosts says about the key a host showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A line names the host with this key.
    Known,
    /// No line names the host with a key of this algorithm.
    Unknown,
    /// A line names the host with another key of the same algorithm (1-based line number).
    Changed {
        /// The first such line.
        line: usize,
    },
    /// An `@revoked` line names this key.
    Revoked {
        /// The line.
        line: usize,
    },
}

/// The name known_hosts lists a host under: `host` on port 22, else `[host]:port`.
pub fn host_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// `SHA256:...`, as `ssh-keygen -l` prints a key's fingerprint.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// One usable line of a known_hosts file.
struct Line<'a> {
    number: usize,
    revoked: bool,
    patterns: &'a str,
    key: PublicKey,
}

fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    text.lines().enumerate().filter_map(|(index, line)| {
        let mut fields = line.split_ascii_whitespace();
        let mut first = fields.next()?;
        let mut revoked = false;
        if first.starts_with('#') {
            return None;
        }
        if let Some(marker) = first.strip_prefix('@') {
            if marker != "revoked" {
                return None;
            }
            revoked = true;
            first = fields.next()?;
        }
        let algorithm = fields.next()?;
        let base64 = fields.next()?;
        let key = PublicKey::from_openssh(&format!("{algorithm} {base64}")).ok()?;
        Some(Line {
            number: index + 1,
            revoked,
            patterns: first,
            key,
        })
    })
}

/// Checks `key`, shown by the host known as `name` (see [`host_name`]), against `text`.
pub fn check(text: &str, name: &str, key: &PublicKey) -> Verdict {
    let mut known = false;
    let mut changed = None;
    for line in lines(text).filter(|line| matches_host(line.patterns, name)) {
        let same = line.key.key_data() == key.key_data();
        if line.revoked {
            if same {
                return Verdict::Revoked { line: line.number };
            }
        } else if same {
            known = true;
        } else if line.key.algorithm() == key.algorithm() {
            changed.get_or_insert(line.number);
        }
    }
    match (known, changed) {
        (true, _) => Verdict::Known,
        (false, Some(line)) => Verdict::Changed { line },
        (false, None) => Verdict::Unknown,
    }
}

/// The algorithms of the keys `text` knows `name` by, in file order, without repeats: a client
/// asks for these first, so a server with several keys shows a known one (OpenSSH's
/// `order_hostkeyalgs`).
pub fn known_algorithms(text: &str, name: &str) -> Vec<Algorithm> {
    let mut found: Vec<Algorithm> = Vec::new();
    for line in lines(text).filter(|line| !line.revoked && matches_host(line.patterns, name)) {
        let algorithm = line.key.algorithm();
        if !found.contains(&algorithm) {
            found.push(algorithm);
        }
    }
    found
}

/// True when the comma-separated `patterns` of a line name `name`: one pattern matches and no
/// negated one does.
fn matches_host(patterns: &str, name: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split(',') {
        if let Some(hashed) = pattern.strip_prefix("|1|") {
            matched |= matches_hashed(hashed, name);
        } else if let Some(negated) = pattern.strip_prefix('!') {
            if wildcard(negated.to_ascii_lowercase().as_bytes(), name.as_bytes()) {
                return false;
            }
        } else if wildcard(pattern.to_ascii_lowercase().as_bytes(), name.as_bytes()) {
            matched = true;
        }
    }
    matched
}

/// `salt|hash` of a hashed name: HMAC-SHA1 keyed with the salt, over the name.
fn matches_hashed(hashed: &str, name: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (
        BASE64.decode(salt.as_bytes()),
        BASE64.decode(hash.as_bytes()),
    ) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    ring::hmac::verify(&key, name.as_bytes(), &hash).is_ok()
}

/// `*` (any run) and `?` (any one byte) glob matching, as OpenSSH's `match_pattern`.
fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Appends `name algorithm base64` to the known_hosts file at `path`, creating it (mode 0600)
/// and its folder (mode 0700) when missing.
pub fn add(path: &Path, name: &str, key: &PublicKey) -> std::io::Result<()> {
    if let Some(folder) = path.parent()
        && !folder.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(folder)?;
    }
    let text = key
        .to_openssh()
        .map_err(|error| std::io::Error::other(error.to_string()))?;
    // `to_openssh` gives `algorithm base64 comment`; the comment is the server's business.
    let mut fields = text.split_ascii_whitespace();
    let (Some(algorithm), Some(base64)) = (fields.next(), fields.next()) else {
        return Err(std::io::Error::other("cannot encode the key"));
    };
    let needs_newline = std::fs::read(path)
        .map(|old| !old.is_empty() && !old.ends_with(b"\n"))
        .unwrap_or(false);
    let mut file = std::fs::File::options()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    let newline = if needs_newline { "\n" } else { "" };
    file.write_all(format!("{newline}{name} {algorithm} {base64}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPQ7490oamshIg9EsxVdNEHh2Qs4+KqYVzsYgLkE2qBE";
    const ED2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIInR8mfUkTjF64dxDcW+jea+W85owtA5Par/sH0u4lN4";

    fn key(text: &str) -> PublicKey {
        PublicKey::from_openssh(text).unwrap()
    }

    /// `|1|salt|hash` for `name`, as `ssh-keygen -H` writes it.
    fn hashed(name: &str, salt: &[u8]) -> String {
        let mac = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt);
        let tag = ring::hmac::sign(&mac, name.as_bytes());
        format!("|1|{}|{}", BASE64.encode(salt), BASE64.encode(tag.as_ref()))
    }

    #[test]
    fn names_and_fingerprints() {
        assert_eq!(host_name("Example.ORG", 22), "example.org");
        assert_eq!(host_name("127.0.0.1", 2222), "[127.0.0.1]:2222");
        assert!(fingerprint(&key(ED)).starts_with("SHA256:"));
        assert!(!fingerprint(&key(ED)).ends_with('='));
    }

    #[test]
    fn plain_hashed_and_wildcard_entries() {
        let name = "[127.0.0.1]:2222";
        let text = format!("# comment\n\nother {ED2}\n{name} {ED}\n");
        assert_eq!(check(&text, name, &key(ED)), Verdict::Known);
        assert_eq!(
            check(&text, "other", &key(ED)),
            Verdict::Changed { line: 3 }
        );
        assert_eq!(check(&text, "third", &key(ED)), Verdict::Unknown);

        let text = format!("{} {ED}\n", hashed(name, b"0123456789abcdefghij"));
        assert_eq!(check(&text, name, &key(ED)), Verdict::Known);
        assert_eq!(check(&text, "[127.0.0.1]:2223", &key(ED)), Verdict::Unknown);
        assert_eq!(check(&text, name, &key(ED2)), Verdict::Changed { line: 1 });

        let text = format!("*.example.org,!bad.example.org\t{ED}\n");
        assert_eq!(check(&text, "a.example.org", &key(ED)), Verdict::Known);
        assert_eq!(check(&text, "bad.example.org", &key(ED)), Verdict::Unknown);
        assert_eq!(check(&text, "example.org", &key(ED)), Verdict::Unknown);
    }

    #[test]
    fn revoked_broken_and_other_markers() {
        let text = format!("@revoked h {ED}\nh {ED}\n@cert-authority h {ED2}\nh ssh-ed25519 !!\n");
        assert_eq!(check(&text, "h", &key(ED)), Verdict::Revoked { line: 1 });
        assert_eq!(check(&text, "h", &key(ED2)), Verdict::Changed { line: 2 });
        assert_eq!(known_algorithms(&text, "h"), vec![Algorithm::Ed25519]);
        assert!(known_algorithms(&text, "x").is_empty());
    }

    #[test]
    fn wildcards() {
        assert!(wildcard(b"*", b"anything"));
        assert!(wildcard(b"a*c", b"abbbc"));
        assert!(wildcard(b"a?c", b"abc"));
        assert!(!wildcard(b"a?c", b"ac"));
        assert!(wildcard(b"[10.0.0.?]:22*", b"[10.0.0.1]:2222"));
        assert!(!wildcard(b"abc", b"abcd"));
    }

    #[test]
    fn add_creates_and_appends() {
        let home = tempfile::tempdir().unwrap();
        let path = home.path().join(".ssh/known_hosts");
        add(&path, "[h]:2", &key(ED)).unwrap();
        std::fs::write(&path, std::fs::read_to_string(&path).unwrap().trim_end()).unwrap();
        add(&path, "g", &key(ED2)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert_eq!(check(&text, "[h]:2", &key(ED)), Verdict::Known);
        assert_eq!(check(&text, "g", &key(ED2)), Verdict::Known);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
