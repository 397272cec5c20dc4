//! One SFTP session: the `sftp` subsystem on an SSH session channel, INIT and VERSION, then
//! requests and their replies as [`ferry_proto::sftp::Packet`]s.
//!
//! A task reads the channel, splits it into packets with [`PacketDecoder`] and queues them, so
//! russh's connection task never waits on us and requests can be written while replies arrive.
//! The typed operations below send one request and wait for its reply; [`super::transfer`]
//! keeps many READs or WRITEs in flight with [`SftpSession::send`] and
//! [`SftpSession::receive`]. A STATUS other than OK becomes [`ClientError::Sftp`] (the session
//! is still usable); a broken or silent channel ends it. Every wait is bounded by the timeout.

use std::time::Duration;

use ferry_proto::sftp::{
    self, Attrs, ExtensionPair, LimitsReply, NameEntry, OpenFlags, Packet, PacketDecoder,
    StatusCode, extension,
};
use russh::ChannelMsg;
use russh::client::{Handle, Msg};
use russh::{ChannelReadHalf, ChannelWriteHalf, Disconnect};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::transfer::{CHUNK, MAX_CHUNK};
use super::transport::Checker;
use crate::ClientError;

/// A logged-in SFTP session.
pub struct SftpSession {
    handle: Handle<Checker>,
    writer: ChannelWriteHalf<Msg>,
    replies: mpsc::UnboundedReceiver<Result<Packet, ClientError>>,
    /// The task that reads the channel; aborted on drop.
    reader: JoinHandle<()>,
    next_id: u32,
    /// What the server announced in VERSION.
    extensions: Vec<ExtensionPair>,
    /// Bytes per READ and per WRITE (from the server's limits).
    chunks: (u32, u32),
    timeout: Duration,
    /// `--limit-rate`, in bytes a second.
    limit_rate: Option<u64>,
}

impl Drop for SftpSession {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl std::fmt::Debug for SftpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpSession")
            .field("next_id", &self.next_id)
            .finish()
    }
}

impl SftpSession {
    /// Opens a session channel, starts the `sftp` subsystem and agrees on version 3.
    pub(super) async fn start(
        handle: Handle<Checker>,
        timeout: Duration,
    ) -> Result<SftpSession, ClientError> {
        let ssh = |what: &str, error: russh::Error| ClientError::Ssh(format!("{what}: {error}"));
        let bounded = |what: &'static str| ClientError::Timeout(what.to_string());
        let mut channel = tokio::time::timeout(timeout, handle.channel_open_session())
            .await
            .map_err(|_| bounded("opening an SSH channel"))?
            .map_err(|e| ssh("cannot open an SSH channel", e))?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| ssh("cannot start SFTP", e))?;
        loop {
            match tokio::time::timeout(timeout, channel.wait()).await {
                Err(_) => return Err(bounded("starting SFTP")),
                Ok(Some(ChannelMsg::Success)) => break,
                Ok(Some(ChannelMsg::Failure)) => {
                    return Err(ClientError::Ssh(
                        "the server refused the sftp subsystem".into(),
                    ));
                }
                Ok(None | Some(ChannelMsg::Close | ChannelMsg::Eof)) => {
                    return Err(ClientError::Closed);
                }
                Ok(Some(_)) => {}
            }
        }
        let (read, writer) = channel.split();
        let (queue, replies) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_packets(read, queue));
        let mut session = SftpSession {
            handle,
            writer,
            replies,
            reader,
            next_id: 0,
            extensions: Vec::new(),
            chunks: (CHUNK, CHUNK),
            timeout,
            limit_rate: None,
        };
        session
            .send(&Packet::Init {
                version: sftp::VERSION,
                extensions: Vec::new(),
            })
            .await?;
        match session.receive().await? {
            Packet::Version {
                version,
                extensions,
            } if version >= sftp::VERSION => session.extensions = extensions,
            Packet::Version { version, .. } => {
                return Err(ClientError::Protocol(format!(
                    "the server speaks SFTP version {version}, not 3"
                )));
            }
            other => return Err(unexpected("INIT", &other)),
        }
        if session.has_extension(extension::LIMITS, b"1") {
            session.chunks = session.ask_limits().await?;
        }
        Ok(session)
    }

    /// READ and WRITE lengths within the server's `limits@openssh.com` (0 means none), up to
    /// [`MAX_CHUNK`] as OpenSSH's client does.
    async fn ask_limits(&mut self) -> Result<(u32, u32), ClientError> {
        let reply = self.call(|id| Packet::Limits { id }).await?;
        let Packet::ExtendedReply { data, .. } = reply else {
            return Err(unexpected("limits@openssh.com", &reply));
        };
        let limits = LimitsReply::decode(&data).map_err(|error| {
            ClientError::Protocol(format!("the server's limits@openssh.com reply: {error}"))
        })?;
        Ok(chunk_lengths(&limits))
    }

    /// Bytes to ask for in one READ, and to send in one WRITE.
    pub(super) fn chunks(&self) -> (u32, u32) {
        self.chunks
    }

    /// Limits each transfer to `rate` bytes a second (`None`: no limit).
    pub fn set_limit_rate(&mut self, rate: Option<u64>) {
        self.limit_rate = rate;
    }

    /// The `--limit-rate` transfers keep to.
    pub fn limit_rate(&self) -> Option<u64> {
        self.limit_rate
    }

    /// True when the server announced `name` at `version` (OpenSSH's rule for using one).
    pub fn has_extension(&self, name: &[u8], version: &[u8]) -> bool {
        self.extensions
            .iter()
            .any(|pair| pair.name == name && pair.data == version)
    }

    /// A fresh request id.
    pub(super) fn id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    /// Writes one packet to the channel.
    pub(super) async fn send(&mut self, packet: &Packet) -> Result<(), ClientError> {
        let bytes = packet.to_bytes();
        match tokio::time::timeout(self.timeout, self.writer.data_bytes(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(ClientError::Ssh(format!("SFTP channel: {error}"))),
            Err(_) => Err(ClientError::Timeout("sending to the SFTP server".into())),
        }
    }

    /// The next packet from the server.
    pub(super) async fn receive(&mut self) -> Result<Packet, ClientError> {
        match tokio::time::timeout(self.timeout, self.replies.recv()).await {
            Ok(Some(result)) => result,
            Ok(None) => Err(ClientError::Closed),
            Err(_) => Err(ClientError::Timeout("waiting for the SFTP server".into())),
        }
    }

    /// The server's digest of `path` through the `check-file-name` extension, when the server
    /// announced it (ProFTPD's mod_sftp does; OpenSSH does not): `None` otherwise, or when it
    /// answers OP_UNSUPPORTED.
    pub async fn check_file(
        &mut self,
        path: &str,
    ) -> Result<Option<crate::verify::Digest>, ClientError> {
        let announced = self
            .extensions
            .iter()
            .any(|pair| pair.name == b"check-file-name" || pair.name == b"check-file");
        if !announced {
            return Ok(None);
        }
        let data = crate::verify::check_file_request(path);
        let reply = self
            .call(|id| Packet::Extended {
                id,
                name: b"check-file-name".to_vec(),
                data,
            })
            .await?;
        match reply {
            Packet::ExtendedReply { data, .. } => crate::verify::parse_check_file_reply(&data)
                .map(Some)
                .ok_or_else(|| {
                    ClientError::Protocol("a check-file reply that does not parse".into())
                }),
            Packet::Status { code, .. } if code == StatusCode::OP_UNSUPPORTED => Ok(None),
            other => Err(unexpected("check-file-name", &other)),
        }
    }

    /// Sends `packet` (made with a fresh id) and returns the reply to it.
    async fn call(&mut self, packet: impl FnOnce(u32) -> Packet) -> Result<Packet, ClientError> {
        let id = self.id();
        let packet = packet(id);
        self.send(&packet).await?;
        let reply = self.receive().await?;
        if reply.id() != Some(id) {
            return Err(ClientError::Protocol(format!(
                "the SFTP server answered request {id} with a reply to {:?}",
                reply.id()
            )));
        }
        Ok(reply)
    }

    /// A request answered by STATUS alone.
    async fn call_status(
        &mut self,
        command: &str,
        packet: impl FnOnce(u32) -> Packet,
    ) -> Result<(), ClientError> {
        let reply = self.call(packet).await?;
        status(command, reply)
    }

    /// REALPATH: `path` made absolute and canonical by the server (`""` or `"."`: the login
    /// folder).
    pub async fn realpath(&mut self, path: &str) -> Result<String, ClientError> {
        let path = if path.is_empty() { "." } else { path };
        let command = format!("REALPATH {path}");
        match self
            .call(|id| Packet::Realpath {
                id,
                path: path.into(),
            })
            .await?
        {
            Packet::Name { entries, .. } => match entries.into_iter().next() {
                Some(entry) => Ok(String::from_utf8_lossy(&entry.filename).into_owned()),
                None => Err(ClientError::Protocol(format!(
                    "{command}: no name in the reply"
                ))),
            },
            other => Err(refusal(&command, other)),
        }
    }

    /// STAT: the attributes of `path`, following symbolic links.
    pub async fn stat(&mut self, path: &str) -> Result<Attrs, ClientError> {
        let reply = self
            .call(|id| Packet::Stat {
                id,
                path: path.into(),
            })
            .await?;
        attrs(&format!("STAT {path}"), reply)
    }

    /// LSTAT: the attributes of `path` itself, not of a link's target.
    pub async fn lstat(&mut self, path: &str) -> Result<Attrs, ClientError> {
        let reply = self
            .call(|id| Packet::Lstat {
                id,
                path: path.into(),
            })
            .await?;
        attrs(&format!("LSTAT {path}"), reply)
    }

    /// FSTAT: the attributes of an open file.
    pub async fn fstat(&mut self, handle: &[u8]) -> Result<Attrs, ClientError> {
        let reply = self
            .call(|id| Packet::Fstat {
                id,
                handle: handle.to_vec(),
            })
            .await?;
        attrs("FSTAT", reply)
    }

    /// OPENDIR, READDIR until EOF, CLOSE: every entry of the folder `path`, `.` and `..` left
    /// out.
    pub async fn list(&mut self, path: &str) -> Result<Vec<NameEntry>, ClientError> {
        let folder = if path.is_empty() { "." } else { path };
        let command = format!("OPENDIR {folder}");
        let handle = match self
            .call(|id| Packet::Opendir {
                id,
                path: folder.into(),
            })
            .await?
        {
            Packet::Handle { handle, .. } => handle,
            other => return Err(refusal(&command, other)),
        };
        let mut names = Vec::new();
        let listed = loop {
            let reply = self
                .call(|id| Packet::Readdir {
                    id,
                    handle: handle.clone(),
                })
                .await?;
            match reply {
                Packet::Name { entries, .. } => names.extend(
                    entries
                        .into_iter()
                        .filter(|entry| entry.filename != b"." && entry.filename != b".."),
                ),
                Packet::Status {
                    code: StatusCode::EOF,
                    ..
                } => break Ok(()),
                other => break Err(refusal(&format!("READDIR {folder}"), other)),
            }
        };
        let closed = self.close(&handle).await;
        listed.and(closed).map(|()| names)
    }

    /// OPEN: a handle to the file `path`.
    pub async fn open(
        &mut self,
        path: &str,
        flags: OpenFlags,
        attrs: Attrs,
    ) -> Result<Vec<u8>, ClientError> {
        let reply = self
            .call(|id| Packet::Open {
                id,
                filename: path.into(),
                flags,
                attrs,
            })
            .await?;
        match reply {
            Packet::Handle { handle, .. } => Ok(handle),
            other => Err(refusal(&format!("OPEN {path}"), other)),
        }
    }

    /// CLOSE of a file or folder handle.
    pub async fn close(&mut self, handle: &[u8]) -> Result<(), ClientError> {
        self.call_status("CLOSE", |id| Packet::Close {
            id,
            handle: handle.to_vec(),
        })
        .await
    }

    /// REMOVE: deletes the file `path`.
    pub async fn remove(&mut self, path: &str) -> Result<(), ClientError> {
        self.call_status(&format!("REMOVE {path}"), |id| Packet::Remove {
            id,
            filename: path.into(),
        })
        .await
    }

    /// MKDIR: creates the folder `path` (permissions left to the server).
    pub async fn mkdir(&mut self, path: &str) -> Result<(), ClientError> {
        self.call_status(&format!("MKDIR {path}"), |id| Packet::Mkdir {
            id,
            path: path.into(),
            attrs: Attrs::default(),
        })
        .await
    }

    /// RMDIR: deletes the empty folder `path`.
    pub async fn rmdir(&mut self, path: &str) -> Result<(), ClientError> {
        self.call_status(&format!("RMDIR {path}"), |id| Packet::Rmdir {
            id,
            path: path.into(),
        })
        .await
    }

    /// Renames `from` to `to`, replacing `to` with `posix-rename@openssh.com` when the server
    /// offers it (plain RENAME fails when `to` exists).
    pub async fn rename(&mut self, from: &str, to: &str) -> Result<(), ClientError> {
        let command = format!("RENAME {from} {to}");
        let (old_path, new_path) = (from.as_bytes().to_vec(), to.as_bytes().to_vec());
        if self.has_extension(sftp::extension::POSIX_RENAME, b"1") {
            self.call_status(&command, |id| Packet::PosixRename {
                id,
                old_path,
                new_path,
            })
            .await
        } else {
            self.call_status(&command, |id| Packet::Rename {
                id,
                old_path,
                new_path,
            })
            .await
        }
    }

    /// SETSTAT of the times: both access and modification time to `secs` (Unix seconds; SFTP
    /// version 3 has 32 bits for them, so times outside 1970-2106 are clamped).
    pub async fn set_modified(&mut self, path: &str, secs: i64) -> Result<(), ClientError> {
        let secs = u32::try_from(secs.max(0)).unwrap_or(u32::MAX);
        self.call_status(&format!("SETSTAT {path}"), |id| Packet::Setstat {
            id,
            path: path.into(),
            attrs: Attrs {
                times: Some((secs, secs)),
                ..Attrs::default()
            },
        })
        .await
    }

    /// Ends the session: EOF on the channel, then SSH disconnect. Errors are ignored: the
    /// work is done.
    pub async fn quit(self) {
        let wait = self.timeout.min(Duration::from_secs(2));
        let _ = tokio::time::timeout(wait, self.writer.eof()).await;
        let _ = tokio::time::timeout(
            wait,
            self.handle.disconnect(Disconnect::ByApplication, "", "en"),
        )
        .await;
    }
}

/// Reads the channel into packets for [`SftpSession::receive`] until it ends or the session
/// is dropped.
async fn read_packets(
    mut read: ChannelReadHalf,
    queue: mpsc::UnboundedSender<Result<Packet, ClientError>>,
) {
    let mut decoder = PacketDecoder::default();
    loop {
        loop {
            match decoder.next_packet() {
                Ok(Some(packet)) => {
                    if queue.send(Ok(packet)).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    let fatal = error.is_fatal();
                    let error = ClientError::Protocol(format!("from the SFTP server: {error}"));
                    if queue.send(Err(error)).is_err() || fatal {
                        return;
                    }
                }
            }
        }
        match read.wait().await {
            Some(ChannelMsg::Data { data }) => decoder.extend(&data),
            Some(ChannelMsg::Eof | ChannelMsg::Close) | None => {
                let _ = queue.send(Err(ClientError::Closed));
                return;
            }
            Some(_) => {}
        }
    }
}

/// OK, or the STATUS as an error.
pub(super) fn status(command: &str, reply: Packet) -> Result<(), ClientError> {
    match reply {
        Packet::Status {
            code: StatusCode::OK,
            ..
        } => Ok(()),
        other => Err(refusal(command, other)),
    }
}

fn attrs(command: &str, reply: Packet) -> Result<Attrs, ClientError> {
    match reply {
        Packet::Attrs { attrs, .. } => Ok(attrs),
        other => Err(refusal(command, other)),
    }
}

/// A STATUS as [`ClientError::Sftp`] (the server's message, else the code's text); any other
/// packet is a protocol error.
pub(super) fn refusal(command: &str, reply: Packet) -> ClientError {
    match reply {
        Packet::Status { code, message, .. } => {
            let message = String::from_utf8_lossy(&message);
            let message = message.trim();
            let text = if message.is_empty() {
                code.message().to_string()
            } else {
                // One line, whatever the server sent.
                message.split_whitespace().collect::<Vec<_>>().join(" ")
            };
            ClientError::Sftp {
                command: command.to_string(),
                code,
                text,
            }
        }
        other => unexpected(command, &other),
    }
}

fn unexpected(command: &str, reply: &Packet) -> ClientError {
    ClientError::Protocol(format!(
        "{command}: the SFTP server answered with packet type {}",
        reply.packet_type()
    ))
}

/// READ and WRITE lengths within `limits` (0 means no limit), at most [`MAX_CHUNK`].
fn chunk_lengths(limits: &LimitsReply) -> (u32, u32) {
    // Room for a WRITE's header (type, id, handle, offset, length) within the longest packet.
    let packet_room = match limits.max_packet_length {
        0 => u64::from(MAX_CHUNK),
        most => most.saturating_sub(1024),
    };
    let length = |most: u64| {
        let most = if most == 0 {
            u64::from(MAX_CHUNK)
        } else {
            most
        };
        let most = most.min(packet_room).min(u64::from(MAX_CHUNK));
        u32::try_from(most).unwrap_or(MAX_CHUNK).max(1)
    };
    (
        length(limits.max_read_length),
        length(limits.max_write_length),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(packet: u64, read: u64, write: u64) -> LimitsReply {
        LimitsReply {
            max_packet_length: packet,
            max_read_length: read,
            max_write_length: write,
            max_open_handles: 0,
        }
    }

    #[test]
    fn chunks_follow_the_servers_limits() {
        // OpenSSH's sftp-server and ferryd: 256 KiB packets, 255 KiB reads and writes.
        assert_eq!(
            chunk_lengths(&limits(262_144, 261_120, 261_120)),
            (261_120, 261_120)
        );
        // Smaller limits are kept; none at all means our largest.
        assert_eq!(chunk_lengths(&limits(0, 32_768, 0)), (32_768, MAX_CHUNK));
        // A server that takes huge packets still gets at most MAX_CHUNK.
        assert_eq!(
            chunk_lengths(&limits(1 << 30, 1 << 30, 1 << 30)),
            (MAX_CHUNK, MAX_CHUNK)
        );
        // The packet limit bounds the data with room for the header; a tiny limit is kept.
        assert_eq!(chunk_lengths(&limits(34_000, 0, 0)), (32_976, 32_976));
        assert_eq!(chunk_lengths(&limits(0, 1, 1)), (1, 1));
    }
}
