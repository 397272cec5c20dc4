//! Share links: signed tokens that let anyone holding one read a file or folder of a user's, or
//! upload into a folder, over HTTP at `/s/TOKEN`, as that user, until the token expires.
//!
//! A token is self-contained, so that any node holding the same key serves it and nothing is
//! stored per link: its bytes are a version, the kind (read or upload), the expiry (Unix
//! seconds, 0 for never, as a u32), a random 64-bit id, the user's name and the path in the
//! user's view, followed by HMAC-SHA256 over all of that, cut to its first 128 bits, the whole
//! in URL-safe base64 without padding. The name and path are signed, not hidden: whoever holds
//! a link can read them.
//!
//! A link is withdrawn by writing its id into the revocation list beside the key
//! (`KEY.revoked`, one hex id a line), which the server reads again whenever the file changes,
//! or all links at once by replacing the key.
//!
//! This module does NOT serve requests (`http::share` does) or check rights (the file service
//! does, at each request).

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferry_proto::VirtualPath;
use hmac::{KeyInit, Mac};
use ring::rand::SecureRandom;

/// The format version, the token's first byte.
const VERSION: u8 = 1;
/// Bytes of the MAC kept in a token (128 bits).
const TAG_LEN: usize = 16;
/// Bytes of a key.
pub const KEY_LEN: usize = 32;
/// The longest token accepted, in characters (a path of 4 KiB and more is refused).
const MAX_TOKEN_CHARS: usize = 6000;
/// Names the MAC's input, so that a tag made by this key for anything else is no token.
const DOMAIN: &[u8] = b"ferry share link v1\0";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// What a link gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Download the file, or browse and download the folder (read-only).
    Read,
    /// Upload new files into the folder; no listing, no download.
    Upload,
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The sharing user.
    pub user: String,
    /// The file or folder, in the user's view.
    pub path: VirtualPath,
    /// What the link gives.
    pub kind: Kind,
    /// Unix seconds after which the link is refused; `None`: never.
    pub expires: Option<u64>,
    /// The link's id, for revocation.
    pub id: [u8; 8],
}

impl Claims {
    /// New claims with a fresh random id, expiring `valid` from now (`None`: never).
    pub fn new(
        user: &str,
        path: VirtualPath,
        kind: Kind,
        valid: Option<Duration>,
    ) -> std::io::Result<Claims> {
        let mut id = [0u8; 8];
        random(&mut id)?;
        let expires = valid.map(|valid| now().saturating_add(valid.as_secs().max(1)));
        Ok(Claims {
            user: user.to_string(),
            path,
            kind,
            expires,
            id,
        })
    }

    /// The id as 16 hex digits.
    pub fn id_hex(&self) -> String {
        hex(&self.id)
    }
}

/// Why a token is not honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a token of this key: malformed, forged or altered.
    #[error("not a valid share link")]
    Invalid,
    /// Authentic, but withdrawn.
    #[error("share link revoked")]
    Revoked,
    /// Authentic, but past its expiry.
    #[error("share link expired")]
    Expired,
}

/// Why the key could not be had, or a share not made.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file does not hold a key.
    #[error("{0}: not a share key (expected {KEY_LEN} bytes)")]
    BadKey(String),
    /// The claims cannot go into a token.
    #[error("{0}")]
    Refused(String),
}

/// The signing key and the revocation list beside it.
#[derive(Clone)]
pub struct ShareKeys {
    key: [u8; KEY_LEN],
    revoked_path: PathBuf,
    revoked: Arc<Mutex<RevokedCache>>,
}

impl std::fmt::Debug for ShareKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareKeys")
            .field("revoked_path", &self.revoked_path)
            .finish_non_exhaustive()
    }
}

/// The revoked ids as last read, and what the file looked like then.
#[derive(Debug, Default)]
struct RevokedCache {
    seen: Option<(SystemTime, u64)>,
    ids: HashSet<[u8; 8]>,
}

/// Where the share key is kept without `--share-key`: `share.key` in `$XDG_STATE_HOME/ferry/`,
/// else `~/.local/state/ferry/`.
pub fn default_key_path() -> Option<PathBuf> {
    Some(
        crate::sftp::host_key::default_path()?
            .parent()?
            .join("share.key"),
    )
}

impl ShareKeys {
    /// The key in `path`, made there first (32 random bytes, mode 0600, its folder created)
    /// when the file does not exist. Returns the keys and whether the key was made now.
    pub fn load_or_create(path: &Path) -> Result<(ShareKeys, bool), ShareError> {
        let io = |source| ShareError::Io {
            path: path.display().to_string(),
            source,
        };
        let revoked_path = revoked_path(path);
        match std::fs::read(path) {
            Ok(bytes) => {
                let key: [u8; KEY_LEN] = bytes
                    .try_into()
                    .map_err(|_| ShareError::BadKey(path.display().to_string()))?;
                return Ok((ShareKeys::new(key, revoked_path), false));
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(io(error)),
        }
        let mut key = [0u8; KEY_LEN];
        random(&mut key).map_err(io)?;
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(io)?;
        }
        // Exclusively, 0600: never readable by others, never replacing a key made meanwhile.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        file.write_all(&key).map_err(io)?;
        Ok((ShareKeys::new(key, revoked_path), true))
    }

    fn new(key: [u8; KEY_LEN], revoked_path: PathBuf) -> ShareKeys {
        ShareKeys {
            key,
            revoked_path,
            revoked: Arc::default(),
        }
    }

    /// The revocation list's file.
    pub fn revoked_path(&self) -> &Path {
        &self.revoked_path
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes a key of any length.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(DOMAIN);
        mac
    }

    /// The token for `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, ShareError> {
        let user = claims.user.as_bytes();
        let user_len = u8::try_from(user.len())
            .map_err(|_| ShareError::Refused("user name too long for a share link".into()))?;
        let expires = match claims.expires {
            None => 0,
            Some(at) => u32::try_from(at.max(1))
                .map_err(|_| ShareError::Refused("expiry too far away".into()))?,
        };
        let path = claims.path.to_bytes();
        let mut bytes = Vec::with_capacity(15 + user.len() + path.len() + TAG_LEN);
        bytes.push(VERSION);
        bytes.push(match claims.kind {
            Kind::Read => 0,
            Kind::Upload => 1,
        });
        bytes.extend_from_slice(&expires.to_be_bytes());
        bytes.extend_from_slice(&claims.id);
        bytes.push(user_len);
        bytes.extend_from_slice(user);
        bytes.extend_from_slice(&path);
        let mut mac = self.mac();
        mac.update(&bytes);
        let tag = mac.finalize().into_bytes();
        bytes.extend_from_slice(&tag[..TAG_LEN]);
        let token = URL_SAFE_NO_PAD.encode(&bytes);
        if token.len() > MAX_TOKEN_CHARS {
            return Err(ShareError::Refused("path too long for a share link".into()));
        }
        Ok(token)
    }

    /// What `token` says, when it is this key's, authentic and not withdrawn; the expiry is
    /// checked against `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, Refusal> {
        let claims = self.authentic(token).ok_or(Refusal::Invalid)?;
        if self.is_revoked(&claims.id) {
            return Err(Refusal::Revoked);
        }
        if claims.expires.is_some_and(|at| now >= at) {
            return Err(Refusal::Expired);
        }
        Ok(claims)
    }

    /// The claims of an authentic token of this key, revoked or expired or not.
    pub fn authentic(&self, token: &str) -> Option<Claims> {
        if token.len() > MAX_TOKEN_CHARS {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        let split = bytes.len().checked_sub(TAG_LEN)?;
        let (body, tag) = bytes.split_at(split);
        let mut mac = self.mac();
        mac.update(body);
        // Compared in constant time.
        mac.verify_truncated_left(tag).ok()?;
        let (&version, rest) = body.split_first()?;
        if version != VERSION {
            return None;
        }
        let (&kind, rest) = rest.split_first()?;
        let kind = match kind {
            0 => Kind::Read,
            1 => Kind::Upload,
            _ => return None,
        };
        let (expires, rest) = rest.split_first_chunk::<4>()?;
        let expires = u32::from_be_bytes(*expires);
        let (id, rest) = rest.split_first_chunk::<8>()?;
        let (&user_len, rest) = rest.split_first()?;
        let (user, path) = rest.split_at_checked(usize::from(user_len))?;
        let user = std::str::from_utf8(user).ok()?.to_string();
        let path = VirtualPath::root().resolve(path).ok()?;
        Some(Claims {
            user,
            path,
            kind,
            expires: (expires != 0).then_some(u64::from(expires)),
            id: *id,
        })
    }

    /// Whether `id` is in the revocation list, read again when the file changed.
    pub fn is_revoked(&self, id: &[u8; 8]) -> bool {
        let seen = std::fs::metadata(&self.revoked_path)
            .ok()
            .and_then(|meta| Some((meta.modified().ok()?, meta.len())));
        let mut cache = match self.revoked.lock() {
            Ok(cache) => cache,
            Err(poisoned) => poisoned.into_inner(),
        };
        if cache.seen != seen {
            cache.ids = match std::fs::read_to_string(&self.revoked_path) {
                Ok(text) => parse_revoked(&text),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => HashSet::new(),
                Err(error) => {
                    // Keep the ids known so far: a list that cannot be read un-revokes nothing.
                    tracing::warn!(path = %self.revoked_path.display(), %error, "share revocation list unreadable");
                    return cache.ids.contains(id);
                }
            };
            cache.seen = seen;
        }
        cache.ids.contains(id)
    }

    /// Adds `id` to the revocation list; false when it was there already.
    pub fn revoke(&self, id: &[u8; 8], note: &str) -> Result<bool, ShareError> {
        let io = |source| ShareError::Io {
            path: self.revoked_path.display().to_string(),
            source,
        };
        let text = match std::fs::read_to_string(&self.revoked_path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(io(error)),
        };
        if parse_revoked(&text).contains(id) {
            return Ok(false);
        }
        if let Some(folder) = self.revoked_path.parent() {
            std::fs::create_dir_all(folder).map_err(io)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.revoked_path)
            .map_err(io)?;
        let note: String = note.chars().filter(|c| !c.is_control()).collect();
        writeln!(file, "{} {note}", hex(id)).map_err(io)?;
        Ok(true)
    }

    /// The revoked ids with their notes, as listed in the file.
    pub fn revoked_lines(&self) -> Result<Vec<String>, ShareError> {
        match std::fs::read_to_string(&self.revoked_path) {
            Ok(text) => Ok(text
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(str::to_string)
                .collect()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(ShareError::Io {
                path: self.revoked_path.display().to_string(),
                source,
            }),
        }
    }
}

/// The revocation list of the key in `key`: `KEY.revoked` beside it.
fn revoked_path(key: &Path) -> PathBuf {
    let mut name = key.as_os_str().to_owned();
    name.push(".revoked");
    PathBuf::from(name)
}

/// The ids of a revocation list: the first word of each line, 16 hex digits.
fn parse_revoked(text: &str) -> HashSet<[u8; 8]> {
    text.lines()
        .filter_map(|line| parse_id(line.split_whitespace().next()?))
        .collect()
}

/// An id written as 16 hex digits.
pub fn parse_id(text: &str) -> Option<[u8; 8]> {
    if text.len() != 16 || !text.is_ascii() {
        return None;
    }
    let mut id = [0u8; 8];
    for (at, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(at * 2..at * 2 + 2)?, 16).ok()?;
    }
    Some(id)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fills `out` from the system's secure random source.
fn random(out: &mut [u8]) -> std::io::Result<()> {
    ring::rand::SystemRandom::new()
        .fill(out)
        .map_err(|_| std::io::Error::other("no random bytes from the system"))
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// How long a link lasts, as `--expires` takes it: a number with `s`, `m`, `h` or `d`
/// (`90s`, `30m`, `12h`, `7d`), or `never`. Returns `None` for never.
pub fn parse_expiry(text: &str) -> Result<Option<Duration>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let bad = || format!("{text}: expected a duration like 90s, 30m, 12h or 7d, or never");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = text.split_at(split);
    let count: u64 = digits.parse().map_err(|_| bad())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let seconds = count.checked_mul(scale).ok_or_else(bad)?;
    // u32 Unix seconds end in 2106.
    if count == 0 || seconds > 50 * 365 * 86_400 {
        return Err(format!("{text}: between 1s and 50 years, or never"));
    }
    Ok(Some(Duration::from_secs(seconds)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn keys() -> (tempfile::TempDir, ShareKeys) {
        let dir = tempfile::tempdir().unwrap();
        let (keys, made) = ShareKeys::load_or_create(&dir.path().join("state/share.key")).unwrap();
        assert!(made);
        (dir, keys)
    }

    fn claims(expires: Option<u64>) -> Claims {
        Claims {
            user: "alice".into(),
            path: VirtualPath::root()
                .resolve(b"/docs/r\xc3\xa9sum\xc3\xa9.pdf")
                .unwrap(),
            kind: Kind::Read,
            expires,
            id: [1, 2, 3, 4, 5, 6, 7, 8],
        }
    }

    #[test]
    fn a_token_round_trips_and_any_changed_byte_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, keys) = keys();
        let mode = std::fs::metadata(dir.path().join("state/share.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let token = keys.sign(&claims(Some(2_000_000_000))).unwrap();
        assert!(token.len() < 80, "{token}");
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(
            keys.verify(&token, 1_000).unwrap(),
            claims(Some(2_000_000_000))
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for at in 0..bytes.len() {
            bytes[at] ^= 0x01;
            let forged = URL_SAFE_NO_PAD.encode(&bytes);
            assert_eq!(
                keys.verify(&forged, 1_000),
                Err(Refusal::Invalid),
                "byte {at}"
            );
            bytes[at] ^= 0x01;
        }
        assert_eq!(keys.verify("", 0), Err(Refusal::Invalid));
        assert_eq!(keys.verify("!!", 0), Err(Refusal::Invalid));
        // Another key refuses it; the same key read back accepts it.
        let (_other_dir, other) = super::tests::keys();
        assert_eq!(other.verify(&token, 1_000), Err(Refusal::Invalid));
        let (again, made) = ShareKeys::load_or_create(&dir.path().join("state/share.key")).unwrap();
        assert!(!made);
        assert!(again.verify(&token, 1_000).is_ok());
    }

    #[test]
    fn expiry_and_revocation() {
        let (_dir, keys) = keys();
        let token = keys.sign(&claims(Some(5_000))).unwrap();
        assert!(keys.verify(&token, 4_999).is_ok());
        assert_eq!(keys.verify(&token, 5_000), Err(Refusal::Expired));
        let forever = keys.sign(&claims(None)).unwrap();
        assert!(keys.verify(&forever, u64::MAX).is_ok());
        assert!(keys.revoke(&[1, 2, 3, 4, 5, 6, 7, 8], "note").unwrap());
        assert!(!keys.revoke(&[1, 2, 3, 4, 5, 6, 7, 8], "again").unwrap());
        assert_eq!(keys.verify(&forever, 0), Err(Refusal::Revoked));
        assert_eq!(keys.revoked_lines().unwrap(), ["0102030405060708 note"]);
    }

    #[test]
    fn expiry_text() {
        assert_eq!(parse_expiry("30m"), Ok(Some(Duration::from_secs(1800))));
        assert_eq!(parse_expiry("12h"), Ok(Some(Duration::from_secs(43_200))));
        assert_eq!(parse_expiry("7d"), Ok(Some(Duration::from_secs(604_800))));
        assert_eq!(parse_expiry("2s"), Ok(Some(Duration::from_secs(2))));
        assert_eq!(parse_expiry("never"), Ok(None));
        for bad in ["", "7", "d", "0s", "7w", "-1d", "99999999999d"] {
            assert!(parse_expiry(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_id("0102030405060708"), Some([1, 2, 3, 4, 5, 6, 7, 8]));
        assert_eq!(parse_id("01020304050607"), None);
    }
}
