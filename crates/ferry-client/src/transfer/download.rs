//! One download: to a file through its hidden partial (resumed with REST, renamed when the
//! server confirmed the end and the size is right), or to a writer.
//!
//! The bytes themselves are received by [`super::receive`].

use std::path::Path;
use std::time::Instant;

use tokio::io::AsyncWriteExt;

use super::receive::{Landed, Sink, receive};
use super::{TransferStats, partial_path, remote_base_name};
use crate::ClientError;
use crate::connection::{BUFFER_SIZE, Connection};
use crate::progress::Progress;

/// Downloads `remote` to `target`. With `resume`, continues a partial left by an earlier try.
pub async fn download(
    connection: &mut Connection,
    remote: &str,
    target: &Path,
    resume: bool,
    progress: &mut dyn Progress,
) -> Result<TransferStats, ClientError> {
    let options = DownloadOptions {
        resume,
        ..DownloadOptions::default()
    };
    download_with(connection, remote, target, options, progress).await
}

/// How [`download_with`] fetches one file.
#[derive(Debug, Clone, Copy, Default)]
pub struct DownloadOptions {
    /// Continue a partial left by an earlier try (REST).
    pub resume: bool,
    /// The size a listing showed. SIZE is then not asked (a round trip less per file); a
    /// transfer that ends at another size is checked against SIZE before it counts as short,
    /// since the file may have changed after the listing.
    pub listed_size: Option<u64>,
    /// Give the file this modification time (Unix seconds) before it takes its name.
    pub modified: Option<i64>,
}

/// Downloads `remote` to `target` through the hidden partial file, renamed onto `target` once
/// the server confirmed the end and the byte count is right. A device or a pipe (`-o
/// /dev/null`, a FIFO) is written as it is: a partial renamed over it would replace it.
///
/// Over plain FTP the data connection is read on one blocking thread that also writes the file
/// (a `read(2)` and a `write(2)` per [`BUFFER_SIZE`] chunk, no hand-off between threads);
/// over TLS the async stream is read and the file written through `tokio::fs`.
pub async fn download_with(
    connection: &mut Connection,
    remote: &str,
    target: &Path,
    options: DownloadOptions,
    progress: &mut dyn Progress,
) -> Result<TransferStats, ClientError> {
    let started = Instant::now();
    let partial = partial_path(target);
    let offset = if options.resume && !is_device(target).await {
        tokio::fs::metadata(&partial)
            .await
            .map_or(0, |meta| meta.len())
    } else {
        0
    };
    // SIZE is optional (RFC 3659); without it we trust the server's 226.
    let total = match options.listed_size {
        Some(size) => Some(size),
        None => match connection.size(remote).await {
            Ok(size) => Some(size),
            Err(error) if error.is_server_refusal() => None,
            Err(error) => return Err(error),
        },
    };
    let name = target
        .file_name()
        .map_or_else(|| remote.to_string(), |n| n.to_string_lossy().into_owned());
    if offset > 0 && total == Some(offset) {
        finish_download(&partial, target).await?;
        return Ok(TransferStats {
            bytes: 0,
            size: offset,
            resumed_from: offset,
            elapsed: started.elapsed(),
        });
    }
    let offset = if total.is_some_and(|total| offset > total) {
        0
    } else {
        offset
    };
    // A server without REST sends the whole file: the offset comes back as 0.
    let (mut data, offset) = connection.retrieve(remote, offset).await?;
    let sink = Sink {
        target: target.to_path_buf(),
        partial: partial.clone(),
        append: offset > 0,
        modified: options.modified,
    };
    progress.start(&name, total, offset);
    // A small file the listing announced is read into memory and written in one step after the
    // server confirmed it, without a thread hand-off.
    let small = options
        .listed_size
        .filter(|&size| offset == 0 && size <= SMALL_FILE);
    let (outcome, received, landed) = receive(connection, &mut data, sink, small, progress).await;
    let result = match outcome {
        Ok(()) => connection.finish_data(data).await.map(|_| ()),
        Err(error) => Err(connection.abandon_after(data, error).await),
    };
    let size = offset + received;
    let result = match (result, total) {
        (Ok(()), Some(total)) if total != size => {
            // A listing's size may be out of date: SIZE has the last word.
            let now = match options.listed_size {
                Some(_) => connection.size(remote).await.unwrap_or(total),
                None => total,
            };
            if now == size {
                Ok(())
            } else {
                Err(ClientError::Protocol(format!(
                    "transfer incomplete: {size} of {now} bytes arrived"
                )))
            }
        }
        (result, _) => result,
    };
    // Whether the partial is still to be renamed onto the target (not for a device, nor for a
    // small file, which Sink::store wrote and renamed in one step).
    let rename = match landed {
        Landed::File { device } => !device,
        Landed::Memory(bytes, sink) => {
            let commit = result.is_ok();
            // On this task, not the blocking pool: at most SMALL_FILE bytes into the page cache,
            // an open, a write, a futimens and a rename, cost less than the two thread
            // hand-offs of spawn_blocking (measured: 6 futex calls a file, about 20 % of a
            // mirror of 4 KiB files).
            let stored = sink.store(&bytes, commit);
            // After a failed transfer, the transfer's own error is the one to report.
            if let (Err(error), true) = (stored, commit) {
                progress.finish(false);
                return Err(error);
            }
            false
        }
    };
    progress.finish(result.is_ok());
    if let Err(error) = result {
        if size == 0 && rename {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        return Err(error);
    }
    if rename {
        finish_download(&partial, target).await?;
    }
    Ok(TransferStats {
        bytes: received,
        size,
        resumed_from: offset,
        elapsed: started.elapsed(),
    })
}

/// Files up to this size that a listing announced are received into memory and written on the
/// async task (see [`download_with`]); below glibc's mmap threshold, so the buffer is cheap.
const SMALL_FILE: u64 = 64 * 1024;

/// True when `path` is something other than a file or a folder: a device, a pipe, a socket.
async fn is_device(path: &Path) -> bool {
    tokio::fs::metadata(path)
        .await
        .is_ok_and(|meta| !meta.is_file() && !meta.is_dir())
}

/// Downloads `remote` into `writer` (standard output, a pipe...) rather than a file: no partial,
/// no resume. Fails if fewer bytes arrive than SIZE announced.
pub async fn download_to_writer<W>(
    connection: &mut Connection,
    remote: &str,
    writer: &mut W,
    progress: &mut dyn Progress,
) -> Result<TransferStats, ClientError>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let started = Instant::now();
    let total = match connection.size(remote).await {
        Ok(size) => Some(size),
        Err(error) if error.is_server_refusal() => None,
        Err(error) => return Err(error),
    };
    let (mut data, _) = connection.retrieve(remote, 0).await?;
    progress.start(remote_base_name(remote), total, 0);
    let mut buf = vec![0; BUFFER_SIZE];
    let mut received = 0u64;
    let outcome: Result<(), ClientError> = async {
        loop {
            let read = connection.read_data(&mut data, &mut buf).await?;
            if read == 0 {
                break;
            }
            writer
                .write_all(&buf[..read])
                .await
                .map_err(|source| ClientError::local("-", source))?;
            received += read as u64;
            progress.advance(read as u64);
        }
        writer
            .flush()
            .await
            .map_err(|source| ClientError::local("-", source))
    }
    .await;
    let result = match outcome {
        Ok(()) => connection.finish_data(data).await.map(|_| ()),
        Err(error) => Err(connection.abandon_after(data, error).await),
    };
    let result = result.and_then(|()| match total {
        Some(total) if total != received => Err(ClientError::Protocol(format!(
            "transfer incomplete: {received} of {total} bytes arrived"
        ))),
        _ => Ok(()),
    });
    progress.finish(result.is_ok());
    result?;
    Ok(TransferStats {
        bytes: received,
        size: received,
        resumed_from: 0,
        elapsed: started.elapsed(),
    })
}

async fn finish_download(partial: &Path, target: &Path) -> Result<(), ClientError> {
    tokio::fs::rename(partial, target)
        .await
        .map_err(|source| ClientError::local(target, source))
}
