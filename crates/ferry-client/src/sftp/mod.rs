//! SFTP (version 3, as OpenSSH speaks it) for `sftp://` URLs: the SSH transport from russh,
//! the packets from [`ferry_proto::sftp`].
//!
//! - `transport.rs`: TCP, SSH, the host key against `~/.ssh/known_hosts` (`known_hosts.rs`),
//!   login with a password, ssh-agent or key files.
//! - `session.rs`: [`SftpSession`], the `sftp` subsystem and one typed call per request.
//! - `transfer.rs`: downloads and uploads with many READs or WRITEs in flight.
//! - `files.rs`: the one-shot commands `ferry get|put|ls|rm|mkdir` on `sftp://` URLs, with the
//!   messages, progress, resume and partial files of their `ftp://` twins; the single-file
//!   download and upload the shell uses too.
//! - `mirror.rs`: `ferry mirror` and the shell's `mirror` over SFTP.
//!
//! The shell's side (its session over SFTP, and its yes/no question for an unknown host key,
//! [`UnknownHostKey`]) is in [`crate::repl`].

mod files;
pub mod known_hosts;
mod mirror;
mod session;
mod transfer;
mod transport;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use files::{download, entry, get, ls, mkdir, mkdir_all, put, rm, upload};
pub use mirror::{mirror, mirror_url};
pub use session::SftpSession;
pub use transfer::{CHUNK, IN_FLIGHT, MAX_CHUNK};
pub use transport::{DEFAULT_KEY_FILES, HostKeyNote, UnknownHostKey};

use crate::ClientError;
use crate::credentials;
use crate::url::SftpUrl;

/// How to reach and trust SSH servers.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// The known_hosts file (`~/.ssh/known_hosts`).
    pub known_hosts: PathBuf,
    /// Where the default key files are (`~/.ssh`), if there is a home.
    pub ssh_folder: Option<PathBuf>,
    /// `-i FILE`: the only key file to try.
    pub identity: Option<PathBuf>,
    /// `--accept-new-host-key`: add an unknown host key to known_hosts instead of failing.
    /// A changed key fails all the same.
    pub accept_new_host_key: bool,
    /// The bound on every wait.
    pub timeout: Duration,
    /// `--limit-rate`: bytes a second each transfer may move (`None`: no limit).
    pub limit_rate: Option<u64>,
}

impl SshOptions {
    /// The files of `home/.ssh` (the current folder's `.ssh` without a home).
    pub fn for_home(home: Option<&Path>) -> SshOptions {
        let folder = home.map(|home| home.join(".ssh"));
        SshOptions {
            known_hosts: folder.as_ref().map_or_else(
                || PathBuf::from(".ssh/known_hosts"),
                |f| f.join("known_hosts"),
            ),
            ssh_folder: folder,
            identity: None,
            accept_new_host_key: false,
            timeout: crate::connection::DEFAULT_TIMEOUT,
            limit_rate: None,
        }
    }
}

/// Everything needed to open an SFTP session to one server, and to open it again (the shell's
/// reconnect, a mirror's extra sessions).
#[derive(Debug, Clone)]
pub struct SftpConnector {
    /// The server, and perhaps the user and password.
    pub url: SftpUrl,
    /// `--user USER[:PASS]`.
    pub user: Option<String>,
    /// The text of `~/.netrc`.
    pub netrc: Option<String>,
    /// Keys and host keys.
    pub options: SshOptions,
}

impl SftpConnector {
    /// Connects and logs in as [`connect`] does.
    pub async fn open<P>(&self, prompt: P) -> Result<(SftpSession, HostKeyNote), ClientError>
    where
        P: FnMut(&str) -> Option<String>,
    {
        let defaults = SftpDefaults {
            user: self.user.as_deref(),
            netrc: self.netrc.as_deref(),
            options: &self.options,
        };
        connect(&self.url, defaults, prompt).await
    }
}

/// Who to log in as and where from, for [`connect`].
#[derive(Debug, Clone, Copy)]
pub struct SftpDefaults<'a> {
    /// `--user USER[:PASS]`.
    pub user: Option<&'a str>,
    /// The text of `~/.netrc`.
    pub netrc: Option<&'a str>,
    /// Keys and host keys.
    pub options: &'a SshOptions,
}

/// The user and password for `url`: the URL's, else `--user`, else `~/.netrc`'s entry for the
/// host, else the local user (`$USER`, `$LOGNAME`) as OpenSSH does; a password missing from
/// the chosen source is taken from netrc when its entry names the same user.
pub fn login_for(url: &SftpUrl, defaults: SftpDefaults<'_>) -> (String, Option<String>) {
    let from_netrc = defaults
        .netrc
        .and_then(|text| credentials::netrc_lookup(text, &url.host));
    let (user, mut password) = if let Some(user) = &url.user {
        (user.clone(), url.password.clone())
    } else if let Some(flag) = defaults.user {
        match flag.split_once(':') {
            Some((user, password)) => (user.to_string(), Some(password.to_string())),
            None => (flag.to_string(), None),
        }
    } else if let Some(entry) = &from_netrc {
        (entry.user.clone(), entry.password.clone())
    } else {
        let local = ["USER", "LOGNAME"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
        (local.unwrap_or_else(|| "root".into()), None)
    };
    if password.is_none()
        && let Some(entry) = from_netrc
        && entry.user == user
    {
        password = entry.password;
    }
    (user, password)
}

/// Connects to the server of `url`, checks its host key, logs in and starts SFTP. `prompt`
/// is asked for a password or a key's passphrase (its argument is the question).
pub async fn connect<P>(
    url: &SftpUrl,
    defaults: SftpDefaults<'_>,
    mut prompt: P,
) -> Result<(SftpSession, HostKeyNote), ClientError>
where
    P: FnMut(&str) -> Option<String>,
{
    let (user, password) = login_for(url, defaults);
    let who = transport::Login {
        user: &user,
        password: password.as_deref(),
    };
    let (handle, note) =
        transport::login(&url.host, url.port, who, defaults.options, &mut prompt).await?;
    let mut session = SftpSession::start(handle, defaults.options.timeout).await?;
    session.set_limit_rate(defaults.options.limit_rate);
    Ok((session, note))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn who_logs_in() {
        let options = SshOptions::for_home(Some(Path::new("/h")));
        assert_eq!(options.known_hosts, Path::new("/h/.ssh/known_hosts"));
        let netrc = "machine h login bob password secret";
        let defaults = SftpDefaults {
            user: None,
            netrc: Some(netrc),
            options: &options,
        };
        let url = SftpUrl::parse("sftp://h/x").unwrap();
        assert_eq!(
            login_for(&url, defaults),
            ("bob".into(), Some("secret".into()))
        );
        let url = SftpUrl::parse("sftp://bob@h/x").unwrap();
        assert_eq!(
            login_for(&url, defaults),
            ("bob".into(), Some("secret".into()))
        );
        let url = SftpUrl::parse("sftp://eve:pw@h/x").unwrap();
        assert_eq!(login_for(&url, defaults), ("eve".into(), Some("pw".into())));
        let flag = SftpDefaults {
            user: Some("carol:c"),
            ..defaults
        };
        let url = SftpUrl::parse("sftp://h/x").unwrap();
        assert_eq!(login_for(&url, flag), ("carol".into(), Some("c".into())));
    }
}
