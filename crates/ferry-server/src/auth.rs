//! Who may log in: the users file (TOML, Argon2id hashes) and anonymous access.
//!
//! The users file maps names to a PHC-format Argon2id hash, a home folder below the served root
//! and a read-only flag:
//!
//! ```toml
//! [users.alice]
//! password = "$argon2id$v=19$m=19456,t=2,p=1$..."
//! home = "alice"
//! read_only = false
//! quota_bytes = 10485760        # absent or 0: no limit
//! quota_files = 1000
//! max_sessions = 3
//! upload_rate = 1048576         # bytes per second, all the user's sessions together
//! download_rate = 2097152
//!
//! [users.alice.permissions]     # the deepest listed folder that contains a path decides
//! "/" = ["*"]
//! "/pub" = ["list", "download"]
//! ```
//!
//! Every key is optional but `password`; a key this version does not know is an error that
//! names it and its line, so that a misspelt rule is never dropped in silence.
//!
//! This module does NOT throttle failed logins or keep sessions: the session does.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use ferry_proto::VirtualPath;
use serde::{Deserialize, Serialize};

pub use crate::service::rules::{Permissions, Right, Rights};

/// Anonymous access (`anonymous` or `ftp`, any password).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Anonymous {
    /// Anonymous logins are refused.
    Off,
    /// Anonymous users may list and download.
    Read,
    /// Anonymous users may also upload, rename and delete.
    Write,
}

/// One named user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Argon2id hash in PHC string format; empty: no password login (keys only).
    #[serde(default)]
    pub password: String,
    /// Home folder, relative to the served root ("" or "/" for the root itself).
    #[serde(default)]
    pub home: String,
    /// The user may not change anything (only `list` and `download` stay, whatever
    /// `permissions` says).
    #[serde(default)]
    pub read_only: bool,
    /// Total size of the files under the home, in bytes; 0: no limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub quota_bytes: u64,
    /// Number of files under the home; 0: no limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub quota_files: u64,
    /// Sessions of this user at once, all addresses together; 0: no limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_sessions: u64,
    /// Upload bytes per second over all the user's sessions; 0: no limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub upload_rate: u64,
    /// Download bytes per second over all the user's sessions; 0: no limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub download_rate: u64,
    /// Rights per folder (relative to the home); empty: every right.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub permissions: BTreeMap<String, Vec<Right>>,
    /// SSH public keys that log this user in over SFTP, as authorized_keys lines
    /// (`ssh-ed25519 AAAA... comment`; no options).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// The users file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersFile {
    /// Users by name.
    #[serde(default)]
    pub users: BTreeMap<String, User>,
}

/// Why the users file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// A user's home is not a usable path.
    #[error("user {0}: home folder is not a valid path")]
    BadHome(String),
    /// A user's rules do not make sense.
    #[error("{path}: user {name}: {message}")]
    BadRule {
        /// The file.
        path: String,
        /// The user.
        name: String,
        /// What is wrong.
        message: String,
    },
}

impl UsersFile {
    /// Reads a users file; a missing file is an empty one.
    pub fn load(path: &Path) -> Result<UsersFile, UsersError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(UsersFile::default()),
            Err(source) => {
                return Err(UsersError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let file: UsersFile = toml::from_str(&text).map_err(|e| UsersError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        for (name, user) in &file.users {
            user.home_path()
                .map_err(|_| UsersError::BadHome(name.clone()))?;
            user.permissions()
                .and_then(|_| user.public_keys().map(drop))
                .map_err(|message| UsersError::BadRule {
                    path: path.display().to_string(),
                    name: name.clone(),
                    message,
                })?;
        }
        Ok(file)
    }

    /// Writes the file (through a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> Result<(), UsersError> {
        let io_error = |source| UsersError::Io {
            path: path.display().to_string(),
            source,
        };
        let text = toml::to_string(self).map_err(|e| UsersError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut temp = path.as_os_str().to_owned();
        temp.push(".tmp");
        std::fs::write(&temp, text).map_err(io_error)?;
        std::fs::rename(&temp, path).map_err(io_error)
    }
}

impl User {
    /// A user with `password` hashed now.
    pub fn new(password: &[u8], home: String, read_only: bool) -> Result<User, UsersError> {
        Ok(User {
            password: hash_password(password)?,
            home,
            read_only,
            ..User::default()
        })
    }

    /// The user's SSH public keys; an error names the line that is not a key.
    pub fn public_keys(&self) -> Result<Vec<russh::keys::PublicKey>, String> {
        self.keys
            .iter()
            .enumerate()
            .map(|(index, line)| {
                russh::keys::PublicKey::from_openssh(line.trim())
                    .map_err(|e| format!("keys[{index}] is not an SSH public key line ({e})"))
            })
            .collect()
    }

    /// The rights per folder this user has (`read_only` taken into account).
    pub fn permissions(&self) -> Result<Permissions, String> {
        let permissions = if self.permissions.is_empty() {
            Permissions::everything()
        } else {
            Permissions::from_table(&self.permissions)?
        };
        Ok(if self.read_only {
            permissions.limited_to(Rights::READ)
        } else {
            permissions
        })
    }

    /// The home folder as a path below the served root.
    pub fn home_path(&self) -> Result<VirtualPath, ferry_proto::PathError> {
        VirtualPath::root().resolve(self.home.as_bytes())
    }

    /// Checks a password against the stored hash (slow by design: call off the async runtime).
    ///
    /// The Argon2 work area (19 MiB with the default parameters) is handed back to the kernel
    /// before it is freed: the allocator would otherwise keep it, and a login storm would leave
    /// the server tens of MiB larger for good.
    pub fn verify(&self, password: &[u8]) -> bool {
        let Ok(hash) = PasswordHash::new(&self.password) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
            return false;
        };
        let Ok(params) = argon2::Params::try_from(&hash) else {
            return false;
        };
        let Ok(algorithm) = argon2::Algorithm::try_from(hash.algorithm) else {
            return false;
        };
        let version = hash
            .version
            .and_then(|v| argon2::Version::try_from(v).ok())
            .unwrap_or(argon2::Version::V0x13);
        let mut salt_bytes = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
            return false;
        };
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let mut out = vec![0u8; expected.len()];
        let mut blocks = vec![argon2::Block::default(); params.block_count()];
        let computed = argon2.hash_password_into_with_memory(password, salt, &mut out, &mut blocks);
        release_pages(&mut blocks);
        computed.is_ok() && constant_time_eq(&out, expected.as_bytes())
    }
}

/// A user no password matches, with the hash parameters `ferryd user add` uses: checking a
/// password against it costs what checking a real user's does. Made on first use.
pub(crate) fn dummy_user() -> &'static User {
    static DUMMY: std::sync::OnceLock<User> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut secret = [0u8; 32];
        let _ = std::fs::File::open("/dev/urandom").and_then(|mut r| r.read_exact(&mut secret));
        // Should hashing itself fail, the default hash string still costs a parse and
        // nothing matches it.
        User::new(&secret, String::new(), true).unwrap_or_else(|_| User {
            read_only: true,
            ..User::default()
        })
    })
}

/// Compares without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Gives the whole pages of `blocks` back to the kernel (`madvise(MADV_DONTNEED)`); the memory
/// stays valid and reads as zeros. Only used right before the buffer is dropped.
#[allow(unsafe_code)]
fn release_pages(blocks: &mut [argon2::Block]) {
    const PAGE: usize = 4096;
    let start = blocks.as_mut_ptr() as usize;
    let end = start + std::mem::size_of_val(blocks);
    let first = start.next_multiple_of(PAGE);
    let last = end - end % PAGE;
    if last > first {
        // SAFETY: [first, last) lies inside `blocks`, which we borrow mutably, so nothing else
        // can observe it; MADV_DONTNEED on private anonymous memory only replaces its contents
        // with zero pages, which are a valid bit pattern for `Block` (an array of u64).
        let _ = unsafe {
            rustix::mm::madvise(
                first as *mut _,
                last - first,
                rustix::mm::Advice::LinuxDontNeed,
            )
        };
    }
}

/// Hashes a password with Argon2id and a random salt.
pub fn hash_password(password: &[u8]) -> Result<String, UsersError> {
    let mut salt = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut salt))
        .map_err(|e| UsersError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| UsersError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password, &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| UsersError::Hash(e.to_string()))
}

/// True for the names that mean an anonymous login.
pub fn is_anonymous_name(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"anonymous") || name.eq_ignore_ascii_case(b"ftp")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hash_and_verify() {
        let user = User::new(b"s3cret", "alice".into(), false).unwrap();
        assert!(user.password.starts_with("$argon2id$"));
        assert!(user.verify(b"s3cret"));
        assert!(!user.verify(b"wrong"));
    }

    #[test]
    fn file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        assert!(UsersFile::load(&path).unwrap().users.is_empty());
        let mut file = UsersFile::default();
        file.users
            .insert("bob".into(), User::new(b"pw", "/bob".into(), true).unwrap());
        file.save(&path).unwrap();
        let loaded = UsersFile::load(&path).unwrap();
        assert_eq!(loaded, file);
        assert!(loaded.users["bob"].verify(b"pw"));
        assert_eq!(loaded.users["bob"].home_path().unwrap().to_string(), "/bob");
    }

    #[test]
    fn anonymous_names() {
        assert!(is_anonymous_name(b"Anonymous"));
        assert!(is_anonymous_name(b"ftp"));
        assert!(!is_anonymous_name(b"alice"));
    }
}

/// Recently verified credentials, so that a client logging in again and again (a script, a
/// benchmark, a mirror with many connections) pays for Argon2id once, as SFTPGo does.
///
/// What is kept is an HMAC-SHA-256 of (name, stored hash, password) under a random key made at
/// start and never written anywhere: it cannot be reversed or checked without the key, and a
/// changed password or hash no longer matches. Entries expire; the map is bounded. Failures are
/// never cached.
#[derive(Debug)]
pub(crate) struct CredentialCache {
    key: ring::hmac::Key,
    ttl: std::time::Duration,
    entries:
        std::sync::Mutex<std::collections::HashMap<String, (ring::hmac::Tag, std::time::Instant)>>,
}

/// Most users remembered at once.
const CACHE_CAPACITY: usize = 4096;

impl CredentialCache {
    pub(crate) fn new(ttl: std::time::Duration) -> CredentialCache {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &random_fallback()));
        CredentialCache {
            key,
            ttl,
            entries: std::sync::Mutex::default(),
        }
    }

    /// The message that is signed: each part with its length, so parts cannot run together.
    fn message(name: &str, user: &User, password: &[u8]) -> Vec<u8> {
        let mut message = Vec::new();
        for part in [name.as_bytes(), user.password.as_bytes(), password] {
            message.extend_from_slice(&(part.len() as u64).to_be_bytes());
            message.extend_from_slice(part);
        }
        message
    }

    /// True when `password` was verified for this user within the time to live.
    pub(crate) fn contains(&self, name: &str, user: &User, password: &[u8]) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        let message = CredentialCache::message(name, user, password);
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.get(name).is_some_and(|(cached, at)| {
            // hmac::verify compares in constant time.
            at.elapsed() < self.ttl
                && ring::hmac::verify(&self.key, &message, cached.as_ref()).is_ok()
        })
    }

    /// Remembers a password that Argon2id just accepted.
    pub(crate) fn insert(&self, name: &str, user: &User, password: &[u8]) {
        if self.ttl.is_zero() {
            return;
        }
        let tag = ring::hmac::sign(&self.key, &CredentialCache::message(name, user, password));
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= CACHE_CAPACITY && !entries.contains_key(name) {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= CACHE_CAPACITY {
                return;
            }
        }
        entries.insert(name.to_string(), (tag, std::time::Instant::now()));
    }
}

/// Key material if the system generator fails (it does not on Linux): /dev/urandom directly.
fn random_fallback() -> [u8; 32] {
    let mut key = [0u8; 32];
    let _ = std::fs::File::open("/dev/urandom").and_then(|mut random| random.read_exact(&mut key));
    key
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    #[test]
    fn cache_matches_only_the_verified_password() {
        let cache = CredentialCache::new(std::time::Duration::from_secs(60));
        let user = User {
            password: "$argon2id$fake".into(),
            ..User::default()
        };
        assert!(!cache.contains("bob", &user, b"pw"));
        cache.insert("bob", &user, b"pw");
        assert!(cache.contains("bob", &user, b"pw"));
        assert!(!cache.contains("bob", &user, b"pw2"));
        assert!(!cache.contains("alice", &user, b"pw"));
        // A changed stored hash (password changed in the users file) no longer matches.
        let changed = User {
            password: "$argon2id$other".into(),
            ..user.clone()
        };
        assert!(!cache.contains("bob", &changed, b"pw"));
        let off = CredentialCache::new(std::time::Duration::ZERO);
        off.insert("bob", &user, b"pw");
        assert!(!off.contains("bob", &user, b"pw"));
    }
}
