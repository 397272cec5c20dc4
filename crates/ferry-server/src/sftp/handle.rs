//! Open handles: a file being read, a file being written (an upload that commits at CLOSE), or
//! a folder being listed. Each handle has a task that takes its requests in order.

use std::sync::Arc;
use std::time::Instant;

use ferry_proto::VirtualPath;
use ferry_proto::listing::EntryKind;
use ferry_proto::sftp::{self, Attrs, DataPacket, NameEntry, OpenFlags, Packet, StatusCode};
use ferry_storage::{Download, ErrorKind, ListStream, Upload, WriteMode};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::session::{self, Context, Failure, MAX_READ, Reply, status, storage_failure};
use crate::service::{Direction, FileError, FileService, Meter, Transferred};

/// Names one READDIR reply carries at most (OpenSSH's sftp-server sends 100).
const NAMES_PER_REPLY: usize = 100;

/// What a handle has open.
pub(super) enum HandleState {
    Reading(Reading),
    Writing(Writing),
    Listing(Listing),
}

pub(super) struct Reading {
    view: VirtualPath,
    download: Download,
    meter: Meter,
    /// Where the next byte of `download` comes from.
    position: u64,
    sent: u64,
    started: Instant,
}

pub(super) struct Writing {
    view: VirtualPath,
    /// `None` until the first write when the open was deferred (no `TRUNC`, the file there).
    upload: Option<(Upload, Meter)>,
    append: bool,
    /// The offset the next write must have.
    next: u64,
    /// A modification time to set once the upload is committed (FSETSTAT before CLOSE).
    modified: Option<u32>,
    /// Why the upload can no longer be committed.
    failed: Option<Failure>,
    received: u64,
    started: Instant,
}

pub(super) struct Listing {
    entries: ListStream,
    done: bool,
}

impl HandleState {
    pub(super) fn listing(_view: VirtualPath, entries: ListStream) -> HandleState {
        HandleState::Listing(Listing {
            entries,
            done: false,
        })
    }
}

/// Opens `view` as OPEN's `flags` ask.
pub(super) async fn open_file(
    context: &Context,
    view: VirtualPath,
    flags: OpenFlags,
) -> Result<HandleState, Failure> {
    let files = &context.files;
    if !flags.contains(OpenFlags::WRITE) {
        let (download, meter) = files.read(&view, 0).await?;
        return Ok(HandleState::Reading(Reading {
            view,
            download,
            meter,
            position: 0,
            sent: 0,
            started: Instant::now(),
        }));
    }
    // Creating afresh needs no look first: whatever is there is replaced, and the storage's
    // write refuses a folder (both backends) before anything is created.
    let fresh =
        flags.contains(OpenFlags::CREAT | OpenFlags::TRUNC) && !flags.contains(OpenFlags::EXCL);
    let exists = if fresh {
        false
    } else {
        match files.stat(&view).await {
            Ok(entry) if entry.kind == EntryKind::Dir => {
                return Err(storage_failure(ErrorKind::WrongKind));
            }
            Ok(_) => true,
            // A truncating open starts afresh whatever a partial holds: no need to look for one.
            Err(error) if matches!(&error, FileError::Storage(e) if e.kind() == ErrorKind::NotFound) => {
                !flags.contains(OpenFlags::TRUNC) && files.partial_size(&view).await?.is_some()
            }
            Err(error) => return Err(error.into()),
        }
    };
    if flags.contains(OpenFlags::CREAT) && flags.contains(OpenFlags::EXCL) && exists {
        return Err(Failure::new(StatusCode::FAILURE, "The file exists."));
    }
    if !flags.contains(OpenFlags::CREAT) && !exists {
        return Err(storage_failure(ErrorKind::NotFound));
    }
    let append = flags.contains(OpenFlags::APPEND);
    let mode = if append {
        Some(WriteMode::Append)
    } else if flags.contains(OpenFlags::TRUNC) || !exists {
        Some(WriteMode::Create)
    } else {
        // Kept bytes or replaced: the first write's offset says which.
        None
    };
    let upload = match mode {
        Some(mode) => Some(files.write(&view, mode).await?),
        None => None,
    };
    let next = upload
        .as_ref()
        .map_or(0, |(upload, _)| upload.start_offset());
    Ok(HandleState::Writing(Writing {
        view,
        upload,
        append,
        next,
        modified: None,
        failed: None,
        received: 0,
        started: Instant::now(),
    }))
}

/// The attributes of `view`; a name with only an interrupted upload's partial shows that
/// partial's size, so that `reput` resumes it (FTP's SIZE does the same).
pub(super) async fn attrs_of(files: &FileService, view: &VirtualPath) -> Result<Attrs, Failure> {
    match files.stat(view).await {
        Ok(entry) => Ok(Attrs::from_entry(&entry)),
        Err(FileError::Storage(error)) if error.kind() == ErrorKind::NotFound => {
            match files.partial_size(view).await? {
                Some(size) => Ok(Attrs {
                    size: Some(size),
                    permissions: Some(0o100_644),
                    ..Attrs::default()
                }),
                None => Err(storage_failure(ErrorKind::NotFound)),
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// Takes the handle's requests in order until CLOSE, or until the session ends.
pub(super) async fn run(
    context: Context,
    mut state: HandleState,
    mut requests: mpsc::Receiver<Packet>,
) {
    while let Some(packet) = requests.recv().await {
        let id = packet.id().unwrap_or(0);
        let closing = matches!(packet, Packet::Close { .. });
        let reply = match (&mut state, packet) {
            (
                HandleState::Reading(reading),
                Packet::Read {
                    id, offset, len, ..
                },
            ) => read(&context, reading, id, offset, len)
                .await
                .unwrap_or_else(|failure| failure.reply(id).into()),
            (state, packet) => request(&context, state, packet)
                .await
                .unwrap_or_else(|failure| failure.reply(id))
                .into(),
        };
        if context.replies.send(reply).await.is_err() || closing {
            return;
        }
    }
    // The session ended without CLOSE: an upload is dropped uncommitted (a folder keeps its
    // partial for a resume).
    if let HandleState::Writing(writing) = &state
        && writing.upload.is_some()
    {
        writing.log(&context, Some("connection closed before CLOSE"));
    }
}

async fn request(
    context: &Context,
    state: &mut HandleState,
    packet: Packet,
) -> Result<Packet, Failure> {
    let files = &context.files;
    match (state, packet) {
        (
            HandleState::Writing(writing),
            Packet::Write {
                id, offset, data, ..
            },
        ) => {
            write(files, writing, offset, &data).await?;
            Ok(status(id, StatusCode::OK, "Success"))
        }
        (HandleState::Listing(listing), Packet::Readdir { id, .. }) => readdir(listing, id).await,
        (state, Packet::Close { id, .. }) => {
            close(context, state).await?;
            Ok(status(id, StatusCode::OK, "Success"))
        }
        (HandleState::Writing(writing), Packet::Fstat { id, .. }) => Ok(Packet::Attrs {
            id,
            attrs: Attrs {
                size: Some(writing.next),
                permissions: Some(0o100_644),
                ..Attrs::default()
            },
        }),
        (HandleState::Reading(reading), Packet::Fstat { id, .. }) => Ok(Packet::Attrs {
            id,
            attrs: Attrs {
                size: Some(reading.download.size),
                permissions: Some(0o100_644),
                ..Attrs::default()
            },
        }),
        (HandleState::Writing(writing), Packet::Fsetstat { id, attrs, .. }) => {
            // A size equal to what was written changes nothing (scp sends one); another would
            // cut or extend the file, which an upload does not do.
            if attrs.size.is_some_and(|size| size != writing.next) {
                return Err(Failure::new(
                    StatusCode::OP_UNSUPPORTED,
                    "Changing a file's size is not supported.",
                ));
            }
            if let Some((_, modified)) = attrs.times {
                writing.modified = Some(modified);
            }
            Ok(status(id, StatusCode::OK, "Success"))
        }
        (HandleState::Reading(reading), Packet::Extended { id, data, .. }) => {
            let request = session::decode_check_file(&data)?;
            session::check_file(context, &reading.view, id, &request).await
        }
        (HandleState::Reading(reading), Packet::Fsetstat { id, attrs, .. }) => {
            session::set_attrs(files, &reading.view, &attrs).await?;
            Ok(status(id, StatusCode::OK, "Success"))
        }
        (HandleState::Writing(writing), Packet::Fsync { id, .. }) => {
            if let Some((upload, _)) = &mut writing.upload {
                upload
                    .flush()
                    .await
                    .map_err(|e| storage_failure(ferry_storage::StorageError::from(e).kind()))?;
            }
            Ok(status(id, StatusCode::OK, "Success"))
        }
        (_, packet) => Err(Failure::new(
            StatusCode::FAILURE,
            format!(
                "This handle is not open for that (request type {}).",
                packet.packet_type()
            ),
        )),
    }
}

/// A READ's answer: DATA read straight into the outgoing packet, or EOF.
async fn read(
    context: &Context,
    reading: &mut Reading,
    id: u32,
    offset: u64,
    len: u32,
) -> Result<Reply, Failure> {
    if offset != reading.position {
        // A jump (reget, or a client reading out of order): open again at the new offset.
        if offset >= reading.download.size {
            return Ok(status(id, StatusCode::EOF, "End of file").into());
        }
        let (download, meter) = context.files.read(&reading.view, offset).await?;
        reading.download = download;
        reading.meter = meter;
        reading.position = offset;
    }
    let wanted = usize::try_from(len.min(MAX_READ)).unwrap_or(0);
    let kib = u32::try_from(wanted.div_ceil(1024)).unwrap_or(u32::MAX);
    let budget = Arc::clone(&context.data_budget)
        .acquire_many_owned(kib)
        .await
        .map_err(|_| Failure::new(StatusCode::FAILURE, "The session is ending."))?;
    let mut packet = DataPacket::new(id, wanted);
    while packet.data_len() < wanted {
        let left = wanted - packet.data_len();
        let count = match reading.download.read_append(packet.buffer(), left).await {
            Ok(count) => count,
            Err(error) => {
                let error = ferry_storage::StorageError::from(error);
                let files = &context.files;
                let (peer, user, path) =
                    (files.client().peer, files.name(), reading.view.to_string());
                tracing::warn!(%peer, user, protocol = "sftp", operation = "read", path, cause = %error, "storage failed");
                return Err(storage_failure(error.kind()));
            }
        };
        if count == 0 {
            break;
        }
    }
    let got = packet.data_len();
    if got == 0 {
        return Ok(status(id, StatusCode::EOF, "End of file").into());
    }
    reading.meter.pace(got).await;
    reading.position += got as u64;
    reading.sent += got as u64;
    Ok(Reply::Encoded(packet.finish(), budget))
}

async fn write(
    files: &FileService,
    writing: &mut Writing,
    offset: u64,
    data: &[u8],
) -> Result<(), Failure> {
    if let Some(failure) = &writing.failed {
        return Err(Failure::new(failure.code, failure.message.clone()));
    }
    if writing.upload.is_none() {
        let mode = if offset == 0 {
            WriteMode::Create
        } else {
            WriteMode::Resume(offset)
        };
        let opened = files.write(&writing.view, mode).await?;
        writing.next = opened.0.start_offset();
        writing.upload = Some(opened);
    }
    let Some((upload, meter)) = &mut writing.upload else {
        return Err(Failure::new(StatusCode::FAILURE, "The upload is not open."));
    };
    if !writing.append && offset != writing.next {
        let failure = Failure::new(
            StatusCode::FAILURE,
            format!(
                "Writes must come in order: offset {offset}, expected {}; nothing will be kept.",
                writing.next
            ),
        );
        return Err(fail(writing, failure).await);
    }
    if meter.grant(data.len()) < data.len() {
        let limit = meter.byte_limit();
        let failure = Failure::new(
            StatusCode::FAILURE,
            format!("Quota exceeded: {limit} bytes allowed; nothing was kept."),
        );
        return Err(fail(writing, failure).await);
    }
    if let Err(error) = upload.write_all(data).await {
        let error = ferry_storage::StorageError::from(error);
        let (peer, user, path) = (files.client().peer, files.name(), writing.view.to_string());
        tracing::warn!(%peer, user, protocol = "sftp", operation = "write", path, cause = %error, "storage failed");
        return Err(fail(writing, storage_failure(error.kind())).await);
    }
    meter.pace(data.len()).await;
    writing.next += data.len() as u64;
    writing.received += data.len() as u64;
    Ok(())
}

/// Marks the upload failed, discards what it wrote, and returns the failure to answer.
async fn fail(writing: &mut Writing, failure: Failure) -> Failure {
    if let Some((upload, _)) = writing.upload.take() {
        let _ = upload.discard().await;
    }
    writing.failed = Some(Failure::new(failure.code, failure.message.clone()));
    failure
}

async fn readdir(listing: &mut Listing, id: u32) -> Result<Packet, Failure> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut entries = Vec::new();
    while !listing.done && entries.len() < NAMES_PER_REPLY {
        match listing.entries.next().await {
            // An entry that vanished while listing is skipped, as a listing skips it.
            Some(Err(_)) => {}
            Some(Ok(entry)) => entries.push(NameEntry {
                filename: ferry_proto::listing::shown_name(&entry.name).into_owned(),
                longname: sftp::longname(&entry, now),
                attrs: Attrs::from_entry(&entry),
            }),
            None => listing.done = true,
        }
    }
    if entries.is_empty() {
        return Ok(status(id, StatusCode::EOF, "End of folder"));
    }
    Ok(Packet::Name { id, entries })
}

async fn close(context: &Context, state: &mut HandleState) -> Result<(), Failure> {
    match state {
        HandleState::Reading(reading) => {
            log_transfer(
                context,
                "RETR",
                &reading.view,
                reading.sent,
                reading.started,
                None,
            );
            Ok(())
        }
        HandleState::Listing(_) => Ok(()),
        HandleState::Writing(writing) => {
            if let Some(failure) = &writing.failed {
                let failure = Failure::new(failure.code, failure.message.clone());
                writing.log(context, Some(&failure.message));
                return Err(failure);
            }
            let Some((upload, meter)) = writing.upload.take() else {
                // Opened and closed without a write: nothing changes.
                return Ok(());
            };
            if let Err(error) = upload.commit().await {
                writing.log(context, Some(&error.to_string()));
                return Err(storage_failure(error.kind()));
            }
            meter.commit();
            writing.log(context, None);
            if let Some(modified) = writing.modified {
                context
                    .files
                    .set_modified(&writing.view, i64::from(modified))
                    .await?;
            }
            Ok(())
        }
    }
}

impl Writing {
    /// The upload's transfer log line.
    fn log(&self, context: &Context, failure: Option<&str>) {
        log_transfer(
            context,
            "STOR",
            &self.view,
            self.received,
            self.started,
            failure,
        );
    }
}

/// The transfer log line, as FTP writes it, with `protocol=sftp`.
fn log_transfer(
    context: &Context,
    verb: &str,
    view: &VirtualPath,
    bytes: u64,
    started: Instant,
    failure: Option<&str>,
) {
    let seconds = started.elapsed().as_secs_f64();
    let (peer, user, name) = (context.peer, context.files.name(), view.to_string());
    context.files.transferred(&Transferred {
        direction: if verb == "RETR" {
            Direction::Down
        } else {
            Direction::Up
        },
        path: &name,
        bytes,
        seconds,
        failure,
    });
    match failure {
        None => {
            tracing::info!(%peer, user, protocol = "sftp", verb, name, bytes, seconds, "transfer complete")
        }
        Some(failure) => {
            tracing::warn!(%peer, user, protocol = "sftp", verb, name, bytes, seconds, failure, "transfer failed")
        }
    }
}
