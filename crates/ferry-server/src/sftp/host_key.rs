//! The SSH host key: read from an OpenSSH private-key file, or made (Ed25519) and written there
//! with mode 0600 when the file does not exist, so that a restart keeps the server's identity.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::{Ed25519Keypair, KeypairData};
use russh::keys::{HashAlg, PrivateKey};

/// Why the host key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    /// Reading, creating or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not an unencrypted OpenSSH private key.
    #[error("{path}: not an unencrypted OpenSSH private key ({message})")]
    Format {
        /// The file.
        path: String,
        /// What the parser said.
        message: String,
    },
}

/// Where ferryd keeps its host key without `--ssh-host-key`: `$XDG_STATE_HOME/ferry/`, else
/// `~/.local/state/ferry/`.
pub fn default_path() -> Option<PathBuf> {
    let state = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(state) => PathBuf::from(state),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".local/state"),
    };
    Some(state.join("ferry").join("ssh_host_ed25519_key"))
}

/// The key in `path`, made there first (Ed25519, mode 0600, its folder created) when the file
/// does not exist. Returns the key and whether it was made now.
pub fn load_or_create(path: &Path) -> Result<(PrivateKey, bool), HostKeyError> {
    let io = |source| HostKeyError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read(path) {
        Ok(text) => {
            let key = PrivateKey::from_openssh(&text).map_err(|e| HostKeyError::Format {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            if key.is_encrypted() {
                return Err(HostKeyError::Format {
                    path: path.display().to_string(),
                    message: "it is encrypted".into(),
                });
            }
            return Ok((key, false));
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(io(error)),
    }
    let key = generate().map_err(io)?;
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| HostKeyError::Format {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(io)?;
    }
    // Created exclusively with 0600: never readable by others, never replacing a key that
    // appeared meanwhile.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    Ok((key, true))
}

/// A new Ed25519 key (seeded from the kernel's random source), kept in memory only.
pub fn generate() -> std::io::Result<PrivateKey> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom").and_then(|mut random| random.read_exact(&mut seed))?;
    let keypair = KeypairData::Ed25519(Ed25519Keypair::from_seed(&seed));
    PrivateKey::new(keypair, "ferryd host key").map_err(std::io::Error::other)
}

/// The key's fingerprint as `ssh-keygen -l` prints it: `SHA256:` and unpadded base64.
pub fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_with_mode_0600_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/ferry/key");
        let (made, created) = load_or_create(&path).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (read, created) = load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(fingerprint(&made), fingerprint(&read));
        assert!(fingerprint(&made).starts_with("SHA256:"));
        std::fs::write(&path, b"not a key").unwrap();
        assert!(matches!(
            load_or_create(&path),
            Err(HostKeyError::Format { .. })
        ));
    }
}
