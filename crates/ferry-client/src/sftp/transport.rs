//! The SSH connection under SFTP (russh): TCP, key exchange, the server's host key checked
//! against known_hosts, and logging in.
//!
//! Host keys: a known key goes on; an unknown one fails with its fingerprint and the flag that
//! accepts it, unless [`SshOptions::accept_new_host_key`] is set, which adds it to known_hosts;
//! a changed or revoked key always fails. The algorithms known_hosts holds for the host are
//! asked for first, so a server with several keys shows one we know.
//!
//! Login tries, in order: a password the user gave (URL, `--user`, `~/.netrc`), the keys of
//! ssh-agent (`SSH_AUTH_SOCK`), the key files (`-i FILE`, else `~/.ssh/id_ed25519`,
//! `id_ecdsa`, `id_rsa`; encrypted ones only with a passphrase from the prompt), then a password
//! from the prompt. This module prints nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::client::{self, AuthResult, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use tokio::net::TcpStream;

use super::SshOptions;
use super::known_hosts::{self, Verdict};
use crate::ClientError;

/// The files tried when no `-i FILE` is given, in OpenSSH's order (less DSA).
pub const DEFAULT_KEY_FILES: [&str; 3] = ["id_ed25519", "id_ecdsa", "id_rsa"];

/// What the connection did about the host key, for the caller to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyNote {
    /// It was in known_hosts.
    Known,
    /// It was new and [`SshOptions::accept_new_host_key`] added it: the line that was written.
    Added(String),
}

/// russh's callbacks: checks the host key.
pub(super) struct Checker {
    name: String,
    address: String,
    options: SshOptions,
    note: Arc<std::sync::Mutex<Option<HostKeyNote>>>,
}

/// Why the handshake stopped: russh's error, or the host key's.
#[derive(Debug)]
pub(super) enum HandshakeError {
    Ssh(russh::Error),
    HostKey(String),
    Unknown(Box<UnknownHostKey>),
}

/// A host key that known_hosts does not hold: what [`ClientError::UnknownHostKey`] carries, so
/// the shell can ask whether to trust it and a one-shot command can say which flag would.
#[derive(Debug, Clone)]
pub struct UnknownHostKey {
    /// The name known_hosts lists the host under (`host`, or `[host]:port`).
    pub name: String,
    /// The key's algorithm and fingerprint: `ssh-ed25519 SHA256:...`.
    pub shown: String,
    /// The key itself, for [`UnknownHostKey::trust`].
    key: PublicKey,
    /// The known_hosts file it would be added to.
    file: PathBuf,
}

impl UnknownHostKey {
    /// The shell's question: `The host key of [host]:port is not known: ...; trust it?`.
    pub fn question(&self) -> String {
        format!(
            "The host key of {} is not known: {}; trust it? (yes/no) ",
            self.name, self.shown
        )
    }

    /// Adds the key to known_hosts; returns the line saying so. A connection made after this
    /// must show this very key (any other is a changed key and is refused).
    pub fn trust(&self) -> Result<String, ClientError> {
        known_hosts::add(&self.file, &self.name, &self.key)
            .map_err(|source| ClientError::local(&self.file, source))?;
        Ok(format!(
            "added the host key of {} ({}) to {}",
            self.name,
            self.shown,
            self.file.display()
        ))
    }
}

impl std::fmt::Display for UnknownHostKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the host key of {} is not known: {}; if that is the server's key, run again with \
             --accept-new-host-key",
            self.name, self.shown
        )
    }
}

impl From<russh::Error> for HandshakeError {
    fn from(error: russh::Error) -> Self {
        HandshakeError::Ssh(error)
    }
}

impl client::Handler for Checker {
    type Error = HandshakeError;

    async fn check_server_key(
        &mut self,
        shown: &PublicKeyOrCertificate,
    ) -> Result<bool, HandshakeError> {
        let key = match shown {
            PublicKeyOrCertificate::PublicKey { key, .. } => key,
            PublicKeyOrCertificate::Certificate(_) => {
                return Err(HandshakeError::HostKey(format!(
                    "{} showed a host certificate; ferry does not check those",
                    self.address
                )));
            }
        };
        let file = self.options.known_hosts.display();
        let text = std::fs::read_to_string(&self.options.known_hosts).unwrap_or_default();
        let shown = format!("{} {}", key.algorithm(), known_hosts::fingerprint(key));
        let note = match known_hosts::check(&text, &self.name, key) {
            Verdict::Known => HostKeyNote::Known,
            Verdict::Changed { line } => {
                return Err(HandshakeError::HostKey(format!(
                    "the host key of {} has CHANGED: it is now {shown}, but {file} line {line} \
                     holds another; someone may be intercepting the connection (if the server's \
                     key was replaced, remove that line)",
                    self.name
                )));
            }
            Verdict::Revoked { line } => {
                return Err(HandshakeError::HostKey(format!(
                    "the host key of {} ({shown}) is revoked in {file} line {line}",
                    self.name
                )));
            }
            Verdict::Unknown if self.options.accept_new_host_key => {
                known_hosts::add(&self.options.known_hosts, &self.name, key).map_err(|error| {
                    HandshakeError::HostKey(format!("cannot add the host key to {file}: {error}"))
                })?;
                HostKeyNote::Added(format!(
                    "added the host key of {} ({shown}) to {file}",
                    self.name
                ))
            }
            Verdict::Unknown => {
                return Err(HandshakeError::Unknown(Box::new(UnknownHostKey {
                    name: self.name.clone(),
                    shown,
                    key: key.clone(),
                    file: self.options.known_hosts.clone(),
                })));
            }
        };
        if let Ok(mut slot) = self.note.lock() {
            *slot = Some(note);
        }
        Ok(true)
    }
}

/// Connects to `host:port` and checks the host key (the first half of [`login`]).
async fn handshake(
    host: &str,
    port: u16,
    options: &SshOptions,
) -> Result<(Handle<Checker>, HostKeyNote), ClientError> {
    let address = crate::url::host_port(host, port);
    let stream = match tokio::time::timeout(options.timeout, TcpStream::connect((host, port))).await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(source)) => return Err(ClientError::Connect { address, source }),
        Err(_) => return Err(ClientError::Timeout(format!("connecting to {address}"))),
    };
    let _ = stream.set_nodelay(true);
    let name = known_hosts::host_name(host, port);
    let text = std::fs::read_to_string(&options.known_hosts).unwrap_or_default();
    let mut preferred = russh::Preferred::default();
    let known = known_hosts::known_algorithms(&text, &name);
    if !known.is_empty() {
        let mut order = known.clone();
        order.extend(preferred.key.iter().filter(|a| !known.contains(a)).cloned());
        preferred.key = order.into();
    }
    let config = client::Config {
        preferred,
        // Room for every READ of a download in flight at once (see super::transfer), so the
        // server never waits for the window.
        window_size: 16 * 1024 * 1024,
        channel_buffer_size: 1024,
        nodelay: true,
        ..client::Config::default()
    };
    let note = Arc::new(std::sync::Mutex::new(None));
    let checker = Checker {
        name,
        address: address.clone(),
        options: options.clone(),
        note: Arc::clone(&note),
    };
    let connecting = client::connect_stream(Arc::new(config), stream, checker);
    let handle = match tokio::time::timeout(options.timeout, connecting).await {
        Ok(Ok(handle)) => handle,
        Ok(Err(HandshakeError::HostKey(message))) => return Err(ClientError::Ssh(message)),
        Ok(Err(HandshakeError::Unknown(unknown))) => {
            return Err(ClientError::UnknownHostKey(unknown));
        }
        Ok(Err(HandshakeError::Ssh(error))) => {
            return Err(ClientError::Ssh(format!("SSH to {address}: {error}")));
        }
        Err(_) => {
            return Err(ClientError::Timeout(format!(
                "SSH handshake with {address}"
            )));
        }
    };
    let note = note
        .lock()
        .ok()
        .and_then(|mut slot| slot.take())
        .unwrap_or(HostKeyNote::Known);
    Ok((handle, note))
}

/// Who logs in, and how.
pub(super) struct Login<'a> {
    pub(super) user: &'a str,
    /// A password the user gave before connecting.
    pub(super) password: Option<&'a str>,
}

/// Connects, checks the host key and logs in (see the module documentation for the order).
/// `prompt` is asked for a password (`Password for USER@HOST: `) or a key's passphrase, and
/// answers `None` when nobody can answer.
pub(super) async fn login<P>(
    host: &str,
    port: u16,
    who: Login<'_>,
    options: &SshOptions,
    prompt: &mut P,
) -> Result<(Handle<Checker>, HostKeyNote), ClientError>
where
    P: FnMut(&str) -> Option<String>,
{
    let (mut handle, note) = handshake(host, port, options).await?;
    let user = who.user;
    let failed = |what: &str, error: russh::Error| {
        ClientError::Ssh(format!("SSH login as {user} ({what}): {error}"))
    };
    let mut tried: Vec<String> = Vec::new();
    if let Some(password) = who.password {
        tried.push("password".into());
        let result = handle
            .authenticate_password(user, password)
            .await
            .map_err(|e| failed("password", e))?;
        if result.success() {
            return Ok((handle, note));
        }
    }
    if let Ok(mut agent) = AgentClient::connect_env().await
        && let Ok(identities) = agent.request_identities().await
    {
        for identity in identities {
            let key = identity.public_key().into_owned();
            let hash = rsa_hash(&handle, &key).await;
            tried.push(format!("agent key {}", known_hosts::fingerprint(&key)));
            if let Ok(result) = handle
                .authenticate_publickey_with(user, key, hash, &mut agent)
                .await
                && result.success()
            {
                return Ok((handle, note));
            }
        }
    }
    for file in key_files(options) {
        let key = match russh::keys::load_secret_key(&file, None) {
            Ok(key) => key,
            Err(russh::keys::Error::KeyIsEncrypted) => {
                let ask = format!("Passphrase for {}: ", file.display());
                let Some(passphrase) = prompt(&ask) else {
                    tried.push(format!("{} (encrypted, no passphrase)", file.display()));
                    continue;
                };
                match russh::keys::load_secret_key(&file, Some(&passphrase)) {
                    Ok(key) => key,
                    Err(error) => {
                        return Err(ClientError::Ssh(format!("{}: {error}", file.display())));
                    }
                }
            }
            // A default key file that does not exist is simply not there; `-i FILE` must be.
            Err(_) if options.identity.is_none() && !file.exists() => continue,
            Err(error) => return Err(ClientError::Ssh(format!("{}: {error}", file.display()))),
        };
        let hash = rsa_hash(&handle, key.public_key()).await;
        tried.push(file.display().to_string());
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        let result = handle
            .authenticate_publickey(user, key)
            .await
            .map_err(|e| failed("public key", e))?;
        if result.success() {
            return Ok((handle, note));
        }
    }
    if who.password.is_none()
        && let Some(password) = prompt(&format!("Password for {user}@{host}: "))
    {
        tried.push("password".into());
        let result = handle
            .authenticate_password(user, password)
            .await
            .map_err(|e| failed("password", e))?;
        if let AuthResult::Success = result {
            return Ok((handle, note));
        }
    }
    let tried = if tried.is_empty() {
        "no password and no key to try (give one in the URL, or -i FILE)".to_string()
    } else {
        format!("tried {}", tried.join(", "))
    };
    Err(ClientError::Ssh(format!(
        "SSH login as {user} at {} refused: {tried}",
        crate::url::host_port(host, port)
    )))
}

/// The key files to try: `-i FILE`, else the default ones that exist.
fn key_files(options: &SshOptions) -> Vec<PathBuf> {
    match (&options.identity, &options.ssh_folder) {
        (Some(file), _) => vec![file.clone()],
        (None, Some(folder)) => DEFAULT_KEY_FILES
            .iter()
            .map(|name| folder.join(name))
            .filter(|path| Path::is_file(path))
            .collect(),
        (None, None) => Vec::new(),
    }
}

/// The signature hash for an RSA key: the best the server announced (`server-sig-algs`),
/// SHA-256 when it announced nothing; `None` for other keys.
async fn rsa_hash<H: client::Handler>(handle: &Handle<H>, key: &PublicKey) -> Option<HashAlg> {
    if !key.algorithm().is_rsa() {
        return None;
    }
    match handle.best_supported_rsa_hash().await {
        Ok(Some(hash)) => hash,
        _ => Some(HashAlg::Sha256),
    }
}
