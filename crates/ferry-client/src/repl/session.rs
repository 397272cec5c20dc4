//! What the shell is connected to: an FTP control connection or an SFTP session, behind the
//! few operations its handlers use (folders, names, listings, one-file transfers, mirror).
//!
//! SFTP has no current folder on the server, so [`SftpShell`] keeps one: the login folder at
//! first (REALPATH `.`), changed by `cd` (REALPATH, then STAT to make sure it is a folder), and
//! every relative path is taken from it, as OpenSSH's `sftp` does. This module prints nothing.

use std::path::Path;

use ferry_proto::listing::{Entry, EntryKind};

use crate::ClientError;
use crate::connection::{Connection, Connector};
use crate::progress::{Progress, ProgressMode};
use crate::sftp::{self, SftpConnector, SftpSession};
use crate::transfer::{self, Direction, MirrorOptions, MirrorReport, TransferStats};

/// A connection of either protocol.
pub(super) enum Session {
    Ftp(Connection),
    Sftp(SftpShell),
}

/// How to make the session again (reconnects, mirror's extra connections).
#[derive(Clone)]
pub(super) enum Reopen {
    Ftp(Connector),
    Sftp(SftpConnector),
}

impl Reopen {
    /// Connections made from now on keep to `rate` bytes a second.
    pub(super) fn set_limit_rate(&mut self, rate: Option<u64>) {
        match self {
            Reopen::Ftp(connector) => connector.options.limit_rate = rate,
            Reopen::Sftp(connector) => connector.options.limit_rate = rate,
        }
    }
}

/// An SFTP session and the folder the shell is in.
pub(super) struct SftpShell {
    session: SftpSession,
    /// Absolute, as REALPATH gave it.
    folder: String,
}

impl SftpShell {
    /// Starts in the login folder.
    pub(super) async fn start(mut session: SftpSession) -> Result<SftpShell, ClientError> {
        let folder = session.realpath(".").await?;
        Ok(SftpShell { session, folder })
    }

    /// `path` from the current folder.
    fn resolve(&self, path: &str) -> String {
        resolve(&self.folder, path)
    }
}

/// `path` from `folder`: an absolute one as it is; empty (or `.`) is the folder itself.
fn resolve(folder: &str, path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else if path.is_empty() || path == "." {
        folder.to_string()
    } else {
        transfer::join_remote(folder, path)
    }
}

impl Session {
    pub(super) async fn delete(&mut self, path: &str) -> Result<(), ClientError> {
        match self {
            Session::Ftp(connection) => connection.delete(path).await.map(|_| ()),
            Session::Sftp(shell) => shell.session.remove(&shell.resolve(path)).await,
        }
    }

    /// Changes the current folder; returns the new one.
    pub(super) async fn cd(&mut self, path: &str) -> Result<String, ClientError> {
        match self {
            Session::Ftp(connection) => {
                connection.cwd(path).await?;
                connection.pwd().await
            }
            Session::Sftp(shell) => {
                let folder = shell.session.realpath(&shell.resolve(path)).await?;
                let attrs = shell.session.stat(&folder).await?;
                if attrs.kind() != Some(EntryKind::Dir) {
                    return Err(ClientError::Usage(format!("{path} is not a folder")));
                }
                shell.folder.clone_from(&folder);
                Ok(folder)
            }
        }
    }

    pub(super) async fn pwd(&mut self) -> Result<String, ClientError> {
        match self {
            Session::Ftp(connection) => connection.pwd().await,
            Session::Sftp(shell) => Ok(shell.folder.clone()),
        }
    }

    pub(super) async fn mkdir(&mut self, path: &str) -> Result<(), ClientError> {
        match self {
            Session::Ftp(connection) => connection.mkdir(path).await.map(|_| ()),
            Session::Sftp(shell) => shell.session.mkdir(&shell.resolve(path)).await,
        }
    }

    pub(super) async fn rmdir(&mut self, path: &str) -> Result<(), ClientError> {
        match self {
            Session::Ftp(connection) => connection.rmdir(path).await.map(|_| ()),
            Session::Sftp(shell) => shell.session.rmdir(&shell.resolve(path)).await,
        }
    }

    pub(super) async fn rename(&mut self, from: &str, to: &str) -> Result<(), ClientError> {
        match self {
            Session::Ftp(connection) => connection.rename(from, to).await.map(|_| ()),
            Session::Sftp(shell) => {
                let (from, to) = (shell.resolve(from), shell.resolve(to));
                shell.session.rename(&from, &to).await
            }
        }
    }

    pub(super) async fn size(&mut self, path: &str) -> Result<u64, ClientError> {
        match self {
            Session::Ftp(connection) => connection.size(path).await,
            Session::Sftp(shell) => {
                let attrs = shell.session.stat(&shell.resolve(path)).await?;
                attrs.size.ok_or_else(|| {
                    ClientError::Protocol(format!("STAT {path}: the server gave no size"))
                })
            }
        }
    }

    /// The entries of a folder (`None`: the current one), `.` and `..` left out.
    pub(super) async fn list(&mut self, path: Option<&str>) -> Result<Vec<Entry>, ClientError> {
        match self {
            Session::Ftp(connection) => connection.list(path).await,
            Session::Sftp(shell) => {
                let folder = shell.resolve(path.unwrap_or(""));
                let names = shell.session.list(&folder).await?;
                Ok(names.into_iter().map(sftp::entry).collect())
            }
        }
    }

    /// The names in the current folder, for completion.
    pub(super) async fn names(&mut self) -> Result<Vec<String>, ClientError> {
        match self {
            Session::Ftp(connection) => connection.names(None).await,
            Session::Sftp(_) => Ok(self
                .list(None)
                .await?
                .into_iter()
                .map(|entry| String::from_utf8_lossy(&entry.name).into_owned())
                .collect()),
        }
    }

    /// A request that changes nothing: does the server still answer?
    pub(super) async fn noop(&mut self) -> Result<(), ClientError> {
        match self {
            Session::Ftp(connection) => connection.simple("NOOP").await.map(|_| ()),
            Session::Sftp(shell) => shell.session.realpath(".").await.map(|_| ()),
        }
    }

    pub(super) async fn quit(self) {
        match self {
            Session::Ftp(connection) => connection.quit().await,
            Session::Sftp(shell) => shell.session.quit().await,
        }
    }

    pub(super) async fn upload(
        &mut self,
        local: &Path,
        remote: &str,
        resume: bool,
        progress: &mut dyn Progress,
    ) -> Result<TransferStats, ClientError> {
        match self {
            Session::Ftp(connection) => {
                transfer::upload_resumable(connection, local, remote, resume, progress).await
            }
            Session::Sftp(shell) => {
                let remote = shell.resolve(remote);
                if local.is_dir() {
                    return Err(ClientError::local(
                        local,
                        std::io::Error::other("is a folder, not a file"),
                    ));
                }
                sftp::upload(&mut shell.session, local, &remote, resume, progress).await
            }
        }
    }

    pub(super) async fn download(
        &mut self,
        remote: &str,
        target: &Path,
        resume: bool,
        progress: &mut dyn Progress,
    ) -> Result<TransferStats, ClientError> {
        match self {
            Session::Ftp(connection) => {
                transfer::download(connection, remote, target, resume, progress).await
            }
            Session::Sftp(shell) => {
                let remote = shell.resolve(remote);
                sftp::download(&mut shell.session, &remote, target, false, resume, progress).await
            }
        }
    }

    /// `set verify on`: the server's digest of `remote` against the local `local`.
    pub(super) async fn check(
        &mut self,
        remote: &str,
        local: &Path,
    ) -> Result<crate::verify::Check, ClientError> {
        match self {
            Session::Ftp(connection) => {
                crate::verify::FtpDigests::default()
                    .check(connection, remote, local)
                    .await
            }
            Session::Sftp(shell) => {
                let remote = shell.resolve(remote);
                crate::verify::check_sftp(&mut shell.session, &remote, local).await
            }
        }
    }

    /// Limits each later transfer to `rate` bytes a second (`None`: no limit).
    pub(super) fn set_limit_rate(&mut self, rate: Option<u64>) {
        match self {
            Session::Ftp(connection) => connection.set_limit_rate(rate),
            Session::Sftp(shell) => shell.session.set_limit_rate(rate),
        }
    }

    /// Mirrors `remote` (from the current folder) and `local` either way; `reopen` makes the
    /// extra connections of `parallel`.
    pub(super) async fn mirror(
        &mut self,
        reopen: Option<&Reopen>,
        direction: Direction,
        remote: &str,
        local: &Path,
        options: &MirrorOptions,
        progress: &ProgressMode,
    ) -> Result<MirrorReport, ClientError> {
        match (self, reopen) {
            (Session::Ftp(connection), Some(Reopen::Ftp(connector))) => {
                transfer::mirror(
                    connection, connector, direction, remote, local, options, progress,
                )
                .await
            }
            (Session::Ftp(_), _) => Err(ClientError::Usage("not connected".into())),
            (Session::Sftp(shell), reopen) => {
                let connector = match reopen {
                    Some(Reopen::Sftp(connector)) => Some(connector),
                    _ => None,
                };
                let remote = shell.resolve(remote);
                sftp::mirror(
                    &mut shell.session,
                    connector,
                    direction,
                    &remote,
                    local,
                    options,
                    progress,
                )
                .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_taken_from_the_current_folder() {
        assert_eq!(resolve("/home/a", "x/y"), "/home/a/x/y");
        assert_eq!(resolve("/home/a", "/srv"), "/srv");
        assert_eq!(resolve("/home/a", ""), "/home/a");
        assert_eq!(resolve("/home/a", "."), "/home/a");
        assert_eq!(resolve("/", "x"), "/x");
        assert_eq!(resolve("/home/a", "../b"), "/home/a/../b");
    }
}
