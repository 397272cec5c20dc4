//! File and folder commands on the control connection (RFC 959 section 4.1.3, RFC 3659 SIZE,
//! MDTM and MLSD, the MFMT draft) and the listings they read over a data connection.
//!
//! This module opens no data connection itself (see [`super::data`]).

use std::time::Duration;

use ferry_proto::listing::{Entry, parse_list_line, parse_mlsx_line};
use ferry_proto::{Command, ReplyCode, time, unquote_pathname};
use tokio::io::AsyncWriteExt;

use super::{Connection, bytes, check, command_line};
use crate::ClientError;
use ferry_proto::Reply;

impl Connection {
    /// The current remote folder (PWD, RFC 959 section 4.1.3 and its 257 reply).
    pub async fn pwd(&mut self) -> Result<String, ClientError> {
        let reply = self.simple(&command_line(&Command::Pwd)).await?;
        unquote_pathname(&reply.text())
            .ok_or_else(|| ClientError::Protocol(format!("cannot read the path in {reply}")))
    }

    /// Changes the remote folder; `..` uses CDUP.
    pub async fn cwd(&mut self, path: &str) -> Result<Reply, ClientError> {
        if path == ".." {
            self.simple(&command_line(&Command::Cdup)).await
        } else {
            self.simple(&command_line(&Command::Cwd(bytes(path)))).await
        }
    }

    /// Creates a remote folder.
    pub async fn mkdir(&mut self, path: &str) -> Result<Reply, ClientError> {
        self.simple(&command_line(&Command::Mkd(bytes(path)))).await
    }

    /// Creates a remote folder and its missing parents; existing folders are fine.
    pub async fn mkdir_all(&mut self, path: &str) -> Result<(), ClientError> {
        let mut prefix = String::new();
        if path.starts_with('/') {
            prefix.push('/');
        }
        for name in path.split('/').filter(|name| !name.is_empty()) {
            prefix.push_str(name);
            if self.is_dir(&prefix).await? {
                prefix.push('/');
                continue;
            }
            let mkd = command_line(&Command::Mkd(bytes(&prefix)));
            let reply = self.command(&mkd).await?;
            if !reply.code.is_success() && !self.is_dir(&prefix).await? {
                return Err(ClientError::Server {
                    command: mkd,
                    reply,
                });
            }
            prefix.push('/');
        }
        Ok(())
    }

    /// True when `path` is a folder the server lets us enter (CWD there and back).
    pub async fn is_dir(&mut self, path: &str) -> Result<bool, ClientError> {
        let here = self.pwd().await?;
        let reply = self
            .command(&command_line(&Command::Cwd(bytes(path))))
            .await?;
        if !reply.code.is_success() {
            return Ok(false);
        }
        self.simple(&command_line(&Command::Cwd(here.into_bytes())))
            .await?;
        Ok(true)
    }

    /// Removes a remote folder.
    pub async fn rmdir(&mut self, path: &str) -> Result<Reply, ClientError> {
        self.simple(&command_line(&Command::Rmd(bytes(path)))).await
    }

    /// Deletes a remote file.
    pub async fn delete(&mut self, path: &str) -> Result<Reply, ClientError> {
        self.simple(&command_line(&Command::Dele(bytes(path))))
            .await
    }

    /// Renames (RNFR then RNTO).
    pub async fn rename(&mut self, from: &str, to: &str) -> Result<Reply, ClientError> {
        let rnfr = command_line(&Command::Rnfr(bytes(from)));
        let reply = self.command(&rnfr).await?;
        check(&rnfr, reply, |code| code == ReplyCode::FILE_ACTION_PENDING)?;
        self.simple(&command_line(&Command::Rnto(bytes(to)))).await
    }

    /// The size of a remote file (SIZE, RFC 3659 section 4).
    pub async fn size(&mut self, path: &str) -> Result<u64, ClientError> {
        let reply = self
            .simple(&command_line(&Command::Size(bytes(path))))
            .await?;
        reply
            .text()
            .trim()
            .parse()
            .map_err(|_| ClientError::Protocol(format!("cannot read the size in {reply}")))
    }

    /// The modification time of a remote file (MDTM, RFC 3659 section 3), Unix seconds.
    pub async fn modified(&mut self, path: &str) -> Result<i64, ClientError> {
        let reply = self
            .simple(&command_line(&Command::Mdtm(bytes(path))))
            .await?;
        time::parse_timeval(reply.text().trim())
            .ok_or_else(|| ClientError::Protocol(format!("cannot read the time in {reply}")))
    }

    /// Sets the modification time of a remote file (MFMT, draft-somers-ftp-mfxx), when FEAT
    /// offers it; `Ok(false)` when it does not.
    pub async fn set_modified(&mut self, path: &str, secs: i64) -> Result<bool, ClientError> {
        if !self.features.has("MFMT") {
            return Ok(false);
        }
        self.simple(&command_line(&Command::Mfmt(secs, bytes(path))))
            .await?;
        Ok(true)
    }

    /// Lists a folder (`None`: the current one): MLSD when offered, else LIST parsed.
    /// `.` and `..` are left out.
    pub async fn list(&mut self, path: Option<&str>) -> Result<Vec<Entry>, ClientError> {
        let mlsd = self.features.has("MLST");
        let path = path.map(bytes);
        let command = if mlsd {
            Command::Mlsd(path)
        } else {
            Command::List(path)
        };
        let bytes = self.read_listing(&command_line(&command)).await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut entries = Vec::new();
        for raw in bytes.split(|&b| b == b'\n') {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.is_empty() {
                continue;
            }
            let entry = if mlsd {
                parse_mlsx_line(raw).filter(|_| !is_mlsd_self_or_parent(raw))
            } else {
                parse_list_line(raw, now)
            };
            if let Some(mut entry) = entry {
                if let Some(slash) = entry.name.iter().rposition(|&b| b == b'/') {
                    entry.name.drain(..=slash);
                }
                if !entry.name.is_empty() && entry.name != b"." && entry.name != b".." {
                    entries.push(entry);
                }
            }
        }
        Ok(entries)
    }

    /// Names in a folder (NLST), for completion and globs.
    pub async fn names(&mut self, path: Option<&str>) -> Result<Vec<String>, ClientError> {
        let bytes = self
            .read_listing(&command_line(&Command::Nlst(path.map(bytes))))
            .await?;
        Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| line.trim_end_matches('\r'))
            .filter(|line| !line.is_empty())
            .map(|line| line.rsplit('/').next().unwrap_or(line).to_string())
            .collect())
    }

    async fn read_listing(&mut self, line: &str) -> Result<Vec<u8>, ClientError> {
        let mut data = self.open_data(line, 0).await?;
        let mut bytes = Vec::new();
        let mut chunk = vec![0; 64 * 1024];
        loop {
            let read = match self.read_data(&mut data, &mut chunk).await {
                Ok(read) => read,
                Err(error) => return Err(self.abandon_after(data, error).await),
            };
            if read == 0 {
                break;
            }
            bytes.extend_from_slice(&chunk[..read]);
        }
        self.finish_data(data).await?;
        Ok(bytes)
    }

    /// Ends the session politely (QUIT); errors are ignored, the connection is gone either way.
    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let _ = self.command(&command_line(&Command::Quit)).await;
            // TLS: our close_notify, so the server sees a clean end.
            let _ = self.control.shutdown().await;
        })
        .await;
    }
}

/// MLSD lists `cdir`/`pdir` entries for the folder itself and its parent; they are not content.
fn is_mlsd_self_or_parent(raw: &[u8]) -> bool {
    let facts = raw.split(|&b| b == b' ').next().unwrap_or(b"");
    let facts = String::from_utf8_lossy(facts).to_ascii_lowercase();
    facts.contains("type=cdir") || facts.contains("type=pdir")
}
