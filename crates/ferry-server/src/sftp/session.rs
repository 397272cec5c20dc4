//! One SFTP session (version 3, as OpenSSH speaks it) over an SSH channel, for a logged-in
//! user: every request goes through the file service, so the jail, rights, quotas, rates and
//! atomic uploads are FTP's.
//!
//! Requests are answered without head-of-line blocking: requests on paths run as tasks of their
//! own, and each open handle has one task that takes its requests in order (a file's reads and
//! writes must stay in order; different files go on at once). One writer task sends the replies.
//!
//! Uploads: a file opened for writing is an upload that commits when the client closes the
//! handle; a connection lost first leaves the old file whole (and, on a folder, the partial for
//! a resume). Writes must come in order (OpenSSH's do); `APPEND` appends whatever the offsets.
//! A file opened without `TRUNC` that exists (or has a kept partial) is opened at the first
//! write: at offset 0 it is replaced, at offset n the first n bytes are kept (`reput`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use ferry_proto::VirtualPath;
use ferry_proto::digest::Algorithm;
use ferry_proto::sftp::extension::{
    ANNOUNCED_CHECK_FILE, CHECK_FILE, CHECK_FILE_HANDLE, CHECK_FILE_NAME, CheckFile,
};
use ferry_proto::sftp::{
    self, Attrs, ExtensionPair, LimitsReply, NameEntry, Packet, PacketDecoder, StatusCode,
};
use ferry_storage::ErrorKind;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::handle::{self, HandleState};
use crate::service::{FileError, FileService, Span};

/// Handles open at once per session.
pub(super) const MAX_HANDLES: usize = 256;
/// Most bytes one READ returns (OpenSSH's limit too).
pub(super) const MAX_READ: u32 = 255 * 1024;
/// Requests on paths running at once per session; more wait for a place.
const PATH_TASKS: usize = 64;
/// Reply bytes gathered before a write to the channel.
const REPLY_BATCH: usize = 256 * 1024;
/// DATA read from files and not yet handed to the SSH connection, per session, in KiB: a client
/// that asks for many reads and stops taking the answers holds up the reads, not our memory.
const DATA_IN_FLIGHT_KIB: usize = 8 * 1024;
/// An encoded reply at least this long goes to the channel as it is, without a copy into a
/// batch (READ's DATA).
const SENT_ALONE: usize = 16 * 1024;

/// One reply for the writer task.
#[derive(Debug)]
pub(super) enum Reply {
    /// A packet to encode.
    Packet(Packet),
    /// A packet already framed (a DATA packet read in place), holding its share of the
    /// session's DATA budget until it is sent.
    Encoded(Vec<u8>, OwnedSemaphorePermit),
}

impl From<Packet> for Reply {
    fn from(packet: Packet) -> Self {
        Reply::Packet(packet)
    }
}

/// Where replies go.
pub(super) type Replies = mpsc::Sender<Reply>;

/// The handle table: each handle's queue of requests.
type Handles = Arc<Mutex<HashMap<Vec<u8>, mpsc::Sender<Packet>>>>;

/// What every request of a session shares.
#[derive(Clone)]
pub(super) struct Context {
    pub(super) files: Arc<FileService>,
    pub(super) peer: SocketAddr,
    pub(super) replies: Replies,
    /// DATA in flight, in KiB (see [`DATA_IN_FLIGHT_KIB`]).
    pub(super) data_budget: Arc<Semaphore>,
    handles: Handles,
    next_handle: Arc<std::sync::atomic::AtomicU64>,
    /// One check-file digest at a time per session; the others wait.
    digesting: Arc<Semaphore>,
    /// Fired when the session ends: a digest still running stops.
    ended: CancellationToken,
}

/// Where the session's replies go: a session channel of an SSH connection, through the connection's handle: each send is one
/// message to russh, which cuts it into channel packets as the client's window allows and
/// takes no more messages while it holds some back (so a client that stops reading stops us).
pub(crate) struct ChannelOutlet {
    pub(crate) handle: russh::server::Handle,
    pub(crate) channel: russh::ChannelId,
}

impl ChannelOutlet {
    /// Sends `bytes` (whole SFTP packets) after what was sent before; an error once the
    /// connection is gone. Owned bytes: no copy on the way to the encryption.
    async fn send(&self, bytes: Vec<u8>) -> Result<(), ()> {
        self.handle.data(self.channel, bytes).await.map_err(drop)
    }
}

/// Serves SFTP read from `reader` for `files`' user until the client closes it, replies going
/// to `outlet`. Returns once every reply was handed over, so that the caller can say how the
/// session ended (SSH's exit-status) before the end of the channel.
pub(crate) async fn serve<R>(
    mut reader: R,
    outlet: ChannelOutlet,
    files: Arc<FileService>,
    peer: SocketAddr,
) where
    R: AsyncRead + Unpin,
{
    let (replies, mut outgoing) = mpsc::channel::<Reply>(256);
    let writing = tokio::spawn(async move {
        // Small replies are gathered into one write; a big DATA packet goes as it is.
        let mut batch = Vec::new();
        'writing: while let Some(first) = outgoing.recv().await {
            let mut next = Some(first);
            while let Some(reply) = next.take() {
                match reply {
                    Reply::Packet(packet) => packet.encode(&mut batch),
                    Reply::Encoded(bytes, _budget) if bytes.len() < SENT_ALONE => {
                        batch.extend_from_slice(&bytes);
                    }
                    Reply::Encoded(bytes, _budget) => {
                        if !batch.is_empty() && outlet.send(take_batch(&mut batch)).await.is_err() {
                            break 'writing;
                        }
                        if outlet.send(bytes).await.is_err() {
                            break 'writing;
                        }
                    }
                }
                if batch.len() < REPLY_BATCH {
                    next = outgoing.try_recv().ok();
                }
            }
            if !batch.is_empty() && outlet.send(take_batch(&mut batch)).await.is_err() {
                break;
            }
        }
    });
    let context = Context {
        files,
        peer,
        replies,
        handles: Arc::default(),
        next_handle: Arc::default(),
        data_budget: Arc::new(Semaphore::new(DATA_IN_FLIGHT_KIB)),
        digesting: Arc::new(Semaphore::new(1)),
        ended: CancellationToken::new(),
    };
    // Also when this future is dropped rather than run to its end.
    let _end_digests = context.ended.clone().drop_guard();
    let places = Arc::new(Semaphore::new(PATH_TASKS));
    let mut decoder = PacketDecoder::default();
    // Filled as bytes arrive, never zeroed: an idle session keeps only what it was sent.
    let mut buffer = Vec::with_capacity(64 * 1024);
    let mut started = false;
    'session: loop {
        buffer.clear();
        match reader.read_buf(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        decoder.extend(&buffer);
        loop {
            let packet = match decoder.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) => break,
                Err(error) => match error.status_reply() {
                    Some(reply) => {
                        let _ = context.replies.send(reply.into()).await;
                        continue;
                    }
                    None => {
                        tracing::warn!(peer = %peer, user = context.files.name(), protocol = "sftp", %error, "bad SFTP packet; closing");
                        break 'session;
                    }
                },
            };
            if !started {
                // INIT first (OpenSSH closes otherwise); the version we speak is 3.
                let Packet::Init { .. } = packet else {
                    tracing::warn!(peer = %peer, protocol = "sftp", "SFTP session without INIT; closing");
                    break 'session;
                };
                started = true;
                let mut extensions = sftp::extension::announced();
                extensions.extend(
                    ANNOUNCED_CHECK_FILE
                        .iter()
                        .map(|(name, value)| ExtensionPair::new(*name, *value)),
                );
                let version = Packet::Version {
                    version: sftp::VERSION,
                    extensions,
                };
                if context.replies.send(version.into()).await.is_err() {
                    break 'session;
                }
                continue;
            }
            if dispatch(&context, &places, packet).await.is_err() {
                break 'session;
            }
        }
    }
    // A digest still running stops now: its task holds a sender of the replies, which the
    // writer waits for below.
    context.ended.cancel();
    // The handles' queues close: each handle task ends, and an upload never closed is dropped
    // uncommitted.
    context
        .handles
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clear();
    drop(context);
    let _ = writing.await;
}

/// Routes one request: to its handle's task, or to a task of its own.
async fn dispatch(context: &Context, places: &Arc<Semaphore>, packet: Packet) -> Result<(), ()> {
    if let Some(handle) = handle_of(&packet) {
        let is_close = matches!(packet, Packet::Close { .. });
        let queue = {
            let mut handles = context
                .handles
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if is_close {
                handles.remove(handle)
            } else {
                handles.get(handle).cloned()
            }
        };
        let id = packet.id().unwrap_or(0);
        return match queue {
            Some(queue) => queue.send(packet).await.map_err(drop),
            None => send_status(&context.replies, id, StatusCode::FAILURE, "Invalid handle.")
                .await
                .map_err(drop),
        };
    }
    let place = Arc::clone(places).acquire_owned().await.map_err(drop)?;
    let context = context.clone();
    tokio::spawn(async move {
        let id = packet.id().unwrap_or(0);
        let reply = match path_request(&context, packet).await {
            Ok(reply) => reply,
            Err(failure) => failure.reply(id),
        };
        let _ = context.replies.send(reply.into()).await;
        drop(place);
    });
    Ok(())
}

/// The handle a request names, for the requests that go to a handle's task.
fn handle_of(packet: &Packet) -> Option<&[u8]> {
    match packet {
        Packet::Close { handle, .. }
        | Packet::Read { handle, .. }
        | Packet::Write { handle, .. }
        | Packet::Fstat { handle, .. }
        | Packet::Fsetstat { handle, .. }
        | Packet::Readdir { handle, .. }
        | Packet::Fsync { handle, .. } => Some(handle),
        // paramiko's `SFTPFile.check` sends `check-file` with a handle.
        Packet::Extended { name, data, .. } if name == CHECK_FILE_HANDLE || name == CHECK_FILE => {
            sftp::extension::check_file_handle(data)
        }
        _ => None,
    }
}

/// A request that failed: the STATUS it gets.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) code: StatusCode,
    pub(super) message: String,
}

impl Failure {
    pub(super) fn new(code: StatusCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub(super) fn reply(&self, id: u32) -> Packet {
        status(id, self.code, &self.message)
    }
}

impl From<FileError> for Failure {
    fn from(error: FileError) -> Failure {
        match &error {
            FileError::Denied { .. } => Failure::new(
                StatusCode::PERMISSION_DENIED,
                format!("Permission denied: {error}."),
            ),
            FileError::Quota(limit) => {
                Failure::new(StatusCode::FAILURE, format!("Quota exceeded: {limit}."))
            }
            FileError::Path(_) => Failure::new(StatusCode::FAILURE, "Path not allowed."),
            FileError::Storage(storage) => storage_failure(storage.kind()),
        }
    }
}

/// The STATUS for a storage error kind (its message never holds a host path).
pub(super) fn storage_failure(kind: ErrorKind) -> Failure {
    let (code, text) = match kind {
        ErrorKind::NotFound => (StatusCode::NO_SUCH_FILE, "No such file or folder."),
        ErrorKind::PermissionDenied => (StatusCode::PERMISSION_DENIED, "Permission denied."),
        ErrorKind::AlreadyExists => (StatusCode::FAILURE, "Already exists."),
        ErrorKind::WrongKind => (StatusCode::FAILURE, "Not a plain file or not a folder."),
        ErrorKind::NotEmpty => (StatusCode::FAILURE, "Folder not empty."),
        ErrorKind::NoSpace => (StatusCode::FAILURE, "Insufficient storage space."),
        ErrorKind::QuotaExceeded => (StatusCode::FAILURE, "Storage allocation exceeded."),
        ErrorKind::BadName => (StatusCode::FAILURE, "File name not allowed."),
        ErrorKind::Busy => (
            StatusCode::FAILURE,
            "File busy: another upload to it is running.",
        ),
        ErrorKind::Unsupported => (StatusCode::OP_UNSUPPORTED, "Not supported here."),
        ErrorKind::Other => (StatusCode::FAILURE, "Local error in processing."),
    };
    Failure::new(code, text)
}

/// A STATUS reply.
pub(super) fn status(id: u32, code: StatusCode, message: &str) -> Packet {
    Packet::Status {
        id,
        code,
        message: message.as_bytes().to_vec(),
        language: Vec::new(),
    }
}

async fn send_status(
    replies: &Replies,
    id: u32,
    code: StatusCode,
    message: &str,
) -> Result<(), mpsc::error::SendError<Reply>> {
    replies.send(status(id, code, message).into()).await
}

/// The gathered replies, leaving `batch` empty.
fn take_batch(batch: &mut Vec<u8>) -> Vec<u8> {
    std::mem::take(batch)
}

/// A client path in the user's view: SFTP paths are absolute, or relative to the home (`/`).
pub(super) fn view(path: &[u8]) -> Result<VirtualPath, Failure> {
    VirtualPath::root()
        .resolve(path)
        .map_err(|_| Failure::new(StatusCode::FAILURE, "Path not allowed."))
}

/// Answers a request that names paths, not a handle.
async fn path_request(context: &Context, packet: Packet) -> Result<Packet, Failure> {
    let files = &context.files;
    let ok = |id| Ok(status(id, StatusCode::OK, "Success"));
    match packet {
        Packet::Open {
            id,
            filename,
            flags,
            attrs: _,
        } => {
            let view = view(&filename)?;
            let state = handle::open_file(context, view, flags).await?;
            register(context, id, state)
        }
        Packet::Opendir { id, path } => {
            let view = view(&path)?;
            let entries = files.list(&view).await?;
            register(context, id, HandleState::listing(view, entries))
        }
        Packet::Stat { id, path } | Packet::Lstat { id, path } => {
            let view = view(&path)?;
            Ok(Packet::Attrs {
                id,
                attrs: handle::attrs_of(files, &view).await?,
            })
        }
        Packet::Setstat { id, path, attrs } => {
            let view = view(&path)?;
            set_attrs(files, &view, &attrs).await?;
            ok(id)
        }
        Packet::Remove { id, filename } => {
            files.remove_file(&view(&filename)?).await?;
            ok(id)
        }
        Packet::Mkdir { id, path, .. } => {
            files.create_dir(&view(&path)?).await?;
            ok(id)
        }
        Packet::Rmdir { id, path } => {
            files.remove_dir(&view(&path)?).await?;
            ok(id)
        }
        Packet::Rename {
            id,
            old_path,
            new_path,
        } => {
            let (from, to) = (view(&old_path)?, view(&new_path)?);
            // Version 3's RENAME never replaces (posix-rename does).
            if files.stat(&to).await.is_ok() {
                return Err(Failure::new(StatusCode::FAILURE, "The target exists."));
            }
            files.rename(&from, &to).await?;
            ok(id)
        }
        Packet::PosixRename {
            id,
            old_path,
            new_path,
        } => {
            files.rename(&view(&old_path)?, &view(&new_path)?).await?;
            ok(id)
        }
        Packet::Realpath { id, path } | Packet::ExpandPath { id, path } => {
            // `~` and `~/x` are the home, which is `/` in the user's view.
            let path = match path.strip_prefix(b"~") {
                Some(rest) if rest.is_empty() || rest.starts_with(b"/") => rest.to_vec(),
                _ => path,
            };
            let name = view(&path)?.to_string().into_bytes();
            Ok(Packet::Name {
                id,
                entries: vec![NameEntry {
                    filename: name.clone(),
                    longname: name,
                    attrs: Attrs::default(),
                }],
            })
        }
        Packet::Limits { id } => Ok(LimitsReply {
            max_packet_length: u64::from(sftp::MAX_PACKET_LEN),
            max_read_length: u64::from(MAX_READ),
            max_write_length: u64::from(MAX_READ),
            max_open_handles: MAX_HANDLES as u64,
        }
        .to_packet(id)),
        Packet::Extended { id, name, data } if name == CHECK_FILE_NAME => {
            let request = decode_check_file(&data)?;
            let view = view(&request.target)?;
            check_file(context, &view, id, &request).await
        }
        Packet::Readlink { .. } | Packet::Symlink { .. } => Err(Failure::new(
            StatusCode::OP_UNSUPPORTED,
            "Links are not supported.",
        )),
        // Extensions not announced, and packets a client does not send.
        _ => Err(Failure::new(
            StatusCode::OP_UNSUPPORTED,
            "Operation not supported.",
        )),
    }
}

/// Reads a check-file request's fields.
pub(super) fn decode_check_file(data: &[u8]) -> Result<CheckFile, Failure> {
    CheckFile::decode(data)
        .map_err(|_| Failure::new(StatusCode::BAD_MESSAGE, "Malformed check-file request."))
}

/// check-file-name and check-file-handle (draft-ietf-secsh-filexfer-extensions-00 section 3):
/// the digest of `view` in the first algorithm of the client's list that we have, over the
/// requested range (length 0: to the end), in one block or in blocks of at least 256 bytes.
/// One per session at a time; the same rights, busy rule and server-wide limit as FTP's HASH.
pub(super) async fn check_file(
    context: &Context,
    view: &VirtualPath,
    id: u32,
    request: &CheckFile,
) -> Result<Packet, Failure> {
    let algorithm = String::from_utf8_lossy(&request.algorithms)
        .split(',')
        .find_map(|name| Algorithm::parse_sftp(name.trim()))
        .ok_or_else(|| {
            Failure::new(
                StatusCode::OP_UNSUPPORTED,
                "No algorithm of that list is offered (sha256, sha512, sha1, md5).",
            )
        })?;
    if request.block_size != 0 && request.block_size < 256 {
        return Err(Failure::new(
            StatusCode::FAILURE,
            "A block size must be 0 or at least 256.",
        ));
    }
    let span = Span {
        start: request.start,
        length: (request.length != 0).then_some(request.length),
        block: u64::from(request.block_size),
    };
    let _turn = Arc::clone(&context.digesting)
        .acquire_owned()
        .await
        .map_err(|_| Failure::new(StatusCode::FAILURE, "Session ending."))?;
    let digest = context
        .files
        .digest(view, algorithm, span, &context.ended)
        .await
        .map_err(|error| match error.storage_kind() {
            Some(ErrorKind::Unsupported) => Failure::new(
                StatusCode::FAILURE,
                "The range goes past the end of the file, or has too many blocks.",
            ),
            _ => Failure::from(error),
        })?
        .ok_or_else(|| Failure::new(StatusCode::FAILURE, "Session ending."))?;
    let name = algorithm.sftp_name().unwrap_or_default();
    Ok(CheckFile::reply(id, name, &digest.bytes))
}

/// SETSTAT: a modification time is set; permissions and owners are not kept by this server
/// and are accepted without change (as for a file system without them); a size other than the
/// file's own is refused.
pub(super) async fn set_attrs(
    files: &FileService,
    view: &VirtualPath,
    attrs: &Attrs,
) -> Result<(), Failure> {
    if let Some(size) = attrs.size
        && files.stat(view).await.map(|entry| entry.size).ok() != Some(size)
    {
        return Err(Failure::new(
            StatusCode::OP_UNSUPPORTED,
            "Changing a file's size is not supported.",
        ));
    }
    if let Some((_, modified)) = attrs.times {
        files.set_modified(view, i64::from(modified)).await?;
    }
    Ok(())
}

/// Puts `state` in the handle table under a new handle and starts its task; the HANDLE reply.
fn register(context: &Context, id: u32, state: HandleState) -> Result<Packet, Failure> {
    let number = context
        .next_handle
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let handle = number.to_string().into_bytes();
    let (queue, requests) = mpsc::channel(64);
    {
        let mut handles = context
            .handles
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if handles.len() >= MAX_HANDLES {
            return Err(Failure::new(
                StatusCode::FAILURE,
                format!("Too many open handles (at most {MAX_HANDLES})."),
            ));
        }
        handles.insert(handle.clone(), queue);
    }
    tokio::spawn(handle::run(context.clone(), state, requests));
    Ok(Packet::Handle { id, handle })
}
